//! Pages in legacy encodings, crawled by a real worker: declared by `<meta charset>`, by
//! `<meta http-equiv>`, by the `Content-Type` header, by a BOM, and undeclared prose, each
//! yields the text a browser shows; a GBK page's link with Chinese query text is followed in
//! GBK, as a browser follows it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crawlfleet_bus::message::Job;
use crawlfleet_tests::{Route, RulesDir, TestBroker, TestSite, WorkerProc, page_job};
use encoding_rs::Encoding;
use serde_json::{Value, json};

/// Stamps each page's first paragraph, the encoding used and why; follows every link.
const RULE: &str = r#"
return {
    parse = function(page)
        local p = page:select_one("p")
        local links = {}
        for _, a in ipairs(page:select("a[href]")) do
            links[#links + 1] = a:attr("href")
        end
        return {
            items = { {
                text = p and p:text() or "",
                encoding = page.encoding.name,
                source = page.encoding.source,
            } },
            links = links,
        }
    end,
}
"#;

/// Each encoding the issue names, with a paragraph in a language written in it, the labels
/// its declarations use (the standard's label table: `iso-8859-1` and `us-ascii` mean
/// windows-1252, `gb2312` means GBK, …), and what detection names it.
const PAGES: &[(&str, &str, [&str; 3], &str)] = &[
    (
        "GBK",
        "热更新爬虫规则：工作进程在运行时接收新的抽取规则，无需重启。每个页面都按照浏览器的方式解码，\
         这样从简体中文网站抽取的条目就不会变成乱码。我们的测试覆盖了声明编码的各种方式，以及完全没有声明编码的页面。",
        ["gbk", "gb2312", "GBK"],
        "GBK",
    ),
    (
        "gb18030",
        "北京的秋天天气晴朗，游客们在公园里散步，欣赏红叶。许多家庭选择在周末外出，品尝当地的小吃，\
         比如烤鸭和饺子。𠮷野家的牛肉饭也很受欢迎，价格是二十元。",
        ["gb18030", "GB18030", "gb18030"],
        // Detection names the GBK family; its decoder is gb18030's.
        "GBK",
    ),
    (
        "Big5",
        "臺灣的夜市文化非常豐富，從士林到饒河街，每一個攤位都有自己的特色小吃。遊客們喜歡邊走邊吃，\
         品嚐珍珠奶茶、蚵仔煎和臭豆腐。這些傳統美食吸引了來自世界各地的旅客。",
        ["big5", "Big5", "big5-hkscs"],
        "Big5",
    ),
    (
        "Shift_JIS",
        "日本の春は桜の季節です。多くの人々が公園に集まり、花見を楽しみます。東京や京都では、\
         夜になると桜がライトアップされ、幻想的な風景が広がります。旅行者にとっても忘れられない体験になるでしょう。",
        ["shift_jis", "Shift_JIS", "sjis"],
        "Shift_JIS",
    ),
    (
        "EUC-KR",
        "서울의 가을은 매우 아름답습니다. 많은 사람들이 공원에서 산책을 하며 단풍을 즐깁니다. \
         주말에는 가족들이 함께 시장에 가서 맛있는 음식을 먹고 이야기를 나눕니다. 한국의 전통 문화는 오늘날에도 살아 있습니다.",
        ["euc-kr", "ks_c_5601-1987", "EUC-KR"],
        "EUC-KR",
    ),
    (
        "windows-1251",
        "Горячее обновление правил позволяет рабочим процессам получать новые правила извлечения \
         без перезапуска. Каждая страница декодируется так же, как это делает браузер, поэтому \
         тексты с русских сайтов больше не превращаются в кракозябры.",
        ["windows-1251", "cp1251", "Windows-1251"],
        "windows-1251",
    ),
    (
        "ISO-8859-2",
        "Wczoraj wieczorem pojechaliśmy nad jezioro, gdzie łabędzie pływały spokojnie wśród \
         trzcin. Dzieci biegały po łące, a dorośli rozmawiali o pogodzie i o tym, że jesień \
         przyszła w tym roku wcześniej niż zwykle. Świeże powietrze i cisza były dla nas źródłem \
         prawdziwego odpoczynku. Zażółć gęślą jaźń.",
        ["iso-8859-2", "latin2", "ISO-8859-2"],
        "ISO-8859-2",
    ),
    (
        "windows-1252",
        "« L’été dernier, nous avons visité la Provence » : les champs de lavande, les marchés \
         animés et les villages perchés nous ont émerveillés. Le café coûtait 2 € et les \
         croissants étaient délicieux… Nous y retournerons l’année prochaine, c’est certain.",
        ["ISO-8859-1", "us-ascii", "latin1"],
        "windows-1252",
    ),
];

fn html(head: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html><head>{head}<title>page</title></head>\n\
         <body><h1>page</h1>\n<p>{body}</p>\n</body></html>\n"
    )
}

fn in_encoding(text: &str, name: &str) -> Vec<u8> {
    let encoding = Encoding::for_label(name.as_bytes()).expect("a known encoding");
    let (bytes, _, unmappable) = encoding.encode(text);
    assert!(!unmappable, "the {name} fixture is encodable");
    bytes.into_owned()
}

fn bytes(content_type: &str, body: Vec<u8>) -> Route {
    Route::Bytes {
        content_type: content_type.to_owned(),
        body,
    }
}

/// Every page by path, with the item a browser's view of it gives: text, encoding, source.
fn site_pages() -> (HashMap<String, Route>, BTreeMap<String, Value>) {
    let mut routes = HashMap::new();
    let mut expected = BTreeMap::new();
    let mut add = |path: String, route: Route, text: &str, encoding: &str, source: &str| {
        routes.insert(path.clone(), route);
        expected.insert(
            path,
            json!({"text": text, "encoding": encoding, "source": source}),
        );
    };
    for (name, prose, [meta, equiv, header], detected) in PAGES {
        let slug = name.to_ascii_lowercase();
        let page = html(&format!(r#"<meta charset="{meta}">"#), prose);
        add(
            format!("/{slug}/meta"),
            bytes("text/html", in_encoding(&page, name)),
            prose,
            name,
            "meta",
        );
        let page = html(
            &format!(r#"<meta http-equiv="Content-Type" content="text/html; charset={equiv}">"#),
            prose,
        );
        add(
            format!("/{slug}/http-equiv"),
            bytes("text/html", in_encoding(&page, name)),
            prose,
            name,
            "meta",
        );
        add(
            format!("/{slug}/header"),
            bytes(
                &format!("text/html; charset={header}"),
                in_encoding(&html("", prose), name),
            ),
            prose,
            name,
            "header",
        );
        add(
            format!("/{slug}/undeclared"),
            bytes("text/html", in_encoding(&html("", prose), name)),
            prose,
            detected,
            "detected",
        );
    }
    let (_, chinese, ..) = PAGES[0];
    // A BOM beats a header and a meta that say otherwise.
    let mut utf8 = b"\xEF\xBB\xBF".to_vec();
    utf8.extend_from_slice(html(r#"<meta charset="gbk">"#, chinese).as_bytes());
    add(
        "/bom/utf-8".to_owned(),
        bytes("text/html; charset=windows-1251", utf8),
        chinese,
        "UTF-8",
        "bom",
    );
    let page = html("", chinese);
    let mut le = vec![0xFF, 0xFE];
    le.extend(page.encode_utf16().flat_map(u16::to_le_bytes));
    add(
        "/bom/utf-16le".to_owned(),
        bytes("text/html", le),
        chinese,
        "UTF-16LE",
        "bom",
    );
    let mut be = vec![0xFE, 0xFF];
    be.extend(page.encode_utf16().flat_map(u16::to_be_bytes));
    add(
        "/bom/utf-16be".to_owned(),
        bytes("text/html", be),
        chinese,
        "UTF-16BE",
        "bom",
    );
    // The header beats a meta that says otherwise.
    let (_, russian, ..) = PAGES[5];
    add(
        "/header-over-meta".to_owned(),
        bytes(
            "text/html; charset=windows-1251",
            in_encoding(&html(r#"<meta charset="gbk">"#, russian), "windows-1251"),
        ),
        russian,
        "windows-1251",
        "header",
    );
    (routes, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_every_encoding_and_declaration_read_as_a_browser_reads_them() {
    let mut broker = TestBroker::new("encoding").await;
    let rules = RulesDir::new(&broker.prefix);
    rules.write("enc.page", RULE);
    let (mut routes, mut expected) = site_pages();
    // A GBK page whose link carries Chinese query text: a browser percent-encodes it in GBK.
    let (_, chinese, ..) = PAGES[0];
    let linking = html(r#"<meta charset="gbk">"#, chinese).replace(
        "</body>",
        r#"<a href="/search?q=中文 书&amp;page=2#结果">搜索</a></body>"#,
    );
    routes.insert(
        "/gbk/links".to_owned(),
        bytes("text/html", in_encoding(&linking, "GBK")),
    );
    let followed = "/search?page=2&q=%D6%D0%CE%C4+%CA%E9";
    routes.insert(
        followed.to_owned(),
        bytes("text/html; charset=utf-8", html("", "found").into_bytes()),
    );
    let site = TestSite::start(routes).await;

    let worker = WorkerProc::start_ready(&broker.prefix, rules.path(), &[]).await;
    let mut jobs: Vec<Job> = expected
        .keys()
        .enumerate()
        .map(|(i, path)| page_job(&format!("enc-{i}"), site.url(path), "enc.page"))
        .collect();
    jobs.push(Job {
        max_depth: Some(1),
        ..page_job("enc-links", site.url("/gbk/links"), "enc.page")
    });
    broker.enqueue(&jobs).await;
    expected.insert(
        "/gbk/links".to_owned(),
        json!({"text": chinese, "encoding": "GBK", "source": "meta"}),
    );
    expected.insert(
        followed.to_owned(),
        json!({"text": "found", "encoding": "UTF-8", "source": "header"}),
    );

    let items = broker.items(expected.len(), Duration::from_secs(60)).await;
    let base = format!("http://{}", site.authority());
    let got: BTreeMap<String, Value> = items
        .iter()
        .map(|i| {
            (
                i.url.trim_start_matches(&base).to_owned(),
                Value::Object(i.fields.clone()),
            )
        })
        .collect();
    let wrong: Vec<String> = expected
        .iter()
        .filter(|(path, want)| got.get(*path) != Some(*want))
        .map(|(path, want)| format!("{path}: want {want}, got {:?}", got.get(path)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} pages differ from the browser's view:\n{}\n{}",
        wrong.len(),
        expected.len(),
        wrong.join("\n"),
        worker.dump()
    );
    assert!(
        site.hits().iter().any(|h| h == followed),
        "the link was requested with its query in GBK: {:?}",
        site.hits()
    );
    broker.cleanup().await;
}

/// `worker check-rule` on a saved page: what it prints for `page`, saved as `file`, at `url`.
fn check_rule(rules: &RulesDir, file: &str, page: &[u8], url: &str, extra: &[&str]) -> Value {
    let path = rules.scratch(file, "");
    std::fs::write(&path, page).expect("save the page");
    crawlfleet_tests::check_rule_json("enc.page", url, &path, rules.path(), extra)
}

#[test]
fn check_rule_decodes_a_saved_page_as_the_fleet_does() {
    let rules = RulesDir::new(&TestBroker::fresh_prefix("encoding-check"));
    rules.write("enc.page", RULE);
    let (_, chinese, ..) = PAGES[0];
    let page = html(r#"<meta charset="gb2312">"#, chinese).replace(
        "</body>",
        r#"<a href="/search?q=中文 书&amp;page=2">搜索</a></body>"#,
    );
    let page = in_encoding(&page, "GBK");

    let got = check_rule(&rules, "gbk.html", &page, "http://shop.test/c/", &[]);
    assert_eq!(got["encoding"], json!({"name": "GBK", "source": "meta"}));
    assert_eq!(
        got["items"],
        json!([{"text": chinese, "encoding": "GBK", "source": "meta"}])
    );
    assert_eq!(
        got["links"][0]["url"],
        "http://shop.test/search?page=2&q=%D6%D0%CE%C4+%CA%E9"
    );

    // The saved response's header wins over the meta, as it does for the fleet.
    let got = check_rule(
        &rules,
        "gbk.html",
        &page,
        "http://shop.test/c/",
        &["--content-type", "text/html; charset=big5"],
    );
    assert_eq!(got["encoding"], json!({"name": "Big5", "source": "header"}));

    // Undeclared: detected, with the page's top-level domain as the detector's hint.
    let (_, russian, ..) = PAGES[5];
    let page = in_encoding(&html("", russian), "windows-1251");
    let got = check_rule(&rules, "ru.html", &page, "http://news.example.ru/", &[]);
    assert_eq!(
        got["items"],
        json!([{"text": russian, "encoding": "windows-1251", "source": "detected"}])
    );
}
