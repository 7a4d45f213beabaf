//! The sandboxed Lua rule engine: rule sets, reload transactions and pinned rule versions.
//!
//! This crate is the only one in the workspace that knows mlua. Everything above it sees
//! [`RuleStore`] (the live rule set, swapped atomically), [`Rule`] (one pinned, callable rule
//! version), [`ModuleSource`] (a module's source text with its sha256 and version) and the
//! typed errors [`LoadError`] / [`CallError`].

mod budget;
mod error;
mod instance;
mod json_to_lua;
mod limits;
mod lua_error;
mod name;
mod output;
mod page;
mod plain_data;
mod pool;
mod require;
mod rule;
mod rules_root;
mod ruleset;
mod sandbox;
mod settings;
mod source;
mod store;
mod syntax;

pub use crawlfleet_html::{MAX_ATTRIBUTES, MAX_NODES};
pub use error::{CallError, LoadError, Stage};
pub use limits::Limits;
pub use name::{ModuleName, NameError};
pub use output::{LinkRequest, ParseOutput};
pub use page::{EncodingSource, Page, PageEncoding, join_url};
pub use plain_data::{MAX_LOG_DATA_BYTES, MAX_OUTPUT_BYTES};
pub use rule::Rule;
pub use rules_root::{MAX_SOURCE_BYTES, PathError, RulesRoot, ScanError};
pub use ruleset::{Change, LoadFailure, ModuleInfo, RuleSet};
pub use settings::RuleSettings;
pub use source::{ModuleSource, sha256_hex};
pub use store::{Applied, RuleStore};
pub use syntax::check_syntax;
