//! `url_strip_tracking(url)`: a link without its tracking parameters, so that
//! clicks on the same page group together.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};

use super::{DOC_SECTION, SimpleUdf, map_utf8, utf8};

/// Query parameters added by mail and ad platforms to attribute a click;
/// names ending in `*` are prefixes.
const TRACKING: &[&str] = &[
    "utm_*",
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "igshid",
    "trk",
    "trkid",
    "oly_enc_id",
    "oly_anon_id",
    "vero_id",
    "rb_clickid",
    "s_cid",
];

fn is_tracking(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    TRACKING.iter().any(|t| match t.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == *t,
    })
}

/// The URL with tracking parameters removed; the order of the others and the
/// fragment are kept.
pub fn strip(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => (&url[..i], &url[i..]),
        None => (url, ""),
    };
    let Some(q) = before_fragment.find('?') else {
        return url.to_string();
    };
    let (base, query) = (&before_fragment[..q], &before_fragment[q + 1..]);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| !is_tracking(p.split('=').next().unwrap_or("")))
        .collect();
    if kept.is_empty() {
        format!("{base}{fragment}")
    } else {
        format!("{base}?{}{fragment}", kept.join("&"))
    }
}

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(map_utf8(&utf8(&args[0])?, |u| Some(strip(u))))
}

/// The `url_strip_tracking` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "url_strip_tracking",
        Signature::string(1, Volatility::Immutable),
        DataType::Utf8,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "The URL without click-tracking query parameters (utm_*, fbclid, gclid, msclkid, mc_cid, mc_eid, _hsenc, mkt_tok, ...). Other parameters keep their order; the fragment is kept.",
            "url_strip_tracking(url)",
        )
        .with_argument("url", "a link, e.g. the link column of a click")
        .with_sql_example("SELECT url_strip_tracking('https://x.com/p?id=7&utm_source=mail');  -- https://x.com/p?id=7")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::strip;

    #[test]
    fn strips_only_tracking_parameters() {
        assert_eq!(
            strip("https://x.com/p?id=7&utm_source=mail&UTM_Medium=e#top"),
            "https://x.com/p?id=7#top"
        );
        assert_eq!(
            strip("https://x.com/p?utm_campaign=a&gclid=1"),
            "https://x.com/p"
        );
        assert_eq!(strip("https://x.com/p"), "https://x.com/p");
        assert_eq!(strip("https://x.com/p?a=1&b=2"), "https://x.com/p?a=1&b=2");
    }
}
