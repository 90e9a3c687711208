//! De-duplication state: the 128-bit identities of stored records, by event
//! date, loaded lazily from the table for the dates an ingest touches.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, BinaryArray, RecordBatch};
use datafusion::arrow::datatypes::Schema;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use deltalake::ObjectStore;
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::logstore::object_store::path::Path as ObjectPath;
use futures::StreamExt;
use futures::future::BoxFuture;
use sendlens_events::schema::RECORD_HASH;

use crate::error::{Error, Result};

/// The identities are already uniform hashes: use their low 64 bits as is.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

type IdSet = HashSet<u128, BuildHasherDefault<PassThrough>>;

/// Identities seen (stored before, or accepted in this ingest), per date.
pub(crate) struct DedupeIndex {
    files: TableFiles,
    files_by_date: HashMap<i32, Vec<String>>,
    dates: Mutex<HashMap<i32, IdSet>>,
}

impl DedupeIndex {
    pub fn new(files: TableFiles, files_by_date: HashMap<i32, Vec<String>>) -> Self {
        DedupeIndex {
            files,
            files_by_date,
            dates: Mutex::new(HashMap::new()),
        }
    }

    /// Mark each (date, identity) as seen, in order; returns the positions
    /// in `ids` of those seen before (a later copy of an earlier one
    /// included). One call per batch: the workers share this index, and
    /// taking its lock for every record cost 3 % of ingest time in the
    /// lock's cache line going back and forth between them.
    pub fn insert_all(&self, ids: &[(i32, u128)]) -> Result<Vec<usize>> {
        let mut dates = self.dates.lock().map_err(|_| poisoned())?;
        let mut seen = Vec::new();
        let mut start = 0;
        // Runs of one date (records arrive in time order) share a lookup.
        for run in ids.chunk_by(|a, b| a.0 == b.0) {
            let date = run[0].0;
            let set = match dates.entry(date) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.load(date)?),
            };
            for (i, &(_, id)) in run.iter().enumerate() {
                if !set.insert(id) {
                    seen.push(start + i);
                }
            }
            start += run.len();
        }
        Ok(seen)
    }

    /// Identities already stored for one date.
    fn load(&self, date: i32) -> Result<IdSet> {
        let mut set = IdSet::default();
        let Some(files) = self.files_by_date.get(&date) else {
            return Ok(set);
        };
        for rel in files {
            match &self.files {
                TableFiles::Folder(root) => {
                    let path = root.join(rel);
                    let file = std::fs::File::open(&path).map_err(|source| Error::Io {
                        path: path.clone(),
                        source,
                    })?;
                    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
                    let mask = hash_column(builder.schema(), builder.parquet_schema(), rel)?;
                    let reader = builder
                        .with_projection(mask)
                        .with_batch_size(BATCH_ROWS)
                        .build()?;
                    for batch in reader {
                        add_hashes(&mut set, &batch?, rel)?;
                    }
                }
                TableFiles::Store { store, rt } => {
                    rt.block_on(load_object(store, rel, &mut set))?;
                }
            }
        }
        Ok(set)
    }
}

const BATCH_ROWS: usize = 64 * 1024;

/// Where the table's data files are read from.
pub(crate) enum TableFiles {
    /// A local folder.
    Folder(PathBuf),
    /// An object store rooted at the table; `rt` runs its reads.
    Store {
        store: Arc<dyn ObjectStore>,
        rt: tokio::runtime::Handle,
    },
}

/// The record hash column of a file, as a projection.
fn hash_column(
    schema: &Schema,
    parquet: &datafusion::parquet::schema::types::SchemaDescriptor,
    file: &str,
) -> Result<ProjectionMask> {
    let idx = schema
        .index_of(RECORD_HASH)
        .map_err(|_| Error::Other(format!("{file}: no {RECORD_HASH} column")))?;
    Ok(ProjectionMask::roots(parquet, [idx]))
}

fn add_hashes(set: &mut IdSet, batch: &RecordBatch, file: &str) -> Result<()> {
    let col = batch
        .column(0)
        .as_any()
        .downcast_ref::<BinaryArray>()
        .ok_or_else(|| Error::Other(format!("{file}: {RECORD_HASH} is not binary")))?;
    set.reserve(col.len());
    for v in col.iter().flatten() {
        if let Ok(b) = <[u8; 16]>::try_from(v) {
            set.insert(u128::from_be_bytes(b));
        }
    }
    Ok(())
}

/// Add the identities of the object `rel`, reading its footer and its
/// record hash column only (ranged GETs, not the whole file).
async fn load_object(store: &Arc<dyn ObjectStore>, rel: &str, set: &mut IdSet) -> Result<()> {
    let reader = Ranged {
        store: store.clone(),
        path: ObjectPath::from(rel),
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let mask = hash_column(builder.schema(), builder.parquet_schema(), rel)?;
    let mut stream = builder
        .with_projection(mask)
        .with_batch_size(BATCH_ROWS)
        .build()?;
    while let Some(batch) = stream.next().await {
        add_hashes(set, &batch?, rel)?;
    }
    Ok(())
}

/// A data file in an object store, read by byte ranges.
struct Ranged {
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
}

fn parquet_error(e: impl std::error::Error + Send + Sync + 'static) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for Ranged {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<bytes::Bytes>> {
        Box::pin(async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(parquet_error)
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        _options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        Box::pin(async move {
            let size = self
                .store
                .head(&self.path)
                .await
                .map_err(parquet_error)?
                .size;
            let metadata = ParquetMetaDataReader::new()
                .load_and_finish(&mut *self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

fn poisoned() -> Error {
    Error::Other("ingest worker failed while holding the de-duplication index".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_all_reports_what_was_seen_before_in_order() {
        // No stored files: nothing is read from the table.
        let index = DedupeIndex::new(
            TableFiles::Folder(PathBuf::from("no-table")),
            HashMap::new(),
        );
        // Runs of dates; a copy within the call, and one id on two dates.
        let first = [(1, 10), (1, 11), (1, 10), (2, 10), (1, 12)];
        assert_eq!(index.insert_all(&first).unwrap(), [2]);
        let second = [(2, 11), (1, 11), (2, 10), (3, 10)];
        assert_eq!(index.insert_all(&second).unwrap(), [1, 2]);
        assert_eq!(index.insert_all(&[]).unwrap(), Vec::<usize>::new());
    }
}
