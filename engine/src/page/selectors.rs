//! Compiled CSS selectors, cached per Lua state (from its first selector on): for the
//! versions of one module loaded there in turn.

use std::collections::HashMap;
use std::sync::Arc;

use crawlfleet_html::{SelectorList, parse_selector};
use mlua::Lua;

/// Selectors the versions loaded in a state have used, by their CSS text.
#[derive(Default)]
pub(crate) struct SelectorCache {
    compiled: HashMap<String, Arc<SelectorList>>,
}

/// More distinct selectors than this is a rule that builds them from page data, or many
/// versions' worth; the cache then starts over rather than grow.
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
        if let Some(mut cache) = lua.app_data_mut::<SelectorCache>() {
            if cache.compiled.len() >= MAX_CACHED {
                cache.compiled.clear();
            }
            cache.compiled.insert(css.to_owned(), Arc::clone(&selector));
        } else {
            // The state's first selector: its cache starts here (or at the next selector,
            // should another piece of the state's data be borrowed just now).
            let mut cache = SelectorCache::default();
            cache.compiled.insert(css.to_owned(), Arc::clone(&selector));
            let _ = lua.try_set_app_data(cache);
        }
        Ok(selector)
    }
}
