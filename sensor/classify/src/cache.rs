//! The verdict cache behind "only new text is sent": a classifier's verdict on a window is
//! remembered per (endpoint, set of detector types asked, window text), keyed by a seeded 64-bit
//! hash plus the length of the text — the text itself is never stored. Memory is bounded like
//! the scan cache: two generations of at most `capacity` entries each; when the young one is
//! full it becomes the old one and the previous old one is dropped. Entries expire after a TTL.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Detector type → confidence, as one endpoint answered for one window (only types > 0).
pub(crate) type Verdict = Arc<[(Arc<str>, f32)]>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    scope: u64,
    len: usize,
    hash: u64,
}

struct Entry {
    verdict: Verdict,
    expires: Instant,
}

#[derive(Default)]
struct Generations {
    young: HashMap<Key, Entry>,
    old: HashMap<Key, Entry>,
}

pub(crate) struct VerdictCache {
    capacity: usize,
    ttl: Duration,
    seed: foldhash::fast::RandomState,
    generations: Mutex<Generations>,
}

impl VerdictCache {
    /// A cache holding up to about `2 × capacity` verdicts (capacity 0 disables it).
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        VerdictCache {
            capacity,
            ttl,
            seed: foldhash::fast::RandomState::default(),
            generations: Mutex::new(Generations::default()),
        }
    }

    /// The scope of a key: one endpoint asked for one sorted set of types.
    pub(crate) fn scope(&self, endpoint: &str, types: &[Arc<str>]) -> u64 {
        let types: Vec<&str> = types.iter().map(|t| t.as_ref()).collect();
        self.seed.hash_one((endpoint, types))
    }

    pub(crate) fn key(&self, scope: u64, text: &str) -> Key {
        Key {
            scope,
            len: text.len(),
            hash: self.seed.hash_one(text),
        }
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Verdict> {
        self.get_at(key, Instant::now())
    }

    fn get_at(&self, key: &Key, now: Instant) -> Option<Verdict> {
        if self.capacity == 0 {
            return None;
        }
        let mut g = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(entry) = g.young.get(key) {
            if entry.expires > now {
                return Some(entry.verdict.clone());
            }
            g.young.remove(key);
            return None;
        }
        let entry = g.old.remove(key)?;
        if entry.expires <= now {
            return None;
        }
        let verdict = entry.verdict.clone();
        Self::insert_young(&mut g, self.capacity, *key, entry);
        Some(verdict)
    }

    pub(crate) fn put(&self, key: Key, verdict: Verdict) {
        if self.capacity == 0 {
            return;
        }
        let entry = Entry {
            verdict,
            expires: Instant::now() + self.ttl,
        };
        let mut g = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Self::insert_young(&mut g, self.capacity, key, entry);
    }

    fn insert_young(g: &mut Generations, capacity: usize, key: Key, entry: Entry) {
        if g.young.len() >= capacity && !g.young.contains_key(&key) {
            g.old = std::mem::take(&mut g.young);
        }
        g.young.insert(key, entry);
    }

    /// Verdicts held now.
    pub(crate) fn len(&self) -> usize {
        let g = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        g.young.len() + g.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(c: f32) -> Verdict {
        Arc::from(vec![(Arc::<str>::from("jailbreak"), c)])
    }

    #[test]
    fn keyed_by_scope_and_text_and_bounded() {
        let cache = VerdictCache::new(16, Duration::from_secs(60));
        let t: Vec<Arc<str>> = vec!["jailbreak".into()];
        let a = cache.scope("a", &t);
        let b = cache.scope("b", &t);
        let a2 = cache.scope("a", &[Arc::from("jailbreak"), Arc::from("prompt_attack")]);
        cache.put(cache.key(a, "hello"), verdict(0.5));
        assert!(cache.get(&cache.key(a, "hello")).is_some());
        assert!(cache.get(&cache.key(b, "hello")).is_none());
        assert!(cache.get(&cache.key(a2, "hello")).is_none());
        assert!(cache.get(&cache.key(a, "hellO")).is_none());
        for i in 0..1000 {
            cache.put(cache.key(a, &format!("text {i}")), verdict(0.1));
        }
        assert!(cache.len() <= 32);
        assert!(cache.get(&cache.key(a, "text 999")).is_some());
        assert!(cache.get(&cache.key(a, "text 1")).is_none());
    }

    #[test]
    fn entries_expire() {
        let cache = VerdictCache::new(16, Duration::from_secs(10));
        let key = cache.key(1, "x");
        cache.put(key, verdict(0.9));
        let now = Instant::now();
        assert!(cache.get_at(&key, now).is_some());
        assert!(cache.get_at(&key, now + Duration::from_secs(11)).is_none());
        assert!(
            cache.get_at(&key, now).is_none(),
            "expired entries are removed"
        );
    }

    #[test]
    fn zero_capacity_disables() {
        let cache = VerdictCache::new(0, Duration::from_secs(10));
        let key = cache.key(1, "x");
        cache.put(key, verdict(0.9));
        assert!(cache.get(&key).is_none());
    }
}
