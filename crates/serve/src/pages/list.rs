//! The first page (campaigns, searchable and sortable) and the lists of
//! applications, journeys and transactional messages.

use std::collections::HashMap;

use axum::Extension;
use axum::extract::Query;
use axum::response::Response;
use datafusion::arrow::compute::{SortOptions, sort_to_indices, take_record_batch};
use sendlens_reports::definition::humanize;

use super::layout::{self, esc};
use super::tables::{self, Marks};
use crate::error::PageError;
use crate::queries::{self, Table};
use crate::sessions::Current;

/// `/`: every campaign, newest first; `q` keeps those whose id contains
/// it, `sort` and `dir` order them by a column, `format=csv` downloads.
pub(crate) async fn campaigns(
    Extension(current): Extension<Current>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let (ctx, version) = (current.ctx, current.key.version);
    let all = queries::fixed(&ctx, sendlens_metrics::sql::CAMPAIGN_LIST).await?;
    let search = query
        .get("q")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let sort = query.get("sort").filter(|s| !s.is_empty());
    if let Some(column) = sort
        && all.schema.index_of(column).is_err()
    {
        let names: Vec<&str> = all
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        return Err(PageError::BadRequest(format!(
            "sort: '{column}' is not a column: use one of {}",
            names.join(", ")
        )));
    }
    let descending = match query.get("dir").map(String::as_str) {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(other) => {
            return Err(PageError::BadRequest(format!(
                "dir: '{other}' is not a direction: use asc or desc"
            )));
        }
    };
    let shown = arrange(&all, &search, sort.map(String::as_str), descending)?;
    if query.get("format").map(String::as_str) == Some("csv") {
        return Ok(layout::csv(tables::csv(&shown)?, "campaigns.csv"));
    }
    let mut body = String::new();
    body.push_str("<header><h1>Campaigns</h1>");
    body.push_str(&format!(
        "<p class=\"subtitle\">{} of {} campaigns · events table version {}</p></header>\n",
        shown.rows(),
        all.rows(),
        version.map_or("–".into(), |v| v.to_string())
    ));
    body.push_str(&format!(
        "<form class=\"search\" method=\"get\" action=\"/\" role=\"search\">\
         <label for=\"q\">Campaign id contains<input id=\"q\" name=\"q\" value=\"{}\"></label>\
         <button type=\"submit\">Search</button></form>\n",
        esc(&search)
    ));
    body.push_str("<p class=\"note\">Sort by: ");
    for f in all.schema.fields().iter().skip(1) {
        let dir = if sort == Some(f.name()) && descending {
            "asc"
        } else {
            "desc"
        };
        body.push_str(&format!(
            "<a href=\"/?q={}&amp;sort={}&amp;dir={dir}\">{}</a> ",
            esc(&crate::params::encode_component(&search)),
            esc(f.name()),
            esc(&humanize(f.name()))
        ));
    }
    body.push_str("</p>\n");
    tables::table(
        &mut body,
        &shown,
        "Campaigns and their headline numbers",
        Marks::Link("/campaigns/"),
    )?;
    body.push_str(&format!(
        "<p class=\"download\"><a href=\"/?q={}&amp;format=csv\">Download CSV</a></p>\n",
        esc(&crate::params::encode_component(&search))
    ));
    Ok(layout::html(layout::page("Campaigns", &[], &body)))
}

/// The rows whose campaign id contains `search` (any case), sorted.
fn arrange(
    all: &Table,
    search: &str,
    sort: Option<&str>,
    descending: bool,
) -> anyhow::Result<Table> {
    let needle = search.to_lowercase();
    let exact = all.exact()?;
    let keep: Vec<usize> = exact
        .iter()
        .enumerate()
        .filter(|(_, row)| {
            row[0]
                .as_deref()
                .is_some_and(|id| id.to_lowercase().contains(&needle))
        })
        .map(|(i, _)| i)
        .collect();
    let one = datafusion::arrow::compute::concat_batches(&all.schema, &all.batches)?;
    let picked = take_record_batch(
        &one,
        &datafusion::arrow::array::UInt32Array::from(
            keep.iter().map(|&i| i as u32).collect::<Vec<_>>(),
        ),
    )?;
    let sorted = match sort {
        Some(column) => {
            let i = picked.schema().index_of(column)?;
            let order = sort_to_indices(
                picked.column(i),
                Some(SortOptions {
                    descending,
                    nulls_first: false,
                }),
                None,
            )?;
            take_record_batch(&picked, &order)?
        }
        None => picked,
    };
    Ok(Table {
        schema: all.schema.clone(),
        batches: vec![sorted],
    })
}

/// A list page of one view: its path, title, query and what it holds.
pub(crate) struct Listing {
    pub path: &'static str,
    title: &'static str,
    sql: &'static str,
    what: &'static str,
}

/// The list pages besides the campaigns.
pub(crate) const LISTINGS: &[Listing] = &[
    Listing {
        path: "/applications",
        title: "Applications",
        sql: "SELECT * FROM application_metrics ORDER BY app_id",
        what: "Every application (project): its campaigns, journeys and transactional messages.",
    },
    Listing {
        path: "/journeys",
        title: "Journeys",
        sql: "SELECT * FROM journey_email_metrics ORDER BY journey_id",
        what: "The email of every journey.",
    },
    Listing {
        path: "/transactional",
        title: "Transactional messages",
        sql: "SELECT * FROM transactional_email_metrics ORDER BY 1",
        what: "Email sent without a campaign or journey, per application.",
    },
];

/// One of [`LISTINGS`]; `format=csv` downloads it.
pub(crate) async fn listing(
    current: Current,
    query: HashMap<String, String>,
    listing: &Listing,
) -> Result<Response, PageError> {
    let ctx = current.ctx;
    let table = queries::fixed(&ctx, listing.sql).await?;
    let title = listing.title;
    if query.get("format").map(String::as_str) == Some("csv") {
        let file = format!("{}.csv", listing.path.trim_start_matches('/'));
        return Ok(layout::csv(tables::csv(&table)?, &file));
    }
    let mut body = format!(
        "<header><h1>{}</h1><p class=\"subtitle\">{}</p></header>\n",
        esc(title),
        esc(listing.what)
    );
    tables::table(&mut body, &table, title, Marks::None)?;
    body.push_str("<p class=\"download\"><a href=\"?format=csv\">Download CSV</a></p>\n");
    Ok(layout::html(layout::page(title, &[(title, "")], &body)))
}
