//! The pages: the campaign list (and applications, journeys and
//! transactional messages), and the campaign page.

use axum::http::{StatusCode, Uri};
use axum::response::Response;

pub(crate) mod campaign;
pub(crate) mod layout;
pub(crate) mod list;
mod tables;

/// Any other path.
pub(crate) async fn not_found(uri: Uri) -> Response {
    crate::error::page_error(
        StatusCode::NOT_FOUND,
        &format!(
            "nothing at {}: the pages are / (campaigns), /campaigns/ID, /applications, /journeys \
             and /transactional",
            uri.path()
        ),
    )
}
