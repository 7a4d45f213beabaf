//! A local HTTP site for crawl tests, on 127.0.0.1 (or another loopback address) and a port
//! of its own: pages, redirects, errors, flaky and slow pages, raw bytes in any encoding, and
//! a record of every request it served.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the site answers on one path.
#[derive(Debug, Clone)]
pub enum Route {
    /// 200 with this HTML.
    Html(String),
    /// 200 with this body and content type.
    Body { content_type: String, body: String },
    /// Any status, with a body.
    Status(u16, String),
    /// A 301 to another path or URL.
    Redirect(String),
    /// Fails with `status` the first `times` requests, then answers `then`.
    Flaky {
        times: usize,
        status: u16,
        then: Box<Route>,
    },
    /// Answers `then` after `delay`.
    Slow { delay: Duration, then: Box<Route> },
    /// 200 with these bytes as they are (any encoding), and this `Content-Type`.
    Bytes { content_type: String, body: Vec<u8> },
}

pub struct TestSite {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestSite {
    /// A site with one page, `/x`, for jobs whose rule reads nothing from the page.
    pub async fn one_page() -> TestSite {
        TestSite::start([("/x".to_owned(), Route::Html("<p>x</p>".to_owned()))].into()).await
    }

    /// Serves `routes` (path with query → route); other paths answer 404.
    pub async fn start(routes: HashMap<String, Route>) -> TestSite {
        TestSite::reserve("127.0.0.1").await.serve(routes)
    }

    /// A site's address on `ip` (any of 127/8 on Linux: a second host for tests that cross
    /// hosts), bound before its routes are known, for sites whose pages link to each other.
    pub async fn reserve(ip: &str) -> Reserved {
        let listener = TcpListener::bind((ip, 0)).await.expect("bind test site");
        let addr = listener.local_addr().expect("local addr");
        Reserved { listener, addr }
    }

    fn serve_on(
        listener: TcpListener,
        addr: SocketAddr,
        routes: HashMap<String, Route>,
    ) -> TestSite {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new((routes, Mutex::new(HashMap::<String, usize>::new())));
        let log = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                let log = Arc::clone(&log);
                tokio::spawn(async move {
                    let Some(path) = read_request(&mut stream).await else {
                        return;
                    };
                    log.lock().expect("hits").push(path.clone());
                    let seen = {
                        let mut counts = state.1.lock().expect("counts");
                        let n = counts.entry(path.clone()).or_default();
                        *n += 1;
                        *n
                    };
                    let route = state.0.get(&path).cloned();
                    let response = respond(route, seen).await;
                    let _ = stream.write_all(&response).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        TestSite { addr, hits, task }
    }

    /// The routes of a saved fixture site: `dir/site.json` maps paths to files in `dir`.
    pub fn fixture_routes(dir: &std::path::Path) -> HashMap<String, Route> {
        let map: HashMap<String, String> = serde_json::from_str(
            &std::fs::read_to_string(dir.join("site.json")).expect("site.json"),
        )
        .expect("site.json maps paths to files");
        map.into_iter()
            .map(|(path, file)| {
                let html = std::fs::read_to_string(dir.join(&file)).expect("fixture file");
                (path, Route::Html(html))
            })
            .collect()
    }

    /// The saved shop (`rules/shop/fixtures`) as a real site is: robots.txt disallowing
    /// `/p/members/`, `/p/retro-kettle` redirecting, `/p/flaky-kettle` failing twice with 500,
    /// `/p/slow-kettle` taking 1.5 s, `/p/gone-kettle` missing; with `product_delay`, every
    /// product page takes that long too.
    pub fn shop_routes(
        dir: &std::path::Path,
        product_delay: Option<Duration>,
    ) -> HashMap<String, Route> {
        let mut routes = Self::fixture_routes(dir);
        routes.insert(
            "/robots.txt".to_owned(),
            Route::Body {
                content_type: "text/plain".to_owned(),
                body: "User-agent: *\nDisallow: /p/members/\n".to_owned(),
            },
        );
        routes.insert(
            "/p/retro-kettle".to_owned(),
            Route::Redirect("/p/retro-kettle-2024".to_owned()),
        );
        routes.insert(
            "/p/members/secret-kettle".to_owned(),
            Route::Html("<h1>secret</h1>".to_owned()),
        );
        if let Some(flaky) = routes.remove("/p/flaky-kettle") {
            routes.insert(
                "/p/flaky-kettle".to_owned(),
                Route::Flaky {
                    times: 2,
                    status: 500,
                    then: Box::new(flaky),
                },
            );
        }
        if let Some(slow) = routes.remove("/p/slow-kettle") {
            let delay = Duration::from_millis(1500);
            routes.insert(
                "/p/slow-kettle".to_owned(),
                Route::Slow {
                    delay,
                    then: Box::new(slow),
                },
            );
        }
        if let Some(delay) = product_delay {
            for (path, route) in routes.iter_mut() {
                if path.starts_with("/p/") {
                    *route = Route::Slow {
                        delay,
                        then: Box::new(route.clone()),
                    };
                }
            }
        }
        routes
    }

    /// The absolute URL of `path` on this site.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `host:port`, for building expected URLs.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Every path requested so far, in order.
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().expect("hits").clone()
    }
}

/// A bound site address that does not answer yet (see `TestSite::reserve`).
pub struct Reserved {
    listener: TcpListener,
    addr: SocketAddr,
}

impl Reserved {
    /// The absolute URL `path` will have.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Starts serving `routes`.
    pub fn serve(self, routes: HashMap<String, Route>) -> TestSite {
        TestSite::serve_on(self.listener, self.addr, routes)
    }
}

impl Drop for TestSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads a request head and returns its path (with query).
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let line = head.lines().next()?;
    let mut parts = line.split_whitespace();
    let (_method, path) = (parts.next()?, parts.next()?);
    Some(path.to_owned())
}

async fn respond(route: Option<Route>, seen: usize) -> Vec<u8> {
    let mut route = route;
    loop {
        match route {
            None => return http(404, "text/plain", "not found", &[]),
            Some(Route::Html(body)) => return http(200, "text/html; charset=utf-8", &body, &[]),
            Some(Route::Body { content_type, body }) => {
                return http(200, &content_type, &body, &[]);
            }
            Some(Route::Status(status, body)) => return http(status, "text/plain", &body, &[]),
            Some(Route::Redirect(to)) => {
                return http(301, "text/plain", "moved", &[("Location", &to)]);
            }
            Some(Route::Flaky {
                times,
                status,
                then,
            }) => {
                if seen <= times {
                    return http(status, "text/plain", "try again", &[]);
                }
                route = Some(*then);
            }
            Some(Route::Slow { delay, then }) => {
                tokio::time::sleep(delay).await;
                route = Some(*then);
            }
            Some(Route::Bytes { content_type, body }) => {
                let mut out = format!(
                    "HTTP/1.1 200 X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                return out;
            }
        }
    }
}

fn http(status: u16, content_type: &str, body: &str, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// A plain HTTP GET (for admin endpoints): status and body.
pub async fn http_get(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
