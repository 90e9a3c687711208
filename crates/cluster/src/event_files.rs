//! The events of one table version as plain Parquet files.
//!
//! delta-rs's scan has no wire form a Ballista scheduler can decode. The
//! events table is append-only, without deletion vectors or column mapping:
//! a version is exactly its data files, each with its event date. This table
//! lists them, travels as that list (see `codec`), and scans them with
//! DataFusion's own Parquet source, which Ballista ships to executors and
//! splits between tasks by file group, so no task reads another's files.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use deltalake::DeltaTable;
use deltalake::logstore::object_store::path::Path as ObjectPath;
use sendlens_events::schema::{EVENT_DATE, event_schema};
use serde::{Deserialize, Serialize};

/// The data files of one version of the events table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EventFiles {
    /// Where the files are: `file://` or `s3://bucket`.
    store: String,
    /// Each file: its object path in the store, bytes, event date (days).
    files: Vec<(String, u64, i32)>,
}

impl EventFiles {
    /// The files of the table's version. Refuses a table a plain Parquet
    /// reader would read wrong.
    pub async fn of(table: &DeltaTable) -> Result<Self> {
        let external = |e: sendlens_store::Error| DataFusionError::External(Box::new(e));
        if let Ok(state) = table.snapshot()
            && state.protocol().min_reader_version() > 1
        {
            return Err(DataFusionError::NotImplemented(format!(
                "the events table at {} needs Delta reader version {} (deletion vectors or \
                 column mapping); a cluster reads its files as plain Parquet, which would \
                 get them wrong. Rewrite the table with `sendlens optimize`, or query it \
                 without --cluster",
                table.table_url(),
                state.protocol().min_reader_version()
            )));
        }
        let root = table.table_url().clone();
        let store = format!("{}://{}", root.scheme(), root.host_str().unwrap_or(""));
        let files = sendlens_store::table::data_files(table)
            .await
            .map_err(external)?
            .into_iter()
            .map(|f| {
                let url = root
                    .join(&f.path)
                    .map_err(|e| DataFusionError::Plan(format!("data file {}: {e}", f.path)))?;
                let path = ObjectPath::from_url_path(url.path())
                    .map_err(|e| DataFusionError::Plan(format!("data file {}: {e}", f.path)))?;
                Ok((path.to_string(), f.size, f.date))
            })
            .collect::<Result<_>>()?;
        Ok(Self { store, files })
    }

    /// The files, as their wire form's JSON.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// [`Self::to_json`] read back.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| DataFusionError::External(Box::new(e)))
    }

    /// How many data files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the version has no data file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// The columns stored in the files: every event column but the date,
/// which is in the path.
fn file_schema() -> SchemaRef {
    let schema = event_schema();
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .filter(|f| f.name() != EVENT_DATE)
            .cloned()
            .collect::<Vec<_>>(),
    ))
}

fn date_field() -> Arc<Field> {
    Arc::new(Field::new(EVENT_DATE, DataType::Date32, false))
}

#[async_trait]
impl TableProvider for EventFiles {
    fn schema(&self) -> SchemaRef {
        let mut fields: Vec<_> = file_schema().fields().iter().cloned().collect();
        fields.push(date_field());
        Arc::new(Schema::new(fields))
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Checked again above the scan; the Parquet source prunes row groups
        // and pages with them once the physical optimizer pushes them down.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if self.files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema().project(p)?),
                None => self.schema(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        // Groups of about equal bytes, one per target partition: Ballista
        // gives each task its own groups.
        let groups = state
            .config()
            .target_partitions()
            .max(1)
            .min(self.files.len());
        let mut files: Vec<_> = self.files.iter().collect();
        files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut grouped: Vec<(u64, Vec<PartitionedFile>)> = vec![(0, Vec::new()); groups];
        for (path, size, date) in files {
            let lightest = grouped
                .iter_mut()
                .min_by_key(|(bytes, _)| *bytes)
                .expect("at least one group");
            lightest.0 += size;
            lightest.1.push(
                PartitionedFile::new(path.clone(), *size)
                    .with_partition_values(vec![ScalarValue::Date32(Some(*date))]),
            );
        }
        let table_schema = TableSchema::builder(file_schema())
            .with_table_partition_cols(vec![date_field()])
            .build();
        let source = ParquetSource::new(table_schema)
            .with_table_parquet_options(state.table_options().parquet.clone());
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::parse(&self.store)?, Arc::new(source))
                .with_file_groups(
                    grouped
                        .into_iter()
                        .map(|(_, g)| FileGroup::new(g))
                        .collect(),
                )
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        Ok(DataSourceExec::from_data_source(config))
    }
}
