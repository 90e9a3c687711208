//! `json_get(json, path)` and `json_array_elements(json, path)`: read fields of
//! the original record text that have no column of their own.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, ListBuilder, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::error::Result;
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, Volatility};
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::{DOC_SECTION, SimpleUdf, utf8};

/// The JSON text at a dot path (`a.b.0.c`; numeric steps index arrays).
///
/// The compatibility views read several fields of every record this way, so
/// the document is never built: each step reads one level, skipping the
/// values beside the path and borrowing the one on it.
fn raw_at<'d>(doc: &'d str, path: &str) -> Option<&'d str> {
    path.split('.')
        .filter(|s| !s.is_empty())
        .try_fold(doc, |text, step| {
            let mut de = serde_json::Deserializer::from_str(text);
            let found = Step(step).deserialize(&mut de).ok().flatten()?;
            de.end().ok()?;
            Some(found.get())
        })
}

/// One step of a path: the member named so, or the element at that index.
struct Step<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for Step<'_> {
    type Value = Option<&'de RawValue>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Step<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_step) = map.next_key_seed(KeyIs(self.0))? {
            // The last of equal keys, as a parsed document keeps it.
            if is_step {
                found = Some(map.next_value::<&RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let Ok(index) = self.0.parse::<usize>() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        let mut i = 0;
        loop {
            if i == index {
                match seq.next_element::<&RawValue>()? {
                    Some(v) => found = Some(v),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    // A scalar has no members.
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// Whether an object key equals the step, escaped or not.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A JSON value as text: strings without quotes, others as compact JSON.
fn text(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.starts_with('"') {
        return serde_json::from_str::<String>(raw).ok();
    }
    match serde_json::from_str::<Value>(raw).ok()? {
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn get_kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let docs = utf8(&args[0])?;
    let paths = utf8(&args[1])?;
    let mut out = StringBuilder::with_capacity(docs.len(), 0);
    for i in 0..docs.len() {
        let v = (!docs.is_null(i) && !paths.is_null(i))
            .then(|| raw_at(docs.value(i), paths.value(i)))
            .flatten()
            .and_then(text);
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
            .then(|| raw_at(docs.value(i), paths.value(i)))
            .flatten()
            .and_then(|raw| serde_json::from_str::<Value>(raw).ok())
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

    fn get(doc: &str, path: &str) -> Option<String> {
        raw_at(doc, path).and_then(text)
    }

    #[test]
    fn paths() {
        let doc = r#"{"a":{"b":[{"c":"x"},{"c":2}]}}"#;
        assert_eq!(get(doc, "a.b.0.c").as_deref(), Some("x"));
        assert_eq!(get(doc, "a.b.1.c").as_deref(), Some("2"));
        assert_eq!(get(doc, "a.z"), None);
        assert_eq!(get(doc, "a.b.2"), None);
        assert_eq!(get(doc, "a.b.x"), None);
        assert_eq!(get(doc, "a.b.0.c.d"), None);
    }

    #[test]
    fn values_read_as_the_whole_document_reads_them() {
        // Escaped keys and strings, pretty spacing, nulls, numbers, nesting.
        let doc = "{ \"k\\u0065y\": \"v\\u00e9\\\"\" ,\n \"n\": null, \"f\": 1e3, \"o\": { \"x\" : [1, {\"y\": true}] }, \"dup\": 1, \"dup\": 2 }";
        let whole: Value = serde_json::from_str(doc).unwrap();
        for path in [
            "key", "n", "f", "o", "o.x", "o.x.1", "o.x.1.y", "dup", "missing",
        ] {
            let expected = path
                .split('.')
                .try_fold(&whole, |v, s| match v {
                    Value::Object(m) => m.get(s),
                    Value::Array(a) => s.parse::<usize>().ok().and_then(|i| a.get(i)),
                    _ => None,
                })
                .and_then(|v| match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                });
            assert_eq!(get(doc, path), expected, "{path}");
        }
        assert_eq!(get("not json", "a"), None);
        assert_eq!(get("{\"a\": [1, 2", "a"), None);
        assert_eq!(get("{\"a\": 1} trailing", "a"), None);
        assert_eq!(get("  \"abc\" ", "").as_deref(), Some("abc"));
    }
}
