//! The extension's views, planned when a query first names them.
//!
//! Planning all fifty views takes tens of milliseconds, more than a
//! one-campaign dashboard takes to answer; a process that runs one query
//! (`sendlens sql -c …`, a report, a notebook cell) would pay it on every
//! start. So the session's schema is wrapped: a view's SQL is kept, and the
//! first lookup of its name plans it and registers the result, which the
//! next lookups find like any table.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::logical_expr::TableType;
use datafusion::prelude::SessionContext;

use crate::views::View;

/// A copy of the session's current state, while the session lives.
type StateCopy = Box<dyn Fn() -> Option<SessionState> + Send + Sync>;

/// A schema that holds the views not planned yet besides its tables.
pub struct LazyViews {
    inner: Arc<dyn SchemaProvider>,
    /// Views not planned yet: name → SQL. A planned or dropped view leaves.
    pending: Mutex<HashMap<String, String>>,
    state: StateCopy,
}

impl std::fmt::Debug for LazyViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazyViews")
            .field("inner", &self.inner)
            .field("pending", &self.pending().len())
            .finish()
    }
}

impl LazyViews {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        // A panic elsewhere while the map was held leaves it whole: every
        // change is a single insert or remove.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn plan(&self, name: &str, sql: &str) -> Result<Arc<dyn TableProvider>> {
        // A copy of the session: no lock is held while the SQL plans (and
        // looks up the views it reads, through this schema again).
        let state = (self.state)().ok_or_else(|| {
            DataFusionError::Internal(format!("view {name}: its session is gone"))
        })?;
        let plan = state
            .create_logical_plan(sql)
            .await
            .map_err(|e| DataFusionError::Plan(format!("view {name}: {e}")))?;
        Ok(Arc::new(ViewTable::new(plan, Some(sql.to_string()))))
    }
}

#[async_trait]
impl SchemaProvider for LazyViews {
    fn owner_name(&self) -> Option<&str> {
        self.inner.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(self.pending().keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if let Some(table) = self.inner.table(name).await? {
            return Ok(Some(table));
        }
        let Some(sql) = self.pending().get(name).cloned() else {
            return Ok(None);
        };
        let table = self.plan(name, &sql).await?;
        // Two queries may plan the same view at once: the first to register
        // wins, and both answer with an equal plan.
        if self.pending().remove(name).is_some() {
            self.inner
                .register_table(name.to_string(), Arc::clone(&table))?;
        }
        Ok(Some(table))
    }

    async fn table_type(&self, name: &str) -> Result<Option<TableType>> {
        // `information_schema.tables` asks every name: no view plans for it.
        if !self.inner.table_exist(name) && self.pending().contains_key(name) {
            return Ok(Some(TableType::View));
        }
        self.inner.table_type(name).await
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        // A table of a view's name replaces the view, as the views leave
        // alone a name that is registered before them.
        self.pending().remove(&name);
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let was_pending = self.pending().remove(name).is_some();
        let table = self.inner.deregister_table(name)?;
        if table.is_none() && was_pending {
            // Dropping a view not planned yet: nothing was built to return,
            // but it is gone all the same.
            return Ok(None);
        }
        Ok(table)
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name) || self.pending().contains_key(name)
    }
}

/// Wrap the session's default schema so that `views` are planned on first
/// use. A name already registered keeps its table. Returns an error when the
/// default catalog or schema is missing.
pub fn register(ctx: &SessionContext, views: Vec<View>) -> Result<()> {
    let options = ctx.copied_config();
    let catalog_name = &options.options().catalog.default_catalog;
    let schema_name = &options.options().catalog.default_schema;
    let catalog = ctx.catalog(catalog_name).ok_or_else(|| {
        DataFusionError::Plan(format!("the default catalog {catalog_name} is missing"))
    })?;
    let schema = catalog.schema(schema_name).ok_or_else(|| {
        DataFusionError::Plan(format!("the default schema {schema_name} is missing"))
    })?;
    if let Some(lazy) = schema.downcast_ref::<LazyViews>() {
        // Registered twice: add the views the first call did not have.
        let mut pending = lazy.pending();
        for view in views {
            if !lazy.inner.table_exist(view.name) {
                pending.entry(view.name.to_string()).or_insert(view.sql);
            }
        }
        return Ok(());
    }
    let pending = views
        .into_iter()
        .filter(|v| !schema.table_exist(v.name))
        .map(|v| (v.name.to_string(), v.sql))
        .collect();
    // Weak: the session holds this schema, which must not hold the session.
    let session = ctx.state_weak_ref();
    let lazy = LazyViews {
        inner: schema,
        pending: Mutex::new(pending),
        state: Box::new(move || session.upgrade().map(|s| s.read().clone())),
    };
    catalog.register_schema(schema_name, Arc::new(lazy))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::datasource::MemTable;

    use super::*;

    async fn session() -> SessionContext {
        let ctx = crate::session_context();
        let events =
            MemTable::try_new(sendlens_events::schema::event_schema(), vec![vec![]]).unwrap();
        ctx.register_table(crate::EVENTS_TABLE, Arc::new(events))
            .unwrap();
        crate::register_with_events_table(&ctx, "UTC")
            .await
            .unwrap();
        ctx
    }

    async fn rows(ctx: &SessionContext, sql: &str) -> Result<usize> {
        let batches = ctx.sql(sql).await?.collect().await?;
        Ok(batches.iter().map(|b| b.num_rows()).sum())
    }

    #[tokio::test]
    async fn views_are_listed_before_and_planned_when_read() {
        let ctx = session().await;
        let listed = "SELECT * FROM information_schema.tables \
                      WHERE table_name = 'campaign_metrics' AND table_type = 'VIEW'";
        assert_eq!(rows(&ctx, listed).await.unwrap(), 1);
        assert_eq!(
            rows(&ctx, "SELECT * FROM campaign_metrics").await.unwrap(),
            0
        );
        // Planned now, and still one view of that name.
        assert_eq!(rows(&ctx, listed).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn a_view_dropped_before_use_is_gone_and_a_table_replaces_one() {
        let ctx = session().await;
        rows(&ctx, "DROP VIEW email_send").await.unwrap();
        let err = rows(&ctx, "SELECT * FROM email_send").await.unwrap_err();
        assert!(err.to_string().contains("email_send"), "{err}");

        let mine = MemTable::try_new(
            Arc::new(datafusion::arrow::datatypes::Schema::new(vec![
                datafusion::arrow::datatypes::Field::new(
                    "mine",
                    datafusion::arrow::datatypes::DataType::Int64,
                    true,
                ),
            ])),
            vec![vec![]],
        )
        .unwrap();
        ctx.register_table("email_open", Arc::new(mine)).unwrap();
        assert_eq!(rows(&ctx, "SELECT mine FROM email_open").await.unwrap(), 0);
    }
}
