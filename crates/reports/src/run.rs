//! Running a report for one period: bind, query, write every output, and
//! record the run in the ledger.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, Utc};
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DfStatement;
use sendlens_store::Workspace;
use tokio::sync::watch;

use crate::definition::Report;
use crate::ledger::{Entry, Ledger, State, Trigger};
use crate::lock::PeriodLock;
use crate::output::{self, Document, OutputFormat, SectionData};
use crate::params::{Bindings, ParamType, Value};
use crate::period::Period;

/// Where outputs go unless a run says otherwise: `out/` in the workspace.
pub const OUT_DIR: &str = "out";

/// How often a run that waits for another run of its period looks again.
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// One run to do.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The report.
    pub report: &'a Report,
    /// The days it covers.
    pub period: Period,
    /// Parameter values given for this run.
    pub params: BTreeMap<String, String>,
    /// Formats (empty: the report's own).
    pub formats: Vec<OutputFormat>,
    /// Output root (None: the workspace's `out/`).
    pub out: Option<PathBuf>,
    /// How it was started.
    pub trigger: Trigger,
    /// The schedule time it stands for.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// When another process runs the same period: wait for it (recorded
    /// as waiting) and run afterwards, instead of leaving the period to it.
    pub wait_if_busy: bool,
}

/// What became of a job.
#[derive(Debug)]
pub enum Outcome {
    /// It ran; the ledger entry says how it ended.
    Ran(Box<Entry>),
    /// Another process is running the same report and period.
    Busy {
        /// Its process id.
        holder: String,
    },
}

/// Runs reports of one workspace on one session.
pub struct Runner {
    ws: Workspace,
    ctx: SessionContext,
    table_version: Option<u64>,
    ledger: Ledger,
    cancel: Option<watch::Receiver<bool>>,
    /// The workspace's PII policy, for what the ledger keeps of a run
    /// (parameter values, error messages).
    scrubber: sendlens_store::PiiScrubber,
}

struct Finished {
    state: State,
    rows: u64,
    outputs: Vec<PathBuf>,
    hash: Option<String>,
}

impl Runner {
    /// A runner over the workspace's current table.
    pub async fn open(ws: &Workspace) -> anyhow::Result<Runner> {
        Self::open_on(ws, None).await
    }

    /// A runner whose queries run on the cluster at `cluster`
    /// (`df://HOST:PORT`), or in-process without one.
    pub async fn open_on(ws: &Workspace, cluster: Option<&str>) -> anyhow::Result<Runner> {
        // One opened table for the session and for the version outputs cite.
        let table = ws.open_table().await?;
        let ctx = match cluster {
            Some(url) => sendlens_cluster::connect_on(url, ws, &table).await?,
            None => sendlens_store::open_session_on(ws, &table).await?,
        };
        let table_version = table.version();
        Ok(Runner {
            ws: ws.clone(),
            ctx,
            table_version,
            ledger: Ledger::new(&ws.state_dir()),
            cancel: None,
            scrubber: ws.pii_scrubber()?,
        })
    }

    /// Stop a running job (recorded as cancelled) when `rx` turns true.
    pub fn cancel_on(&mut self, rx: watch::Receiver<bool>) {
        self.cancel = Some(rx);
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn out_root(&self, job: &Job) -> PathBuf {
        job.out.clone().unwrap_or_else(|| match self.ws.remote() {
            // Beside the table, where every host sees them.
            Some(remote) => PathBuf::from(remote.url_of(OUT_DIR)),
            None => self.ws.root().join(OUT_DIR),
        })
    }

    /// Run `job`: take the period's lock, record the start, run, write the
    /// outputs, record the end. A failing report is an entry in state
    /// failed, not an error; errors are for the ledger itself.
    pub async fn run(&self, job: &Job<'_>) -> anyhow::Result<Outcome> {
        let report = job.report;
        let key = job.period.key();
        let started = Utc::now();
        let run = format!(
            "{}@{key}#{}",
            report.name,
            started.format("%Y%m%dT%H%M%S%.6fZ")
        );
        let mut entry = Entry {
            run: run.clone(),
            report: report.name.clone(),
            period: key.clone(),
            start: job.period.start,
            end: job.period.end,
            scheduled_for: job.scheduled_for,
            trigger: job.trigger,
            state: State::Waiting,
            params: job
                .params
                .iter()
                .map(|(k, v)| (k.clone(), self.scrubber.scrub_text(v).into_owned()))
                .collect(),
            formats: job.formats.iter().map(|f| f.name().to_string()).collect(),
            out: job.out.clone(),
            started,
            finished: None,
            error: None,
            rows: None,
            outputs: Vec::new(),
            content_hash: None,
            pid: std::process::id(),
        };
        let lock = loop {
            let busy = match PeriodLock::try_acquire(self.ledger.dir(), &report.name, &key, &run)? {
                Ok(l) => break l,
                Err(busy) => busy,
            };
            if !job.wait_if_busy {
                return Ok(Outcome::Busy {
                    holder: busy.holder,
                });
            }
            if entry.error.is_none() {
                let other = PeriodLock::holder(self.ledger.dir(), &report.name, &key)
                    .unwrap_or_else(|| format!("process {}", busy.holder));
                entry.error = Some(format!(
                    "waiting for {other}, a run of the same period, to finish"
                ));
                self.ledger.append(&entry)?;
            }
            let cancelled = match self.cancel.clone() {
                Some(mut rx) => tokio::select! {
                    _ = tokio::time::sleep(BUSY_POLL) => false,
                    _ = rx.wait_for(|stop| *stop) => true,
                },
                None => {
                    tokio::time::sleep(BUSY_POLL).await;
                    false
                }
            };
            if cancelled {
                entry.state = State::Cancelled;
                entry.finished = Some(Utc::now());
                entry.error =
                    Some("cancelled while waiting: the scheduler is shutting down".into());
                self.ledger.append(&entry)?;
                return Ok(Outcome::Ran(Box::new(entry)));
            }
        };
        // Runs of this period still marked running died: say so.
        self.ledger.settle_orphans(&report.name, &key)?;
        entry.state = State::Running;
        entry.error = None;
        self.ledger.append(&entry)?;

        let result = match self.cancel.clone() {
            Some(mut rx) => {
                tokio::select! {
                    r = self.execute(job) => r,
                    _ = rx.wait_for(|stop| *stop) => Err(anyhow!("cancelled: the scheduler is shutting down")),
                }
            }
            None => self.execute(job).await,
        };
        entry.finished = Some(Utc::now());
        match result {
            Ok(f) => {
                entry.state = f.state;
                entry.rows = Some(f.rows);
                entry.outputs = f.outputs;
                entry.content_hash = f.hash;
            }
            Err(e) => {
                let cancelled = self.cancel.as_ref().is_some_and(|rx| *rx.borrow());
                entry.state = if cancelled {
                    State::Cancelled
                } else {
                    State::Failed
                };
                entry.error = Some(self.scrubber.scrub_text(&format!("{e:#}")).into_owned());
                output::remove_leftovers(&output::period_dir(
                    &self.out_root(job),
                    &report.name,
                    &job.period,
                ));
            }
        }
        self.ledger.append(&entry)?;
        drop(lock);
        Ok(Outcome::Ran(Box::new(entry)))
    }

    /// Plan every statement of `job` (for each value of its `each`
    /// parameter) without running them or writing anything; returns what a
    /// run would write.
    pub async fn dry_run(&self, job: &Job<'_>) -> anyhow::Result<Vec<String>> {
        let base = self.bindings(job)?;
        let mut lines = Vec::new();
        let instances = self.instances(job, &base).await?;
        if instances.is_empty() {
            lines.push("nothing to run: the `each` query returns no values".to_string());
        }
        let dir = output::period_dir(&self.out_root(job), &job.report.name, &job.period);
        for (each, b) in &instances {
            for st in &job.report.statements {
                self.plan(&st.sql, b)
                    .await
                    .with_context(|| format!("statement {}", st.name))?;
            }
            let stem = each
                .as_ref()
                .map_or(job.report.name.clone(), |(_, v)| output::safe_file_name(v));
            let formats = self.formats(job);
            let names: Vec<String> = formats
                .iter()
                .map(|f| format!("{stem}.{}", f.name()))
                .collect();
            lines.push(format!(
                "{}{}: {} statements planned; would write {} in {}",
                job.report.name,
                each.as_ref()
                    .map_or(String::new(), |(k, v)| format!(" ({k} = {v})")),
                job.report.statements.len(),
                names.join(", "),
                dir.display()
            ));
        }
        Ok(lines)
    }

    /// Check the parameter values of `job` (names and types) without
    /// running it, so that a mistyped command line is refused before
    /// anything is recorded.
    pub fn check(&self, job: &Job<'_>) -> anyhow::Result<()> {
        self.bindings(job).map(|_| ())
    }

    fn formats(&self, job: &Job) -> Vec<OutputFormat> {
        if job.formats.is_empty() {
            job.report.formats.clone()
        } else {
            job.formats.clone()
        }
    }

    /// The values of the built-in and declared parameters (but `each`).
    fn bindings(&self, job: &Job) -> anyhow::Result<Bindings> {
        let r = job.report;
        let mut b = Bindings::new();
        let text = |s: String| (ParamType::String, Value::String(s));
        b.insert(
            "start".into(),
            (ParamType::Date, Value::String(job.period.start.to_string())),
        );
        b.insert(
            "end".into(),
            (ParamType::Date, Value::String(job.period.end.to_string())),
        );
        b.insert("time_zone".into(), text(r.time_zone.clone()));
        b.insert("period".into(), text(job.period.key()));
        for name in job.params.keys() {
            if !r.params.iter().any(|p| &p.name == name) {
                let known: Vec<&str> = r.params.iter().map(|p| p.name.as_str()).collect();
                bail!(
                    "report {} has no parameter {name} (it has: {})",
                    r.name,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                );
            }
        }
        for p in &r.params {
            let value = match job.params.get(&p.name) {
                Some(v) => Some(p.ty.parse(&p.name, v).map_err(|e| anyhow!(e))?),
                None => p.default.clone(),
            };
            match value {
                Some(v) => {
                    b.insert(p.name.clone(), (p.ty, v));
                }
                None if p.each.is_some() => {}
                None => bail!(
                    "report {} needs --param {}=VALUE ({})",
                    r.name,
                    p.name,
                    if p.description.is_empty() {
                        format!("{:?}", p.ty).to_lowercase()
                    } else {
                        p.description.clone()
                    }
                ),
            }
        }
        Ok(b)
    }

    /// One set of bindings per output: per value of the `each` parameter
    /// (unless the run fixed it), or just one.
    async fn instances(
        &self,
        job: &Job<'_>,
        base: &Bindings,
    ) -> anyhow::Result<Vec<(Option<(String, String)>, Bindings)>> {
        let Some(each) = job.report.each() else {
            return Ok(vec![(None, base.clone())]);
        };
        if let Some((_, v)) = base.get(&each.name) {
            return Ok(vec![(
                Some((each.name.clone(), v.to_string())),
                base.clone(),
            )]);
        }
        let query = each.each.as_deref().expect("each() has a query");
        let (_, batches) = self
            .query(query, base)
            .await
            .with_context(|| format!("the `each` query of parameter {}", each.name))?;
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::<String>::new();
        for b in &batches {
            if b.num_columns() == 0 {
                continue;
            }
            let col = cast(b.column(0), &DataType::Utf8)?;
            let col = col.as_string::<i32>();
            for i in 0..col.len() {
                if col.is_null(i) || !seen.insert(col.value(i).to_string()) {
                    continue;
                }
                let v = each
                    .ty
                    .parse(&each.name, col.value(i))
                    .map_err(|e| anyhow!(e))?;
                let mut bound = base.clone();
                bound.insert(each.name.clone(), (each.ty, v.clone()));
                out.push((Some((each.name.clone(), v.to_string())), bound));
            }
        }
        Ok(out)
    }

    async fn plan(
        &self,
        sql: &str,
        b: &Bindings,
    ) -> anyhow::Result<datafusion::logical_expr::LogicalPlan> {
        let state = self.ctx.state();
        let dialect = state.config().options().sql_parser.dialect;
        let mut statement = state.sql_to_statement(sql, &dialect)?;
        match &mut statement {
            DfStatement::Statement(s) => crate::params::bind(s, b).map_err(|e| anyhow!(e))?,
            _ => bail!("a report statement must be a query (SELECT or WITH ...)"),
        }
        let plan = state.statement_to_plan(statement).await?;
        SQLOptions::new()
            .with_allow_ddl(false)
            .with_allow_dml(false)
            .with_allow_statements(false)
            .verify_plan(&plan)
            .map_err(|e| anyhow!("{e}: a report statement must be a query (SELECT or WITH ...)"))?;
        Ok(plan)
    }

    async fn query(
        &self,
        sql: &str,
        b: &Bindings,
    ) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
        let plan = self.plan(sql, b).await?;
        let df = self.ctx.execute_logical_plan(plan).await?;
        let schema = SchemaRef::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok((schema, batches))
    }

    async fn execute(&self, job: &Job<'_>) -> anyhow::Result<Finished> {
        let report = job.report;
        let base = self.bindings(job)?;
        let instances = self.instances(job, &base).await?;
        let shown: Vec<(String, String)> = base
            .iter()
            .map(|(k, (_, v))| (k.clone(), v.to_string()))
            .collect();
        let mut docs = Vec::new();
        for (each, b) in instances {
            let mut sections = Vec::new();
            for st in &report.statements {
                let (schema, batches) = self
                    .query(&st.sql, &b)
                    .await
                    .with_context(|| format!("statement {}", st.name))?;
                for section in report.sections.iter().filter(|s| s.statement == st.name) {
                    sections.push(SectionData {
                        section: section.clone(),
                        schema: schema.clone(),
                        batches: batches.clone(),
                    });
                }
            }
            let mut params = shown.clone();
            if let Some((k, v)) = &each {
                params.push((k.clone(), v.clone()));
            }
            docs.push(Document {
                report,
                period: job.period,
                params,
                each,
                sections,
                table_version: self.table_version,
            });
        }
        let rows: u64 = docs
            .iter()
            .flat_map(|d| d.sections.iter().map(|s| s.rows() as u64))
            .sum();
        if report.skip_if_empty && rows == 0 {
            return Ok(Finished {
                state: State::Skipped,
                rows,
                outputs: Vec::new(),
                hash: None,
            });
        }
        let dir = output::period_dir(&self.out_root(job), &report.name, &job.period);
        let mut files = Vec::new();
        for doc in &docs {
            for f in self.formats(job) {
                files.extend(output::render(doc, f, &dir)?);
            }
        }
        // A run for one value of the `each` parameter replaces that value's
        // outputs, not the other values' of the period.
        let scope = match (report.each(), &docs[..]) {
            (Some(each), [doc]) if base.contains_key(&each.name) => {
                output::Scope::Only(output::possible_names(report, &doc.stem()))
            }
            _ => output::Scope::Folder,
        };
        let outputs = if sendlens_store::remote::is_remote(&dir) {
            output::replace_objects(&dir, &files, &scope, &self.ws.config().storage).await?
        } else {
            output::replace_dir(&dir, &files, &scope)?
        };
        let hash = output::content_hash(&files);
        Ok(Finished {
            state: State::Succeeded,
            rows,
            outputs,
            hash: Some(hash),
        })
    }
}

/// Paths relative to `base` where they are inside it, for shorter messages.
pub fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}
