//! `publisher enqueue`: seed crawl jobs, each confirmed by the broker.

use std::io::BufRead;

use crawlfleet_bus::message::Job;
use crawlfleet_bus::{Bus, JobQueueType, Topology};

use crate::cli::{EnqueueArgs, Global};
use crate::{Failure, Finished};

pub(crate) async fn run(global: &Global, args: &EnqueueArgs) -> Result<Finished, Failure> {
    let mut urls = args.urls.clone();
    if let Some(file) = &args.file {
        let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
            Box::new(std::io::stdin().lock())
        } else {
            let f = std::fs::File::open(file)
                .map_err(|e| Failure::usage(format!("cannot read {}: {e}", file.display())))?;
            Box::new(std::io::BufReader::new(f))
        };
        for line in reader.lines() {
            let line = line.map_err(|e| Failure::usage(format!("cannot read URLs: {e}")))?;
            let line = line.trim();
            if !line.is_empty() && !line.starts_with('#') {
                urls.push(line.to_owned());
            }
        }
    }
    if urls.is_empty() {
        return Err(Failure::usage("no URLs given (arguments or --file)"));
    }
    for url in &urls {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(Failure::usage(format!("`{url}` is not an http(s) URL")));
        }
    }
    let meta = match &args.meta {
        None => serde_json::Value::Object(Default::default()),
        Some(text) => match serde_json::from_str(text) {
            Ok(v @ serde_json::Value::Object(_)) => v,
            _ => return Err(Failure::usage("--meta must be a JSON object")),
        },
    };
    let queue_type = match args.job_queue_type.as_str() {
        "quorum" => JobQueueType::Quorum,
        "classic" => JobQueueType::Classic,
        other => {
            return Err(Failure::usage(format!(
                "--job-queue-type: `{other}` is not `quorum` or `classic`"
            )));
        }
    };
    let crawl = args
        .crawl
        .clone()
        .unwrap_or_else(|| format!("c-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
    let jobs: Vec<Job> = urls
        .iter()
        .map(|url| Job {
            id: uuid::Uuid::new_v4().to_string(),
            url: url.clone(),
            rule: args.rule.clone(),
            depth: 0,
            meta: meta.clone(),
            attempt: 0,
            crawl: crawl.clone(),
            max_depth: args.max_depth,
        })
        .collect();
    let topology = Topology::new(&global.prefix, queue_type);
    let bus = Bus::connect(&global.amqp_url, "crawlfleet publisher", topology.clone()).await?;
    bus.declare_jobs().await?;
    let outbox = bus.outbox().await?;
    outbox
        .publish_all("", &topology.jobs_queue(), &jobs)
        .await?;
    bus.close().await;
    println!("enqueued {} job(s) for crawl {crawl}", jobs.len());
    Ok(Finished::Done)
}
