//! `email_domain(address)`: the recipient's domain, for engagement by domain.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};

use super::{DOC_SECTION, SimpleUdf, map_utf8, utf8};

/// Lower-case domain of an address such as `Ann <ann@Example.com>`; None when
/// there is no `@` followed by a domain.
pub fn domain(address: &str) -> Option<String> {
    let at = address.rfind('@')?;
    let domain = address[at + 1..].trim().trim_end_matches('>').trim();
    (!domain.is_empty()).then(|| domain.to_ascii_lowercase())
}

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    Ok(map_utf8(&utf8(&args[0])?, domain))
}

/// The `email_domain` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "email_domain",
        Signature::string(1, Volatility::Immutable),
        DataType::Utf8,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "The lower-case domain of an email address (also in the form 'Name <user@host>'); NULL when there is none, e.g. for hashed addresses.",
            "email_domain(address)",
        )
        .with_argument("address", "an email address")
        .with_sql_example("SELECT email_domain('Ann <ann@Example.COM>');  -- example.com")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::domain;

    #[test]
    fn domains() {
        assert_eq!(domain("ann@Example.COM").as_deref(), Some("example.com"));
        assert_eq!(domain("Ann <ann@x.org>").as_deref(), Some("x.org"));
        assert_eq!(domain("pii:0123"), None);
        assert_eq!(domain("ann@"), None);
    }
}
