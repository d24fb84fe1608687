//! Fuzz target: the lenient request parser (`/v1/messages` and batch bodies) and a scan of what
//! it extracts must never panic, and every finding's span must lie on char boundaries.
#![no_main]

use glitch_detect::builtin::builtin_pack;
use glitch_detect::extract::{parse_batch_request, parse_messages_request};
use glitch_detect::templates::template;
use glitch_detect::{CompiledPolicy, Direction};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn policy() -> &'static Option<CompiledPolicy> {
    static POLICY: OnceLock<Option<CompiledPolicy>> = OnceLock::new();
    POLICY.get_or_init(|| {
        let balanced = template("strict")?.ok()?;
        CompiledPolicy::compile(balanced, &builtin_pack()).ok()
    })
}

fuzz_target!(|data: &[u8]| {
    for parsed in [parse_messages_request(data), parse_batch_request(data)].into_iter().flatten() {
        if let Some(policy) = policy() {
            let report = policy.scan(Direction::Input, &parsed.segments);
            for f in &report.findings {
                let seg = parsed.segments.iter().find(|s| s.location == f.location);
                if let Some(seg) = seg {
                    assert!(f.span.0 <= f.span.1 && f.span.1 <= seg.text.len());
                }
            }
        }
    }
});
