//! Fuzz target: the SSE output scanner fed arbitrary bytes in arbitrary chunks must never panic
//! and must consume every complete event.
#![no_main]

use std::sync::Arc;

use glitch_detect::builtin::builtin_pack;
use glitch_detect::stream::{StreamScanner, next_event_end, response_segments};
use glitch_detect::templates::template;
use glitch_detect::CompiledPolicy;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> Option<Arc<CompiledPolicy>> {
    static POLICY: OnceLock<Option<Arc<CompiledPolicy>>> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            let strict = template("strict")?.ok()?;
            CompiledPolicy::compile(strict, &builtin_pack()).ok().map(Arc::new)
        })
        .clone()
}

fuzz_target!(|data: &[u8]| {
    let Some(policy) = policy() else { return };
    let mut scanner = StreamScanner::new(policy);
    let chunk = 1 + (data.first().copied().unwrap_or(7) as usize % 64);
    let mut pending = Vec::new();
    for piece in data.chunks(chunk) {
        pending.extend_from_slice(piece);
        while let Some(end) = next_event_end(&pending) {
            assert!(end <= pending.len());
            let event: Vec<u8> = pending.drain(..end).collect();
            let _ = scanner.on_event(&event);
        }
    }
    let _ = scanner.finish();
    let _ = response_segments(data);
});
