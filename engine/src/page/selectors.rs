//! Compiled CSS selectors, cached per Lua state, that is per rule version.

use std::collections::HashMap;
use std::sync::Arc;

use mlua::Lua;

use crate::html::{SelectorList, parse_selector};

/// Selectors a rule version has used, by their CSS text.
#[derive(Default)]
pub(crate) struct SelectorCache {
    compiled: HashMap<String, Arc<SelectorList>>,
}

/// More distinct selectors than this in one rule version is a bug in the rule; the cache
/// stops growing (selectors still work, uncached).
const MAX_CACHED: usize = 4096;

impl SelectorCache {
    /// The compiled form of `css`, from this state's cache when it has been seen before.
    pub(crate) fn get(lua: &Lua, css: &str) -> mlua::Result<Arc<SelectorList>> {
        if let Some(cache) = lua.app_data_ref::<SelectorCache>()
            && let Some(found) = cache.compiled.get(css)
        {
            return Ok(Arc::clone(found));
        }
        let selector = Arc::new(
            parse_selector(css)
                .map_err(|e| mlua::Error::runtime(format!("bad CSS selector `{css}`: {e}")))?,
        );
        if let Some(mut cache) = lua.app_data_mut::<SelectorCache>()
            && cache.compiled.len() < MAX_CACHED
        {
            cache.compiled.insert(css.to_owned(), Arc::clone(&selector));
        }
        Ok(selector)
    }
}
