//! `safe_rate(numerator, denominator)`: the catalog's rule for rates.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};

use super::{DOC_SECTION, SimpleUdf, float64};

/// A rate as the metric catalog defines it: `numerator / denominator`, NULL
/// when the denominator is 0 or NULL (never NaN, never an error).
pub fn rate(numerator: f64, denominator: f64) -> Option<f64> {
    (denominator != 0.0 && denominator.is_finite() && numerator.is_finite())
        .then(|| numerator / denominator)
}

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (num, den) = (float64(&args[0])?, float64(&args[1])?);
    let out: Float64Array = num
        .iter()
        .zip(den.iter())
        .map(|(n, d)| rate(n?, d?))
        .collect();
    Ok(Arc::new(out))
}

/// The `safe_rate` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "safe_rate",
        Signature::uniform(2, vec![DataType::Float64], Volatility::Immutable),
        DataType::Float64,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "A rate as a fraction: numerator / denominator, or NULL when the denominator is 0 or NULL. Every rate of the metric catalog is computed this way.",
            "safe_rate(numerator, denominator)",
        )
        .with_argument("numerator", "count of the events or messages that qualify")
        .with_argument("denominator", "count they are a fraction of")
        .with_sql_example("SELECT safe_rate(3, 4);  -- 0.75\nSELECT safe_rate(3, 0);  -- NULL")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::rate;

    #[test]
    fn zero_denominator_is_null() {
        assert_eq!(rate(1.0, 0.0), None);
        assert_eq!(rate(0.0, 0.0), None);
        assert_eq!(rate(3.0, 4.0), Some(0.75));
    }
}
