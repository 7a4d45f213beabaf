//! A bounded property test of every decoder, run in CI: random bodies and random mutations of
//! valid messages must decode or fail with a `DecodeError` — never panic, never overflow the
//! stack, never allocate beyond the size caps.

use crawlfleet_bus::DecodeError;
use crawlfleet_bus::message::{
    ControlMessage, Decode, Encode, Item, Job, MAX_CONTROL_BYTES, MAX_JOB_BYTES, MAX_REPLY_BYTES,
    ModuleState, Ping, Pong, ReloadReply, ReloadStatus, Reply, RuleUpdate, SyncMarker,
};

/// xorshift64*: deterministic, so a failure names its iteration.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ":",
    ",",
    "null",
    "true",
    "-0",
    "1e999",
    "\\u0000",
    "\\ud800",
    "\"type\":\"update\"",
    "\"type\":\"ping\"",
    "\"version\":18446744073709551616",
    "\"source\":",
    "\u{fffd}",
    "\u{0}",
];

fn seeds() -> Vec<Vec<u8>> {
    let update = RuleUpdate {
        module: "shop.products".to_owned(),
        path: "shop/products.lua".to_owned(),
        source: Some("return { parse = function() end }".to_owned()),
        sha256: Some("ab".repeat(32)),
        version: 7,
        push_id: "p-1".to_owned(),
        pushed_by: Some("ops@host".to_owned()),
        ..RuleUpdate::default()
    };
    let job = Job {
        id: "j".to_owned(),
        url: "http://shop.test/".to_owned(),
        rule: "shop.index".to_owned(),
        depth: 1,
        meta: serde_json::json!({"a": [1, 2, {"b": null}]}),
        attempt: 2,
        crawl: "c".to_owned(),
        max_depth: Some(3),
    };
    let item = Item {
        id: "i".to_owned(),
        crawl: "c".to_owned(),
        job: "j".to_owned(),
        url: "http://shop.test/p".to_owned(),
        rule: "shop.product".to_owned(),
        rule_version: 3,
        rule_sha256: "cd".repeat(32),
        worker: "w-1".to_owned(),
        fetched_at_ms: 1,
        fields: serde_json::json!({"price": 9.5})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    };
    let reload = ReloadReply {
        worker: "w".to_owned(),
        host: "h".to_owned(),
        status: ReloadStatus::Failed,
        push_id: Some("p".to_owned()),
        module: Some("m".to_owned()),
        version: Some(1),
        sha256: None,
        stage: Some("compile".to_owned()),
        error: Some("syntax error at line 1".to_owned()),
        elapsed_us: 10,
    };
    let pong = Pong {
        ping_id: "x".to_owned(),
        worker: "w".to_owned(),
        host: "h".to_owned(),
        uptime_s: 1,
        jobs_done: 2,
        jobs_failed: 0,
        modules: vec![ModuleState {
            module: "m".to_owned(),
            version: 1,
            sha256: "00".repeat(32),
            rule: true,
        }],
    };
    vec![
        ControlMessage::Update(update).encode(),
        ControlMessage::Ping(Ping {
            ping_id: "x".to_owned(),
        })
        .encode(),
        ControlMessage::Sync(SyncMarker {
            nonce: "n".to_owned(),
        })
        .encode(),
        job.encode(),
        item.encode(),
        Reply::Reload(reload).encode(),
        Reply::Pong(pong).encode(),
    ]
}

fn mutate(rng: &mut Rng, mut body: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(4) {
        let at = rng.below(body.len() + 1);
        match rng.below(5) {
            0 if !body.is_empty() => {
                let i = rng.below(body.len());
                body[i] ^= 1 << rng.below(8);
            }
            1 if !body.is_empty() => {
                let end = (at + rng.below(16)).min(body.len());
                body.drain(at.min(end)..end);
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())].as_bytes();
                body.splice(at..at, token.iter().copied());
            }
            3 => {
                let end = (at + rng.below(32)).min(body.len());
                let copy = body[at.min(end)..end].to_vec();
                body.splice(at..at, copy);
            }
            _ => body.truncate(at),
        }
    }
    body
}

fn decode_all(body: &[u8]) {
    let _ = ControlMessage::decode(body);
    let _ = Reply::decode(body);
    let _ = Job::decode(body);
    let _ = Item::decode(body);
}

#[test]
fn decoders_never_panic_on_random_or_mutated_bodies() {
    let seeds = seeds();
    for seed in &seeds {
        assert!(
            ControlMessage::decode(seed).is_ok()
                || Job::decode(seed).is_ok()
                || Item::decode(seed).is_ok()
                || Reply::decode(seed).is_ok()
        );
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..200_000 {
        let body = if rng.below(4) == 0 {
            (0..rng.below(256)).map(|_| rng.next() as u8).collect()
        } else {
            let seed = seeds[rng.below(seeds.len())].clone();
            mutate(&mut rng, seed)
        };
        decode_all(&body);
    }
}

/// Every decoder's verdict on `body`: (decoder, accepted).
fn verdicts(body: &[u8]) -> [(&'static str, bool); 4] {
    [
        ("control", ControlMessage::decode(body).is_ok()),
        ("reply", Reply::decode(body).is_ok()),
        ("job", Job::decode(body).is_ok()),
        ("item", Item::decode(body).is_ok()),
    ]
}

#[test]
fn deep_nesting_and_huge_numbers_are_errors_not_crashes() {
    // Unclosed nesting, and nesting past serde_json's limit of 128: no decoder accepts them.
    for depth in [100, 1_000, 100_000] {
        let mut body = br#"{"type":"update","module":"#.to_vec();
        body.extend(std::iter::repeat_n(b'[', depth));
        for (decoder, ok) in verdicts(&body) {
            assert!(!ok, "{decoder} accepted unclosed nesting {depth} deep");
        }
    }
    for (depth, valid) in [(100, true), (1_000, false), (100_000, false)] {
        let mut job = br#"{"id":"j","url":"u","rule":"r","crawl":"c","meta":"#.to_vec();
        job.extend(std::iter::repeat_n(b'[', depth));
        job.extend(std::iter::repeat_n(b']', depth));
        job.push(b'}');
        assert_eq!(
            Job::decode(&job).is_ok(),
            valid,
            "a job with meta {depth} deep"
        );
    }
    let huge = br#"{"type":"update","module":"a","path":"a.lua","version":1e400,"push_id":"p"}"#;
    for (decoder, ok) in verdicts(huge) {
        assert!(!ok, "{decoder} accepted version 1e400");
    }
}

/// A valid body padded with spaces to `len` bytes (still valid JSON).
fn padded(body: &[u8], len: usize) -> Vec<u8> {
    let mut out = body.to_vec();
    out.resize(len, b' ');
    out
}

#[test]
fn bodies_over_the_cap_are_refused_before_parsing() {
    // (decoder, cap, a valid body, decode): at the cap the padded body decodes, one byte over
    // it is refused as too large, though it is the same valid message.
    type DecodeFn = fn(&[u8]) -> Result<(), DecodeError>;
    let seeds = seeds();
    let cases: [(&str, usize, &[u8], DecodeFn); 4] = [
        ("control", MAX_CONTROL_BYTES, &seeds[0], |b| {
            ControlMessage::decode(b).map(drop)
        }),
        ("reply", MAX_REPLY_BYTES, &seeds[5], |b| {
            Reply::decode(b).map(drop)
        }),
        ("job", MAX_JOB_BYTES, &seeds[3], |b| {
            Job::decode(b).map(drop)
        }),
        ("item", 16 * 1024 * 1024, &seeds[4], |b| {
            Item::decode(b).map(drop)
        }),
    ];
    for (decoder, cap, body, decode) in cases {
        assert_eq!(decode(&padded(body, cap)), Ok(()), "{decoder} at its cap");
        assert_eq!(
            decode(&padded(body, cap + 1)),
            Err(DecodeError::TooLarge {
                len: cap + 1,
                max: cap
            }),
            "{decoder} one byte over its cap"
        );
    }
}
