//! Secret detectors (`secrets/<provider>`): being written.

use crate::engine::{RawMatch, SignatureDetector};

/// All secret detectors as one signature detector.
#[derive(Debug, Default)]
pub struct SecretsDetector;

impl SecretsDetector {
    /// Compiles the detector.
    pub fn new() -> Self {
        SecretsDetector
    }
}

impl SignatureDetector for SecretsDetector {
    fn detector_types(&self) -> &[&'static str] {
        &[]
    }
    fn scan(&self, _text: &str, _out: &mut Vec<RawMatch>) {}
}
