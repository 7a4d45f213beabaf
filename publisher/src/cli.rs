//! Flags and subcommands, with environment fallbacks shared with the worker.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The crawlfleet operator's CLI: push rules to the live fleet, seed crawls, see the fleet.
#[derive(Debug, Parser)]
#[command(name = "publisher", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct Global {
    /// AMQP URL of the broker.
    #[arg(
        long,
        global = true,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub(crate) amqp_url: String,
    /// Prefix of every exchange and queue name (as given to the workers).
    #[arg(
        long,
        global = true,
        env = "CRAWLFLEET_PREFIX",
        default_value = "crawlfleet"
    )]
    pub(crate) prefix: String,
    /// How long to collect the fleet's answers to the membership ping, in ms.
    #[arg(long, global = true, env = "PING_WINDOW_MS", default_value_t = 500)]
    pub(crate) ping_window_ms: u64,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Push a new version of a rule module to every live worker (or some of them).
    PushRule(PushRuleArgs),
    /// Push the newest canary or targeted version of a module to every worker.
    Promote(PromoteArgs),
    /// Restore an earlier version of a module, pushed as a new version.
    Rollback(RollbackArgs),
    /// List the pushed versions of a module: time, version, sha256, who pushed.
    History(HistoryArgs),
    /// Make an ed25519 key pair for signed pushes.
    Keygen(KeygenArgs),
    /// Seed crawl jobs: URLs as arguments, or one per line from --file (`-` for stdin).
    Enqueue(EnqueueArgs),
    /// Show every live worker and the module versions it runs.
    Status(StatusArgs),
    /// Drain the items queue to a JSON Lines file.
    Export(ExportArgs),
    /// Delete the prefix's exchanges and queues (demo and test fleets).
    Teardown(TeardownArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TeardownArgs {
    /// Confirm that jobs and items under the prefix may be deleted.
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Output file (JSON Lines, one item per line).
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Append to the file instead of replacing it.
    #[arg(long)]
    pub(crate) append: bool,
    /// Stop after this many items.
    #[arg(long)]
    pub(crate) max: Option<u64>,
    /// Stop when no item arrived for this long, in ms.
    #[arg(long, default_value_t = 2000)]
    pub(crate) idle_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct PushRuleArgs {
    /// Module name, e.g. `shop.products`.
    pub(crate) module: String,
    /// The Lua file to push (its source is sent inline with its sha256).
    pub(crate) path: PathBuf,
    /// Version to push (default: one more than the newest version pushed or running).
    #[arg(long)]
    pub(crate) version: Option<u64>,
    /// Only these workers (comma-separated ids); the others ack and ignore it.
    #[arg(long, value_delimiter = ',')]
    pub(crate) workers: Vec<String>,
    /// Only this share of workers, chosen by a stable hash of worker id and push id
    /// (e.g. `10%`).
    #[arg(long)]
    pub(crate) canary: Option<String>,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

/// How a push is delivered and followed.
#[derive(Debug, Args)]
pub(crate) struct DeliveryArgs {
    /// Wait for every chosen live worker's outcome and print one line per worker and a summary.
    #[arg(long)]
    pub(crate) wait: bool,
    /// With --wait: how long to wait for the replies, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) timeout: f64,
    /// Sign the update with the ed25519 secret key in this file (see `publisher keygen`).
    /// Its public half is trusted as if given to --trusted-keys.
    #[arg(long, env = "CRAWLFLEET_SIGN_KEY")]
    pub(crate) sign_key: Option<PathBuf>,
    /// Public keys (hex, comma-separated), as the workers' --trusted-keys: version numbers,
    /// promote, rollback and history retention then use only history entries signed by one
    /// of them for this --prefix. Set but naming no key (`TRUSTED_KEYS=""`) is an error.
    #[arg(long, env = "TRUSTED_KEYS")]
    pub(crate) trusted_keys: Option<String>,
    /// Redis URL of the fleet's express lane: the update is relayed there too, and workers
    /// started with the same --express-url apply it without waiting for the broker.
    #[arg(long, env = "EXPRESS_URL")]
    pub(crate) express_url: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The module whose newest (canary or targeted) version goes to every worker.
    pub(crate) module: String,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct RollbackArgs {
    /// The module to roll back.
    pub(crate) module: String,
    /// The version to restore (default: the one before the newest).
    #[arg(long)]
    pub(crate) to: Option<u64>,
    #[command(flatten)]
    pub(crate) delivery: DeliveryArgs,
}

#[derive(Debug, Args)]
pub(crate) struct HistoryArgs {
    /// The module (default: every module).
    pub(crate) module: Option<String>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Public keys (hex, comma-separated), as the workers' --trusted-keys: each entry is
    /// shown as signed only if it verifies for this --prefix, and as refused (with why)
    /// otherwise. Without keys, signatures are shown as not checked.
    #[arg(long, env = "TRUSTED_KEYS")]
    pub(crate) trusted_keys: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the secret key (hex; created with mode 0600, never overwritten).
    #[arg(long)]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct EnqueueArgs {
    /// URLs to crawl.
    pub(crate) urls: Vec<String>,
    /// Rule module that parses these pages.
    #[arg(long)]
    pub(crate) rule: String,
    /// Read URLs from this file, one per line (`-` for stdin).
    #[arg(long)]
    pub(crate) file: Option<PathBuf>,
    /// Crawl id shared by the seeded jobs (default: a new one).
    #[arg(long)]
    pub(crate) crawl: Option<String>,
    /// Meta passed to the rule, as a JSON object.
    #[arg(long)]
    pub(crate) meta: Option<String>,
    /// Depth limit of this crawl (overrides the rules' `max_depth`).
    #[arg(long)]
    pub(crate) max_depth: Option<u32>,
    /// Job queue type, if the publisher is the first to declare the queue.
    #[arg(long, env = "JOB_QUEUE_TYPE", default_value = "quorum")]
    pub(crate) job_queue_type: String,
}

#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Exit with 1 when workers run different versions of a module (drift).
    #[arg(long)]
    pub(crate) check: bool,
}
