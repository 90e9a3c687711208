//! Errors as each kind of caller expects them: a page that says what is
//! wrong for browsers, Pinpoint's exception shapes for SDK callers.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::pages::layout;

/// A Pinpoint error: the status, the exception name (which the SDKs read
/// from `X-Amzn-ErrorType` and raise as that exception) and a `Message`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: &str) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.to_string(),
        }
    }

    pub fn bad_request(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "BadRequestException",
            &message.to_string(),
        )
    }

    pub fn not_found(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFoundException",
            &message.to_string(),
        )
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerErrorException",
            &e.to_string(),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "Message": self.message, "RequestID": request_id() });
        let mut response = (self.status, axum::Json(body)).into_response();
        response
            .headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        response
    }
}

/// An id for the error body, as Pinpoint gives one (unique enough to find
/// in a log; nothing depends on it).
fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:x}-{n}", chrono::Utc::now().timestamp_millis())
}

/// An error page: the status, and what to do about it.
pub(crate) fn page_error(status: StatusCode, message: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = format!(
        "<p class=\"error\" role=\"alert\">{}</p>\n<p><a href=\"/\">All campaigns</a></p>\n",
        layout::esc(message)
    );
    let html = layout::page(&format!("{} {title}", status.as_u16()), &[], &body);
    let mut response = (status, html).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// What a page handler fails with.
#[derive(Debug)]
pub(crate) enum PageError {
    /// The request is malformed: 400, with the reason.
    BadRequest(String),
    /// Nothing by that name: 404.
    NotFound(String),
    /// The server failed: 500.
    Internal(String),
}

impl From<anyhow::Error> for PageError {
    fn from(e: anyhow::Error) -> PageError {
        PageError::Internal(format!("{e:#}"))
    }
}

impl From<datafusion::error::DataFusionError> for PageError {
    fn from(e: datafusion::error::DataFusionError) -> PageError {
        PageError::Internal(e.to_string())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::BadRequest(m) => page_error(StatusCode::BAD_REQUEST, &m),
            PageError::NotFound(m) => page_error(StatusCode::NOT_FOUND, &m),
            PageError::Internal(m) => page_error(StatusCode::INTERNAL_SERVER_ERROR, &m),
        }
    }
}
