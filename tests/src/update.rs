//! Rule updates as the tests send them straight to the broker: inline source with its
//! digest, for module `shop.a`.

use crawlfleet_bus::message::RuleUpdate;
use sha2::{Digest, Sha256};

/// Lower-case hex sha256 of `text`.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An update of `shop.a` carrying `source` inline, unsigned and for every worker.
pub fn shop_a_update(source: &str, version: u64, push_id: &str) -> RuleUpdate {
    RuleUpdate {
        module: "shop.a".to_owned(),
        path: "shop/a.lua".to_owned(),
        source: Some(source.to_owned()),
        sha256: Some(sha256(source)),
        version,
        push_id: push_id.to_owned(),
        ..RuleUpdate::default()
    }
}
