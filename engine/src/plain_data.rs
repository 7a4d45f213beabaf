//! Lua values as plain data (JSON), bounded: what `parse` returns, what `log.*` is given and
//! what a module keeps as `state` are counted as they are converted, and the conversion stops
//! at the bound, so a table that reuses a subtable (`t = {t, t}`, a few dozen levels deep:
//! tiny in Lua, exponential as JSON) costs at most the bound, never the worker's memory.

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use mlua::serde::DeserializeOptions;
use mlua::{Lua, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::budget::Budget;

/// The most a call's result may weigh, as an estimate of its size in memory once converted.
pub const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
/// The most the data of one `log.*` call may weigh; past it the data is left out of the line.
pub const MAX_LOG_DATA_BYTES: usize = 16 * 1024;
/// Deeper than this, conversion refuses (as mlua's own converter does).
const MAX_DEPTH: usize = 128;
/// What one value costs besides its text: a JSON value's size in memory, roughly.
const VALUE_COST: usize = 32;
/// How many values are measured between two looks at the deadline.
const CHECK_EVERY: usize = 4096;

/// Why a value was not converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlainDataError {
    #[error("larger than {0} bytes as data")]
    TooLarge(usize),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("the time budget ran out while converting it")]
    Deadline,
    #[error("{0}")]
    Convert(String),
}

/// `value` as JSON, if it weighs at most `cap` bytes (counting every reuse of a shared
/// table again, as JSON will), is at most [`MAX_DEPTH`] deep and is plain data. One pass:
/// the conversion counts as it goes and stops at the first value past a bound.
pub(crate) fn to_json(
    lua: &Lua,
    value: Value,
    cap: usize,
) -> Result<serde_json::Value, PlainDataError> {
    let budget = lua.app_data_ref::<Arc<Budget>>().map(|b| Arc::clone(&b));
    let meter = Meter {
        left: Cell::new(cap),
        cap,
        visits: Cell::new(0),
        budget: budget.as_deref(),
        stopped: Cell::new(None),
    };
    let converted = Bounded {
        meter: &meter,
        depth: 0,
    }
    .deserialize(mlua::serde::Deserializer::new_with_options(
        value,
        // mlua's own depth check would answer first, with a message of its own.
        DeserializeOptions::default().recursion_limit(MAX_DEPTH + 1),
    ));
    match (meter.stopped.take(), converted) {
        (Some(why), _) => Err(why),
        (None, Ok(json)) => Ok(json),
        (None, Err(e)) => Err(PlainDataError::Convert(e.to_string())),
    }
}

/// What a conversion has left to spend, and why it stopped if it did.
struct Meter<'a> {
    left: Cell<usize>,
    cap: usize,
    visits: Cell<usize>,
    budget: Option<&'a Budget>,
    stopped: Cell<Option<PlainDataError>>,
}

impl Meter<'_> {
    /// Spends `bytes`; past a bound, remembers why and fails the conversion.
    fn spend<E: de::Error>(&self, bytes: usize) -> Result<(), E> {
        let why = match self.left.get().checked_sub(bytes) {
            None => PlainDataError::TooLarge(self.cap),
            Some(left) => {
                self.left.set(left);
                let visits = self.visits.get() + 1;
                self.visits.set(visits);
                if !(visits.is_multiple_of(CHECK_EVERY) && self.budget.is_some_and(Budget::expired))
                {
                    return Ok(());
                }
                PlainDataError::Deadline
            }
        };
        Err(self.stop(why))
    }

    fn stop<E: de::Error>(&self, why: PlainDataError) -> E {
        let error = E::custom(&why);
        self.stopped.set(Some(why));
        error
    }
}

/// Converts one value as `serde_json::Value`'s own `Deserialize` does, spending from the
/// meter for every value, key and byte of text.
#[derive(Clone, Copy)]
struct Bounded<'m, 'a> {
    meter: &'m Meter<'a>,
    depth: usize,
}

impl Bounded<'_, '_> {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.meter.stop(PlainDataError::TooDeep));
        }
        self.meter.spend(VALUE_COST)?;
        Ok(Bounded {
            meter: self.meter,
            depth: self.depth + 1,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Bounded<'_, '_> {
    type Value = serde_json::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_, '_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST)?;
        Ok(serde_json::Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST)?;
        Ok(serde_json::Value::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST)?;
        Ok(serde_json::Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST)?;
        Ok(serde_json::Number::from_f64(v)
            .map_or(serde_json::Value::Null, serde_json::Value::Number))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST + v.len())?;
        Ok(serde_json::Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST + v.len())?;
        Ok(serde_json::Value::String(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visit_unit()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.meter.spend(VALUE_COST)?;
        Ok(serde_json::Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let inner = self.nested()?;
        let mut values = Vec::new();
        // Each element's index costs what a key does in a map, as it always has.
        while let Some(value) = seq.next_element_seed(inner)? {
            self.meter.spend(VALUE_COST)?;
            values.push(value);
        }
        Ok(serde_json::Value::Array(values))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let inner = self.nested()?;
        let mut values = serde_json::Map::new();
        while let Some(key) = map.next_key_seed(Key(inner))? {
            let value = map.next_value_seed(inner)?;
            values.insert(key, value);
        }
        Ok(serde_json::Value::Object(values))
    }
}

/// A map key: a string, as `serde_json::Value` requires, counted like a string value.
struct Key<'m, 'a>(Bounded<'m, 'a>);

impl<'de> DeserializeSeed<'de> for Key<'_, '_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.0.meter.spend(VALUE_COST + v.len())?;
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.0.meter.spend(VALUE_COST + v.len())?;
        Ok(v)
    }
}

/// `text` if it is at most `max` bytes; otherwise its first `max` bytes (cut back to a
/// character boundary) followed by `…[truncated N bytes]`.
///
/// The marker comes on top of the `max` bytes of text, so the result can be longer than
/// `max`: this is a log line's bound on how much of a value it shows, not a hard cap. A
/// hard cap, marker included, is `crawlfleet_bus::bounds::truncate_text`'s contract; the
/// two differ on purpose and share no code (neither crate depends on the other).
pub(crate) fn truncated(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if text.len() <= max {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    std::borrow::Cow::Owned(format!(
        "{}…[truncated {} bytes]",
        &text[..cut],
        text.len() - cut
    ))
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, LuaSerdeExt, Value};

    use super::{PlainDataError, to_json};

    /// The one-pass conversion gives what mlua's own conversion gives, value for value.
    #[test]
    fn converts_as_mlua_does() {
        let lua = Lua::new();
        for chunk in [
            "return nil",
            "return true",
            "return 42",
            "return -7.5",
            "return 0/0",
            "return 'text é'",
            "return {}",
            "return {1, 2, {3, {}}}",
            "return {a = 1, b = {c = 'd', e = {false}}}",
            "return {1, nil, 3}",
            "return {[1] = 'a', [2] = 'b'}",
            "return {[5] = 'sparse'}",
            "return {[1] = 'x', y = 2}",
            "return {[true] = 1}",
            "return {f = function() end}",
            "return {s = '\\255'}",
        ] {
            let value: Value = lua.load(chunk).eval().expect(chunk);
            let ours = to_json(&lua, value.clone(), super::MAX_OUTPUT_BYTES);
            let theirs = lua.from_value::<serde_json::Value>(value);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{chunk}"),
                (Err(PlainDataError::Convert(_)), Err(_)) => {}
                (a, b) => panic!("{chunk}: ours {a:?}, mlua's {b:?}"),
            }
        }
    }

    #[test]
    fn bounds_stop_the_conversion_with_their_reason() {
        let lua = Lua::new();
        let shared: Value = lua
            .load("local t = {'x'} for _ = 1, 40 do t = {t, t} end return t")
            .eval()
            .expect("shared");
        assert_eq!(
            to_json(&lua, shared, 1 << 20),
            Err(PlainDataError::TooLarge(1 << 20))
        );
        let deep: Value = lua
            .load("local t = {} for _ = 1, 200 do t = {t} end return t")
            .eval()
            .expect("deep");
        assert_eq!(
            to_json(&lua, deep, super::MAX_OUTPUT_BYTES),
            Err(PlainDataError::TooDeep)
        );
        let text: Value = lua
            .load("return string.rep('a', 100)")
            .eval()
            .expect("text");
        assert_eq!(to_json(&lua, text.clone(), 132).map(|_| ()), Ok(()));
        assert_eq!(to_json(&lua, text, 131), Err(PlainDataError::TooLarge(131)));
        // An array costs its table, and a key and a value per element, like a map.
        let array: Value = lua.load("return {1, 2, 3}").eval().expect("array");
        assert_eq!(to_json(&lua, array.clone(), 224).map(|_| ()), Ok(()));
        assert_eq!(
            to_json(&lua, array, 223),
            Err(PlainDataError::TooLarge(223))
        );
    }
}
