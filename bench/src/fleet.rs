//! A benchmark fleet: a private broker prefix, a rules root holding `bench.r`, a tiny local
//! site for jobs, and `workers` release worker processes, all ready.

use crawlfleet_tests::{RulesDir, TestBroker, WorkerProc};

use crate::reload::rule;
use crate::site::{Shop, Site};

pub struct Fleet {
    pub broker: TestBroker,
    pub site: Site,
    pub workers: Vec<WorkerProc>,
    /// The workers' rules root; removed when dropped, so hold it as long as them.
    pub rules: RulesDir,
}

pub async fn start(tag: &str, workers: usize) -> anyhow::Result<Fleet> {
    let broker = TestBroker::new(tag).await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("bench.r", &rule(0));
    let site = Site::start(Shop {
        categories: 1,
        per_category: 1,
        per_page: 1,
    })
    .await?;
    let mut procs = Vec::new();
    for _ in 0..workers {
        let args = ["--prefetch", "32", "--obey-robots", "false"];
        procs.push(WorkerProc::start(&broker.prefix, rules.path(), &args).await);
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
