//! Rebuilding only the rows of what new events belong to: their campaigns,
//! and, for events without a campaign, their messages.
//!
//! Every materialized row belongs to one key (a campaign, or a message
//! without a campaign) and is computed from that key's events alone (see
//! [`super`]). After an append, the rows of the keys the added events carry
//! are computed again from those keys' events and replace the previous
//! version's rows of the same keys; files holding none of them are linked.
//!
//! A key the previous facts hold no row of has no earlier event that any
//! row reads: an event with a message key makes a message row, a
//! `_campaign.send` makes a target row, and no other event is read. Its
//! rows therefore come from the added files alone, and a batch of new
//! campaigns and new messages does not read the table at all.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::dataframe::DataFrame;
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::{Expr, col, lit, when};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::DeltaTable;
use futures::StreamExt;
use sendlens_metrics::EVENTS_TABLE;

use super::{PAGE_ROWS, ROW_GROUP_ROWS, key_set, tables};
use crate::session::register_table;

/// Keys an update rebuilds at most; more, and rebuilding the slices they
/// fall in is as cheap.
const MAX_KEYS: usize = 20_000;

/// Earlier events of the rebuilt keys an update holds in memory at most.
const MAX_EVENTS: usize = super::CACHED_EVENTS as usize;

/// Event columns no materialized table reads.
const UNREAD: [&str; 4] = ["raw", "attributes", "metrics", "event_date"];

/// The keys materialized rows belong to.
#[derive(Default)]
struct Keys {
    campaigns: HashSet<String>,
    /// Message keys of rows without a campaign; shared, not copied, by the
    /// predicates built from them (one per facts file checked).
    messages: Arc<HashSet<String>>,
}

impl Keys {
    fn len(&self) -> usize {
        self.campaigns.len() + self.messages.len()
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True for exactly the rows of these keys, never NULL; `with_messages`
    /// is false for a table without message keys (its rows all have a
    /// campaign).
    fn predicate(&self, with_messages: bool) -> Expr {
        let list = |set: &HashSet<String>| set.iter().map(|k| lit(k.as_str())).collect();
        let mut picked = lit(false);
        if !self.campaigns.is_empty() {
            picked = picked.or(col("campaign_id")
                .is_not_null()
                .and(col("campaign_id").in_list(list(&self.campaigns), false)));
        }
        if with_messages && !self.messages.is_empty() {
            // Thousands of message keys: a set, not a list of literals.
            picked = picked.or(col("campaign_id")
                .is_null()
                .and(key_set::contains("message_key", &self.messages)));
        }
        picked
    }

    fn minus(&self, other: &Keys) -> Keys {
        Keys {
            campaigns: self
                .campaigns
                .difference(&other.campaigns)
                .cloned()
                .collect(),
            messages: Arc::new(self.messages.difference(&other.messages).cloned().collect()),
        }
    }

    /// Add the keys of `frame`'s rows (those of `self` only, when `within`).
    async fn extend_from(&mut self, frame: DataFrame, within: Option<&Keys>) -> Result<()> {
        let with_messages = has_column(&frame, "message_key");
        let frame = match within {
            Some(keys) => frame.filter(keys.predicate(with_messages))?,
            None => frame,
        };
        let message = if with_messages {
            when(col("campaign_id").is_null(), col("message_key")).end()?
        } else {
            lit(ScalarValue::Utf8(None))
        };
        let keys = frame
            .select(vec![col("campaign_id"), message.alias("message_key")])?
            .distinct()?
            .collect()
            .await?;
        for batch in keys {
            let campaigns = cast(batch.column(0), &DataType::Utf8)?;
            let messages = cast(batch.column(1), &DataType::Utf8)?;
            for (campaign, message) in campaigns
                .as_string::<i32>()
                .iter()
                .zip(messages.as_string::<i32>().iter())
            {
                match (campaign, message) {
                    (Some(c), _) => self.campaigns.insert(c.to_string()),
                    (None, Some(m)) => Arc::make_mut(&mut self.messages).insert(m.to_string()),
                    (None, None) => false,
                };
            }
        }
        Ok(())
    }
}

fn has_column(frame: &DataFrame, name: &str) -> bool {
    frame.schema().field_with_unqualified_name(name).is_ok()
}

/// The parquet files of one table's folder, by name.
fn files(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "parquet"))
        .collect();
    files.sort();
    Ok(files)
}

/// The slice number a facts file's name starts with.
pub(super) fn slice_of(file: &Path) -> Option<usize> {
    file.file_name()?.to_str()?.split('-').next()?.parse().ok()
}

fn writer_properties() -> Result<WriterProperties> {
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS)
        .build())
}

/// Write `batches` as one Parquet file (nothing when there are no rows).
fn write_file(path: &Path, schema: SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    let file = std::fs::File::create(path)?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(writer_properties()?))?;
    for batch in batches {
        writer.write(batch)?;
    }
    writer.close()?;
    Ok(())
}

/// `frame`'s rows, failing over to `None` past `limit` rows.
async fn collect_at_most(frame: DataFrame, limit: usize) -> Result<Option<Vec<RecordBatch>>> {
    let mut stream = frame.execute_stream().await?;
    let (mut batches, mut rows) = (Vec::new(), 0);
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        rows += batch.num_rows();
        if rows > limit {
            return Ok(None);
        }
        batches.push(batch);
    }
    Ok(Some(batches))
}

/// Build the facts of the table's current version into `to` (whose table
/// folders exist and are empty) from the previous version's in `base`,
/// after `added` (data files) were appended: the rows of the keys the added
/// events carry are rebuilt, the rest kept. `None`, with nothing written,
/// when too many keys or earlier events would be read; the caller then
/// rebuilds slices.
pub(super) async fn update(
    table: &DeltaTable,
    base: &Path,
    slices: &[Option<String>],
    added: &[String],
    version: u64,
    to: &Path,
) -> Result<Option<()>> {
    // sendlens's session settings: filters pushed into the Parquet scan read
    // the few rows of the picked keys, not every column of every row.
    let ctx = sendlens_metrics::session_context();
    sendlens_metrics::register_functions(&ctx);
    if added.is_empty() {
        // Rewrites only (optimize): every row stands.
        for (name, _, _) in tables() {
            for file in files(&base.join(name))? {
                std::fs::hard_link(
                    &file,
                    to.join(name).join(file.file_name().unwrap_or_default()),
                )?;
            }
        }
        return Ok(Some(()));
    }
    crate::changes::register_files(&ctx, table, added, "added").await?;
    let mut new = Keys::default();
    new.extend_from(ctx.table("added").await?, None).await?;
    if new.len() > MAX_KEYS {
        return Ok(None);
    }
    // The keys the previous facts hold rows of (message events belong to
    // messages, which the message facts hold).
    let mut old = Keys::default();
    if !new.is_empty() {
        for name in ["message_facts", "campaign_targets"] {
            let frame = ctx
                .read_parquet(
                    format!("{}/", base.join(name).display()),
                    ParquetReadOptions::default(),
                )
                .await?;
            old.extend_from(frame, Some(&new)).await?;
        }
    }
    let Some(events) = events_of(&ctx, table, &new, &old).await? else {
        return Ok(None);
    };
    let built = build(events).await?;
    let old = Arc::new(old);
    for (name, _, _) in tables() {
        let (schema, batches) = &built[name];
        write_slices(&ctx, name, schema, batches, slices, version, to).await?;
        keep_others(&ctx, &base.join(name), &to.join(name), &old, version).await?;
        if files(&to.join(name))?.is_empty() {
            // No rows at all: an empty file keeps the schema.
            let file = std::fs::File::create(
                to.join(name)
                    .join(format!("00000-r{version}-empty.parquet")),
            )?;
            ArrowWriter::try_new(file, schema.clone(), None)?.close()?;
        }
    }
    Ok(Some(()))
}

/// The events of the keys `new`: from the table for the keys the previous
/// facts hold (`old`), from the added files for the others. `None` past
/// [`MAX_EVENTS`].
async fn events_of(
    ctx: &SessionContext,
    table: &DeltaTable,
    new: &Keys,
    old: &Keys,
) -> Result<Option<Arc<MemTable>>> {
    register_table(ctx, table).await?;
    let events = ctx.table(EVENTS_TABLE).await?;
    let schema = Arc::new(Schema::new(
        events
            .schema()
            .as_arrow()
            .fields()
            .iter()
            .filter(|f| !UNREAD.contains(&f.name().as_str()))
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    let columns = |frame: DataFrame| {
        frame.select(
            schema
                .fields()
                .iter()
                .map(|f| {
                    datafusion::logical_expr::cast(col(f.name()), f.data_type().clone())
                        .alias(f.name())
                })
                .collect::<Vec<_>>(),
        )
    };
    let mut picked = Vec::new();
    if !old.is_empty() {
        picked.push(columns(events.filter(old.predicate(true))?)?);
    }
    let fresh = new.minus(old);
    if !fresh.is_empty() {
        picked.push(columns(
            ctx.table("added").await?.filter(fresh.predicate(true))?,
        )?);
    }
    let mut rows = Vec::new();
    for frame in picked {
        let Some(batches) = collect_at_most(
            frame,
            MAX_EVENTS - rows.iter().map(RecordBatch::num_rows).sum::<usize>(),
        )
        .await?
        else {
            return Ok(None);
        };
        for batch in batches {
            rows.push(RecordBatch::try_new(
                schema.clone(),
                batch.columns().to_vec(),
            )?);
        }
    }
    Ok(Some(Arc::new(MemTable::try_new(schema, vec![rows])?)))
}

/// The materialized tables of `events`, in memory: schema and sorted rows.
async fn build(
    events: Arc<MemTable>,
) -> Result<std::collections::HashMap<&'static str, (SchemaRef, Vec<RecordBatch>)>> {
    let ctx = SessionContext::new();
    sendlens_metrics::register_functions(&ctx);
    ctx.register_table(EVENTS_TABLE, events)?;
    let mut built = std::collections::HashMap::new();
    for (name, query, order) in tables() {
        let frame = ctx
            .sql(&format!("SELECT * FROM ({query}) ORDER BY {order}"))
            .await?;
        let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
        let batches = frame.collect().await?;
        ctx.register_table(
            name,
            Arc::new(MemTable::try_new(schema.clone(), vec![batches.clone()])?),
        )?;
        built.insert(name, (schema, batches));
    }
    Ok(built)
}

/// Write a table's rebuilt rows, each slice's into a file of that slice.
async fn write_slices(
    ctx: &SessionContext,
    name: &str,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    slices: &[Option<String>],
    version: u64,
    to: &Path,
) -> Result<()> {
    if batches.iter().all(|b| b.num_rows() == 0) {
        return Ok(());
    }
    let rows = ctx.read_batches(batches.iter().cloned())?;
    // Slices are cut by event columns; a table without message keys has
    // only rows with a campaign, for which a missing key changes nothing.
    let rows = if has_column(&rows, "message_key") {
        rows
    } else {
        rows.with_column("message_key", lit(ScalarValue::Utf8(None)))?
    };
    let rows = rows.cache().await?;
    for (number, slice) in slices.iter().enumerate() {
        let picked = match slice {
            Some(predicate) => rows
                .clone()
                .filter(ctx.parse_sql_expr(predicate, rows.schema())?)?,
            None => rows.clone(),
        };
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let picked = picked.select_columns(&columns)?.collect().await?;
        let file = to
            .join(name)
            .join(format!("{number:05}-r{version}-new.parquet"));
        write_file(&file, schema.clone(), &picked)?;
    }
    Ok(())
}

/// The previous version's files of one table, without the rows of `old`
/// keys: linked when they hold none, written again without them otherwise,
/// two files at a time.
async fn keep_others(
    ctx: &SessionContext,
    from: &Path,
    to: &Path,
    old: &Arc<Keys>,
    version: u64,
) -> Result<()> {
    let tasks = files(from)?.into_iter().enumerate().map(|(n, file)| {
        let (ctx, old) = (ctx.clone(), old.clone());
        let to = to.to_path_buf();
        tokio::spawn(async move { keep_file(&ctx, &file, &to, &old, version, n).await })
    });
    let mut done = futures::stream::iter(tasks).buffer_unordered(2);
    while let Some(kept) = done.next().await {
        kept.map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))??;
    }
    Ok(())
}

/// One file of [`keep_others`], the `n`th.
async fn keep_file(
    ctx: &SessionContext,
    file: &Path,
    to: &Path,
    old: &Keys,
    version: u64,
    n: usize,
) -> Result<()> {
    let name = file.file_name().map(|n| n.to_owned()).unwrap_or_default();
    let frame = ctx
        .read_parquet(file.display().to_string(), ParquetReadOptions::default())
        .await?;
    let with_messages = has_column(&frame, "message_key");
    let touched = !old.is_empty()
        && frame
            .clone()
            .filter(old.predicate(with_messages))?
            .count()
            .await?
            > 0;
    if !touched {
        std::fs::hard_link(file, to.join(&name))?;
        return Ok(());
    }
    let slice = slice_of(file).unwrap_or(0);
    let kept = frame.filter(!old.predicate(with_messages))?;
    let schema: SchemaRef = Arc::new(kept.schema().as_arrow().clone());
    let batches = kept.collect().await?;
    write_file(
        &to.join(format!("{slice:05}-r{version}-{n}.parquet")),
        schema,
        &batches,
    )
}
