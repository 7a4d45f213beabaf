//! `testsite`: serves a saved fixture site (`site.json` + pages) on 127.0.0.1 — the shop
//! with its robots.txt, redirect, flaky and slow pages — for the demo and for trying rules by
//! hand. Prints its base URL, then serves until killed.

use std::path::PathBuf;
use std::time::Duration;

use crawlfleet_tests::TestSite;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), slow_ms) = (args.next(), args.next()) else {
        eprintln!("usage: testsite <fixtures-dir> [delay-ms-per-product-page]");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    if !dir.join("site.json").is_file() {
        eprintln!("testsite: {} has no site.json", dir.display());
        std::process::exit(2);
    }
    let delay = slow_ms
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_millis);
    let routes = if dir.join("../product.lua").is_file() {
        // The shop: with its robots.txt, redirect, flaky and slow pages.
        TestSite::shop_routes(&dir, delay)
    } else {
        TestSite::fixture_routes(&dir)
    };
    let site = TestSite::start(routes).await;
    println!("{}", site.url(""));
    std::future::pending::<()>().await;
}
