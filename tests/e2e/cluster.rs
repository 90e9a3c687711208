//! The extension on Apache DataFusion Ballista: every view, and every table
//! function with every KPI name, answers on a cluster exactly as in-process.

use datafusion::prelude::SessionContext;
use sendlens_metrics::kpi::{self, Scope};

use crate::support::Ws;

/// Every row of a query, each printed, sorted: the comparison ignores the
/// order rows come back in (a cluster merges tasks' outputs as they end).
async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = ctx
        .sql(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .collect()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut lines: Vec<String> = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string()
        .lines()
        .filter(|l| !l.starts_with('+'))
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

/// A value of the first row of a query, as text.
async fn first(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let column = batches[0].column(0);
    datafusion::arrow::util::display::array_value_to_string(column, 0).unwrap()
}

/// The queries to compare: every view, every table function, every KPI.
async fn queries(embedded: &SessionContext) -> Vec<String> {
    let campaign = first(
        embedded,
        "SELECT campaign_id FROM events WHERE campaign_id IS NOT NULL \
         GROUP BY campaign_id ORDER BY count(*) DESC, campaign_id LIMIT 1",
    )
    .await;
    let app = first(
        embedded,
        &format!("SELECT app_id FROM events WHERE campaign_id = '{campaign}' LIMIT 1"),
    )
    .await;
    let journey = first(
        embedded,
        "SELECT coalesce(min(journey_id), 'none') FROM events",
    )
    .await;
    let (from, to) = ("2026-01-01", "2026-12-31");
    let mut queries: Vec<String> = sendlens_metrics::views::all("UTC")
        .into_iter()
        .map(|v| format!("SELECT * FROM {}", v.name))
        .collect();
    for f in [
        "campaign_dashboard",
        "campaign_daily",
        "campaign_treatments",
        "campaign_links",
    ] {
        queries.push(format!("SELECT * FROM {f}('{campaign}', '{from}', '{to}')"));
    }
    queries.push(format!(
        "SELECT * FROM campaign_hourly('{campaign}', '{from}', '2026-03-31')"
    ));
    queries.push(format!("SELECT * FROM campaign_runs('{campaign}')"));
    queries.push(format!(
        "SELECT * FROM campaign_comparison('{from}', '{to}')"
    ));
    queries.push(format!(
        "SELECT * FROM transactional_metrics('{from}', '{to}')"
    ));
    for (scope, function, id) in [
        (Scope::Campaign, "campaign_kpi", &campaign),
        (Scope::Application, "application_kpi", &app),
        (Scope::Journey, "journey_kpi", &journey),
    ] {
        for name in kpi::names(scope) {
            queries.push(format!(
                "SELECT * FROM {function}('{name}', '{id}', '{from}', '{to}')"
            ));
        }
    }
    // Ballista 55's known limits, met by queries users write: an
    // uncorrelated scalar subquery (planned as a join across stages), and a
    // deep plan (four campaign pages, each dozens of nodes deep).
    queries.push(
        "SELECT campaign_id, messages_sent FROM campaign_metrics \
         WHERE messages_sent = (SELECT max(messages_sent) FROM campaign_metrics)"
            .to_string(),
    );
    queries.push(
        (0..4)
            .map(|_| format!("SELECT * FROM campaign_dashboard('{campaign}', '{from}', '{to}')"))
            .collect::<Vec<_>>()
            .join(" UNION ALL "),
    );
    // A table function inside a larger query, joined with a view.
    queries.push(format!(
        "SELECT d.day, d.endpoint_deliveries, m.messages_sent \
         FROM campaign_daily('{campaign}', '{from}', '{to}') d \
         CROSS JOIN (SELECT messages_sent FROM campaign_metrics WHERE campaign_id = '{campaign}') m \
         WHERE d.endpoint_deliveries > 0"
    ));
    queries
}

#[test]
fn every_view_and_table_function_answers_on_a_standalone_cluster_as_in_process() {
    let ws = Ws::new();
    let input = ws.scratch("gen");
    crate::support::generate(&input, 4_000, 11);
    ws.ingest(&[&input]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = sendlens_store::Workspace::open(&ws.path()).unwrap();
        let embedded = sendlens_store::open_session(&store).await.unwrap();
        let cluster = sendlens_cluster::standalone(&store).await.unwrap();
        let queries = queries(&embedded).await;
        assert!(queries.len() > 60, "{} queries", queries.len());
        let mut nonempty = 0;
        for sql in &queries {
            let expected = rows(&embedded, sql).await;
            let got = rows(&cluster, sql).await;
            assert_eq!(got, expected, "{sql}");
            nonempty += usize::from(expected.len() > 1);
        }
        // The comparison is of answers, not of empty tables.
        assert!(
            nonempty * 2 > queries.len(),
            "{nonempty} of {} answered rows",
            queries.len()
        );
    });
}

/// A `sendlens cluster` process, killed when dropped.
struct Node {
    child: std::process::Child,
    name: String,
}

impl Node {
    fn start(name: &str, args: &[&str], env: &[(&str, String)]) -> Node {
        let log = std::env::temp_dir().join(format!(
            "sendlens-{name}-{}-{}.log",
            std::process::id(),
            crate::s3::free_port()
        ));
        let child = crate::support::bin()
            .arg("cluster")
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("sendlens cluster starts");
        Node {
            child,
            name: format!("{name} (log: {})", log.display()),
        }
    }

    /// Wait until `port` on loopback takes connections.
    fn listening(self, port: u16) -> Node {
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{} listens on {port} within 60 s",
                self.name
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

use std::time::{Duration, Instant};

/// Two free ports in a row, for an executor (Flight, then gRPC).
fn port_pair() -> u16 {
    loop {
        let port = crate::s3::free_port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// A scheduler and `executors` executors on loopback, each its own
/// process, with `env` (the S3 server's variables).
fn cluster(executors: usize, env: &[(&str, String)]) -> (String, Node, Vec<Node>) {
    let port = crate::s3::free_port();
    let bind = format!("127.0.0.1:{port}");
    let scheduler = Node::start(
        "scheduler",
        &["scheduler", "--bind", &bind, "--executor-timeout", "8"],
        env,
    )
    .listening(port);
    let nodes = (0..executors)
        .map(|i| {
            let own = port_pair();
            Node::start(
                &format!("executor{i}"),
                &[
                    "executor",
                    "--scheduler",
                    &bind,
                    "--bind",
                    &format!("127.0.0.1:{own}"),
                    "--concurrent-tasks",
                    "2",
                    "--heartbeat-interval",
                    "2",
                ],
                env,
            )
            .listening(own)
        })
        .collect();
    // Executors register with their first heartbeat.
    std::thread::sleep(Duration::from_secs(2));
    (format!("df://{bind}"), scheduler, nodes)
}

/// Rows of a query run through the CLI on `cluster`, sorted.
fn cluster_rows(lake: &crate::s3::Lake, url: &str, sql: &str) -> Vec<String> {
    let out = lake.ok(&["sql", "--cluster", url, "--format", "ndjson", "-c", sql]);
    let mut rows: Vec<String> = crate::support::ndjson_rows(&out)
        .iter()
        .map(|r| r.to_string())
        .collect();
    rows.sort();
    rows
}

#[test]
fn a_cluster_of_processes_over_a_workspace_in_s3_answers_as_the_embedded_engine() {
    let (server, local, _input) = crate::s3::exports_and_lake(31, b"");
    let lake = crate::s3::Lake::new(&server, "s3://lake/cluster/ws", local.scratch("cache"));
    lake.ok(&["init"]);
    lake.ok(&["ingest", "s3://exports/p/"]);
    local.ingest(&[&_input]);
    let env = crate::s3::aws_env(server.port);
    let (url, _scheduler, _executors) = cluster(2, &env);

    let sorted = |rows: Vec<serde_json::Value>| {
        let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        rows.sort();
        rows
    };
    let views: Vec<String> = sendlens_metrics::views::metric_views("UTC")
        .into_iter()
        .map(|v| v.name.to_string())
        .collect();
    assert!(views.len() > 10, "{views:?}");
    let mut answered = 0;
    for view in &views {
        let sql = format!("SELECT * FROM {view}");
        let expected = sorted(local.query(&sql));
        answered += usize::from(!expected.is_empty());
        assert_eq!(cluster_rows(&lake, &url, &sql), expected, "{view}");
    }
    assert!(
        answered * 2 > views.len(),
        "{answered} of {} views have rows",
        views.len()
    );
    let campaign = local.query(
        "SELECT campaign_id FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 1",
    )[0]["campaign_id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("SELECT * FROM campaign_daily('{campaign}', '2026-01-01', '2026-12-31')");
    assert_eq!(
        cluster_rows(&lake, &url, &page),
        sorted(local.query(&page)),
        "{page}"
    );
}

#[test]
fn an_executor_killed_mid_query_gives_the_right_number_or_a_clear_error() {
    let ws = Ws::new();
    let input = ws.scratch("gen");
    crate::support::generate(&input, 3_000, 17);
    ws.ingest(&[&input]);
    let (url, _scheduler, mut executors) = cluster(2, &[]);
    // Long enough to be cut (seconds on two cores): every pair of events of
    // a channel, a hundred times over. Its count is known without running
    // it: record hashes are distinct, so a channel of n events has
    // n(n-1)/2 ordered pairs.
    let copies = 100;
    let values: Vec<String> = (1..=copies).map(|i| format!("({i})")).collect();
    let sql = format!(
        "SELECT count(*) AS pairs FROM events a \
         JOIN events b ON a.channel = b.channel AND a.record_hash < b.record_hash \
         CROSS JOIN (VALUES {}) AS t(n) WHERE a.endpoint_id <> b.endpoint_id OR t.n > 0",
        values.join(", ")
    );
    let expected = ws.query(&format!(
        "SELECT CAST({copies} * sum(n * (n - 1) / 2) AS BIGINT) AS pairs \
         FROM (SELECT count(*) AS n FROM events GROUP BY channel)"
    ))[0]["pairs"]
        .as_u64()
        .unwrap();
    assert!(expected > 100_000_000, "{expected}");

    let path = ws.path();
    let query = crate::support::bin()
        .args(["-w", path.to_str().unwrap(), "sql", "--cluster", &url])
        .args(["--format", "ndjson", "-c", &sql])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    let mut query = query;
    assert!(
        query.try_wait().unwrap().is_none(),
        "the query still runs when the executor is killed"
    );
    executors[0].kill();
    let out = query.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        let rows = crate::support::ndjson_rows(&stdout);
        assert_eq!(rows[0]["pairs"].as_u64(), Some(expected), "{stderr}");
    } else {
        assert!(stderr.contains("error"), "a failure says so: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    eprintln!(
        "executor killed mid-query: {}",
        if out.status.success() {
            "retried, right count"
        } else {
            "clear error"
        }
    );
}
