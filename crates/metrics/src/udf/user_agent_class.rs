//! `user_agent_class(user_agent)`: the kind of client behind an open or click.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};

use super::likely_machine_open::is_machine_agent;
use super::{DOC_SECTION, SimpleUdf, map_utf8, utf8};

/// `machine`, `tablet`, `mobile`, `desktop` or `other`.
pub fn classify(ua: &str) -> &'static str {
    let lower = ua.to_ascii_lowercase();
    if is_machine_agent(ua) {
        "machine"
    } else if lower.contains("ipad") || lower.contains("tablet") {
        "tablet"
    } else if lower.contains("mobile")
        || lower.contains("iphone")
        || lower.contains("android")
        || lower.contains("ipod")
    {
        "mobile"
    } else if lower.contains("windows")
        || lower.contains("macintosh")
        || lower.contains("x11")
        || lower.contains("linux")
        || lower.contains("cros")
    {
        "desktop"
    } else {
        "other"
    }
}

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(map_utf8(&utf8(&args[0])?, |ua| {
        (!ua.trim().is_empty()).then(|| classify(ua).to_string())
    }))
}

/// The `user_agent_class` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "user_agent_class",
        Signature::string(1, Volatility::Immutable),
        DataType::Utf8,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "The class of a user agent: 'machine' (image proxies and link scanners, see likely_machine_open), 'tablet', 'mobile', 'desktop' or 'other'; NULL when empty.",
            "user_agent_class(user_agent)",
        )
        .with_argument("user_agent", "user agent of an open or click")
        .with_sql_example("SELECT user_agent_class(user_agent), count(*) FROM events WHERE event_type = '_email.open' GROUP BY 1")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::classify;

    #[test]
    fn classes() {
        assert_eq!(
            classify("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Mobile/15E148"),
            "mobile"
        );
        assert_eq!(
            classify("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X)"),
            "tablet"
        );
        assert_eq!(
            classify("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0"),
            "desktop"
        );
        assert_eq!(
            classify("Mozilla/5.0 (via ggpht.com GoogleImageProxy)"),
            "machine"
        );
        assert_eq!(classify("curl/8.0"), "other");
    }
}
