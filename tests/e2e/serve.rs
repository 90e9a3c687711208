//! `sendlens serve`: the pages' numbers against the table functions, CSV
//! downloads, parameters refused with a reason, a new ingest on the next
//! load, the rules off loopback, and the page in headless Chromium.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::cdp::Browser;
use crate::support::{Ws, bin, decode_png};

/// A `sendlens serve` process, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub url: String,
}

impl Server {
    /// Start one on a free loopback port, unless `args` bind it elsewhere.
    pub fn start(ws: &Ws, args: &[&str]) -> Server {
        let mut command = bin();
        command.arg("--workspace").arg(ws.path());
        Server::spawn(command, args)
    }

    /// Start `command serve args` (a command with its workspace set).
    pub fn spawn(mut command: std::process::Command, args: &[&str]) -> Server {
        let mut args = args.to_vec();
        if !args.contains(&"--bind") {
            args.extend(["--bind", "127.0.0.1:0"]);
        }
        let mut child = command
            .arg("serve")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sendlens serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Some(at) = line
            .trim()
            .strip_prefix("sendlens serve: listening on http://")
        else {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("serve did not start: {line}{err}");
        };
        let port = at
            .trim_end_matches('/')
            .rsplit(':')
            .next()
            .unwrap()
            .to_string();
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

/// `method path` on the server at `url`, with `headers`.
pub(crate) fn request(url: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let host = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str("Content-Length: 0\r\n\r\n");
    stream.write_all(text.as_bytes()).unwrap();
    // Up to the end of the body its Content-Length gives, or of the
    // connection: a server may keep it open (Chromium's DevTools does).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let (head, body) = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(raw[..at].to_vec()).unwrap();
            let length = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            let mut body = raw[at + 4..].to_vec();
            match length {
                Some(n) => {
                    while body.len() < n {
                        let got = stream.read(&mut buf).unwrap();
                        assert!(got > 0, "the connection closed early");
                        body.extend_from_slice(&buf[..got]);
                    }
                }
                None => {
                    stream.read_to_end(&mut body).unwrap();
                }
            }
            break (head, String::from_utf8(body).unwrap());
        }
        let got = stream.read(&mut buf).unwrap();
        assert!(got > 0, "no answer");
        raw.extend_from_slice(&buf[..got]);
    };
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(&body)
    } else {
        body
    };
    Answer {
        status,
        headers: head.to_ascii_lowercase(),
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").unwrap();
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

pub(crate) fn get(url: &str, path: &str) -> Answer {
    request(url, "GET", path, &[])
}

/// Every `data-<key>="…" data-value="…"` pair of `html`, in order.
fn marked(html: &str, key: &str) -> Vec<(String, String)> {
    let open = format!("data-{key}=\"");
    html.match_indices(&open)
        .map(|(at, _)| {
            let rest = &html[at + open.len()..];
            let (name, rest) = rest.split_once('"').unwrap();
            let value = rest
                .trim_start()
                .strip_prefix("data-value=\"")
                .map(|v| v.split_once('"').unwrap().0.to_string())
                .unwrap_or_default();
            (name.to_string(), value)
        })
        .collect()
}

/// A query's result as `sendlens sql --format csv` writes it.
fn csv_of(ws: &Ws, sql: &str) -> String {
    crate::support::run_ok(&[
        "--workspace",
        ws.path().to_str().unwrap(),
        "sql",
        "--format",
        "csv",
        "-c",
        sql,
    ])
}

/// Rows of a query as text, exactly as `sendlens sql --format csv` writes
/// them (values without commas).
fn text_rows(ws: &Ws, sql: &str) -> Vec<HashMap<String, String>> {
    let out = csv_of(ws, sql);
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .zip(l.split(','))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A query's value and a `data-value` agree: the same number, exactly, or
/// both empty (NULL).
#[track_caller]
fn assert_same(what: &str, expected: &str, shown: &str) {
    match (expected.parse::<f64>(), shown.parse::<f64>()) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "{what}"),
        _ => assert_eq!(expected, shown, "{what}"),
    }
}

/// A workspace of generated events, and its biggest campaign with its
/// first send day.
fn generated() -> (Ws, String, String) {
    let ws = Ws::new();
    let input = ws.scratch("gen");
    crate::support::generate(&input, 3_000, 11);
    ws.ingest(&[&input]);
    let top = ws.query(
        "SELECT campaign_id, CAST(CAST(first_sent_at AS DATE) AS VARCHAR) AS day \
         FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 1",
    );
    let id = top[0]["campaign_id"].as_str().unwrap().to_string();
    let day = top[0]["day"].as_str().unwrap().to_string();
    (ws, id, day)
}

fn plus_days(day: &str, n: i64) -> String {
    (chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap() + chrono::Duration::days(n))
        .to_string()
}

/// The page's tiles and days equal `campaign_dashboard` and
/// `campaign_daily` for the range.
fn assert_page_matches(ws: &Ws, html: &str, id: &str, from: &str, to: &str, tz: &str) {
    let args = format!("'{id}', DATE '{from}', DATE '{to}', '{tz}'");
    let dashboard = &text_rows(ws, &format!("SELECT * FROM campaign_dashboard({args})"))[0];
    let tiles = marked(html, "metric");
    assert!(tiles.len() >= 16, "{} tiles", tiles.len());
    for (metric, value) in &tiles {
        if metric == "endpoint_deliveries" && value.is_empty() {
            continue; // the daily table's own marker, not a tile
        }
        assert_same(metric, &dashboard[metric.as_str()], value);
    }
    let daily = text_rows(
        ws,
        &format!("SELECT * FROM campaign_daily({args}) ORDER BY day"),
    );
    let days = marked(html, "day");
    assert_eq!(days.len(), daily.len(), "one marked row per day");
    for ((day, value), row) in days.iter().zip(&daily) {
        assert_eq!(day, &row["day"]);
        assert_same(day, &row["endpoint_deliveries"], value);
    }
}

#[test]
fn the_campaign_page_shows_the_numbers_of_the_table_functions() {
    let (ws, id, first) = generated();
    let server = Server::start(&ws, &[]);
    let (from, to, tz) = (first.clone(), plus_days(&first, 2), "America/New_York");
    let path = format!("/campaigns/{id}?from={from}&to={to}&tz=America%2FNew_York");
    let page = get(&server.url, &path);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.headers.contains("content-type: text/html"));
    assert!(page.headers.contains("server-timing: app;dur="));
    assert_page_matches(&ws, &page.body, &id, &from, &to, tz);
    for section in [
        "Campaign runs",
        "A/B treatments",
        "Clicks per link",
        "By hour",
        "(estimate)",
    ] {
        assert!(page.body.contains(section), "{section}");
    }
    let messages_sent = marked(&page.body, "metric")
        .into_iter()
        .find(|(m, _)| m == "messages_sent")
        .unwrap()
        .1;
    assert_ne!(messages_sent, "0", "the range has the campaign's sends");

    // Without dates: the 30 days up to the last send, in the workspace's zone.
    let span = &ws.query(&format!(
        "SELECT CAST(CAST(first_sent_at AS DATE) AS VARCHAR) AS f, CAST(CAST(last_sent_at AS DATE) AS VARCHAR) AS l \
         FROM campaign_metrics WHERE campaign_id = '{id}'"
    ))[0];
    let last = span["l"].as_str().unwrap();
    let start = plus_days(last, -29).max(span["f"].as_str().unwrap().to_string());
    let default = get(&server.url, &format!("/campaigns/{id}"));
    assert_eq!(default.status, 200);
    assert!(
        default
            .body
            .contains(&format!("name=\"from\" value=\"{start}\""))
            && default
                .body
                .contains(&format!("name=\"to\" value=\"{last}\"")),
        "default range {start} to {last}"
    );

    // Each table downloads as CSV, the same as the function's CSV (from a
    // process of its own). The server reads a campaign's rows into memory
    // in the background when the campaign is first asked for: the later
    // rounds read them from there, with plans copied from the first
    // call's template (another range in the last), and must answer the
    // same.
    let later = (plus_days(&from, -1), plus_days(&to, 4));
    let rounds = [(&from, &to), (&from, &to), (&later.0, &later.1)];
    for (round, (from, to)) in rounds.into_iter().enumerate() {
        for (table, function) in [
            ("daily", "campaign_daily"),
            ("dashboard", "campaign_dashboard"),
            ("runs", "campaign_runs"),
            ("treatments", "campaign_treatments"),
            ("links", "campaign_links"),
            ("hourly", "campaign_hourly"),
        ] {
            let csv = get(
                &server.url,
                &format!(
                    "/campaigns/{id}/{table}.csv?from={from}&to={to}&tz=America%2FNew_York&round={round}"
                ),
            );
            assert_eq!(csv.status, 200, "{table}: {}", csv.body);
            assert!(csv.headers.contains("content-disposition: attachment"));
            let expected = csv_of(
                &ws,
                &format!("SELECT * FROM {function}('{id}', DATE '{from}', DATE '{to}', '{tz}')"),
            );
            assert_eq!(csv.body, expected, "{table}, round {round}");
            assert!(csv.body.lines().count() > 1, "{table} has rows");
        }
    }

    // The list: search and sort.
    let list = get(&server.url, "/");
    assert_eq!(list.status, 200);
    assert!(list.body.contains(&format!("href=\"/campaigns/{id}\"")));
    let found = get(&server.url, &format!("/?q={}", &id[..6]));
    assert!(found.body.contains(&format!("href=\"/campaigns/{id}\"")));
    let none = get(&server.url, "/?q=no-such-campaign");
    assert!(!none.body.contains("href=\"/campaigns/"));
    assert_eq!(get(&server.url, "/?sort=messages_sent&dir=asc").status, 200);
    for path in [
        "/applications",
        "/journeys",
        "/transactional",
        "/?format=csv",
    ] {
        assert_eq!(get(&server.url, path).status, 200, "{path}");
    }

    // Malformed parameters: 400 pages that say what is wrong.
    for (path, says) in [
        (
            format!("/campaigns/{id}?from=2026-13-01&to={to}"),
            "is not a date",
        ),
        (
            format!("/campaigns/{id}?from={to}&to={from}"),
            "before it starts",
        ),
        (
            format!("/campaigns/{id}?tz=Mars%2FOlympus"),
            "not a time zone",
        ),
        (format!("/campaigns/{id}?preset=forever"), "not a preset"),
        ("/?sort=bogus".to_string(), "not a column"),
    ] {
        let a = get(&server.url, &path);
        assert_eq!(a.status, 400, "{path}");
        assert!(a.body.contains(says), "{path}: {}", a.body);
    }
    let missing = get(&server.url, "/campaigns/no-such-campaign");
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("no campaign"));
    // Ids are values, never SQL.
    let quoted = get(&server.url, &format!("/campaigns/{id}'%20OR%20'1'='1"));
    assert_eq!(quoted.status, 404, "{}", quoted.body);
    // Every value is escaped, the path's included.
    let script = get(
        &server.url,
        "/campaigns/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    );
    assert_eq!(script.status, 404);
    assert!(!script.body.contains("<script>") && script.body.contains("&lt;script&gt;"));

    // A new ingest shows on the next load.
    let before = ws.count("SELECT count(*) FROM campaign_metrics");
    let more = ws.scratch("more");
    crate::support::generate(&more, 1_000, 12);
    ws.ingest(&[&more]);
    let after = ws.count("SELECT count(*) FROM campaign_metrics");
    assert!(after > before);
    let list = get(&server.url, "/");
    assert!(
        list.body.contains(&format!("{after} of {after} campaigns")),
        "{after} campaigns after the ingest"
    );
}

#[test]
fn the_pinpoint_api_answers_errors_as_pinpoint_shapes_them() {
    let (ws, id, _) = generated();
    let app = ws.query(&format!(
        "SELECT app_id FROM message_facts WHERE campaign_id = '{id}' LIMIT 1"
    ))[0]["app_id"]
        .as_str()
        .unwrap()
        .to_string();
    let server = Server::start(&ws, &[]);
    let base = format!("/v1/apps/{app}/campaigns/{id}/kpis/daterange");
    let ok = get(&server.url, &format!("{base}/email-open-rate"));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let body: Value = serde_json::from_str(&ok.body).unwrap();
    assert_eq!(body["KpiName"], "email-open-rate");
    assert!(body["KpiResult"]["Rows"].is_array());
    for (path, status, kind) in [
        (format!("{base}/open-rate"), 400, "BadRequestException"),
        (
            format!("{base}/email-open-rate?start-time=yesterday"),
            400,
            "BadRequestException",
        ),
        (
            format!("{base}/email-open-rate?page-size=0"),
            400,
            "BadRequestException",
        ),
        (
            format!("/v1/apps/nope/campaigns/{id}/kpis/daterange/email-open-rate"),
            404,
            "NotFoundException",
        ),
        (
            format!("/v1/apps/{app}/campaigns/nope/activities"),
            404,
            "NotFoundException",
        ),
    ] {
        let a = get(&server.url, &path);
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(
            a.headers
                .contains(&format!("x-amzn-errortype: {}", kind.to_lowercase())),
            "{path}"
        );
        let body: Value = serde_json::from_str(&a.body).unwrap();
        assert!(!body["Message"].as_str().unwrap().is_empty(), "{path}");
    }
}

#[test]
fn off_loopback_the_server_asks_for_a_token_and_stays_read_only() {
    let (ws, id, _) = generated();
    // Loopback unless told otherwise.
    let help = crate::support::run_ok(&["serve", "--help"]);
    assert!(help.contains("[default: 127.0.0.1:8080]"), "{help}");
    // Elsewhere without a token: it refuses to start, and says why.
    let out = bin()
        .arg("--workspace")
        .arg(ws.path())
        .args(["serve", "--bind", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--auth-token"));

    let version = ws.table_version();
    let token_file = ws.scratch("secret").join("token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let server = Server::start(
        &ws,
        &[
            "--bind",
            "0.0.0.0:0",
            "--auth-token-file",
            token_file.to_str().unwrap(),
        ],
    );
    let page = format!("/campaigns/{id}");
    let refused = get(&server.url, &page);
    assert_eq!(refused.status, 401);
    assert!(refused.headers.contains("www-authenticate: basic"));
    for auth in ["Bearer s3cret", "Basic dXNlcjpzM2NyZXQ="] {
        assert_eq!(
            request(&server.url, "GET", &page, &[("Authorization", auth)]).status,
            200,
            "{auth}"
        );
    }
    for auth in ["Bearer wrong", "Basic dXNlcjp3cm9uZw=="] {
        assert_eq!(
            request(&server.url, "GET", &page, &[("Authorization", auth)]).status,
            401,
            "{auth}"
        );
    }
    // Read-only: nothing but GET.
    for method in ["POST", "PUT", "DELETE"] {
        let a = request(
            &server.url,
            method,
            "/",
            &[("Authorization", "Bearer s3cret")],
        );
        assert_eq!(a.status, 405, "{method}");
    }
    // The API wants a signature off loopback; without a key pair, none passes.
    let api = get(&server.url, "/v1/apps/a/kpis/daterange/email-open-rate");
    assert_eq!(api.status, 403);
    assert!(api.headers.contains("x-amzn-errortype: forbiddenexception"));
    assert_eq!(ws.table_version(), version, "serving writes nothing");
}

/// Pixels of `rgb` (within 8 per channel) in a screenshot.
fn pixels_of(png: &[u8], rgb: [u8; 3]) -> (usize, (u32, u32)) {
    let (width, height, channels, pixels) = decode_png(png);
    let n = pixels
        .chunks(channels)
        .filter(|p| p[..3].iter().zip(rgb).all(|(a, b)| a.abs_diff(b) <= 8))
        .count();
    (n, (width, height))
}

#[test]
fn the_campaign_page_in_headless_chromium() {
    let (ws, id, first) = generated();
    let server = Server::start(&ws, &[]);
    let mut browser = Browser::start(&ws.scratch("chromium"));

    // The list links to the campaign; a click opens its page.
    browser.open(&format!("{}/", server.url));
    let link = format!("a[href=\"/campaigns/{id}\"]");
    assert_eq!(
        browser.eval(&format!("!!document.querySelector('{link}')")),
        true
    );
    browser.act(&format!("document.querySelector('{link}').click()"));
    assert_eq!(
        browser.eval("location.pathname"),
        format!("/campaigns/{id}").as_str()
    );

    // Its numbers, read off the DOM, are the table functions' for the range
    // the form shows.
    let shown = browser.eval("['from', 'to', 'tz'].map(id => document.getElementById(id).value)");
    let shown: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    let dom = browser.eval("document.documentElement.outerHTML");
    assert_page_matches(
        &ws,
        dom.as_str().unwrap(),
        &id,
        shown[0],
        shown[1],
        shown[2],
    );

    // Change the date range and the zone in the form; the new numbers are
    // the functions' for the new range.
    let (from, to, tz) = (first.clone(), plus_days(&first, 2), "Asia/Tokyo");
    browser.act(&format!(
        "document.getElementById('from').value = '{from}'; \
         document.getElementById('to').value = '{to}'; \
         document.getElementById('tz').value = '{tz}'; \
         document.querySelector('form.range button').click()"
    ));
    let search = browser.eval("location.search");
    assert_eq!(
        search,
        format!("?from={from}&to={to}&tz=Asia%2FTokyo").as_str()
    );
    let dom = browser.eval("document.documentElement.outerHTML");
    assert_page_matches(&ws, dom.as_str().unwrap(), &id, &from, &to, tz);

    // Screenshots at desktop and phone width draw the tiles and the chart.
    for (width, height, mobile) in [(1280, 1600, false), (412, 1600, true)] {
        let png = browser.screenshot(width, height, mobile);
        let (tiles, size) = pixels_of(&png, [0xf5, 0xf7, 0xfa]);
        assert_eq!(size, (width, height));
        assert!(tiles > 5_000, "{width}px: no tiles drawn ({tiles})");
        let (bars, _) = pixels_of(&png, [0x2f, 0x6f, 0xde]);
        assert!(bars > 200, "{width}px: no chart drawn ({bars})");
    }
}

#[test]
fn a_workspace_in_s3_is_served_as_a_local_one() {
    let (s3, local, input) = crate::s3::exports_and_lake(41, b"");
    let lake = crate::s3::Lake::new(&s3, "s3://lake/serve/ws", local.scratch("cache"));
    lake.ok(&["init"]);
    lake.ok(&["ingest", "s3://exports/p/"]);
    local.ingest(&[&input]);
    let top = local.query(
        "SELECT campaign_id, CAST(CAST(first_sent_at AS DATE) AS VARCHAR) AS day \
         FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 1",
    );
    let id = top[0]["campaign_id"].as_str().unwrap();
    let first = top[0]["day"].as_str().unwrap();
    let server = Server::spawn(lake.command(&[]), &[]);
    let to = plus_days(first, 2);
    let page = get(
        &server.url,
        &format!("/campaigns/{id}?from={first}&to={to}&tz=UTC"),
    );
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_matches(&local, &page.body, id, first, &to, "UTC");
    let campaigns = local.count("SELECT count(*) FROM campaign_metrics");
    let list = get(&server.url, "/");
    assert!(
        list.body
            .contains(&format!("{campaigns} of {campaigns} campaigns"))
    );
}
