//! deploy/ against the binaries: every file parses; every environment variable it sets is
//! one the binaries accept; ports, grace periods and object names agree; every worker
//! requires signed pushes, and one given the placeholder keys refuses to start; and the
//! RabbitMQ definitions declare exactly what a worker declares (a worker starts on them).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use std::time::Duration;

use crawlfleet_bus::signature;
use crawlfleet_tests::{TestBroker, WorkerProc, publisher, run_worker_until_exit};
use yaml_rust2::{Yaml, YamlLoader};

fn deploy(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(deploy(path)).unwrap_or_else(|e| panic!("deploy/{path}: {e}"))
}

fn yaml(path: &str) -> Vec<Yaml> {
    YamlLoader::load_from_str(&read(path))
        .unwrap_or_else(|e| panic!("deploy/{path} is not YAML: {e}"))
}

/// Every `[env: NAME=…]` in the help of the binaries and their subcommands.
fn accepted_env() -> BTreeSet<String> {
    let worker = publisher().with_file_name("worker");
    let runs: Vec<(PathBuf, Vec<&str>)> = vec![
        (worker.clone(), vec!["--help"]),
        (worker.clone(), vec!["crawl", "--help"]),
        (worker, vec!["check-rule", "--help"]),
        (publisher(), vec!["--help"]),
        (publisher(), vec!["push-rule", "--help"]),
        (publisher(), vec!["enqueue", "--help"]),
    ];
    let mut env = BTreeSet::new();
    for (bin, args) in runs {
        let out = Command::new(bin).args(&args).output().expect("run --help");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for part in text.split("[env: ").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_' || c.is_ascii_digit())
                .collect();
            env.insert(name);
        }
    }
    assert!(
        env.contains("AMQP_URL") && env.contains("ADMIN_ADDR"),
        "{env:?}"
    );
    env
}

/// The `--admin-addr` default port, from `worker --help`.
fn admin_port() -> u16 {
    let out = Command::new(publisher().with_file_name("worker"))
        .arg("--help")
        .output()
        .expect("help");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let help = text
        .split("--admin-addr")
        .nth(1)
        .expect("--admin-addr in the help");
    let default = help
        .split("[default: ")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("a default");
    default
        .rsplit(':')
        .next()
        .unwrap_or("")
        .parse()
        .expect("a port")
}

fn seconds(text: &str) -> u64 {
    text.trim_end_matches('s')
        .parse()
        .unwrap_or_else(|_| panic!("not seconds: {text}"))
}

#[test]
fn every_deploy_file_parses_and_agrees_with_the_binaries() {
    let env = accepted_env();
    let port = admin_port();
    let check_env = |file: &str, name: &str| {
        assert!(
            env.contains(name),
            "deploy/{file} sets {name}, which no binary reads (known: {env:?})"
        );
    };

    // Dockerfile: known instructions; ENV names; the admin port exposed.
    let dockerfile = read("Dockerfile");
    let mut continued = false;
    for line in dockerfile.lines() {
        let t = line.trim();
        if !continued && !t.is_empty() && !t.starts_with('#') {
            let instruction = t.split_whitespace().next().unwrap_or("");
            assert!(
                [
                    "FROM",
                    "WORKDIR",
                    "COPY",
                    "RUN",
                    "USER",
                    "ENV",
                    "EXPOSE",
                    "STOPSIGNAL",
                    "ENTRYPOINT",
                    "CMD",
                    "ARG"
                ]
                .contains(&instruction),
                "Dockerfile: unknown instruction in `{line}`"
            );
        }
        continued = t.ends_with('\\');
    }
    for assignment in dockerfile
        .split("ENV ")
        .nth(1)
        .expect("ENV")
        .split('\\')
        .map(str::trim)
        .take_while(|s| s.contains('='))
    {
        check_env("Dockerfile", assignment.split('=').next().unwrap_or(""));
    }
    assert!(dockerfile.contains(&format!("EXPOSE {port}")));

    // compose.yaml
    let compose = &yaml("compose.yaml")[0];
    let worker = &compose["services"]["worker"];
    let worker_env = worker["environment"].as_hash().expect("worker environment");
    for (k, _) in worker_env {
        check_env("compose.yaml", k.as_str().unwrap_or(""));
    }
    let grace: u64 = worker["environment"]["SHUTDOWN_GRACE_S"]
        .as_str()
        .expect("grace")
        .parse()
        .expect("number");
    assert!(
        seconds(
            worker["stop_grace_period"]
                .as_str()
                .expect("stop_grace_period")
        ) > grace
    );
    assert_eq!(worker["deploy"]["replicas"].as_i64(), Some(3));
    assert!(
        worker["environment"]["ADMIN_ADDR"]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!(":{port}"))
    );
    for (k, _) in compose["services"]["publisher"]["environment"]
        .as_hash()
        .expect("publisher environment")
    {
        check_env("compose.yaml", k.as_str().unwrap_or(""));
    }
    // Signed pushes required: compose refuses to interpolate an unset or empty TRUSTED_KEYS
    // (`${VAR:?…}`), and the publisher signs and trusts the same keys.
    let publisher_env = &compose["services"]["publisher"]["environment"];
    for keys in [
        &worker["environment"]["TRUSTED_KEYS"],
        &publisher_env["TRUSTED_KEYS"],
    ] {
        assert!(
            keys.as_str().unwrap_or("").starts_with("${TRUSTED_KEYS:?"),
            "compose.yaml: TRUSTED_KEYS must be required, not {keys:?}"
        );
    }
    let sign_key = publisher_env["CRAWLFLEET_SIGN_KEY"]
        .as_str()
        .expect("the compose publisher signs (CRAWLFLEET_SIGN_KEY)");
    let secret_name = sign_key
        .strip_prefix("/run/secrets/")
        .expect("the signing key is a compose secret");
    assert!(
        !compose["secrets"][secret_name]["file"].is_badvalue(),
        "compose.yaml lacks the secret {secret_name}"
    );
    for service in ["rabbitmq", "redis", "worker", "publisher"] {
        assert!(
            !compose["services"][service].is_badvalue(),
            "compose.yaml lacks {service}"
        );
    }

    // Kubernetes
    let docs = yaml("k8s/worker.yaml");
    let deployment = docs
        .iter()
        .find(|d| d["kind"].as_str() == Some("Deployment"))
        .expect("a Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let mut k8s_grace = None;
    for e in container["env"].as_vec().expect("env") {
        let name = e["name"].as_str().expect("env name");
        check_env("k8s/worker.yaml", name);
        if name == "SHUTDOWN_GRACE_S" {
            k8s_grace = e["value"].as_str().and_then(|v| v.parse::<i64>().ok());
        }
        if name == "ADMIN_ADDR" {
            assert!(
                e["value"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with(&format!(":{port}"))
            );
        }
    }
    let k8s_grace = k8s_grace.expect("SHUTDOWN_GRACE_S in the Deployment");
    let k8s_keys = container["env"]
        .as_vec()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some("TRUSTED_KEYS"))
        .expect("TRUSTED_KEYS in the Deployment: signed pushes are required");
    let reference = &k8s_keys["valueFrom"]["secretKeyRef"];
    assert!(
        !reference.is_badvalue() && reference["optional"].as_bool() != Some(true),
        "TRUSTED_KEYS must come from the Secret, not optionally: {k8s_keys:?}"
    );
    assert!(
        spec["terminationGracePeriodSeconds"]
            .as_i64()
            .expect("terminationGracePeriodSeconds")
            > k8s_grace
    );
    assert_eq!(
        container["ports"][0]["containerPort"].as_i64(),
        Some(i64::from(port))
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    let configmap = spec["volumes"][0]["configMap"]["name"]
        .as_str()
        .expect("rules ConfigMap");
    assert!(read("k8s/rules-configmap.sh").contains(&format!("create configmap {configmap}")));
    let secret = &yaml("k8s/secret.yaml")[0];
    let secret_name = secret["metadata"]["name"].as_str().expect("secret name");
    for e in container["env"].as_vec().expect("env") {
        let reference = &e["valueFrom"]["secretKeyRef"];
        if !reference.is_badvalue() {
            assert_eq!(reference["name"].as_str(), Some(secret_name));
            let key = reference["key"].as_str().expect("key");
            assert!(
                !secret["stringData"][key].is_badvalue(),
                "the Secret lacks {key}"
            );
        }
    }

    // systemd
    let unit = read("systemd/crawlfleet-worker.service");
    let mut sections = Vec::new();
    for line in unit
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if line.starts_with('[') {
            assert!(line.ends_with(']'), "bad section: {line}");
            sections.push(line.to_owned());
        } else {
            assert!(line.contains('='), "systemd: not key=value: {line}");
        }
    }
    assert_eq!(sections, ["[Unit]", "[Service]", "[Install]"]);
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec")
        .parse()
        .expect("n");
    let env_file = read("systemd/worker.env.example");
    let mut unit_grace = None;
    let mut unit_keys = None;
    for line in env_file
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains('='))
    {
        let (name, value) = line.split_once('=').unwrap_or_default();
        check_env("systemd/worker.env.example", name);
        if name == "SHUTDOWN_GRACE_S" {
            unit_grace = value.parse::<u64>().ok();
        }
        if name == "TRUSTED_KEYS" {
            unit_keys = Some(value.to_owned());
        }
    }
    assert!(
        unit_keys.is_some(),
        "worker.env.example lacks TRUSTED_KEYS: signed pushes are required"
    );
    assert!(stop > unit_grace.expect("SHUTDOWN_GRACE_S in the env file"));
}

/// The TRUSTED_KEYS value deploy/ ships before the operator fills it in: the Secret's
/// placeholder, and worker.env.example's empty line.
fn shipped_trusted_keys() -> Vec<(&'static str, String)> {
    let secret = &yaml("k8s/secret.yaml")[0];
    let k8s = secret["stringData"]["TRUSTED_KEYS"]
        .as_str()
        .expect("TRUSTED_KEYS in the Secret")
        .to_owned();
    let systemd = read("systemd/worker.env.example")
        .lines()
        .find_map(|l| l.strip_prefix("TRUSTED_KEYS="))
        .expect("TRUSTED_KEYS in worker.env.example")
        .to_owned();
    vec![
        ("k8s/secret.yaml", k8s),
        ("systemd/worker.env.example", systemd),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_deployed_with_the_placeholder_keys_refuses_to_start() {
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let rules = rules.to_str().unwrap_or_default();
    for (file, keys) in shipped_trusted_keys() {
        let out = run_worker_until_exit(
            &["--rules", rules, "--prefix", "t-deploy-keys"],
            &[("TRUSTED_KEYS", keys.as_str())],
            Duration::from_secs(20),
        )
        .await;
        assert_eq!(out.code, 2, "deploy/{file}: {out:?}");
        assert!(
            out.stderr.contains("--trusted-keys"),
            "deploy/{file}: {}",
            out.stderr
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rabbitmq_definitions_declare_what_the_workers_declare() {
    let prefix = TestBroker::fresh_prefix("defs");
    let text = read("rabbitmq/definitions.json");
    let definitions: serde_json::Value =
        serde_json::from_str(&text).expect("definitions.json is JSON");
    assert!(
        definitions["queues"]
            .as_array()
            .is_some_and(|q| q.len() >= 5)
    );
    // The same topology under the test's prefix, loaded into the real broker.
    let renamed = text.replace("\"crawlfleet.", &format!("\"{prefix}."));
    let file = std::env::temp_dir().join(format!("{prefix}-definitions.json"));
    std::fs::write(&file, renamed).expect("write definitions");
    let status = Command::new("rabbitmqctl")
        .args(["-q", "import_definitions"])
        .arg(&file)
        .status()
        .expect("rabbitmqctl");
    let _ = std::fs::remove_file(&file);
    assert!(status.success(), "the broker refused the definitions");
    let broker = TestBroker::with_prefix(&prefix).await;

    // A worker declares everything again on start: any argument that differs would make the
    // broker refuse it (PRECONDITION_FAILED) and the worker never become ready, or, for the
    // job queue's delivery-limit arguments, make the worker warn and use the queue as it is.
    let rules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../rules");
    // As deploy/ runs it: with signed pushes required.
    let (_, public) = signature::generate().expect("keys");
    let w = WorkerProc::start_ready(&prefix, &rules, &["--trusted-keys", &public]).await;
    assert!(
        w.events("broker session lost; reconnecting").is_empty(),
        "{}",
        w.dump()
    );
    assert!(
        w.events("job queue declared with other delivery-limit arguments; using it as it is")
            .is_empty(),
        "{}",
        w.dump()
    );
    broker.cleanup().await;
}
