//! The detection engine's side of the LLM classifier stage: the detector types classifiers serve,
//! the verdicts they return ([`LlmScore`]) and the per-source opinions a finding records when a
//! signature and a classifier both spoke about it. The calls themselves live in `glitch-classify`;
//! merging verdicts into a scan report is [`CompiledPolicy::merge_llm`](crate::CompiledPolicy::merge_llm).

use std::ops::Range;
use std::sync::Arc;

use crate::Source;

/// Detector types an LLM classifier can serve (contract §3). `prompt_attack` and `jailbreak` are
/// also served by signatures; the others only by classifiers.
pub const LLM_DETECTOR_TYPES: &[&str] = &[
    "prompt_attack",
    "jailbreak",
    "pii/name",
    "pii/address",
    "moderated_content/harassment",
    "moderated_content/harassment_threatening",
    "moderated_content/hate",
    "moderated_content/hate_threatening",
    "moderated_content/sexual",
    "moderated_content/sexual_minors",
    "moderated_content/violence",
    "moderated_content/violence_graphic",
    "moderated_content/self_harm",
    "moderated_content/self_harm_intent",
    "moderated_content/self_harm_instructions",
    "moderated_content/illicit",
    "moderated_content/illicit_violent",
];

/// True for a detector type classifiers can serve.
pub fn is_llm_type(detector_type: &str) -> bool {
    LLM_DETECTOR_TYPES.contains(&detector_type)
}

/// One classifier verdict on part of one scanned text.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmScore {
    /// Index of the text in the segments that were scanned.
    pub segment: usize,
    /// Byte range of the classified window in that text.
    pub window: Range<usize>,
    /// One of [`LLM_DETECTOR_TYPES`].
    pub detector_type: Arc<str>,
    /// In [0, 1].
    pub confidence: f32,
    /// Name of the classifier endpoint that said so.
    pub classifier: Arc<str>,
}

/// What one source said about a finding's detector type at its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Opinion {
    /// Signature or LLM.
    pub source: Source,
    /// In [0, 1].
    pub confidence: f32,
    /// The classifier endpoint's name (empty for signatures).
    pub classifier: Arc<str>,
}
