//! What the reload and storm fleets run: the rule `bench.r` that every push replaces, and the
//! jobs it parses. Each version of the rule stamps its items with `v`, set by its top level,
//! so an item whose `v` differs from the version it is stamped with ran on a half-loaded rule.

use crawlfleet_bus::message::Job;
use serde_json::json;
use sha2::Digest;

use crate::site::{Shop, Site};

/// The pages jobs fetch, and the rule that parses them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Pages {
    /// The site's robots.txt, parsed by a rule that only returns its `v`: the smallest job
    /// there is, next to which a reload weighs the most.
    Tiny,
    /// 30–60 KB product pages, parsed by a rule that extracts what `shop.product` does
    /// (title, sku, price, spec table) with the same selectors.
    Product,
}

/// Products the site serves in `Pages::Product` runs; jobs cycle through them.
const PRODUCTS: usize = 100;

impl Pages {
    pub fn as_str(self) -> &'static str {
        match self {
            Pages::Tiny => "tiny",
            Pages::Product => "product",
        }
    }

    /// The site the jobs fetch from.
    pub fn shop(self) -> Shop {
        let products = match self {
            Pages::Tiny => 1,
            Pages::Product => PRODUCTS,
        };
        Shop {
            categories: 1,
            per_category: products,
            per_page: 50,
        }
    }

    /// Version `version` of `bench.r`.
    pub fn rule(self, version: u64) -> String {
        match self {
            Pages::Tiny => format!(
                "local V = {version}\nreturn {{ parse = function(page) return {{ items = {{ {{ v = V }} }} }} end }}\n"
            ),
            Pages::Product => format!(
                r#"local V = {version}
local function text_of(scope, css)
    local el = scope:select_one(css)
    return el and el:text() or nil
end
return {{ parse = function(page)
    local product = page:select_one(".product-page .product")
    local specs = {{}}
    for _, row in ipairs(page:select("table.specs tr")) do
        local name, value = text_of(row, "th"), text_of(row, "td")
        if name and value then specs[name] = value end
    end
    return {{ items = {{ {{
        v = V,
        title = text_of(product, "h1.product-title"),
        sku = text_of(product, ".product-meta .sku"),
        price = text_of(product, ".price-box .price"),
        specs = specs,
    }} }} }}
end }}
"#
            ),
        }
    }

    /// The update message pushing version `version` of `bench.r`, with its source inline.
    pub fn push_body(self, version: u64, push_id: &str) -> Vec<u8> {
        let source = self.rule(version);
        let sha: String = sha2::Sha256::digest(source.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        json!({"type": "update", "module": "bench.r", "path": "bench/r.lua", "source": source,
               "sha256": sha, "version": version, "push_id": push_id})
        .to_string()
        .into_bytes()
    }

    /// `n` jobs parsed by `bench.r`, with ids `<tag>-<i>`.
    pub fn jobs(self, site: &Site, n: usize, tag: &str) -> Vec<Job> {
        (0..n)
            .map(|i| {
                let url = match self {
                    Pages::Tiny => site.url("/robots.txt"),
                    Pages::Product => site.url(&format!("/p/prod-{}", i % PRODUCTS)),
                };
                Job {
                    id: format!("{tag}-{i}"),
                    url,
                    rule: "bench.r".to_owned(),
                    depth: 0,
                    meta: json!({}),
                    attempt: 0,
                    crawl: format!("bench-{tag}"),
                    max_depth: Some(0),
                }
            })
            .collect()
    }
}
