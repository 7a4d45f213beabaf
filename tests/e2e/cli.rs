//! The binaries as an operator meets them: clear one-line errors, honest exit codes, and
//! settings that take effect.

use crawlfleet_tests::{RulesDir, TestBroker, WorkerProc, publisher};

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(publisher())
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("run publisher");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn publisher_errors_are_one_clear_line() {
    let rules = RulesDir::new("cli-errors");
    let bad_lua = rules.scratch("bad.lua", "return {\n  parse = function(\n");
    let good_lua = rules.scratch("good.lua", "return { parse = function() end }");
    // (arguments, environment, exit code, what stderr says)
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], i32, &'a str);
    let cases: &[Case] = &[
        (
            &["push-rule", "shop.a", "/nonexistent/a.lua"],
            &[],
            2,
            "cannot read /nonexistent/a.lua",
        ),
        (
            &["push-rule", "shop.a", bad_lua.to_str().unwrap_or_default()],
            &[],
            2,
            "is not valid Lua: syntax error at line",
        ),
        (
            &[
                "push-rule",
                "../evil",
                good_lua.to_str().unwrap_or_default(),
            ],
            &[],
            2,
            "module name",
        ),
        (
            &["push-rule", "shop.a", good_lua.to_str().unwrap_or_default()],
            &[("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")],
            69,
            "cannot reach the broker at amqp://guest:***@127.0.0.1:1/%2f",
        ),
    ];
    for (args, env, code, needle) in cases {
        let (got, _, stderr) = run(args, env);
        assert_eq!(got, *code, "{args:?}: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{args:?}: not one line: {stderr}"
        );
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_without_workers_and_status_report_honestly() {
    let broker = TestBroker::new("nobody").await;
    let rules = RulesDir::new(&broker.prefix);
    let file = rules.scratch("a.lua", "return { parse = function() end }");
    let env = [("CRAWLFLEET_PREFIX", broker.prefix.as_str())];
    let (code, stdout, _) = run(
        &[
            "push-rule",
            "shop.a",
            file.to_str().unwrap_or_default(),
            "--wait",
            "--timeout",
            "1",
        ],
        &env,
    );
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("applied 0/0 — no live worker answered the ping, or none was chosen"),
        "{stdout}"
    );

    rules.write("shop.a", "return { parse = function() end }");
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    let (code, stdout, _) = run(&["status", "--check"], &env);
    assert_eq!(code, 0, "{stdout}");
    assert!(
        // The push made while no worker was live is in the history: the new worker runs it.
        stdout.contains(&w.id) && stdout.contains("shop.a@v1"),
        "{stdout}"
    );
    broker.cleanup().await;
}

#[test]
fn worker_reports_every_bad_setting_at_once() {
    let out = std::process::Command::new(crawlfleet_tests::publisher().with_file_name("worker"))
        .args([
            "--rules",
            "/nonexistent",
            "--prefetch",
            "0",
            "--log-format",
            "xml",
            "--amqp-url",
            "http://x",
        ])
        .output()
        .expect("run worker");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for flag in ["--rules", "--prefetch", "--log-format", "--amqp-url"] {
        assert!(stderr.contains(flag), "{flag} not reported: {stderr}");
    }
}

/// The nice value and scheduling policy (0: SCHED_OTHER, 2: SCHED_RR) of each of `pid`'s
/// threads, with the thread's name.
fn priority_by_thread(pid: u32) -> Vec<(String, i64, i64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the worker's threads");
    tasks
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(')')?;
            let name = head.split_once('(')?.1.to_owned();
            // After the name: state is field 3 of proc_pid_stat(5), nice field 19, policy 41.
            let field = |n: usize| rest.split_whitespace().nth(n - 3)?.parse().ok();
            Some((name, field(19)?, field(41)?))
        })
        .collect()
}

fn nice_by_thread(pid: u32) -> Vec<(String, i64)> {
    priority_by_thread(pid)
        .into_iter()
        .map(|(name, nice, _)| (name, nice))
        .collect()
}

/// JOB_NICE lowers the job threads and the job connection's I/O thread; the control thread
/// and its connection's I/O thread keep the process's own priority, so under load a push is
/// applied before job work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_threads_run_below_the_control_plane() {
    let broker = TestBroker::new("nice").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", "return { parse = function() end }");
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &["--job-nice", "7"]).await;
    let threads = nice_by_thread(w.pid());
    let of = |name: &str| -> Vec<i64> {
        threads
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, nice)| *nice)
            .collect()
    };
    let (control, jobs, mut io) = (
        of("crawlfleet-cont"),
        of("tokio-rt-worker"),
        of("lapin-io-loop"),
    );
    assert!(!control.is_empty() && !jobs.is_empty(), "{threads:?}");
    assert!(control.iter().all(|n| *n == 0), "{threads:?}");
    assert!(jobs.iter().all(|n| *n == 7), "{threads:?}");
    // One I/O thread per connection: the control one at the process's priority, the job one
    // lowered with the thread that opened it.
    io.sort_unstable();
    assert_eq!(io, [0, 7], "{threads:?}");
    broker.cleanup().await;
}

/// CONTROL_RT_PRIORITY puts the control plane (its threads and its connection's I/O thread)
/// under SCHED_RR and leaves job threads alone; a push is applied there as anywhere. A
/// process that may not use real-time priorities refuses to start, saying what to grant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_plane_runs_at_a_real_time_priority_when_asked_and_allowed() {
    let broker = TestBroker::new("rt").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", "return { parse = function() end }");
    let args = ["--control-rt-priority", "1"];
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &args).await;
    let threads = priority_by_thread(w.pid());
    let policies = |name: &str| -> Vec<i64> {
        let mut p: Vec<i64> = threads
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, _, policy)| *policy)
            .collect();
        p.sort_unstable();
        p
    };
    let (control, jobs) = (policies("crawlfleet-cont"), policies("tokio-rt-worker"));
    assert!(
        !control.is_empty() && control.iter().all(|p| *p == 2),
        "{threads:?}"
    );
    assert!(
        !jobs.is_empty() && jobs.iter().all(|p| *p == 0),
        "{threads:?}"
    );
    assert_eq!(policies("lapin-io-loop"), [0, 2], "{threads:?}");

    let file = rules.scratch("a.lua", "return { v = 2, parse = function() end }");
    let env = [("CRAWLFLEET_PREFIX", broker.prefix.as_str())];
    let path = file.to_str().unwrap_or_default();
    let (code, stdout, stderr) = run(&["push-rule", "shop.a", path, "--wait"], &env);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("applied 1/1"), "{stdout}");

    // Without CAP_SYS_NICE (and with RLIMIT_RTPRIO at 0), the same flag stops the start.
    let out = std::process::Command::new("setpriv")
        .args(["--inh-caps=-sys_nice", "--bounding-set=-sys_nice", "--"])
        .arg(publisher().with_file_name("worker"))
        .args(["--rules", rules.path().to_str().unwrap_or_default()])
        .args(args)
        .output()
        .expect("run setpriv");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--control-rt-priority 1") && stderr.contains("CAP_SYS_NICE"),
        "{stderr}"
    );
    broker.cleanup().await;
}
