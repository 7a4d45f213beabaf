//! `bench`: the benchmarks behind BENCHMARKS.md. Each prints a table and writes its JSON to
//! `bench/results/<name>.json`. Run from a release build: `scripts/bench <name>`.

mod anatomy;
mod clock;
mod cpu;
mod crawl;
mod fleet;
mod micro;
mod phases;
mod pool;
mod reload;
mod site;
mod stats;
mod storm;
mod storm_cpu;
mod workload;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::Value;

/// Benchmarks of crawlfleet on this machine, against the local broker.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Push → live on every worker, for N worker processes, idle and with jobs flowing.
    Reload {
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        workers: Vec<usize>,
        /// Pushes per configuration (with 100, p99 is the second slowest, not the slowest).
        #[arg(long, default_value_t = 100)]
        pushes: usize,
        /// How pushes travel: `broker` (the fanout alone) and/or `express` (also relayed by
        /// the Redis express lane at 127.0.0.1:6379).
        #[arg(long, value_delimiter = ',', default_value = "broker,express")]
        lanes: Vec<String>,
        /// Job load during the pushes: `idle` and/or `full`.
        #[arg(long, value_delimiter = ',', default_value = "idle,full")]
        jobs: Vec<String>,
        /// Run the workers' control planes at this real-time priority (`worker
        /// --control-rt-priority`; 0: off). The JSON also records Redis's scheduling policy,
        /// which the host sets.
        #[arg(long, default_value_t = 0)]
        control_rt: u8,
    },
    /// 20 pushes/s for 10 s while jobs flow: throughput, lost jobs, half-loaded rules.
    Storm {
        #[arg(long, default_value_t = 4)]
        workers: usize,
        /// Storms per run, each between two steady phases of its own (they alternate): the
        /// ratio reported is the mean over the rounds.
        #[arg(long, default_value_t = 1)]
        rounds: usize,
        /// Leave the storm phases without pushes: an A/A run that checks the harness (its
        /// ratio should be 1).
        #[arg(long)]
        no_pushes: bool,
        /// Relay the pushes on the Redis express lane too (workers subscribed).
        #[arg(long)]
        express: bool,
        /// What the jobs fetch and parse: `tiny` (robots.txt, a rule returning one field: the
        /// cheapest job, where a reload weighs most) or `product` (30–60 KB product pages, a
        /// rule extracting what `shop.product` does).
        #[arg(long, value_enum, default_value_t = workload::Pages::Tiny)]
        pages: workload::Pages,
        /// Also keep this run in DIR under a name of its own, for `storm-pool` (directories
        /// under `bench/results/` are not committed: `storm-pool DIR --save NAME` pools them
        /// into one file that is).
        #[arg(long, value_name = "DIR")]
        keep_in: Option<PathBuf>,
    },
    /// The same storms at a fixed offered load the fleet keeps up with: what a storm costs
    /// in CPU (the whole machine's, the broker's, the workers') while jobs flow.
    StormCpu {
        #[arg(long, default_value_t = 4)]
        workers: usize,
        #[arg(long, default_value_t = 6)]
        rounds: usize,
        /// Jobs fed per second, steadily; keep it below what the fleet can take.
        #[arg(long, default_value_t = 1_500)]
        offered: usize,
        /// Leave the storm phases without pushes (A/A).
        #[arg(long)]
        no_pushes: bool,
        #[arg(long, value_enum, default_value_t = workload::Pages::Tiny)]
        pages: workload::Pages,
        /// Also keep this run in DIR under a name of its own, as `storm` does.
        #[arg(long, value_name = "DIR")]
        keep_in: Option<PathBuf>,
    },
    /// Pools the storm runs (or storm-cpu runs) kept in each DIR (or saved in a pooled file):
    /// storms and A/A rounds, each mean with its 95 % confidence interval, and the difference.
    StormPool {
        #[arg(required = true, value_name = "DIR|FILE")]
        paths: Vec<PathBuf>,
        /// Also save the summary and every run pooled in `bench/results/NAME.json`, one file
        /// that can be committed and pooled again in place of the directories.
        #[arg(long, value_name = "NAME")]
        save: Option<String>,
    },
    /// One worker crawls a generated shop: pages/s, CPU per 1000 pages, RSS, correctness.
    Crawl {
        #[arg(long, default_value_t = 10_000)]
        products: usize,
        #[arg(long, value_delimiter = ',', default_value = "16,64")]
        concurrency: Vec<usize>,
    },
    /// Lua call, page parse, compile and reload costs, in process.
    Micro,
}

fn results_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results")
}

fn save(name: &str, value: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(results_dir())?;
    let path = results_dir().join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Prints a storm run (`storm` or `storm-cpu`), keeps it in `keep_in` as a storm or an A/A
/// run, and saves it as `mode` (with `-product` for product pages).
fn report_storm(
    r: &Value,
    no_pushes: bool,
    keep_in: Option<&std::path::Path>,
    mode: &str,
    pages: workload::Pages,
) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(r)?);
    if let Some(dir) = keep_in {
        keep(dir, if no_pushes { "a-a" } else { "storm" }, r)?;
    }
    match pages {
        workload::Pages::Tiny => save(mode, r),
        workload::Pages::Product => save(&format!("{mode}-product"), r),
    }
}

/// Keeps a run in `dir` under a name of its own (`<unix time>-<kind>.json`).
fn keep(dir: &std::path::Path, kind: &str, value: &Value) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let path = dir.join(format!("{}-{kind}.json", at.as_secs()));
    std::fs::write(&path, serde_json::to_string_pretty(value)? + "\n")?;
    println!("kept {}", path.display());
    Ok(())
}

fn bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target/release"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    // On Ctrl-C or SIGTERM the run's future is dropped, and with it its fleet: the workers
    // are killed and the broker prefix deleted, as at the end of a run.
    tokio::select! {
        r = run(cli) => r,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted: the fleet was torn down"),
        _ = term.recv() => anyhow::bail!("terminated: the fleet was torn down"),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.what {
        What::Reload {
            workers,
            pushes,
            lanes,
            jobs,
            control_rt,
        } => {
            if let Some(bad) = jobs.iter().find(|j| !matches!(j.as_str(), "idle" | "full")) {
                anyhow::bail!("--jobs: `{bad}` is not `idle` or `full`");
            }
            if let Some(bad) = lanes
                .iter()
                .find(|l| !matches!(l.as_str(), "broker" | "express"))
            {
                anyhow::bail!("--lanes: `{bad}` is not `broker` or `express`");
            }
            let mut rows = Vec::new();
            println!(
                "{:>8} {:>7} {:>6} {:>14} {:>14} {:>14} {:>16} {:>16} {:>15} {:>15} {:>15}",
                "lane",
                "workers",
                "jobs",
                "live p50 ms",
                "live p99 ms",
                "live max ms",
                "all-live p99 ms",
                "reply p99 ms",
                "receipt p99 ms",
                "apply p99 ms",
                "confirm p99 ms"
            );
            for lane in &lanes {
                for n in &workers {
                    for busy in jobs.iter().map(|j| j == "full") {
                        let r =
                            reload::run(*n, pushes, busy, lane == "express", control_rt).await?;
                        println!(
                            "{:>8} {:>7} {:>6} {:>14.2} {:>14.2} {:>14.2} {:>16.2} {:>16.2} {:>15.2} {:>15.2} {:>15.2}",
                            lane,
                            n,
                            if busy { "full" } else { "idle" },
                            r["publish_to_live"]["p50_ms"].as_f64().unwrap_or(0.0),
                            r["publish_to_live"]["p99_ms"].as_f64().unwrap_or(0.0),
                            r["publish_to_live"]["max_ms"].as_f64().unwrap_or(0.0),
                            r["publish_to_all_live"]["p99_ms"].as_f64().unwrap_or(0.0),
                            r["publish_to_last_reply"]["p99_ms"].as_f64().unwrap_or(0.0),
                            r["publish_to_receipt"]["p99_ms"].as_f64().unwrap_or(0.0),
                            r["apply_in_worker"]["p99_ms"].as_f64().unwrap_or(0.0),
                            r["publish_to_confirm"]["p99_ms"].as_f64().unwrap_or(0.0),
                        );
                        rows.push(r);
                    }
                }
            }
            save("reload", &Value::Array(rows))
        }
        What::Storm {
            workers,
            rounds,
            no_pushes,
            express,
            pages,
            keep_in,
        } => {
            let r = storm::run(workers, rounds, !no_pushes, express, pages).await?;
            let mode = match (no_pushes, express) {
                (true, _) => "storm-a-a",
                (false, true) => "storm-express",
                (false, false) => "storm",
            };
            report_storm(&r, no_pushes, keep_in.as_deref(), mode, pages)
        }
        What::Crawl {
            products,
            concurrency,
        } => {
            let per_category = 100;
            let shop = site::Shop {
                categories: products.div_ceil(per_category),
                per_category,
                per_page: 50,
            };
            let mut rows = Vec::new();
            println!(
                "{:<14} {:>5} {:>8} {:>8} {:>10} {:>13} {:>9} {:>9} {:>9}",
                "mode",
                "conc",
                "pages",
                "pages/s",
                "CPU s",
                "CPU s/1000pg",
                "idle MB",
                "peak MB",
                "correct"
            );
            for c in concurrency {
                for r in [
                    crawl::local(&bin_dir(), shop, c).await?,
                    crawl::broker(shop, c).await?,
                ] {
                    println!(
                        "{:<14} {:>5} {:>8} {:>8.0} {:>10.2} {:>13.3} {:>9.1} {:>9.1} {:>9}",
                        r["mode"].as_str().unwrap_or(""),
                        c,
                        r["pages"].as_f64().unwrap_or(0.0),
                        r["pages_per_s"].as_f64().unwrap_or(0.0),
                        r["cpu_s"].as_f64().unwrap_or(0.0),
                        r["cpu_s_per_1000_pages"].as_f64().unwrap_or(0.0),
                        r["idle_rss_mb"].as_f64().unwrap_or(f64::NAN),
                        r["peak_rss_mb"].as_f64().unwrap_or(0.0),
                        format!("{}/{}", r["items_correct"], r["products"]),
                    );
                    rows.push(r);
                }
            }
            save("crawl", &Value::Array(rows))
        }
        What::StormCpu {
            workers,
            rounds,
            offered,
            no_pushes,
            pages,
            keep_in,
        } => {
            let r = storm_cpu::run(workers, rounds, !no_pushes, offered, pages).await?;
            let mode = if no_pushes {
                "storm-cpu-a-a"
            } else {
                "storm-cpu"
            };
            report_storm(&r, no_pushes, keep_in.as_deref(), mode, pages)
        }
        What::StormPool { paths, save: name } => {
            let runs = pool::runs(&paths)?;
            let pooled = pool::pool(&runs)?;
            let r = pool::summary(&pooled);
            pool::print(&pooled, &r);
            println!("{}", serde_json::to_string_pretty(&r)?);
            match name {
                Some(name) => save(&name, &pool::pooled(&r, runs)),
                None => Ok(()),
            }
        }
        What::Micro => {
            let r = tokio::task::spawn_blocking(micro::run).await??;
            println!("{}", serde_json::to_string_pretty(&r)?);
            save("micro", &r)
        }
    }
}
