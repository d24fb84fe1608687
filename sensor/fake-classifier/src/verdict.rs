//! The fake's deterministic verdicts: markers found in a text, the part of a chat message that is
//! classified (between Glitch's input markers), and the text-classification label of a type.

use std::collections::BTreeMap;
use std::time::Duration;

/// What the fake answers for one text: detector type → confidence, and any extra delay asked
/// for with `[[glitch-delay:<ms>]]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    /// Detector type → confidence in [0, 1] (the maximum when a type is marked twice).
    pub scores: BTreeMap<String, f32>,
    /// Sum of the `[[glitch-delay:<ms>]]` markers (at most one minute).
    pub delay: Duration,
}

const SHORTHANDS: &[(&str, &str, f32)] = &[
    ("GLITCH_TEST_ATTACK", "prompt_attack", 0.97),
    ("GLITCH_TEST_JAILBREAK", "jailbreak", 0.95),
    ("GLITCH_TEST_HATE", "moderated_content/hate", 0.93),
    ("GLITCH_TEST_NAME", "pii/name", 0.92),
];

const MAX_DELAY: Duration = Duration::from_secs(60);

/// The verdict for `text`, from its markers.
pub fn verdict_for(text: &str) -> Verdict {
    let mut verdict = Verdict::default();
    for (marker, detector_type, confidence) in SHORTHANDS {
        if text.contains(marker) {
            raise(&mut verdict.scores, detector_type, *confidence);
        }
    }
    for body in marker_bodies(text, "[[glitch:") {
        let Some((detector_type, confidence)) = body.split_once('=') else {
            continue;
        };
        let detector_type = detector_type.trim();
        let Ok(confidence) = confidence.trim().parse::<f32>() else {
            continue;
        };
        if detector_type.is_empty() || !confidence.is_finite() {
            continue;
        }
        raise(
            &mut verdict.scores,
            detector_type,
            confidence.clamp(0.0, 1.0),
        );
    }
    for body in marker_bodies(text, "[[glitch-delay:") {
        if let Ok(ms) = body.trim().parse::<u64>() {
            verdict.delay = verdict.delay.saturating_add(Duration::from_millis(ms));
        }
    }
    verdict.delay = verdict.delay.min(MAX_DELAY);
    verdict
}

fn raise(scores: &mut BTreeMap<String, f32>, detector_type: &str, confidence: f32) {
    let entry = scores.entry(detector_type.to_owned()).or_insert(0.0);
    if confidence > *entry {
        *entry = confidence;
    }
}

/// The bodies of every `{open}...]]` marker in `text`.
fn marker_bodies<'a>(text: &'a str, open: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let mut rest = text;
    std::iter::from_fn(move || {
        loop {
            let start = rest.find(open)? + open.len();
            let after = &rest[start..];
            let Some(end) = after.find("]]") else {
                rest = "";
                return None;
            };
            let body = &after[..end];
            rest = &after[end + 2..];
            // A marker never spans lines or nests another opening.
            if !body.contains('\n') && !body.contains("[[") {
                return Some(body);
            }
        }
    })
}

/// The part of a chat message that is being classified: the text between Glitch's
/// `<<<GLITCH_INPUT_nonce>>>` and `<<<END_GLITCH_INPUT_nonce>>>` markers (without the newline
/// next to each marker), or the whole message when it has no markers.
pub fn classified_text(message: &str) -> &str {
    const OPEN: &str = "<<<GLITCH_INPUT_";
    let Some(open_at) = message.find(OPEN) else {
        return message;
    };
    let after_open = &message[open_at + OPEN.len()..];
    let Some(close_of_open) = after_open.find(">>>") else {
        return message;
    };
    let nonce = &after_open[..close_of_open];
    let body = &after_open[close_of_open + 3..];
    let end_marker = format!("<<<END_GLITCH_INPUT_{nonce}>>>");
    let Some(end) = body.rfind(&end_marker) else {
        return message;
    };
    let inner = &body[..end];
    let inner = inner.strip_prefix('\n').unwrap_or(inner);
    inner.strip_suffix('\n').unwrap_or(inner)
}

/// The text-classification label the fake uses for a detector type: `INJECTION` for
/// `prompt_attack`, `JAILBREAK` for `jailbreak`, `TYPE:<type>` for the others.
pub fn text_classification_label(detector_type: &str) -> String {
    match detector_type {
        "prompt_attack" => "INJECTION".to_owned(),
        "jailbreak" => "JAILBREAK".to_owned(),
        other => format!("TYPE:{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_and_shorthands() {
        let v = verdict_for(
            "hello [[glitch:prompt_attack=0.5]] GLITCH_TEST_ATTACK [[glitch:pii/address=1.7]]",
        );
        assert_eq!(v.scores.get("prompt_attack"), Some(&0.97));
        assert_eq!(v.scores.get("pii/address"), Some(&1.0));
        assert_eq!(v.delay, Duration::ZERO);
        let v = verdict_for(
            "[[glitch-delay:250]] GLITCH_TEST_HATE GLITCH_TEST_NAME GLITCH_TEST_JAILBREAK",
        );
        assert_eq!(v.delay, Duration::from_millis(250));
        assert_eq!(v.scores.len(), 3);
        assert!(
            verdict_for("nothing here [[glitch:x=abc]] [[glitch:")
                .scores
                .is_empty()
        );
    }

    #[test]
    fn classified_text_between_markers() {
        let m = "Classify:\n<<<GLITCH_INPUT_ab12>>>\nthe text\n<<<END_GLITCH_INPUT_ab12>>>\n";
        assert_eq!(classified_text(m), "the text");
        assert_eq!(classified_text("plain"), "plain");
        assert_eq!(
            classified_text("<<<GLITCH_INPUT_x>>> no end"),
            "<<<GLITCH_INPUT_x>>> no end"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(text_classification_label("prompt_attack"), "INJECTION");
        assert_eq!(text_classification_label("jailbreak"), "JAILBREAK");
        assert_eq!(text_classification_label("pii/name"), "TYPE:pii/name");
    }
}
