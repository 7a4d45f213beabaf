//! Reload propagation: N worker processes, ≥ 30 pushes; for each push and worker, the time
//! from publish to that worker's `rule reloaded` line and to its reply. Idle, and with the
//! job queue kept full.

use std::time::{Duration, Instant};

use crawlfleet_bus::message::Reply;
use serde_json::{Value, json};

use crate::anatomy::{Anatomy, Arrival};
use crate::clock::{now_us, parse_rfc3339_us};
use crate::stats::Summary;
use crate::workload::Pages;

/// Jobs queued before the first push while jobs flow: more than 16 workers take while the
/// pushes last (a run of 200 pushes at 8 900 jobs/s emptied 300 000).
const PRELOAD: usize = 400_000;

/// Jobs per second the fleet takes from a full queue, over a second.
async fn take_rate(broker: &crawlfleet_tests::TestBroker) -> anyhow::Result<f64> {
    let queue = broker.topology().jobs_queue();
    let depth = async || broker.depth(&queue).await;
    let (before, t0) = (depth().await, std::time::Instant::now());
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = depth().await;
    anyhow::ensure!(after > 0, "the job queue ran dry while measuring its rate");
    Ok(before.saturating_sub(after) as f64 / t0.elapsed().as_secs_f64())
}

/// With `express`, workers subscribe to the express lane and each push is relayed there too;
/// with `control_rt` above 0, the workers' control planes run at that real-time priority.
pub async fn run(
    workers: usize,
    pushes: usize,
    busy: bool,
    express: bool,
    control_rt: u8,
) -> anyhow::Result<Value> {
    let crate::fleet::Fleet {
        mut broker,
        site,
        workers: procs,
        rules: _rules,
    } = crate::fleet::start(
        &format!("bench-reload-{workers}"),
        workers,
        express,
        control_rt,
        Pages::Tiny,
    )
    .await?;
    let lane = crate::fleet::lane(express, &broker)?;
    // With jobs flowing: a queue deep enough for every push, filled before the first, so the
    // harness publishes nothing but the pushes while it measures; the fleet's rate is taken
    // over a second once it runs at speed.
    let rate = if busy {
        for k in 0..PRELOAD / 10_000 {
            broker
                .enqueue(&Pages::Tiny.jobs(&site, 10_000, &format!("busy-{k}")))
                .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        Some(take_rate(&broker).await?)
    } else {
        None
    };
    // The workers' CPU over the pushes: per push and worker, what a reload costs a whole
    // worker process (decode, compile, evaluate, swap, log, ack, reply, housekeeping).
    let pids: Vec<String> = procs.iter().map(|w| w.pid().to_string()).collect();
    let cpu = || crate::cpu::of_s(&pids);
    let (cpu_before, broker_before) = (cpu(), crate::cpu::broker_s());
    let (mut to_live, mut to_reply, mut all_live) = (Vec::new(), Vec::new(), Vec::new());
    // Publish to the broker's confirm, as the pusher sees it.
    let mut to_confirm = Vec::new();
    // The worker's own share: from taking the message to the swap (its `elapsed_us`).
    let mut applying = Vec::new();
    // Publish to the worker taking the message (its live time less its own share).
    let mut to_receipt = Vec::new();
    // Per push, where its last worker's time went.
    let mut anatomy = Vec::new();
    // With the express lane: publish to Redis having relayed it, as the pusher sees it.
    let mut to_relayed = Vec::new();
    for n in 1..=pushes as u64 {
        let push_id = format!("bench-{n}");
        let body = Pages::Tiny.push_body(n, &push_id);
        let (t0, started) = (now_us(), Instant::now());
        // With the express lane: when the broker had the message and when Redis relayed it.
        let relay = match &lane {
            Some(lane) => {
                let r = broker.send_control_express(&body, &push_id, lane).await;
                let ms = |at: Instant| (at - started).as_secs_f64() * 1000.0;
                to_relayed.push(ms(r.relayed));
                Some((ms(r.sent), ms(r.relayed)))
            }
            None => {
                broker.send_control_raw(&body, &push_id).await;
                None
            }
        };
        to_confirm.push((now_us() - t0) as f64 / 1000.0);
        let replies = broker.replies(workers, Duration::from_secs(10)).await;
        let arrived = now_us();
        for r in &replies {
            if let Reply::Reload(r) = r {
                anyhow::ensure!(
                    r.push_id.as_deref() == Some(push_id.as_str()),
                    "reply for another push"
                );
            }
        }
        to_reply.push((arrived - t0) as f64 / 1000.0);
        let mut slowest = 0.0f64;
        let mut arrivals = Vec::with_capacity(procs.len());
        for w in &procs {
            let line = w
                .wait_for(
                    "rule reloaded",
                    |v| v["push_id"] == push_id.as_str(),
                    Duration::from_secs(10),
                )
                .await;
            let at = line["timestamp"]
                .as_str()
                .and_then(parse_rfc3339_us)
                .unwrap_or(arrived);
            let ms = (at - t0) as f64 / 1000.0;
            to_live.push(ms);
            let own = line["elapsed_us"].as_f64().unwrap_or(0.0) / 1000.0;
            applying.push(own);
            to_receipt.push(ms - own);
            slowest = slowest.max(ms);
            arrivals.push(Arrival {
                receipt_ms: ms - own,
                apply_ms: own,
                via: line["via"].as_str().unwrap_or("").to_owned(),
            });
        }
        all_live.push(slowest);
        let confirmed = to_confirm.last().copied().unwrap_or(0.0);
        anatomy.push(Anatomy::of(arrivals, relay, confirmed));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Idle only: with jobs flowing, their CPU swamps it. The 100 ms pauses between pushes
    // cost an idle worker next to nothing.
    let cpu_per_push_ms =
        (!busy).then(|| (cpu() - cpu_before) * 1000.0 / (pushes * workers) as f64);
    // The broker's share of a push at idle: routing it to every worker's queue and the
    // history, delivering it, taking the acks and handing the replies on.
    let broker_cpu_per_push_ms =
        (!busy).then(|| (crate::cpu::broker_s() - broker_before) * 1000.0 / pushes as f64);
    // Jobs still waiting after the last push: the queue never ran dry.
    let waiting = match rate {
        Some(rate) => {
            let waiting = broker.depth(&broker.topology().jobs_queue()).await;
            anyhow::ensure!(
                waiting > 0,
                "the job queue ran dry during the pushes (the fleet takes {rate:.0} jobs/s): raise PRELOAD"
            );
            Some(waiting)
        }
        None => None,
    };
    drop(procs);
    broker.cleanup().await;
    let (live, reply, all, apply, confirm) = (
        Summary::of(&to_live),
        Summary::of(&to_reply),
        Summary::of(&all_live),
        Summary::of(&applying),
        Summary::of(&to_confirm),
    );
    Ok(json!({
        "workers": workers, "pushes": pushes, "jobs_flowing": busy,
        "lane": if express { "express" } else { "broker" },
        "control_rt_priority": control_rt, "redis_policy": crate::fleet::redis_policy(),
        "jobs_waiting_at_end": waiting, "jobs_per_s": rate,
        "worker_cpu_ms_per_push": cpu_per_push_ms, "broker_cpu_ms_per_push": broker_cpu_per_push_ms,
        "publish_to_live": live.json(), "publish_to_all_live": all.json(), "publish_to_last_reply": reply.json(),
        "apply_in_worker": apply.json(), "publish_to_confirm": confirm.json(),
        "publish_to_receipt": Summary::of(&to_receipt).json(),
        "publish_to_relayed": express.then(|| Summary::of(&to_relayed).json()),
        "slowest_pushes": Anatomy::slowest(anatomy, 5),
    }))
}
