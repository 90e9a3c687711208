//! The shell's state and how it runs statements and meta commands.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sendlens_metrics::reference;
use sendlens_store::Workspace;

use crate::errors;
use crate::input::{Item, items};
use crate::meta::{self, Meta};
use crate::names::{Names, SharedNames, load_ids};
use sendlens_render::{self as render, Format, StreamWriter};

/// Settings the meta commands change.
#[derive(Debug, Clone)]
pub struct Settings {
    pub format: Format,
    pub timing: bool,
    /// Rows shown in table format on the terminal; 0 shows all.
    pub max_rows: usize,
    /// Records instead of a table (`\x`).
    pub expanded: crate::meta::Expanded,
}

/// Where results go.
enum Output {
    Terminal,
    File { path: PathBuf, out: BufWriter<File> },
}

/// What running an item asks of the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

pub struct Shell {
    pub ctx: SessionContext,
    pub names: SharedNames,
    pub settings: Settings,
    output: Output,
    /// Interactive: Ctrl-C cancels queries, results are cut to the terminal.
    interactive: bool,
    /// Files being run by `\i`, innermost last.
    including: Vec<PathBuf>,
    /// The workspace and the table version the session reads, when it
    /// reads one (so that `\refresh` can move it to newer data).
    workspace: Option<(Workspace, Option<u64>)>,
    /// The newest version a note was printed for.
    noted: Option<u64>,
    /// The scheduler the session's queries run on, if not in-process.
    cluster: Option<String>,
}

/// How deep `\i` may nest: a file that includes itself stops here.
const MAX_INCLUDE_DEPTH: usize = 16;

/// A session for the workspace with everything of the extension
/// registered; `memory_limit` bytes caps what queries hold (sorts,
/// aggregates and joins spill to disk beyond it). Also returns the table
/// version it reads.
pub async fn session(
    ws: &Workspace,
    memory_limit: Option<usize>,
    cluster: Option<&str>,
) -> anyhow::Result<(SessionContext, Option<u64>)> {
    if let Some(url) = cluster {
        // The cluster's executors hold the memory; their own limits apply.
        let table = ws.open_table().await?;
        let ctx = sendlens_cluster::connect_on(url, ws, &table).await?;
        return Ok((ctx, table.version()));
    }
    let mut config = SessionConfig::new().with_information_schema(true);
    // Spans let errors point at the part of the statement they are about.
    config.options_mut().sql_parser.collect_spans = true;
    let mut runtime = RuntimeEnvBuilder::new();
    if let Some(limit) = memory_limit {
        runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
    }
    let ctx = SessionContext::new_with_config_rt(config, runtime.build_arc()?);
    let version = register(&ctx, ws).await?;
    Ok((ctx, version))
}

/// Register the workspace in `ctx`; the table version it reads.
async fn register(ctx: &SessionContext, ws: &Workspace) -> anyhow::Result<Option<u64>> {
    let table = ws.open_table().await?;
    sendlens_store::register_on(ctx, ws, &table).await?;
    Ok(table.version())
}

impl Shell {
    pub async fn new(ctx: SessionContext, settings: Settings, interactive: bool) -> Shell {
        let names = Arc::new(RwLock::new(Names::load(&ctx).await));
        Shell {
            ctx,
            names,
            settings,
            output: Output::Terminal,
            interactive,
            including: Vec::new(),
            workspace: None,
            noted: None,
            cluster: None,
        }
    }

    /// The session's queries run on the cluster at `url`.
    pub fn on_cluster(&mut self, url: &str) {
        self.cluster = Some(url.to_string());
    }

    /// The session reads `version` of `ws`: `\refresh` can move it on.
    pub fn follow(&mut self, ws: Workspace, version: Option<u64>) {
        self.workspace = Some((ws, version));
    }

    /// A note when the workspace has newer data than the session reads
    /// (once per version): the session keeps reading the version it
    /// opened, whatever other processes commit, until `\refresh`.
    pub fn newer_data_note(&mut self) -> Option<String> {
        let (ws, version) = self.workspace.as_ref()?;
        let latest = ws.latest_version()?;
        if Some(latest) <= *version || self.noted == Some(latest) {
            return None;
        }
        self.noted = Some(latest);
        Some(format!(
            "note: the workspace has newer data (table version {latest}; this session reads {}): \\refresh to read it",
            version.map_or("none".to_string(), |v| v.to_string())
        ))
    }

    /// Move the session to the workspace's newest version: a new session
    /// with the same settings, the views and tables the user made carried
    /// over (views planned anew over the new data).
    async fn reopen(&mut self) -> Result<String, String> {
        let Some((ws, _)) = &self.workspace else {
            return Ok("names reloaded".into());
        };
        if let Some(url) = &self.cluster {
            let (ctx, version) = session(ws, None, Some(url))
                .await
                .map_err(|e| format!("{e:#}"))?;
            self.ctx = ctx;
            let ws = self.workspace.take().map(|(ws, _)| ws);
            self.workspace = ws.map(|ws| (ws, version));
            self.noted = None;
            return Ok(format!(
                "session moved to table version {} on {url}; names reloaded",
                version.map_or("none".to_string(), |v| v.to_string())
            ));
        }
        let ctx =
            SessionContext::new_with_config_rt(self.ctx.copied_config(), self.ctx.runtime_env());
        let version = register(&ctx, ws).await.map_err(|e| format!("{e:#}"))?;
        let mut carried = Vec::new();
        if let Some(schema) = self
            .ctx
            .catalog("datafusion")
            .and_then(|c| c.schema("public"))
        {
            for name in schema.table_names() {
                if ctx.table_exist(name.as_str()).unwrap_or(true) {
                    continue;
                }
                let Ok(Some(table)) = schema.table(&name).await else {
                    continue;
                };
                // A view is made again from its statement, over the new
                // data; anything else (a table the user filled) as it is.
                let again = match table.get_table_definition() {
                    Some(definition) => ctx.sql(definition).await.is_ok(),
                    None => false,
                };
                if !again {
                    let _ = ctx.register_table(name.as_str(), table);
                }
                carried.push(name);
            }
        }
        self.ctx = ctx;
        let ws = self.workspace.take().map(|(ws, _)| ws);
        self.workspace = ws.map(|ws| (ws, version));
        self.noted = None;
        Ok(format!(
            "session moved to table version {}{}; names reloaded",
            version.map_or("none".to_string(), |v| v.to_string()),
            if carried.is_empty() {
                String::new()
            } else {
                format!(" (kept: {})", carried.join(", "))
            }
        ))
    }

    /// Fill in the ids of the data for completion, in the background.
    pub fn load_ids_in_background(&self) {
        let ctx = self.ctx.clone();
        let names = self.names.clone();
        tokio::spawn(async move {
            let ids = load_ids(&ctx).await;
            if let Ok(mut n) = names.write() {
                n.ids = ids;
            }
        });
    }

    async fn refresh_names(&self) {
        let fresh = Names::load(&self.ctx).await;
        if let Ok(mut n) = self.names.write() {
            let ids = std::mem::take(&mut n.ids);
            *n = fresh;
            n.ids = ids;
        }
        if self.interactive {
            self.load_ids_in_background();
        }
    }

    /// Run every complete item of `text`. Returns Err with the message
    /// already printed when an item failed and `stop_on_error` is set.
    pub async fn run_text(&mut self, text: &str, stop_on_error: bool) -> Result<Flow, ()> {
        let mut failed = false;
        for item in items(text) {
            match self.run_item(&item).await {
                Ok(Flow::Quit) => return Ok(Flow::Quit),
                Ok(Flow::Continue) => {}
                Err(msg) => {
                    eprintln!("{msg}");
                    failed = true;
                    if stop_on_error {
                        return Err(());
                    }
                }
            }
        }
        if failed && stop_on_error {
            return Err(());
        }
        Ok(Flow::Continue)
    }

    pub async fn run_item(&mut self, item: &Item) -> Result<Flow, String> {
        match item {
            Item::Sql { text, to_file } => self
                .run_sql(text, to_file.as_deref())
                .await
                .map(|_| Flow::Continue),
            Item::Meta(text) => self.run_meta(text).await,
        }
    }

    async fn run_meta(&mut self, text: &str) -> Result<Flow, String> {
        let meta = meta::parse(text)?;
        match meta {
            Meta::Help => say(meta::help().trim_end()),
            Meta::Quit => return Ok(Flow::Quit),
            Meta::Format(None) => say(&format!("format: {}", self.settings.format.name())),
            Meta::Format(Some(f)) => {
                self.settings.format = Format::parse(&f).ok_or_else(|| {
                    format!("unknown format {f}; one of: {}", Format::names().join(", "))
                })?;
                say(&format!("format: {}", self.settings.format.name()));
            }
            Meta::Timing(v) => {
                self.settings.timing = v.unwrap_or(!self.settings.timing);
                say(&format!(
                    "timing: {}",
                    if self.settings.timing { "on" } else { "off" }
                ));
            }
            Meta::Expanded(v) => {
                use crate::meta::Expanded;
                self.settings.expanded = v.unwrap_or(match self.settings.expanded {
                    Expanded::On => Expanded::Off,
                    Expanded::Off | Expanded::Auto => Expanded::On,
                });
                say(&format!("expanded: {}", self.settings.expanded.name()));
            }
            Meta::MaxRows(None) => say(&format!("maxrows: {}", self.settings.max_rows)),
            Meta::MaxRows(Some(n)) => {
                self.settings.max_rows = n;
                say(&format!("maxrows: {n}"));
            }
            Meta::Output(None) => {
                if let Output::File { path, mut out } =
                    std::mem::replace(&mut self.output, Output::Terminal)
                {
                    out.flush()
                        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                    say(&format!(
                        "results go to the terminal again ({} closed)",
                        path.display()
                    ));
                }
            }
            Meta::Output(Some(file)) => {
                let path = expand_home(&file);
                let f = File::create(&path).map_err(|e| format!("cannot create {file}: {e}"))?;
                self.output = Output::File {
                    path,
                    out: BufWriter::new(f),
                };
                say(&format!("results go to {file} until \\o"));
            }
            Meta::Include(file) => {
                if self.including.len() >= MAX_INCLUDE_DEPTH {
                    return Err(format!(
                        "\\i {file}: files include each other more than {MAX_INCLUDE_DEPTH} deep"
                    ));
                }
                let path = expand_home(&file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {file}: {e}"))?;
                self.including.push(path);
                let result = Box::pin(self.run_text(&text, true)).await;
                self.including.pop();
                return result.map_err(|()| format!("{file}: stopped at the error above"));
            }
            Meta::Refresh => {
                let message = self.reopen().await?;
                self.refresh_names().await;
                say(&message);
            }
            Meta::Describe(name) => {
                self.describe(name.as_deref())?;
            }
            Meta::Functions(pattern) => {
                self.functions(pattern.as_deref())?;
            }
            Meta::Metrics(pattern) => {
                self.metrics(pattern.as_deref())?;
            }
        }
        Ok(Flow::Continue)
    }

    /// A small table for a meta command's listing, on the terminal.
    fn print_listing(&self, header: &[&str], rows: Vec<Vec<String>>) {
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema = Schema::new(
            header
                .iter()
                .map(|h| Field::new(*h, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        );
        let width = terminal_width().unwrap_or(usize::MAX);
        let _ = write!(
            std::io::stdout().lock(),
            "{}",
            render::table(&schema, &rows, width)
        );
        say(&format!(
            "({} row{})",
            rows.len(),
            if rows.len() == 1 { "" } else { "s" }
        ));
    }

    fn describe(&self, name: Option<&str>) -> Result<(), String> {
        let names = crate::names::read(&self.names);
        match name {
            None => {
                let docs = reference::entries();
                let rows = names
                    .tables
                    .iter()
                    .map(|(n, info)| {
                        let doc = docs
                            .iter()
                            .find(|e| e.kind == "view" && &e.name == n)
                            .map(|e| e.summary().to_string())
                            .unwrap_or_default();
                        vec![
                            n.clone(),
                            info.kind.to_string(),
                            info.columns.len().to_string(),
                            doc,
                        ]
                    })
                    .collect();
                self.print_listing(&["name", "kind", "columns", "description"], rows);
            }
            Some(n) => {
                let Some(info) = names.tables.get(n) else {
                    let hint =
                        crate::names::did_you_mean(&crate::names::nearest(n, names.table_names()))
                            .unwrap_or_else(|| "\\d lists them".into());
                    return Err(format!("no table or view named {n}; {hint}"));
                };
                if let Some(doc) = reference::entries()
                    .into_iter()
                    .find(|e| e.kind == "view" && e.name == n)
                {
                    say(&format!("{}\n", doc.description));
                }
                let rows = info
                    .columns
                    .iter()
                    .map(|(c, t)| vec![c.clone(), t.clone()])
                    .collect();
                self.print_listing(&["column", "type"], rows);
            }
        }
        Ok(())
    }

    fn functions(&self, pattern: Option<&str>) -> Result<(), String> {
        let entries: Vec<_> = reference::entries()
            .into_iter()
            .filter(|e| matches!(e.kind, "scalar" | "aggregate" | "table"))
            .collect();
        let names = crate::names::read(&self.names);
        if let Some(p) = pattern {
            if let Some(e) = entries.iter().find(|e| e.name.eq_ignore_ascii_case(p)) {
                say(&format!("[{}] {}", e.kind, e.full.trim_end()));
                return Ok(());
            }
            // Built-in functions documented by DataFusion.
            let state = self.ctx.state();
            if let Some((kind, d)) = builtin_doc(&state, p) {
                say(&format!("[{kind}] {}", reference::full_text(d).trim_end()));
                return Ok(());
            }
            let p = p.to_ascii_lowercase();
            let mut rows: Vec<Vec<String>> = entries
                .iter()
                .filter(|e| e.name.contains(&p))
                .map(entry_row)
                .collect();
            for f in names.functions.iter().chain(&names.table_functions) {
                if f.contains(&p) && !entries.iter().any(|e| &e.name == f) {
                    rows.push(vec![
                        f.clone(),
                        "built-in".into(),
                        builtin_summary(&state, f),
                    ]);
                }
            }
            if rows.is_empty() {
                return Err(format!(
                    "no function matches {p}; \\df lists sendlens's functions"
                ));
            }
            self.print_listing(&["name", "kind", "description"], rows);
        } else {
            let rows = entries.iter().map(entry_row).collect();
            self.print_listing(&["name", "kind", "description"], rows);
            say(&format!(
                "and {} built-in functions: \\df PATTERN searches them all, \\df NAME shows one in full",
                names.functions.len()
            ));
        }
        Ok(())
    }

    fn metrics(&self, pattern: Option<&str>) -> Result<(), String> {
        let p = pattern.map(str::to_ascii_lowercase);
        let rows: Vec<Vec<String>> = reference::entries()
            .into_iter()
            .filter(|e| matches!(e.kind, "metric" | "rate"))
            .filter(|e| p.as_ref().is_none_or(|p| e.name.contains(p.as_str())))
            .map(|e| vec![e.name.clone(), e.kind.to_string(), e.description.clone()])
            .collect();
        if rows.is_empty() {
            return Err("no metric matches; \\metrics lists them all".into());
        }
        self.print_listing(&["metric", "kind", "definition"], rows);
        Ok(())
    }

    /// Run one statement and write its result.
    pub async fn run_sql(&mut self, sql: &str, to_file: Option<&str>) -> Result<(), String> {
        let started = Instant::now();
        let progress = Progress::start(self.interactive);
        let result = if self.interactive {
            tokio::select! {
                r = self.execute(sql, to_file, &progress) => r,
                _ = tokio::signal::ctrl_c() => Err(Failure::Cancelled),
            }
        } else {
            self.execute(sql, to_file, &progress).await
        };
        progress.finish();
        let elapsed = started.elapsed();
        match result {
            Ok(summary) => {
                if self.settings.timing
                    && !self.interactive
                    && summary.footer(false, elapsed).is_none()
                {
                    // Machine formats keep stdout for the data.
                    eprintln!("Time: {:.3} ms", elapsed.as_secs_f64() * 1000.0);
                }
                if let Some(line) = summary.footer(self.settings.timing, elapsed) {
                    say(&line);
                }
                if is_ddl(sql) {
                    self.refresh_names().await;
                }
                Ok(())
            }
            Err(Failure::Cancelled) => Err(format!(
                "query cancelled after {:.1} s",
                elapsed.as_secs_f64()
            )),
            Err(Failure::Query(e)) => {
                let names = crate::names::read(&self.names);
                Err(errors::describe(&e, sql, &names))
            }
            Err(Failure::Other(msg)) => Err(format!("error: {msg}")),
        }
    }

    async fn execute(
        &mut self,
        sql: &str,
        to_file: Option<&str>,
        progress: &Progress,
    ) -> Result<Summary, Failure> {
        let df = self.ctx.sql(sql).await?;
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let mut stream = df.execute_stream().await?;
        let format = self.settings.format;
        // `\g FILE` writes a new or regular FILE beside it and renames it
        // when the result is whole: a failed query leaves FILE as it was.
        // Anything else (a device, a pipe, a link) is written in place.
        let mut partial = None;
        let mut once = match to_file {
            Some(f) => {
                let path = expand_home(f);
                let regular = match std::fs::symlink_metadata(&path) {
                    Ok(m) => m.file_type().is_file(),
                    Err(_) => true,
                };
                let target = if regular {
                    let beside = Partial::beside(&path);
                    let target = beside.0.clone();
                    partial = Some(beside);
                    target
                } else {
                    path.clone()
                };
                let file = File::create(&target)
                    .map_err(|e| Failure::Other(format!("cannot create {f}: {e}")))?;
                Some((path, BufWriter::new(file)))
            }
            None => None,
        };
        let file_path = once
            .as_ref()
            .map(|(p, _)| p.clone())
            .or_else(|| match &self.output {
                Output::File { path, .. } => Some(path.clone()),
                Output::Terminal => None,
            });
        // Only a person at the terminal gets a cut, terminal-wide table.
        let width = match file_path {
            None if self.interactive => terminal_width(),
            _ => None,
        };
        let limit = match width {
            Some(_) if format.truncates() && self.settings.max_rows > 0 => self.settings.max_rows,
            _ => usize::MAX,
        };
        let mut stdout = std::io::stdout().lock();
        let out: &mut dyn Write = match (&mut once, &mut self.output) {
            (Some((_, w)), _) => w,
            (None, Output::File { out, .. }) => out,
            (None, Output::Terminal) => &mut stdout,
        };
        let mut rows = 0usize;
        let mut kept: Vec<RecordBatch> = Vec::new();
        let mut kept_rows = 0usize;
        let mut writer = StreamWriter::new(format, schema.clone(), &mut *out);
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            rows += batch.num_rows();
            progress.rows.store(rows as u64, Ordering::Relaxed);
            match writer.as_mut() {
                Some(w) => w.write(&batch).map_err(|e| Failure::Other(e.to_string()))?,
                None if kept_rows < limit => {
                    kept_rows += batch.num_rows();
                    kept.push(batch);
                }
                None => {}
            }
        }
        // The spinner goes before the result is printed.
        progress.finish();
        let streamed = writer
            .map(StreamWriter::finish)
            .transpose()
            .map_err(|e| Failure::Other(e.to_string()))?
            .is_some();
        if !streamed && !schema.fields().is_empty() {
            let cells =
                render::cells(&schema, &kept, limit).map_err(|e| Failure::Other(e.to_string()))?;
            let expanded = match self.settings.expanded {
                crate::meta::Expanded::On => true,
                crate::meta::Expanded::Off => false,
                crate::meta::Expanded::Auto => {
                    width.is_some_and(|w| render::table_width(&schema, &cells) > w)
                }
            };
            let text = if format == Format::Markdown {
                render::markdown(&schema, &cells)
            } else if expanded {
                render::records(&schema, &cells)
            } else {
                render::table(&schema, &cells, width.unwrap_or(usize::MAX))
            };
            out.write_all(text.as_bytes())
                .map_err(|e| Failure::Other(e.to_string()))?;
        }
        out.flush().map_err(|e| Failure::Other(e.to_string()))?;
        if let (Some(partial), Some((path, _))) = (partial, &once) {
            partial
                .finish(path)
                .map_err(|e| Failure::Other(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(Summary {
            rows,
            shown: rows.min(limit),
            file: file_path,
            format,
            interactive: self.interactive,
            has_columns: !schema.fields().is_empty(),
        })
    }
}

/// A file being written beside its final name; removed unless finished.
struct Partial(PathBuf);

impl Partial {
    fn beside(path: &std::path::Path) -> Partial {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        Partial(path.with_file_name(format!(".{name}.partial-{}", std::process::id())))
    }

    fn finish(mut self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::rename(std::mem::take(&mut self.0), path)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// `~/x` as the home folder's `x`, as a shell would.
pub fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// Print a line; a closed pipe (`| head`) is not worth a panic.
fn say(text: &str) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Statements that change what names exist.
fn is_ddl(sql: &str) -> bool {
    let mut start = sql.len();
    crate::input::scan(sql, |i, c| {
        if c.is_ascii_whitespace() {
            return true;
        }
        start = i;
        false
    });
    let first = sql[start..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    matches!(first.as_str(), "create" | "drop")
}

/// A listing row of a reference entry: name, kind, summary.
fn entry_row(e: &reference::Entry) -> Vec<String> {
    vec![e.name.clone(), e.kind.to_string(), e.summary().to_string()]
}

/// A built-in function's documentation and kind.
fn builtin_doc<'a>(
    state: &'a datafusion::execution::SessionState,
    name: &str,
) -> Option<(&'static str, &'a datafusion::logical_expr::Documentation)> {
    if let Some(d) = state
        .scalar_functions()
        .get(name)
        .and_then(|f| f.documentation())
    {
        return Some(("scalar", d));
    }
    if let Some(d) = state
        .aggregate_functions()
        .get(name)
        .and_then(|f| f.documentation())
    {
        return Some(("aggregate", d));
    }
    let d = state
        .window_functions()
        .get(name)
        .and_then(|f| f.documentation())?;
    Some(("window", d))
}

fn builtin_summary(state: &datafusion::execution::SessionState, name: &str) -> String {
    builtin_doc(state, name)
        .map(|(_, d)| d.description.lines().next().unwrap_or("").to_string())
        .unwrap_or_default()
}

/// Columns of the terminal on stdout (or `COLUMNS`); None when stdout is
/// not a terminal, so that nothing is cut.
pub fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    let cols = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| console::Term::stdout().size().1 as usize);
    Some(cols.max(20))
}

enum Failure {
    Cancelled,
    Query(DataFusionError),
    Other(String),
}

impl From<DataFusionError> for Failure {
    fn from(e: DataFusionError) -> Self {
        Failure::Query(e)
    }
}

struct Summary {
    rows: usize,
    shown: usize,
    file: Option<PathBuf>,
    format: Format,
    interactive: bool,
    has_columns: bool,
}

impl Summary {
    fn footer(&self, timing: bool, elapsed: Duration) -> Option<String> {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let time = format!("{:.3} s", elapsed.as_secs_f64());
        let mut parts = Vec::new();
        if let Some(f) = &self.file {
            parts.push(format!(
                "{} row{} written to {}",
                render::group_digits(&self.rows.to_string()),
                plural(self.rows),
                f.display()
            ));
        } else if self.format == Format::Table || self.format == Format::Markdown {
            if !self.has_columns {
                parts.push("OK".to_string());
            } else if self.shown < self.rows {
                parts.push(format!(
                    "showing {} of {} rows; \\maxrows 0 shows all, \\o FILE or \\g FILE writes all",
                    render::group_digits(&self.shown.to_string()),
                    render::group_digits(&self.rows.to_string()),
                ));
            } else {
                parts.push(format!(
                    "{} row{}",
                    render::group_digits(&self.rows.to_string()),
                    plural(self.rows)
                ));
            }
        } else if !self.interactive {
            return None;
        }
        if timing {
            parts.push(time);
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!("({})", parts.join(", ")))
    }
}

/// A spinner on the terminal for queries that take longer than a second.
struct Progress {
    rows: Arc<AtomicU64>,
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(enabled: bool) -> Progress {
        let rows = Arc::new(AtomicU64::new(0));
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
        let task = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = bar.clone();
            let rows = rows.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} running {elapsed} · {msg} · Ctrl-C cancels",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_draw_target(ProgressDrawTarget::stderr());
                bar.enable_steady_tick(Duration::from_millis(120));
                loop {
                    bar.set_message(format!("{} rows", rows.load(Ordering::Relaxed)));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        Progress { rows, bar, task }
    }

    fn finish(&self) {
        if let Some(t) = &self.task {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}

/// The history file: in the workspace, so that each workspace keeps its own.
pub fn history_path(ws: &Path) -> PathBuf {
    ws.join(".sendlens").join("history")
}
