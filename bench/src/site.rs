//! A generated shop served fast: HTTP/1.1 keep-alive on 127.0.0.1, pages built on demand
//! from the product number (deterministic), 30–60 KB each with realistic boilerplate,
//! pagination and duplicate links, in the markup `rules/shop` parses. `expected` gives the
//! item the rule must extract from each product page.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The shape of the generated shop.
#[derive(Debug, Clone, Copy)]
pub struct Shop {
    pub categories: usize,
    pub per_category: usize,
    pub per_page: usize,
}

impl Shop {
    pub fn products(&self) -> usize {
        self.categories * self.per_category
    }

    fn pages_per_category(&self) -> usize {
        self.per_category.div_ceil(self.per_page)
    }

    /// The body at `path`, or `None` for 404.
    pub fn page(&self, path: &str) -> Option<String> {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        if path == "/" {
            return Some(self.index());
        }
        if path == "/robots.txt" {
            return Some("User-agent: *\nDisallow: /account/\n".to_owned());
        }
        if let Some(c) = path.strip_prefix("/c/cat-") {
            let c: usize = c.parse().ok().filter(|c| *c < self.categories)?;
            let page: usize = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))
                .and_then(|p| p.parse().ok())
                .unwrap_or(1);
            return (page >= 1 && page <= self.pages_per_category())
                .then(|| self.category(c, page));
        }
        if let Some(p) = path.strip_prefix("/p/prod-") {
            let p: usize = p.parse().ok().filter(|p| *p < self.products())?;
            return Some(product_page(p, self.products()));
        }
        None
    }

    fn index(&self) -> String {
        let mut menu = String::new();
        for c in 0..self.categories {
            let _ = write!(menu, r#"<li><a href="/c/cat-{c}">Category {c}</a></li>"#);
        }
        wrap(
            "Home",
            &format!(
                r#"<nav class="category-nav"><ul>{menu}</ul></nav><section class="hero"><h2>Winter sale</h2><p>Up to 30% off.</p></section>"#
            ),
        )
    }

    fn category(&self, c: usize, page: usize) -> String {
        let mut cards = String::new();
        let first = c * self.per_category + (page - 1) * self.per_page;
        let last = (first + self.per_page).min((c + 1) * self.per_category);
        for p in first..last {
            // Two links per card (title and reviews, another URL form of the same page).
            let _ = write!(
                cards,
                r#"<li class="product-card"><a href="/p/prod-{p}?ref=cat{c}"><img src="/img/{p}.jpg" alt=""> Product {p}</a> <a href="../p/prod-{p}#reviews">reviews</a> <span class="price">{}</span></li>"#,
                price_text(p)
            );
        }
        let next = if page < self.pages_per_category() {
            format!(
                r#"<a rel="next" href="/c/cat-{c}?page={}&amp;utm_source=nav">Next</a>"#,
                page + 1
            )
        } else {
            String::new()
        };
        let prev = if page > 1 {
            format!(r#"<a rel="prev" href="/c/cat-{c}">Previous</a>"#)
        } else {
            String::new()
        };
        wrap(
            &format!("Category {c}"),
            &format!(
                r#"<ul class="product-grid">{cards}</ul><div class="pagination">{prev} {next}</div>"#
            ),
        )
    }
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn cents(p: usize) -> u64 {
    100 + mix(p as u64) % 250_000
}

fn on_sale(p: usize) -> bool {
    p.is_multiple_of(3)
}

/// "1,234.56 €" — thousands separators included.
fn euros(cents: u64) -> String {
    let units = cents / 100;
    let grouped = if units >= 1000 {
        format!("{},{:03}", units / 1000, units % 1000)
    } else {
        units.to_string()
    };
    format!("{grouped}.{:02} &euro;", cents % 100)
}

fn price_text(p: usize) -> String {
    euros(cents(p))
}

fn sale_cents(p: usize) -> u64 {
    cents(p) * 8 / 10
}

fn rating(p: usize) -> Option<f64> {
    (!p.is_multiple_of(5)).then(|| 1.0 + (mix(p as u64 + 7) % 9) as f64 / 2.0)
}

/// What `shop.product` must extract from product `p`.
pub fn expected(p: usize) -> Value {
    let as_number = |c: u64| {
        let v = c as f64 / 100.0;
        if v.fract() == 0.0 {
            json!(v as i64)
        } else {
            json!(v)
        }
    };
    let mut item = json!({
        "title": format!("Product {p} — Kettle & Co"),
        "sku": format!("SKU-{p:06}"),
        "currency": "EUR",
        "availability": if p.is_multiple_of(7) { "out_of_stock" } else { "in_stock" },
        "specs": {"Weight": format!("{}.{} kg", 1 + p % 3, p % 10), "Capacity": format!("{} l", 1 + p % 2), "Colour": (["black", "steel", "red"][p % 3])},
    });
    if on_sale(p) {
        item["price"] = as_number(sale_cents(p));
        item["list_price"] = as_number(cents(p));
    } else {
        item["price"] = as_number(cents(p));
    }
    if let Some(r) = rating(p) {
        item["rating"] = if r.fract() == 0.0 {
            json!(r as i64)
        } else {
            json!(r)
        };
    }
    item
}

fn product_page(p: usize, total: usize) -> String {
    let price = if on_sale(p) {
        format!(
            r#"<span class="price price--sale">{}</span> <del class="price price--list">{}</del>"#,
            euros(sale_cents(p)),
            euros(cents(p))
        )
    } else {
        format!(r#"<span class="price">{}</span>"#, euros(cents(p)))
    };
    let rating = rating(p).map_or(String::new(), |r| {
        format!(r##"<div class="rating" title="{r} out of 5"><span class="stars" data-rating="{r}">&#9733;&#9733;&#9733;</span> <a href="#reviews">{} reviews</a></div>"##, p % 40)
    });
    let stock = if p.is_multiple_of(7) {
        r#"<p class="stock stock--out">Sold out</p>"#
    } else {
        r#"<p class="stock stock--in">In stock &ndash; ships in 2 days</p>"#
    };
    let mut related = String::new();
    for k in 1..=8 {
        let q = (p + k * 37) % total;
        let _ = write!(
            related,
            r#"<li class="card"><a href="/p/prod-{q}"><h3>Product {q}</h3></a><span class="price">{}</span></li>"#,
            price_text(q)
        );
    }
    // Reviews pad the page to 30–60 KB, as real product pages are.
    let mut reviews = String::new();
    let target = 30_000 + (mix(p as u64 + 3) % 30_000) as usize;
    let mut n = 0;
    while reviews.len() < target {
        let _ = write!(
            reviews,
            r#"<article class="review"><header><span class="author">Customer {n}</span> <time datetime="2026-01-{:02}">January</time></header><p>Bought this for the office kitchen. It boils quickly, the handle stays cool and the lid opens with one hand. After {n} weeks of daily use it still looks new; descaling is easy.</p></article>"#,
            1 + n % 28
        );
        n += 1;
    }
    let body = format!(
        r#"<main class="product-page"><div class="product"><h1 class="product-title">Product {p} &mdash; Kettle &amp; Co</h1>
<div class="product-meta">SKU: <span class="sku">SKU-{p:06}</span></div>{rating}<div class="price-box">{price}</div>{stock}
<table class="specs"><tr><th>Weight</th><td>{}.{} kg</td></tr><tr><th>Capacity</th><td>{} l</td></tr><tr><th>Colour</th><td>{}</td></tr></table>
</div><section class="related"><h2>You may also like</h2><ul>{related}</ul></section><section id="reviews">{reviews}</section></main>"#,
        1 + p % 3,
        p % 10,
        1 + p % 2,
        ["black", "steel", "red"][p % 3]
    );
    wrap(&format!("Product {p}"), &body)
}

/// Head, navigation, footer and scripts around `main`.
fn wrap(title: &str, main: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} | Kettle &amp; Co</title>
<meta name="viewport" content="width=device-width"><link rel="stylesheet" href="/static/site.css">
<style>.price--list{{text-decoration:line-through}} .stock--out{{color:#a00}}</style>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}</script></head>
<body><div class="cookie-banner">We use cookies. <a href="/privacy">Privacy</a></div>
<header><a href="/">Kettle &amp; Co</a><nav class="main-nav"><a href="/about">About</a> <a href="/account/login">Account</a> <a href="/basket">Basket</a></nav></header>
{main}
<footer><ul><li><a href="/about">About us</a></li><li><a href="/contact">Contact</a></li><li><a href="/terms">Terms</a></li></ul><p>&copy; 2026 Kettle &amp; Co</p></footer>
<script src="/static/app.js" defer></script></body></html>"#
    )
}

/// A running site.
pub struct Site {
    pub addr: SocketAddr,
    pub requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Site {
    pub async fn start(shop: Shop) -> anyhow::Result<Site> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    let _ = serve(stream, shop, &counter).await;
                });
            }
        });
        Ok(Site {
            addr,
            requests,
            task,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Keep-alive: request after request on one connection.
async fn serve(
    mut stream: tokio::net::TcpStream,
    shop: Shop,
    counter: &AtomicU64,
) -> std::io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        counter.fetch_add(1, Ordering::Relaxed);
        let (status, body) = match shop.page(&path) {
            Some(body) => ("200 OK", body),
            None => ("404 Not Found", "not found".to_owned()),
        };
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_30_to_60_kb_and_listings_link_every_product() {
        let shop = Shop {
            categories: 3,
            per_category: 10,
            per_page: 4,
        };
        for p in 0..30 {
            let len = shop.page(&format!("/p/prod-{p}")).expect("page").len();
            assert!((30_000..64_000).contains(&len), "{p}: {len}");
        }
        let linked: usize = (1..=3)
            .map(|page| {
                shop.page(&format!("/c/cat-1?page={page}"))
                    .expect("listing")
                    .matches("class=\"product-card\"")
                    .count()
            })
            .sum();
        assert_eq!(linked, 10);
        assert!(shop.page("/c/cat-1?page=4").is_none());
    }
}
