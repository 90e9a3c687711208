//! `in_key_set(key)`: whether a key is one of a set held in memory.
//!
//! An update picks the rows of a few thousand messages by key. As an `IN`
//! list of literals, every Parquet file the scan opens plans the whole list
//! again (hundreds of milliseconds for a few thousand keys over a few files);
//! as this function it is one hash lookup per row, evaluated in the scan's
//! row filter like any other predicate.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, col,
};

/// The function over one set of keys.
#[derive(Debug)]
struct KeySet {
    keys: Arc<HashSet<String>>,
    signature: Signature,
}

/// `column`'s value is one of `keys` (false for NULL, never NULL itself).
pub(super) fn contains(column: &str, keys: &Arc<HashSet<String>>) -> Expr {
    let udf = ScalarUDF::new_from_impl(KeySet {
        keys: keys.clone(),
        signature: Signature::string(1, Volatility::Immutable),
    });
    udf.call(vec![col(column)])
}

impl PartialEq for KeySet {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.keys, &other.keys)
    }
}
impl Eq for KeySet {}
impl std::hash::Hash for KeySet {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.keys).hash(state);
    }
}

fn lookup<'a>(
    keys: &HashSet<String>,
    values: impl Iterator<Item = Option<&'a str>>,
) -> BooleanArray {
    values
        .map(|v| Some(v.is_some_and(|v| keys.contains(v))))
        .collect()
}

/// Per value of `array` (text), whether it is one of `keys`.
pub(super) fn found(array: &ArrayRef, keys: &HashSet<String>) -> Result<BooleanArray> {
    Ok(match array.data_type() {
        DataType::Utf8View => lookup(keys, array.as_string_view().iter()),
        DataType::LargeUtf8 => lookup(keys, array.as_string::<i64>().iter()),
        _ => {
            let array = cast(array, &DataType::Utf8)?;
            lookup(keys, array.as_string::<i32>().iter())
        }
    })
}

impl ScalarUDFImpl for KeySet {
    fn name(&self) -> &str {
        "in_key_set"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let array = args.args[0].to_array(args.number_rows)?;
        Ok(ColumnarValue::Array(Arc::new(found(&array, &self.keys)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn picks_the_rows_of_its_keys_and_never_nulls() -> Result<()> {
        let ctx = SessionContext::new();
        let keys = Arc::new(HashSet::from(["b".to_string(), "d".to_string()]));
        let rows = ctx.read_batch(datafusion::arrow::record_batch::RecordBatch::try_from_iter(
            [(
                "k",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b"),
                    None,
                    Some("d"),
                ])) as ArrayRef,
            )],
        )?)?;
        let picked = rows.clone().filter(contains("k", &keys))?.collect().await?;
        let picked: Vec<&str> = picked
            .iter()
            .flat_map(|b| b.column(0).as_string::<i32>().iter().flatten())
            .collect();
        assert_eq!(picked, ["b", "d"]);
        let others = rows
            .filter(contains("k", &keys).is_not_true())?
            .count()
            .await?;
        assert_eq!(others, 2, "NULL is not in the set");
        Ok(())
    }
}
