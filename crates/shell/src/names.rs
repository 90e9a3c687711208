//! What the shell knows by name, for completion, `\d` and suggestions:
//! tables and their columns, functions, KPI names, and the ids found in the
//! data (loaded in the background, so that start-up does not wait).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use datafusion::arrow::array::AsArray;
use datafusion::catalog::{TableFunctionArgs, TableProvider};
use datafusion::datasource::TableType;
use datafusion::prelude::{SessionContext, lit};
use sendlens_metrics::kpi::{self, Scope};

/// A table, view or table function and its columns.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub kind: &'static str,
    pub columns: Vec<(String, String)>,
}

/// Ids seen in the data, by kind.
#[derive(Debug, Default, Clone)]
pub struct Ids {
    pub campaigns: Vec<String>,
    pub apps: Vec<String>,
    pub journeys: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Names {
    pub tables: BTreeMap<String, TableInfo>,
    pub functions: Vec<String>,
    pub table_functions: Vec<String>,
    pub kpis: BTreeMap<&'static str, Vec<String>>,
    pub ids: Ids,
}

/// Shared between the shell and its completer.
pub type SharedNames = Arc<RwLock<Names>>;

/// Read access; names are only ever replaced whole, so a writer that
/// panicked left a usable value.
pub fn read(names: &SharedNames) -> std::sync::RwLockReadGuard<'_, Names> {
    names
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How many ids of each kind completion offers at most.
const MAX_IDS: usize = 5000;

impl Names {
    /// Read the tables, views and functions registered in `ctx`.
    pub async fn load(ctx: &SessionContext) -> Names {
        let mut tables = BTreeMap::new();
        if let Some(schema) = ctx.catalog("datafusion").and_then(|c| c.schema("public")) {
            for name in schema.table_names() {
                if let Ok(Some(t)) = schema.table(&name).await {
                    tables.insert(name, table_info(t.as_ref()));
                }
            }
        }
        let state = ctx.state();
        let mut functions: Vec<String> = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .collect();
        functions.sort();
        functions.dedup();
        let mut table_functions: Vec<String> = state.table_functions().keys().cloned().collect();
        table_functions.sort();
        // Table functions whose columns do not depend on their arguments
        // (the campaign ones: id, start, end) complete like tables.
        let sample = [lit("campaign"), lit("2026-01-01"), lit("2026-01-02")];
        for (name, f) in state.table_functions() {
            if tables.contains_key(name) {
                continue;
            }
            let args = TableFunctionArgs::new(&sample, &state);
            if let Ok(provider) = f.create_table_provider_with_args(args) {
                let mut info = table_info(provider.as_ref());
                info.kind = "table function";
                tables.insert(name.clone(), info);
            }
        }
        let kpis = BTreeMap::from([
            ("campaign_kpi", kpi::names(Scope::Campaign)),
            ("application_kpi", kpi::names(Scope::Application)),
            ("journey_kpi", kpi::names(Scope::Journey)),
        ]);
        Names {
            tables,
            functions,
            table_functions,
            kpis,
            ids: Ids::default(),
        }
    }

    /// Table names (views included), for "did you mean".
    pub fn table_names(&self) -> impl Iterator<Item = &str> {
        self.tables.keys().map(String::as_str)
    }
}

fn table_info(t: &dyn TableProvider) -> TableInfo {
    let kind = match t.table_type() {
        TableType::View => "view",
        TableType::Temporary => "temporary",
        TableType::Base => "table",
    };
    let columns = t
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect();
    TableInfo { kind, columns }
}

/// Distinct ids of the data, in one scan of the message facts (small, and
/// usually materialized); at most [`MAX_IDS`] of each kind.
pub async fn load_ids(ctx: &SessionContext) -> Ids {
    const SQL: &str = "SELECT DISTINCT CAST(campaign_id AS VARCHAR), CAST(app_id AS VARCHAR), \
                       CAST(journey_id AS VARCHAR) FROM message_facts";
    let mut sets: [BTreeSet<String>; 3] = Default::default();
    let batches = match ctx.sql(SQL).await {
        Ok(df) => df.collect().await.unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    for b in &batches {
        for (set, col) in sets.iter_mut().zip(b.columns()) {
            if let Some(s) = col.as_string_opt::<i32>() {
                set.extend(s.iter().flatten().map(str::to_string));
            } else if let Some(s) = col.as_string_view_opt() {
                set.extend(s.iter().flatten().map(str::to_string));
            }
        }
    }
    let [campaigns, apps, journeys] = sets.map(|set| set.into_iter().take(MAX_IDS).collect());
    Ids {
        campaigns,
        apps,
        journeys,
    }
}

/// Up to three names closest to `wanted`, nearest first; names containing
/// it come first.
pub fn nearest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let wanted = wanted.to_ascii_lowercase();
    let mut scored: Vec<(usize, &str)> = names
        .filter_map(|n| {
            let lower = n.to_ascii_lowercase();
            let d = if lower.contains(&wanted) || wanted.contains(&lower) {
                0
            } else {
                strsim::levenshtein(&wanted, &lower)
            };
            (d <= (wanted.len() / 3).max(2)).then_some((d, n))
        })
        .collect();
    scored.sort();
    scored.dedup();
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_string())
        .collect()
}

/// "did you mean a, b?", when there is anything to suggest.
pub fn did_you_mean(near: &[String]) -> Option<String> {
    (!near.is_empty()).then(|| format!("did you mean {}?", near.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_are_near() {
        let names = [
            "campaign_metrics",
            "campaign_daily_metrics",
            "events",
            "message_facts",
        ];
        assert_eq!(
            nearest("campain_metrics", names.into_iter()),
            vec!["campaign_metrics"]
        );
        assert_eq!(nearest("event", names.into_iter()), vec!["events"]);
        assert!(nearest("zzzz", names.into_iter()).is_empty());
    }
}
