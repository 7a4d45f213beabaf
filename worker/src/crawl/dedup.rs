//! "Who first found this URL in this crawl?" — fleet-wide with Redis (`SET key NX EX ttl`,
//! one key per crawl and URL, as scrapy-redis does), per worker without it.
//!
//! A claim records the id of the job it would create. The same claimant claiming again (a
//! redelivered parent job whose follow-ups were not all published) wins again, so a crash
//! between claiming and publishing never loses a link.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crawlfleet_engine::sha256_hex;

/// Remembered URLs per crawl in the per-worker mode, before the set is cleared.
const LOCAL_LIMIT: usize = 1_000_000;

pub(crate) enum Dedup {
    Local(Mutex<HashMap<String, HashMap<String, String>>>),
    Redis {
        conn: redis::aio::ConnectionManager,
        prefix: String,
        ttl: Duration,
    },
}

impl Dedup {
    pub(crate) fn local() -> Dedup {
        Dedup::Local(Mutex::new(HashMap::new()))
    }

    /// Connects to Redis at `url`.
    pub(crate) async fn redis(url: &str, prefix: &str, ttl: Duration) -> anyhow::Result<Dedup> {
        let client = redis::Client::open(url)?;
        let conn = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager())
            .await
            .map_err(|_| anyhow::anyhow!("no answer from Redis within 10 s"))??;
        Ok(Dedup::Redis {
            conn,
            prefix: prefix.to_owned(),
            ttl,
        })
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Dedup::Local(_) => "worker",
            Dedup::Redis { .. } => "redis",
        }
    }

    /// Claims `url` in `crawl` for `claimant`; true when it is now (or already was) the
    /// claimant's, false when someone else found it first.
    pub(crate) async fn claim(
        &self,
        crawl: &str,
        url: &str,
        claimant: &str,
    ) -> anyhow::Result<bool> {
        match self {
            Dedup::Local(seen) => {
                let mut seen = seen
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let claims = seen.entry(crawl.to_owned()).or_default();
                if claims.len() >= LOCAL_LIMIT {
                    claims.clear();
                }
                let owner = claims
                    .entry(url.to_owned())
                    .or_insert_with(|| claimant.to_owned());
                Ok(owner == claimant)
            }
            Dedup::Redis { conn, prefix, ttl } => {
                let mut key = sha256_hex(url.as_bytes());
                key.truncate(32);
                let key = format!("{prefix}:seen:{crawl}:{key}");
                let mut conn = conn.clone();
                // SET … NX GET: nil when we set it, else the current owner (Redis >= 7).
                let owner: Option<String> = redis::cmd("SET")
                    .arg(&key)
                    .arg(claimant)
                    .arg("NX")
                    .arg("GET")
                    .arg("EX")
                    .arg(ttl.as_secs().max(1))
                    .query_async(&mut conn)
                    .await?;
                Ok(owner.is_none_or(|o| o == claimant))
            }
        }
    }
}
