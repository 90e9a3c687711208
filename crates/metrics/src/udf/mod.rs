//! Scalar functions of the extension, one module per function with its
//! documentation next to the code.
//!
//! Each function is a plain kernel over Arrow arrays wrapped in [`SimpleUdf`],
//! which carries the name, signature, return type and [`Documentation`] that
//! `SHOW FUNCTIONS`, `information_schema.routines` and the CLI print.
//! `local_date` and `local_hour` implement `ScalarUDFImpl` themselves: they
//! read a literal time zone once per batch instead of a column of copies.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Float64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, DocSection, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl,
    Signature,
};

pub mod email_domain;
pub mod event_channel;
pub mod json_path;
pub mod likely_machine_open;
pub mod local_time;
pub mod message_event_sets;
pub mod safe_rate;
pub mod two_proportion_p_value;
pub mod url_strip_tracking;
pub mod user_agent_class;

/// Section under which the extension's functions are listed.
pub const DOC_SECTION: DocSection = DocSection {
    include: true,
    label: "sendlens campaign functions",
    description: Some("Helpers for campaign analytics over the sendlens events table"),
};

/// A kernel: the arguments as arrays of the batch's length.
pub type Kernel = fn(&[ArrayRef]) -> Result<ArrayRef>;

/// A scalar function made of a name, a signature, a return type, a kernel and
/// its documentation.
pub struct SimpleUdf {
    name: &'static str,
    signature: Signature,
    return_type: DataType,
    kernel: Kernel,
    doc: Documentation,
}

impl SimpleUdf {
    /// Wrap a kernel as a [`ScalarUDF`].
    pub fn udf(
        name: &'static str,
        signature: Signature,
        return_type: DataType,
        kernel: Kernel,
        doc: Documentation,
    ) -> ScalarUDF {
        ScalarUDF::new_from_impl(SimpleUdf {
            name,
            signature,
            return_type,
            kernel,
            doc,
        })
    }
}

impl fmt::Debug for SimpleUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleUdf")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for SimpleUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}
impl Eq for SimpleUdf {}
impl std::hash::Hash for SimpleUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for SimpleUdf {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let out = (self.kernel)(&arrays)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::scalar::ScalarValue::try_from_array(&out, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

/// An argument as a `Utf8` array, whatever string type (or NULL) it came as.
pub fn utf8(array: &ArrayRef) -> Result<StringArray> {
    Ok(cast(array, &DataType::Utf8)?.as_string::<i32>().clone())
}

/// An argument as a `Float64` array, whatever numeric type (or NULL) it came as.
pub fn float64(array: &ArrayRef) -> Result<Float64Array> {
    Ok(cast(array, &DataType::Float64)?
        .as_primitive::<Float64Type>()
        .clone())
}

/// Every scalar function of the extension.
pub fn all() -> Vec<ScalarUDF> {
    vec![
        safe_rate::udf(),
        event_channel::udf(),
        url_strip_tracking::udf(),
        email_domain::udf(),
        user_agent_class::udf(),
        likely_machine_open::udf(),
        two_proportion_p_value::udf(),
        local_time::local_date_udf(),
        local_time::local_hour_udf(),
        message_event_sets::udf(),
        json_path::json_get_udf(),
        json_path::json_array_elements_udf(),
    ]
}

/// Build a `Utf8` result from an optional-string map over one argument.
pub fn map_utf8(input: &StringArray, f: impl Fn(&str) -> Option<String>) -> ArrayRef {
    let out: StringArray = input.iter().map(|v| v.and_then(&f)).collect();
    Arc::new(out)
}
