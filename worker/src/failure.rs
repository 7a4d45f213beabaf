//! How a `worker` command fails, and the exit code each way gets: the one place the worker
//! binary chooses them. 0 done; 1 the command failed once started (or the rule under test
//! failed); 2 bad flags or input; 70 the process cannot run (no async runtime).

/// Why a command (`run`, `check-rule`, `crawl`) failed.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The flags do not make a valid configuration: every problem found.
    #[error("invalid configuration: {}", .0.join("; "))]
    InvalidConfig(Vec<String>),
    /// Bad input, said in one line.
    #[error("{0}")]
    Usage(String),
    /// The rule under test failed (`check-rule`).
    #[error("{0}")]
    RuleFailed(String),
    /// An async runtime could not start.
    #[error("{0}")]
    Runtime(String),
    /// The command stopped with an error once running; `what` is its log message.
    #[error("{what}: {cause:#}")]
    Stopped {
        what: &'static str,
        cause: anyhow::Error,
    },
}

impl Failure {
    pub fn code(&self) -> u8 {
        match self {
            Failure::InvalidConfig(_) | Failure::Usage(_) => 2,
            Failure::RuleFailed(_) | Failure::Stopped { .. } => 1,
            Failure::Runtime(_) => 70,
        }
    }

    /// Tells the operator: on stderr, each line starting with `program` (`worker crawl`),
    /// or — for a command that stopped, whose logging is set up — as an error in the log.
    pub fn report(&self, program: &str) {
        match self {
            Failure::InvalidConfig(problems) => {
                eprintln!("{program}: invalid configuration:");
                for p in problems {
                    eprintln!("  - {p}");
                }
            }
            Failure::Usage(message) | Failure::RuleFailed(message) | Failure::Runtime(message) => {
                eprintln!("{program}: {message}");
            }
            Failure::Stopped { what, cause } => {
                tracing::error!(cause = %format!("{cause:#}"), "{what}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_to_fail_has_its_documented_code() {
        let stopped = Failure::Stopped {
            what: "worker stopped",
            cause: anyhow::anyhow!("lost"),
        };
        let cases = [
            (Failure::InvalidConfig(vec!["--prefetch".to_owned()]), 2),
            (Failure::Usage("--url".to_owned()), 2),
            (Failure::RuleFailed("rule_error".to_owned()), 1),
            (stopped, 1),
            (Failure::Runtime("no threads".to_owned()), 70),
        ];
        for (failure, code) in cases {
            assert_eq!(failure.code(), code, "{failure}");
        }
    }
}
