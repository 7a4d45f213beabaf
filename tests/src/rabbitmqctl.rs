//! `rabbitmqctl` for the tests: every call checks its exit status, so a failed inspection
//! or fault injection fails the test instead of passing on empty output.

use std::process::Command;

/// Runs `rabbitmqctl -q <args>` and returns its output; a failure fails the test.
pub(crate) async fn rabbitmqctl(args: Vec<String>) -> String {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("rabbitmqctl")
            .arg("-q")
            .args(&args)
            .output()
            .expect("rabbitmqctl");
        assert!(
            out.status.success(),
            "rabbitmqctl {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .expect("join")
}

/// Closes the connection named exactly `name` from the broker's side.
pub(crate) async fn close_connection(name: String) {
    let listed = rabbitmqctl(vec![
        "list_connections".into(),
        "pid".into(),
        "client_properties".into(),
        "--no-table-headers".into(),
    ])
    .await;
    // The name is quoted in the client properties, so `… 1` never matches `… 1 jobs`.
    let quoted = format!("\"{name}\"");
    let pid = listed
        .lines()
        .find(|l| l.contains(&quoted))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no connection named {name}: {listed}"))
        .to_owned();
    rabbitmqctl(vec![
        "close_connection".into(),
        pid,
        "closed by a fault test".into(),
    ])
    .await;
}

/// `text` with the regular-expression metacharacters RabbitMQ's patterns know escaped.
pub(crate) fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escape = "\\.^$|?*+()[]{}".contains(c);
            escape.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

/// How often the broker refreshes the counts `list_queues` reports (its
/// `collect_statistics_interval`), plus a margin.
pub(crate) async fn statistics_interval() -> std::time::Duration {
    static INTERVAL: tokio::sync::OnceCell<std::time::Duration> =
        tokio::sync::OnceCell::const_new();
    *INTERVAL
        .get_or_init(|| async {
            let said = rabbitmqctl(vec![
                "eval".into(),
                "application:get_env(rabbit, collect_statistics_interval).".into(),
            ])
            .await;
            // `{ok,5000}`, or `undefined` for the default.
            let ms: u64 = said
                .trim()
                .strip_prefix("{ok,")
                .and_then(|s| s.strip_suffix('}'))
                .map_or(5000, |n| n.parse().expect("an interval in ms"));
            std::time::Duration::from_millis(ms + 500)
        })
        .await
}
