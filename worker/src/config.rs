//! The worker's configuration, read once and validated whole before any connection is made.

use std::path::PathBuf;
use std::time::Duration;

use crawlfleet_bus::JobQueueType;
use crawlfleet_engine::Limits;

use crate::cli::{CrawlArgs, LimitArgs, RunArgs};
use crate::crawl::CrawlSettings;
use crate::fetch::FetchSettings;
use crate::telemetry::LogFormat;

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub amqp_url: String,
    pub rules: PathBuf,
    pub prefix: String,
    pub worker_id: String,
    pub log_format: LogFormat,
    pub prefetch: u16,
    /// Nice value of job threads (0: left as they are).
    pub job_nice: i32,
    /// SCHED_RR priority of the control plane's threads (0: left as they are).
    pub control_rt_priority: i32,
    pub job_queue_type: JobQueueType,
    /// Unsettled deliveries of a job before it is dead-lettered.
    pub max_deliveries: u32,
    pub limits: Limits,
    pub grace: Duration,
    pub job_deadline: Duration,
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    pub trusted_keys: Vec<crawlfleet_bus::signature::PublicKey>,
    /// Where /metrics, /healthz and /readyz are served (`None`: off).
    pub admin_addr: Option<std::net::SocketAddr>,
    /// Redis URL of the express lane for rule updates (`None`: broker only).
    pub express_url: Option<String>,
    pub crawl: CrawlConfig,
}

/// Fetching and link-following settings.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    pub(crate) fetch: FetchSettings,
    pub(crate) crawl: CrawlSettings,
    pub(crate) redis_url: Option<String>,
    pub(crate) dedup_ttl: Duration,
    pub(crate) max_attempts: u32,
}

impl CrawlConfig {
    /// Checks the crawl flags, adding problems to `errors`.
    pub(crate) fn from_args(args: &CrawlArgs, errors: &mut Vec<String>) -> CrawlConfig {
        let connect = number(
            errors,
            "--connect-timeout-ms",
            &args.connect_timeout_ms,
            1,
            600_000,
        );
        let read = number(
            errors,
            "--read-timeout-ms",
            &args.read_timeout_ms,
            1,
            600_000,
        );
        let redirects = number(errors, "--max-redirects", &args.max_redirects, 0, 50);
        let body_kb = number(errors, "--max-body-kb", &args.max_body_kb, 1, 1024 * 1024);
        let concurrency = number(errors, "--concurrency", &args.concurrency, 1, 10_000);
        let per_host = number(
            errors,
            "--per-host-concurrency",
            &args.per_host_concurrency,
            1,
            1000,
        );
        let delay = number(
            errors,
            "--per-host-delay-ms",
            &args.per_host_delay_ms,
            0,
            600_000,
        );
        let ttl = number(
            errors,
            "--dedup-ttl-s",
            &args.dedup_ttl_s,
            1,
            365 * 24 * 3600,
        );
        let attempts = number(errors, "--max-attempts", &args.max_attempts, 1, 100);
        let depth = number(errors, "--max-depth", &args.max_depth, 0, 1000);
        let obey_robots = match args.obey_robots.as_str() {
            "true" => true,
            "false" => false,
            other => {
                report(
                    errors,
                    Err(format!("--obey-robots: `{other}` is not `true` or `false`")),
                );
                true
            }
        };
        report(
            errors,
            if args.user_agent.trim().is_empty() || args.user_agent.contains(['\r', '\n']) {
                Err("--user-agent: must be one non-empty line".to_owned())
            } else {
                Ok(())
            },
        );
        if let Some(url) = &args.redis_url {
            report(
                errors,
                if url.starts_with("redis://") || url.starts_with("rediss://") {
                    Ok(())
                } else {
                    Err(format!("--redis-url: `{url}` is not a redis:// URL"))
                },
            );
        }
        CrawlConfig {
            fetch: FetchSettings {
                user_agent: args.user_agent.trim().to_owned(),
                connect_timeout: Duration::from_millis(connect),
                read_timeout: Duration::from_millis(read),
                max_redirects: usize::try_from(redirects).unwrap_or(5),
                max_body_bytes: usize::try_from(body_kb * 1024).unwrap_or(usize::MAX),
                global_concurrency: usize::try_from(concurrency).unwrap_or(64),
                per_host_concurrency: usize::try_from(per_host).unwrap_or(4),
                per_host_delay: Duration::from_millis(delay),
                obey_robots,
                allow_private_hosts: args.allow_private_hosts,
            },
            crawl: CrawlSettings {
                default_max_depth: u32::try_from(depth).unwrap_or(3),
            },
            redis_url: args.redis_url.clone(),
            dedup_ttl: Duration::from_secs(ttl),
            max_attempts: u32::try_from(attempts).unwrap_or(4),
        }
    }
}

impl Config {
    /// Checks every value and returns all the problems at once.
    pub fn from_args(args: &RunArgs) -> Result<Config, Vec<String>> {
        let mut errors = Vec::new();

        let amqp_url = args.amqp_url.trim().to_owned();
        report(
            &mut errors,
            if amqp_url.starts_with("amqp://") {
                Ok(())
            } else if amqp_url.starts_with("amqps://") {
                Err("--amqp-url: amqps:// (TLS) is not built into this worker; use amqp://".into())
            } else {
                Err(format!(
                    "--amqp-url: `{}` is not an amqp:// URL",
                    crawlfleet_bus::redact_url(&amqp_url)
                ))
            },
        );

        let rules = PathBuf::from(&args.rules);
        report(
            &mut errors,
            if rules.is_dir() {
                Ok(())
            } else {
                Err(format!("--rules: `{}` is not a directory", args.rules))
            },
        );

        report(&mut errors, name_like("--prefix", &args.prefix));
        let worker_id = args.worker_id.clone().unwrap_or_else(|| {
            let id = uuid::Uuid::new_v4().simple().to_string();
            format!("w-{}", &id[..6])
        });
        report(&mut errors, name_like("--worker-id", &worker_id));

        let log_format = log_format(&args.log_format, &mut errors);
        let job_queue_type = match args.job_queue_type.as_str() {
            "quorum" => JobQueueType::Quorum,
            "classic" => JobQueueType::Classic,
            other => {
                report(
                    &mut errors,
                    Err(format!(
                        "--job-queue-type: `{other}` is not `quorum` or `classic`"
                    )),
                );
                JobQueueType::Quorum
            }
        };
        let max_deliveries = number(
            &mut errors,
            "--max-deliveries",
            &args.max_deliveries,
            1,
            1000,
        );
        let prefetch = number(&mut errors, "--prefetch", &args.prefetch, 1, 10_000);
        let job_nice = number(&mut errors, "--job-nice", &args.job_nice, 0, 19);
        let control_rt_priority = number(
            &mut errors,
            "--control-rt-priority",
            &args.control_rt_priority,
            0,
            99,
        );
        let limits = limits(&args.limits, &mut errors);
        let grace_s = number(&mut errors, "--grace-s", &args.grace_s, 0, 3600);
        let deadline_s = number(
            &mut errors,
            "--job-deadline-s",
            &args.job_deadline_s,
            1,
            24 * 3600,
        );
        let reconnect_min = number(
            &mut errors,
            "--reconnect-min-ms",
            &args.reconnect_min_ms,
            1,
            600_000,
        );
        let reconnect_max = number(
            &mut errors,
            "--reconnect-max-ms",
            &args.reconnect_max_ms,
            1,
            3_600_000,
        );
        let trusted_keys = trusted_keys(args.trusted_keys.as_deref(), &mut errors);
        let admin_addr = match args.admin_addr.trim() {
            "off" | "" => None,
            text => match text.parse() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    errors.push(format!(
                        "--admin-addr: `{text}` is not host:port (or `off`)"
                    ));
                    None
                }
            },
        };
        let express_url = args.express_url.clone().filter(|u| !u.trim().is_empty());
        if let Some(url) = &express_url
            && !url.starts_with("redis://")
        {
            errors.push(format!("--express-url: `{url}` is not a redis:// URL"));
        }
        let crawl = CrawlConfig::from_args(&args.crawl, &mut errors);

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Config {
            amqp_url,
            rules,
            prefix: args.prefix.clone(),
            worker_id,
            log_format,
            prefetch: u16::try_from(prefetch).unwrap_or(u16::MAX),
            job_nice: i32::try_from(job_nice).unwrap_or(0),
            control_rt_priority: i32::try_from(control_rt_priority).unwrap_or(0),
            job_queue_type,
            max_deliveries: u32::try_from(max_deliveries)
                .unwrap_or(crawlfleet_bus::DEFAULT_MAX_DELIVERIES),
            limits,
            grace: Duration::from_secs(grace_s),
            job_deadline: Duration::from_secs(deadline_s),
            reconnect_min: Duration::from_millis(reconnect_min),
            reconnect_max: Duration::from_millis(reconnect_max),
            trusted_keys,
            admin_addr,
            express_url,
            crawl,
        })
    }
}

/// `--log-format`: `text` or `json`; a bad value is reported (and text used).
pub(crate) fn log_format(value: &str, errors: &mut Vec<String>) -> LogFormat {
    match value {
        "json" => LogFormat::Json,
        "text" => LogFormat::Text,
        other => {
            errors.push(format!("--log-format: `{other}` is not `text` or `json`"));
            LogFormat::Text
        }
    }
}

/// The bounds on rule code: memory per Lua state, load and call budgets.
pub(crate) fn limits(args: &LimitArgs, errors: &mut Vec<String>) -> Limits {
    let memory_mb = number(errors, "--lua-memory-mb", &args.lua_memory_mb, 2, 8192);
    let load_ms = number(errors, "--load-budget-ms", &args.load_budget_ms, 1, 600_000);
    let call_ms = number(errors, "--call-budget-ms", &args.call_budget_ms, 1, 600_000);
    Limits {
        memory_bytes: usize::try_from(memory_mb).unwrap_or(64) * 1024 * 1024,
        load_budget: Duration::from_millis(load_ms),
        call_budget: Duration::from_millis(call_ms),
    }
}

/// Adds `r`'s error, if any, to `errors`.
/// `--trusted-keys`: unset accepts unsigned pushes; set, it must name at least one good key
/// (`TRUSTED_KEYS=""` is a configuration error, not verification turned off).
fn trusted_keys(
    list: Option<&str>,
    errors: &mut Vec<String>,
) -> Vec<crawlfleet_bus::signature::PublicKey> {
    match list.map(crawlfleet_bus::signature::public_keys) {
        None => Vec::new(),
        Some(Ok(keys)) => keys,
        Some(Err(bad)) => {
            errors.extend(bad.into_iter().map(|e| format!("--trusted-keys: {e}")));
            Vec::new()
        }
    }
}

fn report(errors: &mut Vec<String>, r: Result<(), String>) {
    if let Err(e) = r {
        errors.push(e);
    }
}

/// A whole number of `flag` within `min..=max`; a bad value is reported and `min` returned.
pub(crate) fn number(errors: &mut Vec<String>, flag: &str, value: &str, min: u64, max: u64) -> u64 {
    match value.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => n,
        _ => {
            errors.push(format!(
                "{flag}: `{value}` is not a whole number from {min} to {max}"
            ));
            min
        }
    }
}

fn name_like(flag: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{flag}: `{value}` must be 1-64 letters, digits, `.`, `_` or `-`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    #[test]
    fn every_bad_value_is_reported_together() {
        let cli = Cli::parse_from([
            "worker",
            "--amqp-url",
            "http://x",
            "--rules",
            "/definitely/missing",
            "--prefix",
            "bad prefix",
            "--log-format",
            "xml",
            "--prefetch",
            "0",
            "--job-nice=-5",
            "--control-rt-priority",
            "100",
            "--lua-memory-mb",
            "lots",
            "--job-queue-type",
            "stream",
            "--max-deliveries",
            "0",
        ]);
        let errors = Config::from_args(&cli.run).expect_err("invalid");
        let flags: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            flags,
            [
                "--amqp-url",
                "--rules",
                "--prefix",
                "--log-format",
                "--job-queue-type",
                "--max-deliveries",
                "--prefetch",
                "--job-nice",
                "--control-rt-priority",
                "--lua-memory-mb"
            ]
        );
    }

    #[test]
    fn defaults_are_valid() {
        let dir = std::env::temp_dir();
        let cli = Cli::parse_from(["worker", "--rules", dir.to_str().unwrap_or("/tmp")]);
        let config = Config::from_args(&cli.run).expect("valid");
        assert!(config.worker_id.starts_with("w-"));
        assert_eq!(config.prefetch, 16);
        assert_eq!(config.job_nice, 10);
        assert_eq!(config.control_rt_priority, 0);
        assert_eq!(
            config.max_deliveries,
            crawlfleet_bus::DEFAULT_MAX_DELIVERIES
        );
        assert_eq!(
            config.admin_addr,
            Some("127.0.0.1:9464".parse().expect("addr")),
            "the admin endpoint is loopback-only unless told otherwise"
        );
        assert!(
            !config.crawl.fetch.allow_private_hosts,
            "private hosts are refused unless allowed"
        );
        let allowed = Cli::parse_from([
            "worker",
            "--rules",
            dir.to_str().unwrap_or("/tmp"),
            "--allow-private-hosts",
        ]);
        let config = Config::from_args(&allowed.run).expect("valid");
        assert!(config.crawl.fetch.allow_private_hosts);
    }
}
