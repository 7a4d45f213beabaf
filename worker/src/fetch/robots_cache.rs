//! The robots.txt cache's bookkeeping: one once-filled cell per origin (so concurrent jobs
//! share one fetch), entries dropped when they expire, and a bound on both the number of
//! origins and the bytes of robots.txt kept; past either, the oldest entries are evicted.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OnceCell;

/// What the cache needs to know of an entry.
pub(super) trait Cached {
    /// Whether the entry should be fetched again.
    fn expired(&self, now: Instant) -> bool;
    /// Roughly how many bytes the entry holds.
    fn weight(&self) -> usize;
}

struct Slot<E> {
    cell: Arc<OnceCell<E>>,
    created: Instant,
    /// The entry's weight, once it is filled and counted in `Cache::bytes`.
    charged: Option<usize>,
}

pub(super) struct Cache<E> {
    slots: HashMap<String, Slot<E>>,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
}

impl<E: Cached> Cache<E> {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> Cache<E> {
        Cache {
            slots: HashMap::new(),
            max_entries: max_entries.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// The cell of `key`, fresh if there was none or its entry expired.
    pub(super) fn cell(&mut self, key: &str, now: Instant) -> Arc<OnceCell<E>> {
        let stale = self
            .slots
            .get(key)
            .is_some_and(|s| s.cell.get().is_some_and(|e| e.expired(now)));
        if stale {
            self.remove(key);
        }
        if let Some(slot) = self.slots.get(key) {
            return Arc::clone(&slot.cell);
        }
        if self.slots.len() >= self.max_entries {
            self.make_room(now);
        }
        let cell = Arc::new(OnceCell::new());
        self.slots.insert(
            key.to_owned(),
            Slot {
                cell: Arc::clone(&cell),
                created: now,
                charged: None,
            },
        );
        cell
    }

    /// Counts the filled `cell` of `key` against the byte bound (once), evicting the oldest
    /// other entries if it is now exceeded.
    pub(super) fn settle(&mut self, key: &str, cell: &Arc<OnceCell<E>>) {
        let Some(slot) = self.slots.get_mut(key) else {
            return;
        };
        if slot.charged.is_some() || !Arc::ptr_eq(&slot.cell, cell) {
            return;
        }
        let Some(entry) = cell.get() else { return };
        let weight = entry.weight();
        slot.charged = Some(weight);
        self.bytes += weight;
        if self.bytes > self.max_bytes {
            // Oldest first; sorted once, so a big entry evicting many small ones stays cheap.
            let mut by_age: Vec<(Instant, String)> = self
                .slots
                .iter()
                .filter(|(k, s)| k.as_str() != key && s.charged.is_some())
                .map(|(k, s)| (s.created, k.clone()))
                .collect();
            by_age.sort_unstable();
            for (_, k) in by_age {
                if self.bytes <= self.max_bytes {
                    break;
                }
                self.remove(&k);
            }
        }
        if self.bytes > self.max_bytes {
            // Too big to keep even alone.
            self.remove(key);
        }
    }

    /// The filled, unexpired entry of `key`.
    pub(super) fn get(&self, key: &str, now: Instant) -> Option<&E> {
        self.slots.get(key)?.cell.get().filter(|e| !e.expired(now))
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn remove(&mut self, key: &str) {
        if let Some(slot) = self.slots.remove(key) {
            self.bytes -= slot.charged.unwrap_or(0);
        }
    }

    /// Drops expired entries; if that frees too little, the oldest eighth as well (so the
    /// cost of a full cache is paid once per many insertions).
    fn make_room(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .slots
            .iter()
            .filter(|(_, s)| s.cell.get().is_some_and(|e| e.expired(now)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &expired {
            self.remove(k);
        }
        if self.slots.len() < self.max_entries {
            return;
        }
        let mut by_age: Vec<(Instant, String)> = self
            .slots
            .iter()
            .map(|(k, s)| (s.created, k.clone()))
            .collect();
        by_age.sort_unstable();
        let evict = (self.max_entries / 8).max(1);
        for (_, k) in by_age.into_iter().take(evict) {
            self.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    struct E {
        until: Instant,
        bytes: usize,
    }

    impl Cached for E {
        fn expired(&self, now: Instant) -> bool {
            now > self.until
        }
        fn weight(&self) -> usize {
            self.bytes
        }
    }

    fn fill(c: &mut Cache<E>, key: &str, now: Instant, ttl: Duration, bytes: usize) {
        let cell = c.cell(key, now);
        let _ = cell.set(E {
            until: now + ttl,
            bytes,
        });
        c.settle(key, &cell);
    }

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn the_number_of_origins_is_bounded_and_the_oldest_go_first() {
        let mut c = Cache::new(16, usize::MAX);
        let t0 = Instant::now();
        for i in 0..1000u64 {
            fill(
                &mut c,
                &format!("http://h{i}"),
                t0 + Duration::from_millis(i),
                DAY,
                10,
            );
            assert!(c.len() <= 16, "{} entries after {i}", c.len());
        }
        let later = t0 + Duration::from_secs(2);
        assert!(c.get("http://h999", later).is_some(), "the newest is kept");
        assert!(
            c.get("http://h0", later).is_none(),
            "the oldest was evicted"
        );
    }

    #[test]
    fn expired_entries_are_refetched_and_make_room_first() {
        let mut c = Cache::new(4, usize::MAX);
        let t0 = Instant::now();
        fill(&mut c, "http://short", t0, Duration::from_secs(60), 1);
        for i in 0..3 {
            fill(&mut c, &format!("http://long{i}"), t0, DAY, 1);
        }
        let later = t0 + Duration::from_secs(61);
        assert!(c.get("http://short", later).is_none(), "expired");
        fill(&mut c, "http://new", later, DAY, 1);
        assert_eq!(c.len(), 4);
        for i in 0..3 {
            assert!(
                c.get(&format!("http://long{i}"), later).is_some(),
                "long{i}"
            );
        }
        let next_day = t0 + DAY + Duration::from_secs(1);
        let cell = c.cell("http://long0", next_day);
        assert!(cell.get().is_none(), "an expired entry is fetched again");
    }

    #[test]
    fn the_bytes_kept_are_bounded() {
        let mut c = Cache::new(1000, 100);
        let t0 = Instant::now();
        for i in 0..50u64 {
            fill(
                &mut c,
                &format!("http://h{i}"),
                t0 + Duration::from_millis(i),
                DAY,
                30,
            );
            assert!(c.bytes <= 100, "{} bytes", c.bytes);
        }
        assert_eq!(c.len(), 3);
        assert!(c.get("http://h49", t0).is_some());
        fill(&mut c, "http://huge", t0 + DAY / 2, DAY, 1000);
        assert!(c.get("http://huge", t0).is_none(), "too big to keep");
        assert!(c.bytes <= 100);
    }
}
