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
    "warn,crawlfleet_worker::supervisor=info,crawlfleet_worker::startup=info,\
     crawlfleet_worker::connect=info,crawlfleet_worker::session=info,\
     crawlfleet_worker::control=info",
);

/// The Redis the express lane runs on in benchmarks.
pub const EXPRESS_URL: &str = "redis://127.0.0.1:6379/";

/// Starts the fleet on the site and rule of `pages`; with `express`, the workers also take
/// updates from the express lane; with `control_rt` above 0, their control planes run at
/// that real-time priority (`--control-rt-priority`).
pub async fn start(
    tag: &str,
    workers: usize,
    express: bool,
    control_rt: u8,
    pages: Pages,
) -> anyhow::Result<Fleet> {
    let broker = TestBroker::new(tag).await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("bench.r", &pages.rule(0));
    let site = Site::start(pages.shop()).await?;
    let mut procs = Vec::new();
    let control_rt = control_rt.to_string();
    for _ in 0..workers {
        let mut args = vec!["--prefetch", "32", "--obey-robots", "false"];
        if express {
            args.extend(["--express-url", EXPRESS_URL]);
        }
        args.extend(["--control-rt-priority", control_rt.as_str()]);
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

/// The scheduling policy of the local `redis-server` (`SCHED_OTHER`, `SCHED_RR`, ...), as
/// its main thread has it: the express lane's relay waits for that thread to get a core.
pub fn redis_policy() -> Option<String> {
    let sched = std::fs::read_to_string(crate::cpu::proc_of("redis-server")?.join("sched")).ok()?;
    let policy = sched
        .lines()
        .find(|l| l.starts_with("policy"))?
        .rsplit(':')
        .next()?
        .trim()
        .parse::<i32>()
        .ok()?;
    Some(
        match policy {
            0 => "SCHED_OTHER",
            1 => "SCHED_FIFO",
            2 => "SCHED_RR",
            3 => "SCHED_BATCH",
            5 => "SCHED_IDLE",
            _ => "other",
        }
        .to_owned(),
    )
}
