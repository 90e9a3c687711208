//! `likely_machine_open(user_agent, seconds_after_delivery)`: opens that a
//! program made, not a person.
//!
//! Privacy proxies (Apple Mail Privacy Protection, Gmail's image proxy)
//! fetch every image when the message arrives, and security scanners open
//! links and pixels before the recipient does. Such an open is recognised by
//! its user agent or by coming within seconds of delivery. It is an estimate,
//! and the metrics that exclude these opens say so in their names.

use std::cell::RefCell;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, TypeSignature, Volatility};

use super::{DOC_SECTION, SimpleUdf, float64, utf8};

/// An open this soon after delivery is taken as automatic.
pub const MACHINE_OPEN_SECONDS: f64 = 10.0;

/// User-agent fragments of image proxies and scanners (lower case).
const MACHINE_AGENTS: &[&str] = &[
    "googleimageproxy",
    "ggpht.com",
    "yahoomailproxy",
    "outlook-ios-proxy",
    "bingpreview",
    "barracuda",
    "mimecast",
    "proofpoint",
    "symantec",
    "messagelabs",
    "safelinks",
    "python-requests",
    "go-http-client",
    "bot",
    "crawler",
    "spider",
];

thread_local! {
    /// Reused for the lower-case copy of each user agent: the function runs
    /// on every open of every query, and allocating per row showed in profiles.
    static LOWER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Whether a user agent belongs to a proxy or scanner. A bare `Mozilla/5.0`
/// with nothing after it is what Apple's privacy proxy sends.
pub fn is_machine_agent(ua: &str) -> bool {
    let ua = ua.trim();
    if ua.eq_ignore_ascii_case("Mozilla/5.0") {
        return true;
    }
    LOWER.with(|buf| {
        let mut lower = buf.borrow_mut();
        lower.clear();
        lower.push_str(ua);
        lower.make_ascii_lowercase();
        MACHINE_AGENTS.iter().any(|m| lower.contains(m))
    })
}

/// The rule: a machine user agent, or an open within
/// [`MACHINE_OPEN_SECONDS`] of delivery. Unknown inputs do not count.
pub fn is_machine_open(ua: Option<&str>, seconds_after_delivery: Option<f64>) -> bool {
    ua.is_some_and(is_machine_agent)
        || seconds_after_delivery.is_some_and(|s| (0.0..MACHINE_OPEN_SECONDS).contains(&s))
}

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let ua = utf8(&args[0])?;
    let secs = float64(&args[1])?;
    let out: BooleanArray = (0..ua.len())
        .map(|i| {
            let u = (!ua.is_null(i)).then(|| ua.value(i));
            let s = (!secs.is_null(i)).then(|| secs.value(i));
            Some(is_machine_open(u, s))
        })
        .collect();
    Ok(Arc::new(out))
}

/// The `likely_machine_open` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "likely_machine_open",
        Signature::one_of(
            vec![TypeSignature::Any(2)],
            Volatility::Immutable,
        ),
        DataType::Boolean,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "Whether an open looks automatic (an estimate): the user agent of an image proxy or security scanner (Apple's bare 'Mozilla/5.0', GoogleImageProxy, Yahoo and Outlook proxies, Barracuda, Mimecast, Proofpoint, bots), or an open less than 10 seconds after delivery. NULL inputs do not count as evidence.",
            "likely_machine_open(user_agent, seconds_after_delivery)",
        )
        .with_argument("user_agent", "user agent of the open (or NULL)")
        .with_argument("seconds_after_delivery", "seconds between delivery and the open (or NULL)")
        .with_sql_example("SELECT likely_machine_open('Mozilla/5.0', NULL);  -- true\nSELECT likely_machine_open(NULL, 2.5);          -- true")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        assert!(is_machine_open(Some("Mozilla/5.0"), None));
        assert!(is_machine_open(
            Some("x (via ggpht.com GoogleImageProxy)"),
            None
        ));
        assert!(!is_machine_open(
            Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5)"),
            None
        ));
        assert!(is_machine_open(None, Some(3.0)));
        assert!(!is_machine_open(None, Some(10.0)));
        assert!(!is_machine_open(None, None));
    }
}
