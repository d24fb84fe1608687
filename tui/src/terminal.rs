//! Taking over the terminal and always giving it back: raw mode, the alternate screen and mouse
//! capture on start; all three undone by [`TerminalGuard`]'s drop on every exit, and by a panic
//! hook before the panic message is printed, so a crash never leaves a garbled terminal. The
//! hook also raises a flag the main loop checks, so a panic on another thread ends the console
//! cleanly instead of drawing over a restored screen.

use std::io::{IsTerminal, Stdout, stdout};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};

use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

/// The console's terminal.
pub type Term = Terminal<CrosstermBackend<Stdout>>;

static PANICKED: AtomicBool = AtomicBool::new(false);
static HOOK: Once = Once::new();

/// Whether any thread has panicked since start.
pub fn panicked() -> bool {
    PANICKED.load(Ordering::Relaxed)
}

/// Gives the terminal back: mouse capture off, main screen, cursor shown, raw mode off. Safe to
/// call more than once.
pub fn restore() {
    let mut out = stdout();
    let _ = execute!(
        out,
        DisableMouseCapture,
        LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    let _ = disable_raw_mode();
}

fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.store(true, Ordering::Relaxed);
            restore();
            previous(info);
        }));
    });
}

/// Restores the terminal when dropped.
#[derive(Debug)]
pub struct TerminalGuard {
    _private: (),
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Takes over the terminal. Fails (leaving it as it was) when stdout is not a terminal.
pub fn init() -> std::io::Result<(Term, TerminalGuard)> {
    if !stdout().is_terminal() {
        return Err(std::io::Error::other(
            "glitch-console needs a terminal: stdout is not a TTY",
        ));
    }
    install_panic_hook();
    let guard = TerminalGuard { _private: () };
    enable_raw_mode()?;
    execute!(stdout(), EnterAlternateScreen, EnableMouseCapture)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(stdout()))?;
    terminal.clear()?;
    Ok((terminal, guard))
}
