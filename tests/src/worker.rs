//! A worker process under test: its JSON log lines are captured and can be waited for.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// Worker processes by prefix, so a test's cleanup can stop them before it deletes the
/// topology (a live worker would reconnect and declare it again).
static WORKERS: std::sync::LazyLock<Mutex<std::collections::HashMap<String, Vec<u32>>>> =
    std::sync::LazyLock::new(|| Mutex::new(std::collections::HashMap::new()));

fn register(prefix: &str, pid: u32) {
    WORKERS
        .lock()
        .expect("workers")
        .entry(prefix.to_owned())
        .or_default()
        .push(pid);
}

/// Kills (SIGKILL) every worker started on `prefix` and waits until they are gone.
pub(crate) fn kill_all(prefix: &str) {
    let pids = WORKERS
        .lock()
        .expect("workers")
        .remove(prefix)
        .unwrap_or_default();
    for pid in &pids {
        let _ = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .stderr(std::process::Stdio::null())
            .status();
    }
    for pid in pids {
        let proc = format!("/proc/{pid}/status");
        for _ in 0..100 {
            // Gone, or a zombie that its Child will reap.
            let alive = std::fs::read_to_string(&proc).is_ok_and(|s| !s.contains("State:\tZ"));
            if !alive {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub struct WorkerProc {
    child: Child,
    logs: Arc<Mutex<Vec<Value>>>,
    /// The worker's id, from its first log line.
    pub id: String,
    /// Its control queue.
    pub queue: String,
}

impl WorkerProc {
    /// Starts a worker on `prefix` with `rules`, plus extra flags, and waits until its control
    /// queue is bound.
    pub async fn start(prefix: &str, rules: &std::path::Path, extra: &[&str]) -> WorkerProc {
        Self::start_with_env(prefix, rules, extra, &[]).await
    }

    /// Like `start`, and waits until the worker is consuming (its `worker ready` line).
    pub async fn start_ready(prefix: &str, rules: &std::path::Path, extra: &[&str]) -> WorkerProc {
        let w = Self::start(prefix, rules, extra).await;
        w.ready().await;
        w
    }

    /// Like `start`, with extra environment variables (applied last, so they win).
    pub async fn start_with_env(
        prefix: &str,
        rules: &std::path::Path,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> WorkerProc {
        let mut child = Command::new(crate::bins::worker())
            .args([
                "--log-format",
                "json",
                "--prefix",
                prefix,
                "--amqp-url",
                crate::AMQP_URL,
            ])
            .arg("--rules")
            .arg(rules)
            .args(extra)
            // Defaults for tests; flags in `extra` take precedence over these.
            .env("LOAD_BUDGET_MS", "500")
            .env("CALL_BUDGET_MS", "5000")
            .env("LUA_MEMORY_MB", "32")
            .env("ADMIN_ADDR", "127.0.0.1:0")
            // Test sites listen on 127.0.0.1; a test of the default passes `false` in `env`.
            .env("ALLOW_PRIVATE_HOSTS", "true")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start worker");
        register(prefix, child.id());
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&logs);
        let stderr = child.stderr.take().expect("stderr piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let v = serde_json::from_str(&line)
                    .unwrap_or_else(|_| serde_json::json!({ "raw": line }));
                sink.lock().expect("logs").push(v);
            }
        });
        let mut w = WorkerProc {
            child,
            logs,
            id: String::new(),
            queue: String::new(),
        };
        let bound = w
            .wait_for("control queue bound", |_| true, Duration::from_secs(20))
            .await;
        w.id = bound["worker"].as_str().expect("worker field").to_owned();
        w.queue = bound["queue"].as_str().expect("queue field").to_owned();
        w
    }

    /// `http://host:port` of its admin endpoint, from its log.
    pub async fn admin_url(&self) -> String {
        let line = self
            .wait_for(
                "admin endpoint listening (/metrics, /healthz, /readyz)",
                |_| true,
                Duration::from_secs(10),
            )
            .await;
        format!("http://{}", line["addr"].as_str().expect("addr field"))
    }

    /// Waits until the worker is consuming (its `worker ready` line).
    pub async fn ready(&self) {
        self.wait_for("worker ready", |_| true, Duration::from_secs(30))
            .await;
    }

    /// Every captured log line with `message`.
    pub fn events(&self, message: &str) -> Vec<Value> {
        self.logs
            .lock()
            .expect("logs")
            .iter()
            .filter(|v| v["message"] == message)
            .cloned()
            .collect()
    }

    /// Waits until at least `n` lines with `message` were captured and returns them all;
    /// panics with the log if fewer came within `timeout`.
    ///
    /// The log reaches the test through a pipe, so a reply that came over AMQP can arrive
    /// before the line the worker wrote just before sending it: count with this, not `events`.
    pub async fn wait_count(&self, message: &str, n: usize, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.events(message);
            if seen.len() >= n {
                return seen;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "worker {} logged `{message}` {} time(s), not {n}; its log:\n{}",
                    self.id,
                    seen.len(),
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for a log line with `message` that satisfies `pred`; panics with the log on timeout.
    pub async fn wait_for(
        &self,
        message: &str,
        pred: impl Fn(&Value) -> bool,
        timeout: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = self.events(message).into_iter().find(|v| pred(v)) {
                return v;
            }
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "worker {} never logged `{message}`; its log:\n{}",
                    self.id,
                    self.dump()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The whole captured log, one line per event.
    pub fn dump(&self) -> String {
        let logs = self.logs.lock().expect("logs");
        logs.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM, then SIGINT once the drain has begun, and waits for the exit code.
    pub async fn terminate_twice(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        signal(&pid, "-TERM");
        self.wait_for(
            "shutdown requested; draining (signal again to exit now)",
            |_| true,
            Duration::from_secs(10),
        )
        .await;
        signal(&pid, "-INT");
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait();
            status.ok().and_then(|s| s.code())
        });
        status.await.ok().flatten()
    }

    /// Kills the process with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit code.
    pub async fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        signal(&pid, "-TERM");
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait();
            status.ok().and_then(|s| s.code())
        });
        status.await.ok().flatten()
    }
}

/// Sends `sig` (`-TERM`, `-INT`) to `pid`; a `kill` that fails fails the test.
fn signal(pid: &str, sig: &str) {
    let status = Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {sig} {pid} failed: {status}");
}

impl Drop for WorkerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
