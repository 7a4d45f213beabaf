//! Politeness: a global cap on requests in flight, a cap per host, and a minimum delay
//! between two requests to the same host (raised by robots.txt's `Crawl-delay`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

pub(super) struct Politeness {
    global: Arc<Semaphore>,
    hosts: Mutex<HashMap<String, Arc<HostGate>>>,
    per_host: usize,
    min_delay: Duration,
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
            hosts: Mutex::new(HashMap::new()),
            per_host: per_host.max(1),
            min_delay,
        }
    }

    /// Waits for a host slot, the host's delay, and a global slot, in that order (so a slow
    /// host never holds global slots while it waits).
    pub(super) async fn acquire(&self, host: &str, crawl_delay: Option<Duration>) -> Permit {
        let gate = {
            let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
            Arc::clone(hosts.entry(host.to_owned()).or_insert_with(|| {
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
}
