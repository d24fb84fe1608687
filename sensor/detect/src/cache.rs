//! The scan cache behind "no rescanning": Claude Code re-sends the whole conversation on every
//! turn, so findings are remembered per text segment (keyed by the compiled policy, direction and
//! a seeded 64-bit hash plus the length of the text) and only new segments are scanned. Memory is
//! bounded: two generations of at most `capacity` entries each; when the young one is full it
//! becomes the old one and the previous old one is dropped (an approximate LRU that keeps
//! whatever is still being re-sent). The text itself is never stored.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};

use crate::Direction;
use crate::engine::Finding;

/// A finding as cached: everything but where it was found this time.
pub type CachedFindings = Arc<[Finding]>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Key {
    policy: u64,
    direction: bool,
    len: usize,
    hash: u64,
}

#[derive(Default)]
struct Generations {
    young: HashMap<Key, CachedFindings>,
    old: HashMap<Key, CachedFindings>,
}

/// Findings of already-scanned texts, for one project.
pub struct ScanCache {
    capacity: usize,
    seed: foldhash::fast::RandomState,
    generations: Mutex<Generations>,
}

impl std::fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScanCache")
            .field("capacity", &self.capacity)
            .finish()
    }
}

/// Hits and misses of one lookup pass, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Segments whose findings came from the cache.
    pub hits: u64,
    /// Segments scanned.
    pub misses: u64,
}

impl ScanCache {
    /// A cache holding up to about `2 × capacity` segments.
    pub fn new(capacity: usize) -> Self {
        ScanCache {
            capacity: capacity.max(16),
            seed: foldhash::fast::RandomState::default(),
            generations: Mutex::new(Generations::default()),
        }
    }

    fn key(&self, policy: u64, direction: Direction, text: &str) -> Key {
        Key {
            policy,
            direction: direction == Direction::Input,
            len: text.len(),
            hash: self.seed.hash_one(text),
        }
    }

    /// Cached findings for this text, if it was scanned with this policy before.
    pub(crate) fn get(
        &self,
        policy: u64,
        direction: Direction,
        text: &str,
    ) -> Option<CachedFindings> {
        let key = self.key(policy, direction, text);
        let mut g = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(hit) = g.young.get(&key) {
            return Some(hit.clone());
        }
        let hit = g.old.remove(&key)?;
        Self::insert_young(&mut g, self.capacity, key, hit.clone());
        Some(hit)
    }

    /// Remembers the findings of a text.
    pub(crate) fn put(
        &self,
        policy: u64,
        direction: Direction,
        text: &str,
        findings: CachedFindings,
    ) {
        let key = self.key(policy, direction, text);
        let mut g = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Self::insert_young(&mut g, self.capacity, key, findings);
    }

    fn insert_young(g: &mut Generations, capacity: usize, key: Key, value: CachedFindings) {
        if g.young.len() >= capacity {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, value);
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        let g = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        g.young.len() + g.old.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keyed_by_policy_and_direction() {
        let cache = ScanCache::new(16);
        let empty: CachedFindings = Arc::from(Vec::new());
        cache.put(1, Direction::Input, "hello", empty.clone());
        assert!(cache.get(1, Direction::Input, "hello").is_some());
        assert!(cache.get(2, Direction::Input, "hello").is_none());
        assert!(cache.get(1, Direction::Output, "hello").is_none());
        assert!(cache.get(1, Direction::Input, "hellO").is_none());
        for i in 0..1000 {
            cache.put(1, Direction::Input, &format!("text {i}"), empty.clone());
        }
        assert!(cache.len() <= 32);
        assert!(cache.get(1, Direction::Input, "text 999").is_some());
    }
}
