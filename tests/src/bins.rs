//! Locating (and building, once per test run) the `worker` and `publisher` binaries.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The directory holding the workspace's binaries (`target/debug`).
fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("CRAWLFLEET_BIN_DIR") {
            return PathBuf::from(dir);
        }
        // A program that lives beside the binaries (the release `bench`) uses those.
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(PathBuf::from))
            && dir.join("worker").is_file()
            && dir.join("publisher").is_file()
        {
            return dir;
        }
        // Build them so the tests never run stale binaries; a no-op when they are fresh.
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--bins",
                "-p",
                "crawlfleet-worker",
                "-p",
                "crawlfleet-publisher",
            ])
            .status()
            .expect("cannot run cargo to build the binaries");
        assert!(status.success(), "building the binaries failed");
        let exe = std::env::current_exe().expect("current_exe");
        // target/debug/deps/e2e-<hash> → target/debug
        exe.parent()
            .and_then(|deps| deps.parent())
            .expect("test binary is in target/<profile>/deps")
            .to_path_buf()
    })
    .clone()
}

pub fn worker() -> PathBuf {
    bin_dir().join("worker")
}

pub fn publisher() -> PathBuf {
    bin_dir().join("publisher")
}

/// What a CLI run printed and how it exited.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `publisher` with `args` against `prefix`, off the async runtime.
pub async fn run_publisher(prefix: &str, args: &[&str]) -> CliOutput {
    let mut cmd = Command::new(publisher());
    cmd.env("CRAWLFLEET_PREFIX", prefix)
        .env("AMQP_URL", crate::AMQP_URL)
        .env_remove("RUST_LOG")
        .args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("cannot run publisher");
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `worker` with `args` and extra environment `env`, and returns how it exited; kills it
/// if it is still running after `timeout` (exit code -1), so a worker that should have
/// refused to start cannot hang the test.
pub async fn run_worker_until_exit(
    args: &[&str],
    env: &[(&str, &str)],
    timeout: std::time::Duration,
) -> CliOutput {
    let mut cmd = Command::new(worker());
    cmd.args(args)
        .envs(env.iter().copied())
        .env("AMQP_URL", crate::AMQP_URL)
        .env("ADMIN_ADDR", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("cannot start worker");
        let deadline = std::time::Instant::now() + timeout;
        let mut code = -1;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                code = status.code().unwrap_or(-1);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let out = child.wait_with_output().expect("worker output");
        CliOutput {
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}
