//! Politeness: a global cap on requests in flight, a cap per host, and a minimum delay
//! between two requests to the same host (raised by robots.txt's `Crawl-delay`). A host's
//! gate is dropped once it is idle (nobody waiting or fetching) and its delay has passed,
//! so the map holds only hosts that are busy or still owed a gap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub(super) struct Politeness {
    global: Arc<Semaphore>,
    hosts: Mutex<Hosts>,
    per_host: usize,
    min_delay: Duration,
}

/// Below this many hosts, idle gates are not looked for.
const SWEEP_FLOOR: usize = 256;

struct Hosts {
    gates: HashMap<String, Arc<HostGate>>,
    /// The map's size that triggers the next sweep: twice what the last one left, so
    /// sweeping costs O(1) per request, amortised.
    sweep_at: usize,
}

struct HostGate {
    slots: Arc<Semaphore>,
    /// The earliest time the next request to this host may start.
    next_start: tokio::sync::Mutex<Instant>,
}

/// Held for the length of one request.
pub(super) struct Permit {
    _global: OwnedSemaphorePermit,
    _host: OwnedSemaphorePermit,
}

impl Politeness {
    pub(super) fn new(global: usize, per_host: usize, min_delay: Duration) -> Politeness {
        Politeness {
            global: Arc::new(Semaphore::new(global.max(1))),
            hosts: Mutex::new(Hosts {
                gates: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
            per_host: per_host.max(1),
            min_delay,
        }
    }

    /// Waits for a host slot, the host's delay, and a global slot, in that order (so a slow
    /// host never holds global slots while it waits).
    pub(super) async fn acquire(&self, host: &str, crawl_delay: Option<Duration>) -> Permit {
        let gate = {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            if hosts.gates.len() >= hosts.sweep_at {
                self.sweep(&mut hosts);
            }
            Arc::clone(hosts.gates.entry(host.to_owned()).or_insert_with(|| {
                Arc::new(HostGate {
                    slots: Arc::new(Semaphore::new(self.per_host)),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                })
            }))
        };
        let host_permit = Arc::clone(&gate.slots)
            .acquire_owned()
            .await
            .expect("politeness semaphores are never closed");
        let delay = crawl_delay.map_or(self.min_delay, |d| d.max(self.min_delay));
        {
            let mut next = gate.next_start.lock().await;
            let now = Instant::now();
            if *next > now {
                tokio::time::sleep_until(*next).await;
            }
            *next = Instant::now().max(*next) + delay;
        }
        let global = Arc::clone(&self.global)
            .acquire_owned()
            .await
            .expect("politeness semaphores are never closed");
        Permit {
            _global: global,
            _host: host_permit,
        }
    }

    /// Drops the gates of idle hosts whose next request may start now: forgetting them
    /// changes nothing a later request would wait for.
    fn sweep(&self, hosts: &mut Hosts) {
        let now = Instant::now();
        let per_host = self.per_host;
        // A clone exists only inside `acquire` (waiting) and a taken slot only in a `Permit`;
        // both need this lock to start, so neither can appear while it is held.
        hosts.gates.retain(|_, gate| {
            let idle = Arc::strong_count(gate) == 1 && gate.slots.available_permits() == per_host;
            !(idle && gate.next_start.try_lock().is_ok_and(|next| *next <= now))
        });
        hosts.sweep_at = (hosts.gates.len() * 2).max(SWEEP_FLOOR);
    }

    #[cfg(test)]
    fn hosts(&self) -> usize {
        self.hosts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .gates
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_to_one_host_are_spaced_by_the_delay() {
        let p = Politeness::new(8, 4, Duration::from_millis(500));
        let start = Instant::now();
        for _ in 0..3 {
            drop(p.acquire("http://a", None).await);
        }
        // The first starts at once, the next two wait 500 ms each.
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
        let other = Instant::now();
        drop(p.acquire("http://b", None).await);
        assert_eq!(
            other.elapsed(),
            Duration::ZERO,
            "another host does not wait"
        );
        drop(p.acquire("http://b", Some(Duration::from_secs(2))).await);
        assert_eq!(other.elapsed(), Duration::from_millis(500));
        drop(p.acquire("http://b", None).await);
        assert_eq!(
            other.elapsed(),
            Duration::from_millis(2500),
            "crawl-delay raised the gap"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_hosts_are_forgotten_once_their_delay_has_passed() {
        let p = Politeness::new(8, 4, Duration::from_millis(500));
        for i in 0..10_000 {
            drop(p.acquire(&format!("http://h{i}"), None).await);
            assert!(
                p.hosts() <= 2 * SWEEP_FLOOR,
                "{} hosts after {i}",
                p.hosts()
            );
            if i % 100 == 0 {
                tokio::time::advance(Duration::from_millis(600)).await;
            }
        }
        assert!(p.hosts() <= 2 * SWEEP_FLOOR);
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_still_owed_its_delay_or_busy_is_kept() {
        let p = Politeness::new(8, 4, Duration::from_millis(500));
        drop(p.acquire("http://a", None).await);
        let busy = p.acquire("http://busy", None).await;
        // Enough other hosts to sweep many times while `a` is owed 500 ms.
        for i in 0..4 * SWEEP_FLOOR {
            drop(p.acquire(&format!("http://h{i}"), None).await);
        }
        let start = Instant::now();
        drop(p.acquire("http://a", None).await);
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(500),
            "the gap to `a` was kept"
        );
        tokio::time::advance(Duration::from_secs(1)).await;
        for i in 0..8 * SWEEP_FLOOR {
            drop(p.acquire(&format!("http://g{i}"), None).await);
        }
        let held = p.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            held.gates.contains_key("http://busy"),
            "a host in use is kept"
        );
        assert!(!held.gates.contains_key("http://h0"), "idle hosts went");
        drop(held);
        drop(busy);
    }
}
