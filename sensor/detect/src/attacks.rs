//! Prompt-attack and jailbreak detectors: being written.

use crate::engine::{RawMatch, SignatureDetector};

/// Prompt-attack and jailbreak detectors as one signature detector.
#[derive(Debug, Default)]
pub struct AttackDetector;

impl AttackDetector {
    /// Compiles the detector.
    pub fn new() -> Self {
        AttackDetector
    }
}

impl SignatureDetector for AttackDetector {
    fn detector_types(&self) -> &[&'static str] {
        &[]
    }
    fn scan(&self, _text: &str, _out: &mut Vec<RawMatch>) {}
}
