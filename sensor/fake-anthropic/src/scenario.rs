//! The misbehaviours the fake can be asked for, and how their names parse.

use std::time::Duration;

/// Longest `big-stream-N` accepted (keeps a typo from streaming forever).
const MAX_BIG_STREAM: usize = 10_000_000;

/// Delay between events for `slow-stream`.
const SLOW_STREAM_DELAY: Duration = Duration::from_millis(200);

/// What the fake does with a request, chosen by the `x-fake-scenario` header
/// or else by a `[[fake:NAME]]` marker in the last user message's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// The ordinary, well-behaved answer.
    Normal,
    /// `error-401`, `error-403`, `error-429`, `error-500`, `error-529`: that
    /// HTTP status with Anthropic's error envelope.
    Error(u16),
    /// `midstream-error`: a stream that starts, sends one text delta, then an
    /// `error` event (`overloaded_error`) and ends. A non-streaming request gets
    /// a 529 `overloaded_error` instead.
    MidstreamError,
    /// `slow-stream` (200 ms) or `slow-stream-ms-N` (N ms) between events.
    SlowStream(Duration),
    /// `drop`: streams send `message_start` then the connection is aborted;
    /// non-streaming answers announce `content-length: 1000` and abort after a
    /// few bytes.
    Drop,
    /// `stall`: never answer.
    Stall,
    /// `stall-stream`: send `message_start`, then nothing more, forever. A
    /// non-streaming request behaves like `stall`.
    StallStream,
    /// `thinking`: a `thinking` block (thinking deltas and a signature) before
    /// the text block.
    Thinking,
    /// `tool-use`: a `tool_use` block calling `Bash` with
    /// `{"command":"echo hi"}`; stop reason `tool_use`.
    ToolUse,
    /// `big-stream-N`: N text deltas (one word each).
    BigStream(usize),
}

impl Scenario {
    /// Parses a scenario name; `None` for names the fake doesn't know.
    pub fn parse(name: &str) -> Option<Scenario> {
        let name = name.trim();
        let scenario = match name {
            "" | "normal" | "none" => Scenario::Normal,
            "error-401" => Scenario::Error(401),
            "error-403" => Scenario::Error(403),
            "error-429" => Scenario::Error(429),
            "error-500" => Scenario::Error(500),
            "error-529" => Scenario::Error(529),
            "midstream-error" => Scenario::MidstreamError,
            "slow-stream" => Scenario::SlowStream(SLOW_STREAM_DELAY),
            "drop" => Scenario::Drop,
            "stall" => Scenario::Stall,
            "stall-stream" => Scenario::StallStream,
            "thinking" => Scenario::Thinking,
            "tool-use" => Scenario::ToolUse,
            _ => {
                if let Some(ms) = name.strip_prefix("slow-stream-ms-") {
                    Scenario::SlowStream(Duration::from_millis(ms.parse().ok()?))
                } else if let Some(n) = name.strip_prefix("big-stream-") {
                    Scenario::BigStream(n.parse::<usize>().ok()?.min(MAX_BIG_STREAM))
                } else {
                    return None;
                }
            }
        };
        Some(scenario)
    }

    /// Finds the first `[[fake:NAME]]` marker with a known NAME in `text`.
    pub fn from_marker(text: &str) -> Option<Scenario> {
        const OPEN: &str = "[[fake:";
        let mut rest = text;
        while let Some(start) = rest.find(OPEN) {
            rest = &rest[start + OPEN.len()..];
            if let Some(end) = rest.find("]]")
                && let Some(scenario) = Scenario::parse(&rest[..end])
            {
                return Some(scenario);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names() {
        assert_eq!(Scenario::parse("error-429"), Some(Scenario::Error(429)));
        assert_eq!(
            Scenario::parse("slow-stream-ms-15"),
            Some(Scenario::SlowStream(Duration::from_millis(15)))
        );
        assert_eq!(
            Scenario::parse("slow-stream"),
            Some(Scenario::SlowStream(Duration::from_millis(200)))
        );
        assert_eq!(
            Scenario::parse("big-stream-500"),
            Some(Scenario::BigStream(500))
        );
        assert_eq!(Scenario::parse("big-stream-x"), None);
        assert_eq!(Scenario::parse("nope"), None);
    }

    #[test]
    fn finds_markers() {
        assert_eq!(
            Scenario::from_marker("please [[fake:tool-use]] now"),
            Some(Scenario::ToolUse)
        );
        assert_eq!(
            Scenario::from_marker("[[fake:bogus]] then [[fake:drop]]"),
            Some(Scenario::Drop)
        );
        assert_eq!(Scenario::from_marker("[[fake:stall"), None);
        assert_eq!(Scenario::from_marker("nothing here"), None);
    }
}
