//! `json_get(json, path)` and `json_array_elements(json, path)`: read fields of
//! the original record text that have no column of their own.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};
use serde_json::Value;

use super::{DOC_SECTION, SimpleUdf, utf8};

/// The value at a dot path (`a.b.0.c`; numeric steps index arrays).
fn at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(value, |v, step| match v {
            Value::Object(m) => m.get(step),
            Value::Array(a) => step.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        })
}

/// A JSON value as text: strings without quotes, others as JSON.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn get_kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let docs = utf8(&args[0])?;
    let paths = utf8(&args[1])?;
    let mut out = StringBuilder::with_capacity(docs.len(), 0);
    for i in 0..docs.len() {
        let v = (!docs.is_null(i) && !paths.is_null(i))
            .then(|| serde_json::from_str::<Value>(docs.value(i)).ok())
            .flatten()
            .and_then(|doc| at(&doc, paths.value(i)).and_then(text));
        out.append_option(v);
    }
    Ok(Arc::new(out.finish()))
}

fn elements_kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let docs = utf8(&args[0])?;
    let paths = utf8(&args[1])?;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..docs.len() {
        if let Some(Value::Array(items)) = (!docs.is_null(i) && !paths.is_null(i))
            .then(|| serde_json::from_str::<Value>(docs.value(i)).ok())
            .flatten()
            .as_ref()
            .and_then(|doc| at(doc, paths.value(i)))
        {
            for item in items {
                out.values().append_value(item.to_string());
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

/// The `json_get` function.
pub fn json_get_udf() -> ScalarUDF {
    SimpleUdf::udf(
        "json_get",
        Signature::string(2, Volatility::Immutable),
        DataType::Utf8,
        get_kernel,
        Documentation::builder(
            DOC_SECTION,
            "The value at a dot path of a JSON text, e.g. a field of the raw record that has no column: strings come back without quotes, objects and arrays as JSON, missing fields and invalid JSON as NULL. Numeric steps index arrays.",
            "json_get(json, path)",
        )
        .with_argument("json", "JSON text, e.g. the raw column")
        .with_argument("path", "dot path such as 'facets.email_channel.mail_event.delivery.smtp_response'")
        .with_sql_example("SELECT json_get(raw, 'facets.email_channel.mail_event.delivery.reporting_mta') FROM events WHERE event_type = '_email.delivered' LIMIT 3")
        .build(),
    )
}

/// The `json_array_elements` function.
pub fn json_array_elements_udf() -> ScalarUDF {
    SimpleUdf::udf(
        "json_array_elements",
        Signature::string(2, Volatility::Immutable),
        DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
        elements_kernel,
        Documentation::builder(
            DOC_SECTION,
            "The elements of the JSON array at a dot path, each as JSON text; an empty list when there is no array there. With unnest() it gives one row per element.",
            "json_array_elements(json, path)",
        )
        .with_argument("json", "JSON text, e.g. the raw column")
        .with_argument("path", "dot path of an array")
        .with_sql_example("SELECT unnest(json_array_elements(raw, 'facets.email_channel.mail_event.bounce.bounced_recipients')) FROM events WHERE event_type = '_email.hardbounce'")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let v: Value = serde_json::from_str(r#"{"a":{"b":[{"c":"x"},{"c":2}]}}"#).unwrap();
        assert_eq!(at(&v, "a.b.0.c").and_then(text).as_deref(), Some("x"));
        assert_eq!(at(&v, "a.b.1.c").and_then(text).as_deref(), Some("2"));
        assert_eq!(at(&v, "a.z"), None);
    }
}
