//! The fetch policy against real pages: loopback destinations refused by default (by
//! literal address and by name) and dead-lettered with their reason, every redirect hop
//! asked of robots.txt, and a redirect into another host not widening the crawl to it.

use std::collections::HashMap;
use std::time::Duration;

use crawlfleet_bus::message::Job;
use crawlfleet_tests::{Route, RulesDir, TestBroker, TestSite, WorkerProc, page_job};

const SECOND: Duration = Duration::from_secs(1);

/// One item per page (its URL), and every `a[href]` of it as a link for the same rule.
const LINKS_RULE: &str = r#"
local M = {}
function M.parse(page, ctx)
    local links = {}
    for _, a in ipairs(page:select("a[href]")) do
        links[#links + 1] = { url = page:urljoin(a:attr("href")) }
    end
    return { items = { { page = ctx.url } }, links = links }
end
return M
"#;

fn reason(headers: &std::collections::BTreeMap<String, String>) -> &str {
    headers
        .get("x-crawlfleet-reason")
        .map_or("", String::as_str)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_switch_a_loopback_job_is_refused_and_dead_lettered() {
    let mut broker = TestBroker::new("refuse").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("site.page", LINKS_RULE);
    let site = TestSite::one_page().await;
    let w = WorkerProc::start_with_env(
        &broker.prefix,
        rules.path(),
        &[],
        &[("ALLOW_PRIVATE_HOSTS", "false")],
    )
    .await;
    w.ready().await;
    let by_name = site.url("/x").replace("127.0.0.1", "localhost");
    broker
        .enqueue(&[
            page_job("by-address", site.url("/x"), "site.page"),
            page_job("by-name", by_name, "site.page"),
        ])
        .await;

    let dead = broker.dead_letters(2, 20 * SECOND).await;
    let mut got: Vec<(String, String, String)> = dead
        .iter()
        .map(|(job, headers)| {
            (
                job["id"].as_str().unwrap_or_default().to_owned(),
                reason(headers).to_owned(),
                headers
                    .get("x-crawlfleet-error")
                    .cloned()
                    .unwrap_or_default(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got.len(), 2, "{got:?}\n{}", w.dump());
    for (id, reason, error) in &got {
        assert_eq!(reason, "destination_refused", "{id}: {error}");
        assert!(
            error.contains("loopback") && error.contains("--allow-private-hosts"),
            "{id}: {error}"
        );
    }
    assert!(
        site.hits().is_empty(),
        "nothing, not even robots.txt, was asked of the site: {:?}",
        site.hits()
    );
    assert!(broker.items(1, SECOND).await.is_empty());
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_hop_that_robots_txt_disallows_is_not_followed() {
    let mut broker = TestBroker::new("robotshop").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("site.page", LINKS_RULE);
    let routes: HashMap<String, Route> = [
        (
            "/robots.txt".to_owned(),
            Route::Body {
                content_type: "text/plain".to_owned(),
                body: "User-agent: *\nDisallow: /private/\n".to_owned(),
            },
        ),
        (
            "/start".to_owned(),
            Route::Redirect("/private/page".to_owned()),
        ),
        (
            "/private/page".to_owned(),
            Route::Html("<p>private</p>".to_owned()),
        ),
    ]
    .into();
    let site = TestSite::start(routes).await;
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    broker
        .enqueue(&[page_job("hop", site.url("/start"), "site.page")])
        .await;

    let dead = broker.dead_letters(1, 20 * SECOND).await;
    assert_eq!(dead.len(), 1, "{}", w.dump());
    assert_eq!(reason(&dead[0].1), "robots_disallowed", "{dead:?}");
    let hits = site.hits();
    assert!(hits.contains(&"/start".to_owned()), "{hits:?}");
    assert!(
        !hits.contains(&"/private/page".to_owned()),
        "the disallowed hop was fetched: {hits:?}"
    );
    broker.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_into_another_host_does_not_make_its_links_followable() {
    let mut broker = TestBroker::new("crosshost").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("site.page", LINKS_RULE);
    // The crawl's host, A (127.0.0.1), redirects its start page into B (127.0.0.2), whose
    // page links to B again and back to A.
    let b = TestSite::reserve("127.0.0.2").await;
    let a = TestSite::start(
        [
            ("/start".to_owned(), Route::Redirect(b.url("/page"))),
            ("/back".to_owned(), Route::Html("<p>back</p>".to_owned())),
        ]
        .into(),
    )
    .await;
    let page = format!(
        r#"<a href="/other">B again</a> <a href="{}">back to A</a>"#,
        a.url("/back")
    );
    let b = b.serve(
        [
            ("/page".to_owned(), Route::Html(page)),
            ("/other".to_owned(), Route::Html("<p>other</p>".to_owned())),
        ]
        .into(),
    );
    let w = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    let job = Job {
        max_depth: Some(1),
        ..page_job("cross", a.url("/start"), "site.page")
    };
    broker.enqueue(&[job]).await;

    let mut items = broker.items(2, 20 * SECOND).await;
    items.extend(broker.items(1, 2 * SECOND).await);
    let mut pages: Vec<&str> = items.iter().map(|i| i.url.as_str()).collect();
    pages.sort_unstable();
    let mut want = [b.url("/page"), a.url("/back")];
    want.sort();
    assert_eq!(pages, want, "{}", w.dump());
    assert!(
        !b.hits().contains(&"/other".to_owned()),
        "a link on the host the redirect led to was followed: {:?}",
        b.hits()
    );
    broker.cleanup().await;
}
