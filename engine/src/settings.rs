//! Crawl settings a rule module declares next to `parse`.

/// What a rule says about following its links.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSettings {
    /// `max_depth`: links are followed while the job's depth is below it (a crawl may
    /// override it).
    pub max_depth: Option<u32>,
    /// `keep_query`: the query parameters that matter for URL identity; `None` keeps all.
    pub keep_query: Option<Vec<String>>,
    /// Whether the module defines `follow(url, ctx)`.
    pub has_follow: bool,
}
