//! Screen snapshots: every view drawn on ratatui's `TestBackend` at 80×24 and 160×48 from the
//! fixed audit log in `fixture`, compared with the reviewed text in `tests/snapshots/` (insta).
//! Plus the styles a snapshot cannot show: blocked rows and findings stand out, and `NO_COLOR`
//! draws no colour at all.

mod fixture;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use glitch_console::api::ApiError;
use glitch_console::app::App;
use glitch_console::event::AppEvent;
use glitch_console::theme::Theme;
use glitch_console::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use fixture::FakeApi;

const SIZES: [(u16, u16); 2] = [(80, 24), (160, 48)];

fn draw(app: &mut App, (w, h): (u16, u16)) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| ui::draw(f, app)).unwrap();
    terminal
}

fn press(app: &mut App, code: KeyCode) {
    app.handle_key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn keys(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

/// The screen as text, one line per row.
fn screen(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in 0..area.height {
        let mut skip = 0;
        for x in 0..area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let symbol = buffer[(x, y)].symbol();
            skip = unicode_width(symbol).saturating_sub(1);
            out.push_str(symbol);
        }
        out.push('\n');
    }
    out
}

fn unicode_width(s: &str) -> usize {
    glitch_console::text::width(s)
}

/// The app after the sessions load, drawn once (views learn their height when drawn).
fn home(theme: Theme, size: (u16, u16)) -> App {
    let mut app = fixture::app(theme);
    FakeApi::default().serve(&mut app);
    draw(&mut app, size);
    app
}

/// The app with the first session open.
fn in_session(theme: Theme, size: (u16, u16)) -> App {
    let mut app = home(theme, size);
    press(&mut app, KeyCode::Enter);
    FakeApi::default().serve(&mut app);
    draw(&mut app, size);
    app
}

/// The app with the blocked request open.
fn in_event(theme: Theme, size: (u16, u16)) -> App {
    let mut app = in_session(theme, size);
    press(&mut app, KeyCode::Enter);
    FakeApi::default().serve(&mut app);
    draw(&mut app, size);
    app
}

fn snapshot(name: &str, app: &mut App, size: (u16, u16)) -> Buffer {
    let terminal = draw(app, size);
    let buffer = terminal.backend().buffer().clone();
    insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), screen(&buffer));
    buffer
}

#[test]
fn sessions_view() {
    for size in SIZES {
        let mut app = home(Theme::colored(), size);
        let buffer = snapshot("sessions", &mut app, size);
        assert!(screen(&buffer).contains("6f1c2d3e"));
    }
}

#[test]
fn session_view() {
    for size in SIZES {
        let mut app = in_session(Theme::colored(), size);
        let buffer = snapshot("session", &mut app, size);
        // The count_tokens request is hidden by the default path filter.
        assert!(!screen(&buffer).contains("count_tokens"));
    }
}

#[test]
fn event_view() {
    for size in SIZES {
        let mut app = in_event(Theme::colored(), size);
        snapshot("event", &mut app, size);
    }
}

#[test]
fn event_view_at_the_finding() {
    for size in SIZES {
        let mut app = in_event(Theme::colored(), size);
        press(&mut app, KeyCode::Char(']'));
        let buffer = snapshot("event_finding", &mut app, size);
        // The masked key in the conversation is drawn in the highlight style.
        let theme = Theme::colored();
        let text = screen(&buffer);
        let row = text
            .lines()
            .position(|l| l.contains("deploy script uses AKIA"))
            .expect("the finding's text is on screen");
        let col = text
            .lines()
            .nth(row)
            .unwrap()
            .chars()
            .position(|c| c == 'A')
            .unwrap();
        let cell = &buffer[(col as u16, row as u16)];
        assert_eq!(cell.bg, theme.highlight.bg.unwrap());
    }
}

#[test]
fn event_view_with_tools() {
    for size in SIZES {
        let mut app = in_event(Theme::colored(), size);
        keys(&mut app, "t}}}}");
        snapshot("event_tools", &mut app, size);
    }
}

#[test]
fn raw_json_view() {
    for size in SIZES {
        let mut app = in_event(Theme::colored(), size);
        keys(&mut app, "J");
        let buffer = snapshot("event_raw", &mut app, size);
        assert!(screen(&buffer).contains("\"completion\": \"\","));
    }
}

#[test]
fn help_overlay() {
    for size in SIZES {
        let mut app = home(Theme::colored(), size);
        keys(&mut app, "?");
        snapshot("help", &mut app, size);
    }
}

#[test]
fn filter_editor() {
    for size in SIZES {
        let mut app = home(Theme::colored(), size);
        keys(&mut app, "f");
        press(&mut app, KeyCode::Down);
        press(&mut app, KeyCode::Down);
        keys(&mut app, "secrets/*");
        snapshot("filters", &mut app, size);
    }
}

#[test]
fn filters_and_search_carry_across_views() {
    for size in SIZES {
        let mut app = home(Theme::colored(), size);
        keys(&mut app, "b/6f1c");
        press(&mut app, KeyCode::Enter);
        FakeApi::default().serve(&mut app);
        draw(&mut app, size);
        press(&mut app, KeyCode::Enter);
        FakeApi::default().serve(&mut app);
        // Past the "blocked only" notice.
        app.handle_event(AppEvent::Tick(fixture::now() + 5000));
        let buffer = snapshot("session_blocked_only", &mut app, size);
        let text = screen(&buffer);
        assert!(text.contains("blocked only"));
        assert!(text.contains("search=\"6f1c\""));
        assert!(
            !text.contains(" allowed "),
            "only blocked requests are listed:\n{text}"
        );
    }
}

#[test]
fn api_unreachable() {
    for size in SIZES {
        let mut app = fixture::app(Theme::colored());
        let api = FakeApi {
            fail: Some(ApiError::Unreachable {
                url: "http://127.0.0.1:8082".into(),
                reason: "Connection refused (os error 111)".into(),
            }),
        };
        api.serve(&mut app);
        let buffer = snapshot("unreachable", &mut app, size);
        let text = screen(&buffer);
        assert!(
            text.contains("audit API unreachable — retrying in 1s"),
            "{text}"
        );
    }
}

#[test]
fn bad_token() {
    let size = (80, 24);
    let mut app = fixture::app(Theme::colored());
    let api = FakeApi {
        fail: Some(ApiError::Unauthorized {
            message: "invalid bearer token".into(),
        }),
    };
    api.serve(&mut app);
    snapshot("bad_token", &mut app, size);
}

#[test]
fn blocked_requests_stand_out() {
    let theme = Theme::colored();
    let size = (80, 24);
    let mut app = in_session(theme, size);
    // Move off the selected (blocked) row so its own style shows.
    press(&mut app, KeyCode::Char('g'));
    let terminal = draw(&mut app, size);
    let buffer = terminal.backend().buffer();
    let text = screen(buffer);
    let row = text
        .lines()
        .position(|l| l.contains("✖") && l.contains("blocked"))
        .expect("a blocked row");
    let col = text.lines().nth(row).unwrap().find("blocked").unwrap();
    let col = text.lines().nth(row).unwrap()[..col].chars().count();
    let cell = &buffer[(col as u16, row as u16)];
    assert_eq!(cell.fg, Color::LightRed);
    assert!(cell.modifier.contains(Modifier::BOLD));
}

#[test]
fn no_color_draws_no_colour() {
    let theme = Theme::mono();
    let size = (80, 24);
    let mut screens = Vec::new();
    let mut app = home(theme, size);
    screens.push(draw(&mut app, size).backend().buffer().clone());
    press(&mut app, KeyCode::Enter);
    FakeApi::default().serve(&mut app);
    screens.push(draw(&mut app, size).backend().buffer().clone());
    press(&mut app, KeyCode::Enter);
    FakeApi::default().serve(&mut app);
    draw(&mut app, size);
    press(&mut app, KeyCode::Char(']'));
    screens.push(draw(&mut app, size).backend().buffer().clone());
    keys(&mut app, "?");
    screens.push(draw(&mut app, size).backend().buffer().clone());
    let mut bold = 0;
    for buffer in &screens {
        for cell in buffer.content() {
            assert_eq!(
                (cell.fg, cell.bg),
                (Color::Reset, Color::Reset),
                "colour under NO_COLOR"
            );
            bold += usize::from(cell.modifier.contains(Modifier::BOLD));
        }
    }
    assert!(
        bold > 0,
        "blocked rows and findings are still marked (bold)"
    );
}

#[test]
fn tiny_terminal_says_so() {
    let mut app = home(Theme::colored(), (30, 6));
    let terminal = draw(&mut app, (30, 6));
    let text = screen(terminal.backend().buffer());
    assert!(
        text.contains("needs at least") && text.contains("40×8"),
        "{text}"
    );
}
