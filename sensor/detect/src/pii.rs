//! PII detectors (`pii/*`): being written.

use crate::engine::{RawMatch, SignatureDetector};

/// All PII detectors as one signature detector.
#[derive(Debug, Default)]
pub struct PiiDetector;

impl PiiDetector {
    /// Compiles the detector.
    pub fn new() -> Self {
        PiiDetector
    }
}

impl SignatureDetector for PiiDetector {
    fn detector_types(&self) -> &[&'static str] {
        &[]
    }
    fn scan(&self, _text: &str, _out: &mut Vec<RawMatch>) {}
}
