//! The built-in detector pack: every signature detector of contract §3, compiled once at
//! start-up and shared by every policy snapshot (policies enable the subset they name).

use std::sync::Arc;

use crate::attacks::AttackDetector;
use crate::engine::DetectorPack;
use crate::pii::PiiDetector;
use crate::secrets::SecretsDetector;

/// The pack with every built-in signature detector.
pub fn builtin_pack() -> DetectorPack {
    DetectorPack::empty()
        .with(Arc::new(SecretsDetector::new()))
        .with(Arc::new(PiiDetector::new()))
        .with(Arc::new(AttackDetector::new()))
}
