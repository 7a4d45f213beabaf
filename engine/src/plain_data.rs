//! Lua values as plain data (JSON), bounded: what `parse` returns, what `log.*` is given and
//! what a module keeps as `state` are measured before they are converted, so a table that
//! reuses a subtable (`t = {t, t}`, a few dozen levels deep: tiny in Lua, exponential as
//! JSON) costs at most the bound, never the worker's memory.

use std::sync::Arc;

use mlua::{Lua, LuaSerdeExt, Value};

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
/// table again, as JSON will), is at most [`MAX_DEPTH`] deep and is plain data.
pub(crate) fn to_json(
    lua: &Lua,
    value: Value,
    cap: usize,
) -> Result<serde_json::Value, PlainDataError> {
    let budget = lua.app_data_ref::<Arc<Budget>>().map(|b| Arc::clone(&b));
    let mut measure = Measure {
        left: cap,
        cap,
        visits: 0,
        budget: budget.as_deref(),
    };
    measure.value(&value, 0)?;
    lua.from_value::<serde_json::Value>(value)
        .map_err(|e| PlainDataError::Convert(e.to_string()))
}

struct Measure<'a> {
    left: usize,
    cap: usize,
    visits: usize,
    budget: Option<&'a Budget>,
}

impl Measure<'_> {
    fn spend(&mut self, bytes: usize) -> Result<(), PlainDataError> {
        self.left = self
            .left
            .checked_sub(bytes)
            .ok_or(PlainDataError::TooLarge(self.cap))?;
        self.visits += 1;
        if self.visits.is_multiple_of(CHECK_EVERY) && self.budget.is_some_and(Budget::expired) {
            return Err(PlainDataError::Deadline);
        }
        Ok(())
    }

    fn value(&mut self, value: &Value, depth: usize) -> Result<(), PlainDataError> {
        match value {
            Value::String(s) => self.spend(VALUE_COST + s.as_bytes().len()),
            Value::Table(t) => {
                if depth >= MAX_DEPTH {
                    return Err(PlainDataError::TooDeep);
                }
                self.spend(VALUE_COST)?;
                for pair in t.pairs::<Value, Value>() {
                    let (k, v) = pair.map_err(|e| PlainDataError::Convert(e.to_string()))?;
                    self.value(&k, depth + 1)?;
                    self.value(&v, depth + 1)?;
                }
                Ok(())
            }
            _ => self.spend(VALUE_COST),
        }
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
