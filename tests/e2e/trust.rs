//! Trust end to end, against a hostile broker client: entries injected into the history are
//! never promoted, rolled back to, caught up on or run; a signed push cannot be re-aimed
//! (targets cut) nor replayed into another fleet; one absurd version in the history does
//! not stop the next push; an empty trusted-key list is a configuration error.

use std::time::Duration;

use crawlfleet_bus::message::{ControlMessage, ReloadStatus, Reply, RuleUpdate, Targets};
use crawlfleet_bus::signature::{self, SigningKey};
use crawlfleet_tests::{
    RulesDir, TestBroker, WorkerProc, one_job, publisher, push_and_wait, run_publisher,
    run_worker_until_exit, shop_a_update, tag_and_version, tagged_rule,
};

const SECOND: Duration = Duration::from_secs(1);

fn keys() -> (String, String, SigningKey) {
    let (secret, public) = signature::generate().expect("keys");
    let key = signature::secret_key(&secret).expect("secret");
    (secret, public, key)
}

/// The reload replies to one message, by worker: (status, stage).
async fn outcomes(
    broker: &mut TestBroker,
    n: usize,
) -> std::collections::BTreeMap<String, (ReloadStatus, Option<String>)> {
    broker
        .replies(n, 10 * SECOND)
        .await
        .into_iter()
        .filter_map(|r| match r {
            Reply::Reload(r) => Some((r.worker, (r.status, r.stage))),
            _ => None,
        })
        .collect()
}

/// Push ids of every update `w` reloaded.
fn reloaded_push_ids(w: &WorkerProc) -> Vec<String> {
    w.events("rule reloaded")
        .iter()
        .map(|e| e["push_id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_history_entries_are_never_promoted_rolled_back_to_caught_up_on_or_run() {
    let mut broker = TestBroker::new("trust-inject").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let (secret, public, _) = keys();
    let (_, _, stranger) = keys();
    let trusted = ["--trusted-keys", public.as_str()];
    let w1 = WorkerProc::start_ready(&broker.prefix, rules.path(), &trusted).await;
    let prefix = broker.prefix.clone();
    let key_file = rules.scratch("push.key", &secret);
    let key_file = key_file.to_str().unwrap_or_default();
    let sign = ["--sign-key", key_file, "--wait"];
    let with_sign = |args: &[&'static str]| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(sign.iter().map(|a| (*a).to_owned()));
        all
    };
    let publisher_run = |args: Vec<String>| {
        let prefix = prefix.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_publisher(&prefix, &args).await
        }
    };

    // v1, signed: the good base.
    let one = rules.scratch("one.lua", &tagged_rule("one"));
    push_and_wait(&prefix, "shop.a", &one, &["--sign-key", key_file]).await;

    // Injected by a broker client (to the workers and into the history): an unsigned v2
    // and a v41 canary for everyone signed by a stranger's key.
    let unsigned = shop_a_update(&tagged_rule("evil-unsigned"), 2, "p-evil-unsigned");
    let mut forged = shop_a_update(&tagged_rule("evil-stranger"), 41, "p-evil-stranger");
    forged.targets = Some(Targets {
        workers: Vec::new(),
        canary_percent: Some(100.0),
    });
    signature::sign(&mut forged, &stranger, &broker.prefix).expect("sign");
    // And a module of which only an injected entry exists.
    let mut lone = shop_a_update(&tagged_rule("evil-lone"), 3, "p-evil-lone");
    lone.module = "shop.b".to_owned();
    lone.path = "shop/b.lua".to_owned();
    lone.targets = forged.targets.clone();
    for u in [&unsigned, &forged, &lone] {
        broker
            .send_control(&ControlMessage::Update(u.clone()), &u.push_id)
            .await;
        // Via push: refused at the signature.
        let got = outcomes(&mut broker, 1).await;
        assert_eq!(
            got.get(&w1.id),
            Some(&(ReloadStatus::Failed, Some("signature".to_owned()))),
            "{}: {got:?}",
            u.push_id
        );
    }

    // A signed canary for w1 alone: numbered past the valid history only (v2, not v42).
    let two = rules.scratch("two.lua", &tagged_rule("two"));
    let only_w1 = ["--sign-key", key_file, "--workers", w1.id.as_str()];
    let out = push_and_wait(&prefix, "shop.a", &two, &only_w1).await;
    assert!(out.stdout.contains("shop.a v2 "), "{}", out.stdout);

    // Promote takes the signed canary, not the newer forged one, and says what it left out.
    let out = publisher_run(with_sign(&["promote", "shop.a"])).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("promoted v2 as shop.a v3 "),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr
            .contains("ignored v41 of `shop.a` (push p-evil-stranger)"),
        "{}",
        out.stderr
    );
    // With nothing that verifies, promote refuses and names the entry.
    let out = publisher_run(with_sign(&["promote", "shop.b"])).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.contains("v3 of `shop.b` (push p-evil-lone)")
            && out.stderr.contains("not signed"),
        "{}",
        out.stderr
    );

    // Rollback: never to an injected entry, named or not.
    let out = publisher_run(with_sign(&["rollback", "shop.a", "--to", "41"])).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("refusing to roll back to v41 of `shop.a` (push p-evil-stranger)"),
        "{}",
        out.stderr
    );
    // The one before the running v3 ("two") is v1 ("one"), not the injected v2.
    let out = publisher_run(with_sign(&["rollback", "shop.a"])).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(
        out.stdout.contains("rolled back to v1 as shop.a v4 "),
        "{}",
        out.stdout
    );
    let items = one_job(&mut broker, "j-1", "shop.a").await;
    assert_eq!(tag_and_version(&items), Some((Some("one"), 4)));

    // `history` calls an entry signed only when it verifies, and says why the rest is not
    // built on; without keys it says a signature was not checked.
    let trusted_history = ["history", "shop.a", "--trusted-keys", public.as_str()];
    for (args, v1, unsigned, stranger) in [
        (
            &trusted_history[..],
            "  signed",
            "REFUSED: it does not verify: the update is not signed",
            "REFUSED: it does not verify: signed by an unknown key",
        ),
        (
            &["history", "shop.a"][..],
            "  signature not checked",
            // Unsigned, nothing to say: the line ends at its targets.
            " all",
            "  signature not checked",
        ),
    ] {
        let out = run_publisher(&prefix, args).await;
        assert_eq!(out.code, 0, "{out:?}");
        let line = |needle: &str| {
            out.stdout
                .lines()
                .find(|l| l.contains(needle))
                .unwrap_or_default()
                .to_owned()
        };
        assert!(line(" v1 ").ends_with(v1), "{args:?}\n{}", out.stdout);
        assert!(
            line("p-evil-unsigned").ends_with(unsigned),
            "{args:?}\n{}",
            out.stdout
        );
        assert!(
            line("p-evil-stranger").contains(stranger),
            "{args:?}\n{}",
            out.stdout
        );
    }

    // Catch-up: a worker started now skips the injected entries before choosing.
    let w2 = WorkerProc::start_ready(&broker.prefix, rules.path(), &trusted).await;
    let skipped = w2.wait_count("history entry skipped: does not verify", 3, 5 * SECOND);
    assert_eq!(skipped.await.len(), 3, "{}", w2.dump());
    let caught = w2
        .wait_for("rule reloaded", |e| e["via"] == "catch-up", 5 * SECOND)
        .await;
    assert_eq!(caught["version"], 4, "{}", w2.dump());

    // Neither worker ever ran an injected entry.
    for w in [&w1, &w2] {
        assert!(
            reloaded_push_ids(w)
                .iter()
                .all(|p| !p.starts_with("p-evil")),
            "{}",
            w.dump()
        );
    }
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_re_aimed_or_replayed_into_another_fleet_is_refused() {
    let mut fleet_a = TestBroker::new("trust-a").await;
    let mut fleet_b = TestBroker::new("trust-b").await;
    let rules_a = RulesDir::new(&fleet_a.prefix);
    let rules_b = RulesDir::new(&fleet_b.prefix);
    rules_a.write("shop.a", &tagged_rule("v0"));
    rules_b.write("shop.a", &tagged_rule("v0"));
    let (_, public, key) = keys();
    let trusted = ["--trusted-keys", public.as_str()];
    let a1 = WorkerProc::start(&fleet_a.prefix, rules_a.path(), &trusted).await;
    let a2 = WorkerProc::start(&fleet_a.prefix, rules_a.path(), &trusted).await;
    let b1 = WorkerProc::start(&fleet_b.prefix, rules_b.path(), &trusted).await;
    for w in [&a1, &a2, &b1] {
        w.ready().await;
    }

    // A canary for a1 alone, signed for fleet A: a1 applies it, a2 skips it.
    let mut canary = shop_a_update(&tagged_rule("canary"), 1, "p-canary");
    canary.targets = Some(Targets {
        workers: vec![a1.id.clone()],
        canary_percent: None,
    });
    signature::sign(&mut canary, &key, &fleet_a.prefix).expect("sign");
    fleet_a
        .send_control(&ControlMessage::Update(canary.clone()), "canary")
        .await;
    let got = outcomes(&mut fleet_a, 2).await;
    assert_eq!(got[&a1.id].0, ReloadStatus::Applied, "{got:?}");
    assert_eq!(got[&a2.id].0, ReloadStatus::Skipped, "{got:?}");

    // Re-published with its targets cut (or widened), signature kept: nobody takes it.
    let widened = Targets {
        workers: vec![a1.id.clone(), a2.id.clone()],
        canary_percent: None,
    };
    for targets in [None, Some(widened)] {
        let mut re_aimed = canary.clone();
        re_aimed.targets = targets;
        fleet_a
            .send_control(&ControlMessage::Update(re_aimed), "re-aimed")
            .await;
        let got = outcomes(&mut fleet_a, 2).await;
        for w in [&a1, &a2] {
            assert_eq!(
                got.get(&w.id),
                Some(&(ReloadStatus::Failed, Some("signature".to_owned()))),
                "{got:?}"
            );
        }
    }

    // A push signed for fleet A applies there, and is refused when replayed into fleet B,
    // which trusts the same key.
    let mut everyone = shop_a_update(&tagged_rule("fleet-a"), 2, "p-fleet-a");
    signature::sign(&mut everyone, &key, &fleet_a.prefix).expect("sign");
    let message = ControlMessage::Update(everyone);
    fleet_a.send_control(&message, "fleet-a").await;
    let got = outcomes(&mut fleet_a, 2).await;
    assert!(
        got.values().all(|(s, _)| *s == ReloadStatus::Applied) && got.len() == 2,
        "{got:?}"
    );
    fleet_b.send_control(&message, "replayed").await;
    let got = outcomes(&mut fleet_b, 1).await;
    assert_eq!(
        got.get(&b1.id),
        Some(&(ReloadStatus::Failed, Some("signature".to_owned()))),
        "{got:?}"
    );
    // Nor does its history replay it: a worker started in B now stays on v0.
    let b2 = WorkerProc::start_ready(&fleet_b.prefix, rules_b.path(), &trusted).await;
    b2.wait_count("history entry skipped: does not verify", 1, 5 * SECOND)
        .await;
    assert!(reloaded_push_ids(&b2).is_empty(), "{}", b2.dump());
    for w in [&a2, &b1] {
        assert!(
            !reloaded_push_ids(w).contains(&"p-canary".to_owned()),
            "{}",
            w.dump()
        );
    }
    assert!(!reloaded_push_ids(&b1).contains(&"p-fleet-a".to_owned()));
    fleet_a.cleanup().await;
    fleet_b.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_version_in_the_history_does_not_stop_the_next_push() {
    let mut broker = TestBroker::new("trust-maxver").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("shop.a", &tagged_rule("v0"));
    let (secret, public, _) = keys();
    let w =
        WorkerProc::start_ready(&broker.prefix, rules.path(), &["--trusted-keys", &public]).await;

    // u64::MAX is refused when decoded (by the worker, and by the publisher reading the
    // history); 2^53 decodes but is unsigned, so it counts for nothing.
    let body = format!(
        r#"{{"type":"update","module":"shop.a","path":"shop/a.lua","version":{},"push_id":"p-max"}}"#,
        u64::MAX
    );
    broker.send_control_raw(body.as_bytes(), "max").await;
    let got = outcomes(&mut broker, 1).await;
    assert_eq!(
        got.get(&w.id),
        Some(&(ReloadStatus::Failed, Some("decode".to_owned()))),
        "{got:?}"
    );
    let cap = shop_a_update(&tagged_rule("cap"), RuleUpdate::MAX_VERSION, "p-cap");
    broker
        .send_control(&ControlMessage::Update(cap), "cap")
        .await;
    let got = outcomes(&mut broker, 1).await;
    assert_eq!(
        got.get(&w.id),
        Some(&(ReloadStatus::Failed, Some("signature".to_owned()))),
        "{got:?}"
    );

    let key_file = rules.scratch("push.key", &secret);
    let file = rules.scratch("next.lua", &tagged_rule("next"));
    let key_path = key_file.to_str().unwrap_or_default();
    let out = push_and_wait(&broker.prefix, "shop.a", &file, &["--sign-key", key_path]).await;
    assert!(out.stdout.contains("shop.a v1 "), "{}", out.stdout);
    let items = one_job(&mut broker, "j-1", "shop.a").await;
    assert_eq!(tag_and_version(&items), Some((Some("next"), 1)));
    // A version past the cap is refused before anything is pushed.
    let out = run_publisher(
        &broker.prefix,
        &[
            "push-rule",
            "shop.a",
            file.to_str().unwrap_or_default(),
            "--version",
            &(RuleUpdate::MAX_VERSION + 1).to_string(),
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{out:?}");
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_or_unreadable_trusted_key_list_is_a_configuration_error() {
    let rules = RulesDir::new(&TestBroker::fresh_prefix("trust-config"));
    rules.write("shop.a", &tagged_rule("v0"));
    let file = rules.scratch("a.lua", &tagged_rule("a"));
    for keys in ["", " , ", "not-a-key"] {
        let out = run_worker_until_exit(
            &[
                "--rules",
                rules.path().to_str().unwrap_or_default(),
                "--prefix",
                "t-trust-config",
            ],
            &[("TRUSTED_KEYS", keys)],
            20 * SECOND,
        )
        .await;
        assert_eq!(out.code, 2, "worker, TRUSTED_KEYS={keys:?}: {out:?}");
        assert!(
            out.stderr.contains("--trusted-keys"),
            "TRUSTED_KEYS={keys:?}: {}",
            out.stderr
        );

        // The publisher says so before it connects (no broker at this address).
        for command in ["push-rule", "promote", "rollback"] {
            let mut args = vec![command, "shop.a"];
            if command == "push-rule" {
                args.push(file.to_str().unwrap_or_default());
            }
            let out = std::process::Command::new(publisher())
                .args(&args)
                .env("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f")
                .env("TRUSTED_KEYS", keys)
                .output()
                .expect("publisher");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(
                out.status.code(),
                Some(2),
                "publisher {command}, TRUSTED_KEYS={keys:?}: {stderr}"
            );
            assert!(stderr.contains("--trusted-keys"), "{stderr}");
        }
    }
}
