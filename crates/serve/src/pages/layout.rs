//! The frame of every page: head, styles, navigation, footer.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub(crate) use sendlens_reports::svg::esc;

/// Styles of the server's own pages, after the report page's.
const STYLE: &str = r#"
a { color: #1f57b8; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible { outline: 3px solid #e07b00; outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: #fff; padding: 6px; z-index: 1; }
nav.top { display: flex; flex-wrap: wrap; gap: 16px; padding: 10px 16px; border-bottom: 1px solid var(--line); }
nav.top a { text-decoration: none; font-weight: 600; }
form.range, form.search { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-end; margin: 12px 0; }
form label { display: flex; flex-direction: column; font-size: .85rem; color: var(--muted); }
form input, form select, form button { font: inherit; padding: 5px 8px; border: 1px solid #8a94a0; border-radius: 6px; background: #fff; color: var(--ink); }
form button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
.presets { display: flex; flex-wrap: wrap; gap: 8px; margin: 4px 0 8px; }
.presets a { padding: 3px 10px; border: 1px solid var(--line); border-radius: 14px; text-decoration: none; }
.download { font-size: .85rem; margin: 6px 0 0; }
.note { color: var(--muted); font-size: .85rem; }
.error { border-left: 4px solid #c2185b; padding: 8px 12px; background: #fdf0f4; }
@media print { nav.top, form.range, form.search, .presets, .download, .skip { display: none; } }
"#;

/// A whole page: `title`, the current page's `trail` (label, link) and
/// `body` (HTML).
pub(crate) fn page(title: &str, trail: &[(&str, &str)], body: &str) -> String {
    let mut crumbs = String::new();
    for (label, href) in trail {
        crumbs.push_str(&format!(" › <a href=\"{}\">{}</a>", esc(href), esc(label)));
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} · sendlens</title>\n<style>{base}{STYLE}</style>\n</head>\n<body>\n\
         <a class=\"skip\" href=\"#content\">Skip to content</a>\n\
         <nav class=\"top\" aria-label=\"Sections\"><a href=\"/\">Campaigns</a>\
         <a href=\"/applications\">Applications</a><a href=\"/journeys\">Journeys</a>\
         <a href=\"/transactional\">Transactional messages</a></nav>\n\
         <main id=\"content\">\n<p class=\"note\"><a href=\"/\">sendlens</a>{crumbs}</p>\n{body}</main>\n</body>\n</html>\n",
        title = esc(title),
        base = sendlens_reports::html::STYLE,
    )
}

/// `html` as a response.
pub(crate) fn html(html: String) -> Response {
    let mut response = html.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// `text` as a CSV download named `file`.
pub(crate) fn csv(text: Vec<u8>, file: &str) -> Response {
    let mut response = text.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let safe: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}
