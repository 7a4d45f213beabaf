//! A benchmark fleet: a private broker prefix, a rules root holding `bench.r`, a tiny local
//! site for jobs, and `workers` release worker processes, all ready.

use crawlfleet_tests::{RulesDir, TestBroker, WorkerProc};

use crate::site::Site;
use crate::workload::Pages;

pub struct Fleet {
    pub broker: TestBroker,
    pub site: Site,
    pub workers: Vec<WorkerProc>,
    /// The workers' rules root; removed when dropped, so hold it as long as them.
    pub rules: RulesDir,
}

/// Start-up and control-plane lines only: the harness parses every line a worker writes, and
/// with per-job lines on, that parsing (at normal priority, thousands of lines a second)
/// competes for the CPU with the fleet it measures.
const QUIET: (&str, &str) = (
    "RUST_LOG",
    "warn,crawlfleet_worker::app=info,crawlfleet_worker::session=info,\
     crawlfleet_worker::catchup=info,crawlfleet_worker::control=info",
);

/// The Redis the express lane runs on in benchmarks.
pub const EXPRESS_URL: &str = "redis://127.0.0.1:6379/";

/// Starts the fleet on the site and rule of `pages`; with `express`, the workers also take
/// updates from the express lane.
pub async fn start(
    tag: &str,
    workers: usize,
    express: bool,
    pages: Pages,
) -> anyhow::Result<Fleet> {
    let broker = TestBroker::new(tag).await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("bench.r", &pages.rule(0));
    let site = Site::start(pages.shop()).await?;
    let mut procs = Vec::new();
    for _ in 0..workers {
        let mut args = vec!["--prefetch", "32", "--obey-robots", "false"];
        if express {
            args.extend(["--express-url", EXPRESS_URL]);
        }
        procs.push(WorkerProc::start_with_env(&broker.prefix, rules.path(), &args, &[QUIET]).await);
    }
    for w in &procs {
        w.ready().await;
    }
    Ok(Fleet {
        broker,
        site,
        workers: procs,
        rules,
    })
}

/// The express lane pushes are relayed on, when `express`.
pub fn lane(
    express: bool,
    broker: &TestBroker,
) -> anyhow::Result<Option<crawlfleet_bus::ExpressLane>> {
    if !express {
        return Ok(None);
    }
    Ok(Some(crawlfleet_bus::ExpressLane::new(
        EXPRESS_URL,
        broker.topology(),
    )?))
}
