//! A plain DataFusion application that reuses sendlens's metrics: register
//! the extension on its own `SessionContext`, then print one campaign's
//! dashboard and its endpoint deliveries per day.
//!
//! ```sh
//! cargo run --example dashboard -- data/workspace [CAMPAIGN_ID]
//! ```
//!
//! Without a campaign id it takes the campaign with the most messages sent;
//! the date range is the campaign's own, first send to last.

use std::path::PathBuf;

use datafusion::arrow::util::display::array_value_to_string;
use datafusion::arrow::util::pretty::print_batches;
use datafusion::error::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use sendlens_metrics::sql::lit;

/// The first row's values of a query, as text.
async fn first_row(ctx: &SessionContext, sql: &str) -> Result<Option<Vec<String>>> {
    let batches = ctx.sql(sql).await?.collect().await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    let values = batch
        .columns()
        .iter()
        .map(|c| array_value_to_string(c, 0))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(Some(values))
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(args.next().unwrap_or_else(|| "data/workspace".into()));
    let ws = sendlens_store::Workspace::open(&path)
        .map_err(|e| DataFusionError::External(Box::new(e)))?;

    // Any context will do: the extension brings the events table, the
    // views, the functions and the table functions.
    let ctx = SessionContext::new();
    sendlens_store::register(&ctx, &ws).await?;

    let campaign = match args.next() {
        Some(id) => id,
        None => first_row(
            &ctx,
            "SELECT campaign_id FROM campaign_metrics ORDER BY messages_sent DESC, campaign_id LIMIT 1",
        )
        .await?
        .map(|row| row[0].clone())
        .ok_or_else(|| DataFusionError::Plan(format!("no campaigns in {}", path.display())))?,
    };
    let range = first_row(
        &ctx,
        &format!(
            "SELECT CAST(CAST(first_sent_at AS DATE) AS VARCHAR), CAST(CAST(last_sent_at AS DATE) AS VARCHAR) \
             FROM campaign_metrics WHERE campaign_id = {}",
            lit(&campaign)
        ),
    )
    .await?
    .ok_or_else(|| DataFusionError::Plan(format!("no campaign {campaign}")))?;
    let (start, end) = (&range[0], &range[1]);

    println!("Campaign {campaign}, {start} to {end}");
    let dashboard = format!(
        "SELECT messages_sent, messages_delivered, links_clicked, endpoint_deliveries, \
                delivery_rate, email_open_rate, bounce_rate \
         FROM campaign_dashboard({}, {}, {})",
        lit(&campaign),
        lit(start),
        lit(end)
    );
    print_batches(&ctx.sql(&dashboard).await?.collect().await?)?;
    let daily = format!(
        "SELECT day, endpoint_deliveries FROM campaign_daily({}, {}, {}) ORDER BY day",
        lit(&campaign),
        lit(start),
        lit(end)
    );
    print_batches(&ctx.sql(&daily).await?.collect().await?)?;
    Ok(())
}
