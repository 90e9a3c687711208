//! `two_proportion_p_value(successes_a, trials_a, successes_b, trials_b)`:
//! whether two rates (e.g. the open rates of two A/B treatments) differ by
//! more than chance.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};

use super::{DOC_SECTION, SimpleUdf, float64};

/// Complementary error function (Numerical Recipes' `erfcc`, fractional error
/// below 1.2e-7, which is far below what a p-value is read to).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

/// Two-sided p-value of the pooled two-proportion z-test; None when a group
/// has no trials, a count is impossible, or both rates are 0 or both 1 (no
/// variance to test).
pub fn p_value(sa: f64, na: f64, sb: f64, nb: f64) -> Option<f64> {
    if na <= 0.0 || nb <= 0.0 || sa < 0.0 || sb < 0.0 || sa > na || sb > nb {
        return None;
    }
    let pooled = (sa + sb) / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 || !se.is_finite() {
        return None;
    }
    let z = (sa / na - sb / nb) / se;
    Some(erfc(z.abs() / std::f64::consts::SQRT_2).clamp(0.0, 1.0))
}

fn kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let (sa, na, sb, nb) = (
        float64(&args[0])?,
        float64(&args[1])?,
        float64(&args[2])?,
        float64(&args[3])?,
    );
    let out: Float64Array = (0..sa.len())
        .map(|i| {
            use datafusion::arrow::array::Array;
            if sa.is_null(i) || na.is_null(i) || sb.is_null(i) || nb.is_null(i) {
                return None;
            }
            p_value(sa.value(i), na.value(i), sb.value(i), nb.value(i))
        })
        .collect();
    Ok(Arc::new(out))
}

/// The `two_proportion_p_value` function.
pub fn udf() -> ScalarUDF {
    SimpleUdf::udf(
        "two_proportion_p_value",
        Signature::uniform(4, vec![DataType::Float64], Volatility::Immutable),
        DataType::Float64,
        kernel,
        Documentation::builder(
            DOC_SECTION,
            "Two-sided p-value of a pooled two-proportion z-test: how likely a difference at least this large between successes_a/trials_a and successes_b/trials_b would be if both came from the same rate. Below 0.05 is the usual threshold for 'significant'. NULL when a group has no trials or there is no variance (both rates 0 or both 1).",
            "two_proportion_p_value(successes_a, trials_a, successes_b, trials_b)",
        )
        .with_argument("successes_a", "e.g. unique opens of treatment A")
        .with_argument("trials_a", "e.g. messages delivered of treatment A")
        .with_argument("successes_b", "the same for treatment B")
        .with_argument("trials_b", "the same for treatment B")
        .with_sql_example("SELECT two_proportion_p_value(120, 1000, 150, 1000);  -- 0.0496")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::p_value;

    #[test]
    fn known_values() {
        // Pooled p = 0.135, z = -1.963: two-sided p = 0.04964.
        let p = p_value(120.0, 1000.0, 150.0, 1000.0).unwrap();
        assert!((p - 0.049_640_4).abs() < 1e-6, "{p}");
        assert!((p_value(50.0, 100.0, 50.0, 100.0).unwrap() - 1.0).abs() < 1e-6);
        assert_eq!(p_value(0.0, 10.0, 0.0, 10.0), None);
        assert_eq!(p_value(1.0, 0.0, 1.0, 10.0), None);
    }
}
