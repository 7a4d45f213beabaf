//! Command-line flags, each with an environment fallback. Values are checked in `config.rs`.

use clap::{Args, Parser, Subcommand};

/// A crawlfleet worker: consumes crawl jobs, runs Lua rules on them and takes new rule
/// versions while running.
#[derive(Debug, Parser)]
#[command(name = "worker", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the worker (the default when no subcommand is given).
    Run(Box<RunArgs>),
    /// Show what a rule extracts from a saved page (items and links, as JSON).
    CheckRule(Box<CheckRuleArgs>),
    /// Crawl from a start URL in this process, without a broker, writing items to a file.
    Crawl(Box<LocalCrawlArgs>),
}

/// Flags of `worker check-rule`.
#[derive(Debug, Clone, Args)]
pub struct CheckRuleArgs {
    /// The rule module, e.g. `shop.products`.
    pub module: String,
    /// The saved page (HTML, or JSON with --content-type application/json).
    #[arg(long)]
    pub page: std::path::PathBuf,
    /// The URL the page was saved from (relative links resolve against it).
    #[arg(long)]
    pub url: String,
    /// Directory of the rule modules.
    #[arg(long, env = "CRAWLFLEET_RULES", default_value = "rules")]
    pub rules: std::path::PathBuf,
    /// Job meta passed to the rule, as a JSON object.
    #[arg(long)]
    pub meta: Option<String>,
    /// Content-Type of the saved page, as the server sent it (default: from the file
    /// extension, with no charset). The page is decoded as the fleet decodes it: BOM, this
    /// charset, `<meta>`, detection.
    #[arg(long)]
    pub content_type: Option<String>,
    /// Also print, on stderr, one JSON line with the run's time and peak memory.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// Flags of `worker crawl`.
#[derive(Debug, Clone, Args)]
pub struct LocalCrawlArgs {
    /// Directory of the rule modules (watched: a changed file is reloaded).
    #[arg(long, env = "CRAWLFLEET_RULES", default_value = "rules")]
    pub rules: std::path::PathBuf,
    /// The rule for the start URL.
    #[arg(long)]
    pub rule: String,
    /// Where the crawl starts.
    #[arg(long)]
    pub start: Vec<String>,
    /// Items as JSON Lines.
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// Jobs that failed for good, as JSON Lines with their reasons.
    #[arg(long)]
    pub dead: Option<std::path::PathBuf>,
    /// Jobs processed at once.
    #[arg(long, default_value = "16")]
    pub jobs: String,
    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub crawl: CrawlArgs,
}

/// Flags of `worker run`. Every value is a string here so that all bad values are reported
/// together by `Config::from_args`, not one at a time.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// AMQP URL of the broker.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
    /// Directory of the rule modules (the base layer loaded at start-up).
    #[arg(long, env = "CRAWLFLEET_RULES", default_value = "rules")]
    pub rules: String,
    /// Prefix of every exchange and queue name, so fleets can share a broker.
    #[arg(long, env = "CRAWLFLEET_PREFIX", default_value = "crawlfleet")]
    pub prefix: String,
    /// This worker's id in logs and replies (default: w- and 6 random hex digits).
    #[arg(long, env = "WORKER_ID")]
    pub worker_id: Option<String>,
    /// Log format: `text` (readable) or `json` (one object per line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// How many jobs this worker holds unacknowledged at once.
    #[arg(long, env = "JOB_PREFETCH", default_value = "16")]
    pub prefetch: String,
    /// Nice value of the threads that run jobs (0 to 19; 0 turns it off). The control plane
    /// stays at the process's own priority, so under load a push is applied before job work.
    #[arg(long, env = "JOB_NICE", default_value = "10")]
    pub job_nice: String,
    /// Real-time priority (SCHED_RR, 1 to 99; 0 turns it off) of the control plane's threads:
    /// the control loop, its connection's I/O and the express lane. Where the workers share
    /// cores with a saturated broker or load, a push then waits for no other thread to take
    /// it. Needs CAP_SYS_NICE (or RLIMIT_RTPRIO); the worker refuses to start without it.
    /// Rule code a push loads stays bounded by the load budget.
    #[arg(long, env = "CONTROL_RT_PRIORITY", default_value = "0")]
    pub control_rt_priority: String,
    /// Job queue type when the worker declares it: `quorum` or `classic`.
    #[arg(long, env = "JOB_QUEUE_TYPE", default_value = "quorum")]
    pub job_queue_type: String,
    /// Deliveries of a job that may end unsettled (a worker crashed or hung on it, or it was
    /// requeued) before the next one is dead-lettered (`delivery_limit`) instead of run.
    /// Quorum job queues are declared with it as `x-delivery-limit`.
    #[arg(long, env = "MAX_DELIVERIES", default_value = "10")]
    pub max_deliveries: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// On SIGTERM/SIGINT, how long in-flight jobs may run before they are returned to the
    /// broker, in seconds.
    #[arg(long, env = "SHUTDOWN_GRACE_S", default_value = "20")]
    pub grace_s: String,
    /// How long one job (fetch + rule) may take before it is failed and retried, in seconds.
    /// Keep it well under the broker's consumer_timeout (30 min by default).
    #[arg(long, env = "JOB_DEADLINE_S", default_value = "300")]
    pub job_deadline_s: String,
    /// Public keys (hex, comma-separated) whose signatures are trusted. When set, unsigned
    /// or wrongly signed updates (or signed for another --prefix, or with their targets
    /// edited), and versions not newer than the live one, are rejected. Set but naming no
    /// key (`TRUSTED_KEYS=""`) is a configuration error; unset accepts unsigned updates.
    #[arg(long, env = "TRUSTED_KEYS")]
    pub trusted_keys: Option<String>,
    /// Redis URL of the express lane: rule updates published there as well reach this worker
    /// without queueing behind job traffic on the broker. The broker's copy is still the one
    /// acked, replied to and kept in the history. Off when unset.
    #[arg(long, env = "EXPRESS_URL")]
    pub express_url: Option<String>,
    /// Address of the admin endpoint (/metrics, /healthz, /readyz); `off` disables it.
    /// Loopback by default: bind 0.0.0.0:9464 where a scraper or probe must reach it.
    #[arg(long, env = "ADMIN_ADDR", default_value = "127.0.0.1:9464")]
    pub admin_addr: String,
    /// First wait before reconnecting to a lost broker, in ms (doubles up to the max).
    #[arg(long, env = "RECONNECT_MIN_MS", default_value = "200")]
    pub reconnect_min_ms: String,
    /// Longest wait between two reconnection attempts, in ms.
    #[arg(long, env = "RECONNECT_MAX_MS", default_value = "30000")]
    pub reconnect_max_ms: String,
    #[command(flatten)]
    pub crawl: CrawlArgs,
}

/// Bounds on rule code (shared by `run` and `crawl`).
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Memory limit of each Lua state, in MiB.
    #[arg(long, env = "LUA_MEMORY_MB", default_value = "64")]
    pub lua_memory_mb: String,
    /// Time budget of a module's top level (and `migrate`) when it is loaded, in ms.
    #[arg(long, env = "LOAD_BUDGET_MS", default_value = "2000")]
    pub load_budget_ms: String,
    /// Time budget of one call of a rule's `parse`, in ms.
    #[arg(long, env = "CALL_BUDGET_MS", default_value = "2000")]
    pub call_budget_ms: String,
}

/// How the worker fetches and follows links (shared by `run` and `crawl`).
#[derive(Debug, Clone, Args)]
pub struct CrawlArgs {
    /// User-Agent of every request; its first word is matched against robots.txt.
    #[arg(long, env = "USER_AGENT", default_value = "crawlfleet/0.1")]
    pub user_agent: String,
    /// Connect timeout, in ms.
    #[arg(long, env = "CONNECT_TIMEOUT_MS", default_value = "10000")]
    pub connect_timeout_ms: String,
    /// Read timeout (between bytes), in ms; a whole request may take 4 times this.
    #[arg(long, env = "READ_TIMEOUT_MS", default_value = "30000")]
    pub read_timeout_ms: String,
    /// Redirects followed per request.
    #[arg(long, env = "MAX_REDIRECTS", default_value = "5")]
    pub max_redirects: String,
    /// Largest response body accepted, in KiB.
    #[arg(long, env = "MAX_BODY_KB", default_value = "8192")]
    pub max_body_kb: String,
    /// Requests in flight at once, all hosts together.
    #[arg(long, env = "FETCH_CONCURRENCY", default_value = "64")]
    pub concurrency: String,
    /// Requests in flight at once to one host.
    #[arg(long, env = "PER_HOST_CONCURRENCY", default_value = "4")]
    pub per_host_concurrency: String,
    /// Minimum gap between two requests to one host, in ms (robots.txt Crawl-delay may raise it).
    #[arg(long, env = "PER_HOST_DELAY_MS", default_value = "0")]
    pub per_host_delay_ms: String,
    /// Also fetch from loopback, private (RFC 1918, CGNAT, ULA), link-local and other
    /// non-public addresses. Off by default: pages and redirects that lead there, or names
    /// that resolve there, are refused (`destination_refused`).
    #[arg(long, env = "ALLOW_PRIVATE_HOSTS")]
    pub allow_private_hosts: bool,
    /// Obey robots.txt: `true` or `false`.
    #[arg(long, env = "OBEY_ROBOTS", default_value = "true")]
    pub obey_robots: String,
    /// Redis URL for fleet-wide URL dedup per crawl (without it, dedup is per worker).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// How long a crawl's dedup keys live in Redis, in seconds.
    #[arg(long, env = "DEDUP_TTL_S", default_value = "604800")]
    pub dedup_ttl_s: String,
    /// Attempts of a job before a transient failure sends it to the dead-letter queue.
    #[arg(long, env = "MAX_ATTEMPTS", default_value = "4")]
    pub max_attempts: String,
    /// Depth limit when neither the crawl nor the rule sets one.
    #[arg(long, env = "MAX_DEPTH", default_value = "3")]
    pub max_depth: String,
}
