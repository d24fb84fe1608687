//! Glitch's detection library: the policy model and its validation ([`policy`]), the lenient
//! request parser that finds the text to scan ([`extract`]), the policy compiler and scanner
//! ([`engine`]) and the built-in policy templates ([`templates`]). No I/O: text in, findings out.

pub mod attacks;
pub mod builtin;
pub mod cache;
pub mod engine;
pub mod extract;
pub mod links;
pub mod llm;
pub mod pii;
pub mod policy;
pub mod secrets;
pub mod stream;
pub mod templates;

pub use engine::{
    CompiledPolicy, DetectorPack, FamilyTimings, Finding, RawMatch, ScanReport, SignatureDetector,
};
pub use extract::{Location, ParseError, ParsedRequest, Part, TextSegment};
pub use llm::{LLM_DETECTOR_TYPES, LlmScore, Opinion};
pub use policy::{Action, Level, LlmFailure, LlmMode, Policy, PolicyError, PolicyMode};

/// Request (input) or response (output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// What the client sends.
    Input,
    /// What the model answers.
    Output,
}

impl Direction {
    /// "input" | "output".
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Input => "input",
            Direction::Output => "output",
        }
    }
}

/// Who produced a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A built-in signature detector.
    Signature,
    /// An LLM classifier.
    Llm,
    /// A custom regex from the policy.
    Custom,
}

impl Source {
    /// "signature" | "llm" | "custom".
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Signature => "signature",
            Source::Llm => "llm",
            Source::Custom => "custom",
        }
    }
}
