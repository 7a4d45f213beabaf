//! Rule versions and updates as the tests make them: a rule that stamps a tag on its item,
//! and updates with inline source and digest, typed or as the JSON body on the wire.

use crawlfleet_bus::message::RuleUpdate;
use sha2::{Digest, Sha256};

/// Lower-case hex sha256 of `text`.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A rule module whose every page yields one item `{ tag = TAG }`: what the tests push to
/// see which version ran (see [`crate::tag_and_version`]).
pub fn tagged_rule(tag: &str) -> String {
    format!(
        "return {{ parse = function(page) return {{ items = {{ {{ tag = '{tag}' }} }} }} end }}"
    )
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

/// The JSON body of a well-formed update of `module` (at its usual path) carrying `source`
/// inline with its digest, unsigned and for every worker; push id `p-<module>-<version>`.
pub fn update_body(module: &str, source: &str, version: u64) -> Vec<u8> {
    serde_json::json!({
        "type": "update",
        "module": module,
        "path": format!("{}.lua", module.replace('.', "/")),
        "source": source,
        "sha256": sha256(source),
        "version": version,
        "push_id": format!("p-{module}-{version}"),
    })
    .to_string()
    .into_bytes()
}
