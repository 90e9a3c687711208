//! The Delta Lake table of events: creation, opening, and the file layout.
//!
//! Layout, so that a query for one campaign and a few days reads little:
//! - partitioned by `event_date` (UTC day of `occurred_at`): a date filter
//!   prunes whole folders;
//! - each batch of rows a data file receives is sorted by (campaign_id,
//!   sent_at), in row groups of at most 32 Ki rows with page statistics:
//!   inside a partition, a campaign filter skips the row groups and pages of
//!   other campaigns. A file holds several such runs, so its Parquet metadata
//!   declares no sort order: DataFusion trusts a declared `sorting_columns`
//!   and would skip the sort of an `ORDER BY` over the files;
//! - Delta file statistics (min/max of the first 36 columns, the typed ones)
//!   let the scan skip whole files by campaign, type or time before opening
//!   them; `sendlens optimize` Z-orders each partition by campaign and time.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use datafusion::parquet::schema::types::ColumnPath;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::{DeltaTable, TableProperty};
use futures::TryStreamExt;
use sendlens_events::schema::{EVENT_DATE, RECORD_HASH, event_schema};
use url::Url;

use crate::error::{Error, Result};

/// Rows per Parquet row group: small enough that campaign statistics prune.
pub const ROW_GROUP_ROWS: usize = 32 * 1024;

/// Statistics are collected for the typed columns, not the catch-alls.
pub const INDEXED_COLUMNS: usize = 36;

pub fn table_url(path: &Path) -> Result<Url> {
    Url::from_directory_path(path)
        .map_err(|_| Error::Other(format!("{} is not an absolute folder path", path.display())))
}

/// The Delta schema of the events table.
pub fn delta_schema() -> Result<StructType> {
    let schema = event_schema();
    schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| Error::Other(format!("event schema: {e}")))
}

/// The table property that names how `record_hash` identities are made
/// (see `sendlens_events::hash`): de-duplication compares identities with
/// the stored ones, so a table made under another scheme cannot take more
/// events.
pub const IDENTITY_PROPERTY: &str = "sendlens.identity";
/// Keyed identities of decoded content.
pub const IDENTITY_SCHEME: &str = "keyed-content-1";

/// Refuse a table whose stored identities were made another way.
pub fn check_identity_scheme(table: &DeltaTable) -> Result<()> {
    let snapshot = table.snapshot()?;
    let scheme = snapshot
        .metadata()
        .configuration()
        .get(IDENTITY_PROPERTY)
        .cloned();
    if scheme.as_deref() == Some(IDENTITY_SCHEME) {
        return Ok(());
    }
    Err(Error::Other(format!(
        "this workspace's events were stored by an earlier sendlens, which identified records \
         another way ({}), so new events could not be told from the stored ones: create a new \
         workspace (`sendlens init DIR`) and ingest the exports into it",
        scheme.map_or("no identity scheme recorded".to_string(), |s| format!(
            "scheme {s}"
        ))
    )))
}

/// Create an empty events table at `path`.
pub async fn create(path: &Path) -> Result<DeltaTable> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })?;
    create_at(table_url(path)?, &BTreeMap::new()).await
}

/// Create an empty events table at `url`, reached with storage `options`.
pub async fn create_at(url: Url, options: &BTreeMap<String, String>) -> Result<DeltaTable> {
    let schema = delta_schema()?;
    let table = DeltaTable::try_from_url_with_storage_options(url, storage_options(options))
        .await?
        .create()
        .with_table_name("events")
        .with_comment("campaign events (sendlens canonical schema)")
        .with_columns(schema.fields().cloned())
        .with_partition_columns([EVENT_DATE])
        .with_configuration_property(
            TableProperty::DataSkippingNumIndexedCols,
            Some(INDEXED_COLUMNS.to_string()),
        )
        .with_raise_if_key_not_exists(false)
        .with_configuration([(IDENTITY_PROPERTY, Some(IDENTITY_SCHEME))])
        .await?;
    Ok(table)
}

fn storage_options(options: &BTreeMap<String, String>) -> HashMap<String, String> {
    options
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The newest committed version of the table at `path`, read off its log's
/// file names (cheap: no log is parsed), if it has one.
pub fn latest_version(path: &Path) -> Option<u64> {
    std::fs::read_dir(path.join("_delta_log"))
        .ok()?
        .flatten()
        .filter_map(|e| commit_version(e.file_name().to_str()?))
        .max()
}

/// The version a log file's name commits (`00000000000000000007.json`).
pub fn commit_version(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".json")?;
    (digits.len() == 20).then(|| digits.parse::<u64>().ok())?
}

/// Open the events table at `path` at its latest version.
pub async fn open(path: &Path) -> Result<DeltaTable> {
    open_at(table_url(path)?, &BTreeMap::new()).await
}

/// Open the events table at `url` at its latest version, reached with
/// storage `options`.
pub async fn open_at(url: Url, options: &BTreeMap<String, String>) -> Result<DeltaTable> {
    Ok(deltalake::open_table_with_storage_options(url, storage_options(options)).await?)
}

/// Leaves written without a dictionary, as Parquet column paths.
const NO_DICTIONARY: &[&[&str]] = &[
    // Unique or nearly unique per row: a dictionary would only cost time.
    &["raw"],
    &["record_hash"],
    &["message_key"],
    &["message_id"],
    &["occurred_at"],
    &["sent_at"],
    &["source_offset"],
    // One value per recipient, repeated by a message's few events: zstd packs
    // the repeats (the files came out the same size), and interning every
    // value cost 2-4 % of ingest time.
    &["endpoint_id"],
    &["address"],
    &["ip_address"],
    // Map entries: zstd packs their repeats as well as a dictionary does
    // (the files came out the same size), and interning every key and value
    // cost 1.3 % of ingest's instructions.
    &["attributes", "key_value", "key"],
    &["attributes", "key_value", "value"],
    &["metrics", "key_value", "key"],
];

/// Leaves with a dictionary that hold free text, which may outgrow it.
/// These and the leaves without a dictionary, but the record hash (random
/// bytes), are compressed (zstd). The others are a dictionary of a few values
/// and their run-length encoded indices: zstd made them no smaller, and every
/// compressed column costs a compressor and a decompressor for each file's
/// column chunk, and the work of each page.
const FREE_TEXT: &[&[&str]] = &[&["link"], &["user_agent"], &["subject"]];

/// Columns without statistics. The raw text and the hash are never
/// filtered on by range; per-recipient or free-text values lie in no order
/// in a file, so their min/max prune nothing; an export's account and
/// format are the same throughout, and senders, subjects and source file
/// names are seldom filtered on. Comparing every value costs ingest time
/// (the Parquet writer compares each with its page's minimum and maximum).
const NO_STATISTICS: &[&str] = &[
    "raw",
    "record_hash",
    "endpoint_id",
    "message_key",
    "message_id",
    "address",
    "from_address",
    "subject",
    "link",
    "user_agent",
    "ip_address",
    "aws_account_id",
    "source_format",
    "source_file",
];

/// A Parquet column path from its names.
fn column_path(names: &[&str]) -> ColumnPath {
    ColumnPath::new(names.iter().map(|s| s.to_string()).collect())
}

/// How data files are encoded.
pub fn writer_properties() -> WriterProperties {
    let zstd = Compression::ZSTD(ZstdLevel::try_new(1).expect("valid zstd level"));
    let builder = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        // Version 2 data pages compress the values where the encoder left
        // them; version 1 pages first copy them behind the levels, then into
        // a compression buffer that is grown (another copy) and shrunk (a
        // third). 8 % less ingest time on the benchmark, files 2 % larger.
        .set_writer_version(WriterVersion::PARQUET_2_0)
        // ... but not version 2's default encodings (delta for integers and
        // strings): after zstd they made the files only 3 % smaller, for 4 %
        // more time and 380 MB more peak memory.
        .set_encoding(Encoding::PLAIN)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(64 << 20))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Small pages: the page index then skips the other campaigns' rows.
        .set_data_page_row_count_limit(4096)
        // ... counted in rows: with the default limit of 1 MiB the raw text's
        // pages ended at about 2,000 rows, and the Parquet writer's copies
        // cost 4 % more instructions per ingest (callgrind, 48,939 events).
        .set_data_page_size_limit(4 << 20)
        // The record text as lengths, then all the bytes: the plain encoder
        // grows a new buffer for every page (about 1 % of ingest in copies),
        // this one keeps its buffer.
        .set_column_encoding(column_path(&["raw"]), Encoding::DELTA_LENGTH_BYTE_ARRAY);
    let builder = NO_DICTIONARY.iter().fold(builder, |b, leaf| {
        b.set_column_dictionary_enabled(column_path(leaf), false)
    });
    let builder = NO_DICTIONARY
        .iter()
        .filter(|leaf| **leaf != [RECORD_HASH])
        .chain(FREE_TEXT)
        .fold(builder, |b, leaf| {
            b.set_column_compression(column_path(leaf), zstd)
        });
    NO_STATISTICS
        .iter()
        .fold(builder, |b, name| {
            b.set_column_statistics_enabled(column_path(&[name]), EnabledStatistics::None)
        })
        .build()
}

/// One data file of a table version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Relative to the table root.
    pub path: String,
    /// Bytes.
    pub size: u64,
    /// The event date it holds, days since the epoch.
    pub date: i32,
}

/// The data files of the table's version.
pub async fn data_files(table: &DeltaTable) -> Result<Vec<DataFile>> {
    if table.version().is_none() {
        return Ok(Vec::new());
    }
    let files: Vec<_> = table
        .get_active_add_actions_by_partitions(&[])
        .try_collect()
        .await?;
    files
        .into_iter()
        .map(|f| {
            let path = f.path().to_string();
            let date = f.partition_values().and_then(|pv| {
                pv.fields()
                    .iter()
                    .zip(pv.values())
                    .find(|(field, _)| field.name() == EVENT_DATE)
                    .and_then(|(_, v)| match v {
                        delta_kernel::expressions::Scalar::Date(d) => Some(*d),
                        _ => None,
                    })
            });
            match date {
                Some(date) => Ok(DataFile {
                    size: f.size().max(0) as u64,
                    path,
                    date,
                }),
                None => Err(Error::Other(format!(
                    "data file {path} has no event_date partition value"
                ))),
            }
        })
        .collect()
}

/// Data files of the table, by event date (days since the epoch), as paths
/// relative to the table root.
pub async fn files_by_date(table: &DeltaTable) -> Result<HashMap<i32, Vec<String>>> {
    let mut out: HashMap<i32, Vec<String>> = HashMap::new();
    for f in data_files(table).await? {
        out.entry(f.date).or_default().push(f.path);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key or value leaf of a map column, in Parquet's path form.
    fn map_child(map: &str, leaf: &str) -> ColumnPath {
        column_path(&[map, "key_value", leaf])
    }

    #[test]
    fn map_entries_are_written_without_dictionaries() {
        let parquet = datafusion::parquet::arrow::ArrowSchemaConverter::new()
            .convert(&event_schema())
            .unwrap();
        let props = writer_properties();
        for (map, leaf) in [
            ("attributes", "key"),
            ("attributes", "value"),
            ("metrics", "key"),
        ] {
            let path = map_child(map, leaf);
            assert!(
                parquet.columns().iter().any(|c| c.path() == &path),
                "{path} is not a column"
            );
            assert!(!props.dictionary_enabled(&path));
        }
        assert!(props.dictionary_enabled(&map_child("metrics", "value")));
    }

    /// Parquet readers (DataFusion among them) take a declared sort order
    /// as the file's row order and drop the sort of a matching `ORDER BY`;
    /// ingest writes each batch sorted, not the whole file, and optimize
    /// Z-orders, so declaring one gave wrongly ordered results.
    #[test]
    fn data_files_declare_no_sort_order() {
        assert_eq!(writer_properties().sorting_columns(), None);
    }

    #[test]
    fn pages_are_version_2_with_plain_or_chosen_encodings() {
        let props = writer_properties();
        assert_eq!(props.writer_version(), WriterVersion::PARQUET_2_0);
        for leaf in NO_DICTIONARY {
            let path = column_path(leaf);
            let want = if leaf == &["raw"] {
                Encoding::DELTA_LENGTH_BYTE_ARRAY
            } else {
                Encoding::PLAIN
            };
            assert_eq!(props.encoding(&path), Some(want), "{path}");
        }
    }

    #[test]
    fn large_and_free_text_columns_are_compressed_the_rest_not() {
        let props = writer_properties();
        let zstd = Compression::ZSTD(ZstdLevel::try_new(1).unwrap());
        for (leaf, want) in [
            (&["raw"][..], zstd),
            (&["attributes", "key_value", "value"], zstd),
            (&["endpoint_id"], zstd),
            (&["subject"], zstd),
            (&["record_hash"], Compression::UNCOMPRESSED),
            (&["event_type"], Compression::UNCOMPRESSED),
            (&["campaign_id"], Compression::UNCOMPRESSED),
        ] {
            let path = column_path(leaf);
            assert_eq!(props.compression(&path), want, "{path}");
        }
    }
}
