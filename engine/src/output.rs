//! What a rule's `parse` returns, validated: items (objects) and links to follow.

use serde_json::{Map, Value};

use crate::CallError;

/// A rule's result for one page.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseOutput {
    /// Extracted items, each a JSON object of fields.
    pub items: Vec<Map<String, Value>>,
    /// Links the rule asks to follow.
    pub links: Vec<LinkRequest>,
}

/// One link to follow: a URL (possibly relative), optionally another rule and meta.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRequest {
    pub url: String,
    pub rule: Option<String>,
    pub meta: Option<Value>,
}

impl ParseOutput {
    /// Validates the JSON form of `parse`'s return value: `nil` or
    /// `{ items = { {...}, ... }, links = { "url" | { url = ..., rule = ..., meta = ... }, ... } }`.
    pub(crate) fn from_json(value: Value) -> Result<ParseOutput, CallError> {
        let bad = |m: String| CallError::BadOutput(m);
        let mut table = match value {
            Value::Null => return Ok(ParseOutput::default()),
            Value::Object(map) => map,
            other => {
                return Err(bad(format!(
                    "`parse` must return a table, got {}",
                    kind(&other)
                )));
            }
        };
        if let Some(key) = table.keys().find(|k| *k != "items" && *k != "links") {
            return Err(bad(format!(
                "unknown key `{key}` in the result (expected `items` and `links`)"
            )));
        }
        let items = list(table.remove("items"), "items")?
            .into_iter()
            .enumerate()
            .map(|(i, item)| match item {
                Value::Object(map) => Ok(map),
                other => Err(bad(format!(
                    "items[{}] must be a table of fields, got {}",
                    i + 1,
                    kind(&other)
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let links = list(table.remove("links"), "links")?
            .into_iter()
            .enumerate()
            .map(|(i, link)| link_request(i + 1, link))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ParseOutput { items, links })
    }
}

/// An absent list, an empty table (which converts as `{}`) or an array.
fn list(value: Option<Value>, what: &str) -> Result<Vec<Value>, CallError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(values)) => Ok(values),
        Some(Value::Object(map)) if map.is_empty() => Ok(Vec::new()),
        Some(other) => Err(CallError::BadOutput(format!(
            "`{what}` must be a list, got {}",
            kind(&other)
        ))),
    }
}

fn link_request(index: usize, link: Value) -> Result<LinkRequest, CallError> {
    let bad = |m: String| CallError::BadOutput(format!("links[{index}]: {m}"));
    match link {
        Value::String(url) => Ok(LinkRequest {
            url,
            rule: None,
            meta: None,
        }),
        Value::Object(mut map) => {
            let url = match map.remove("url") {
                Some(Value::String(url)) => url,
                _ => return Err(bad("needs a string `url`".to_owned())),
            };
            let rule = match map.remove("rule") {
                None | Some(Value::Null) => None,
                Some(Value::String(rule)) => Some(rule),
                Some(other) => {
                    return Err(bad(format!(
                        "`rule` must be a string, got {}",
                        kind(&other)
                    )));
                }
            };
            let meta = map.remove("meta");
            if let Some(key) = map.keys().next() {
                return Err(bad(format!("unknown key `{key}`")));
            }
            Ok(LinkRequest { url, rule, meta })
        }
        other => Err(bad(format!(
            "must be a URL string or a table, got {}",
            kind(&other)
        ))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nil",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a table",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn accepts_items_and_both_link_forms() {
        let out = ParseOutput::from_json(json!({
            "items": [{"a": 1}],
            "links": ["/x", {"url": "/y", "rule": "shop.p", "meta": {"k": 1}}]
        }))
        .expect("valid");
        assert_eq!(out.items.len(), 1);
        assert_eq!(out.links[0].url, "/x");
        assert_eq!(out.links[1].rule.as_deref(), Some("shop.p"));
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [
            json!(3),
            json!({"items": 3}),
            json!({"items": [1]}),
            json!({"links": [3]}),
            json!({"links": [{"href": "/"}]}),
            json!({"item": []}),
        ] {
            assert!(
                ParseOutput::from_json(bad.clone()).is_err(),
                "{bad} accepted"
            );
        }
        assert_eq!(
            ParseOutput::from_json(json!({})),
            Ok(ParseOutput::default())
        );
    }
}
