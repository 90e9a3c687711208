//! Aggregate functions for the metrics themselves, so that ad hoc SQL over
//! `events` can write `SELECT campaign_id, email_open_rate(event_type,
//! message_key) FROM events GROUP BY 1`.
//!
//! One accumulator serves them all: it folds the rows of a group into one
//! entry per message (sets, opens, clicks) and evaluates a measure or rate of
//! the catalog at the end, with the same message sets as the views.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, ListArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Documentation, Signature, TypeSignature,
    Volatility,
};
use sendlens_events::channel::channel_of;

use crate::catalog::{self, MessageSets};
use crate::sets::event_sets;
use crate::udf::{DOC_SECTION, utf8};

/// What the function returns.
#[derive(Debug, Clone, Copy)]
enum Output {
    Measure(&'static catalog::Measure),
    Rate(&'static catalog::Rate),
}

impl Output {
    fn name(self) -> &'static str {
        match self {
            Output::Measure(m) => m.name,
            Output::Rate(r) => r.name,
        }
    }
}

/// A metric aggregate function.
pub struct MessageMetric {
    output: Output,
    signature: Signature,
    doc: Documentation,
}

impl fmt::Debug for MessageMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageMetric")
            .field("name", &self.output.name())
            .finish()
    }
}

impl PartialEq for MessageMetric {
    fn eq(&self, other: &Self) -> bool {
        self.output.name() == other.output.name()
    }
}
impl Eq for MessageMetric {}
impl std::hash::Hash for MessageMetric {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.output.name().hash(state)
    }
}

fn message_measure(name: &str) -> Option<&'static catalog::Measure> {
    catalog::measure(name).filter(|m| m.from_sets())
}

impl MessageMetric {
    fn new(output: Output, doc: &str) -> Self {
        let name = output.name();
        Self {
            output,
            signature: Signature::one_of(
                vec![
                    TypeSignature::Any(2),
                    TypeSignature::Any(3),
                    TypeSignature::Any(4),
                ],
                Volatility::Immutable,
            ),
            doc: Documentation::builder(
                DOC_SECTION,
                format!("{doc} Aggregate over event rows: messages are told apart by message_key, and only messages whose send is among the rows count. Pass channel and send_status for push campaigns, whose send is a _campaign.send with status SUCCESS."),
                format!("{name}(event_type, message_key [, channel [, send_status]])"),
            )
            .with_argument("event_type", "event_type column")
            .with_argument("message_key", "message_key column")
            .with_argument("channel", "optional channel column (else derived from event_type)")
            .with_argument("send_status", "optional send_status column")
            .with_sql_example(format!("SELECT campaign_id, {name}(event_type, message_key, channel, send_status) FROM events GROUP BY campaign_id"))
            .build(),
        }
    }
}

impl AggregateUDFImpl for MessageMetric {
    fn name(&self) -> &str {
        self.output.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(match self.output {
            Output::Measure(_) => DataType::Int64,
            Output::Rate(_) => DataType::Float64,
        })
    }
    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(MessageAccumulator {
            output: self.output,
            messages: HashMap::new(),
        }))
    }
    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let list = |name: &str, ty: DataType| {
            Arc::new(Field::new(
                format!("{}[{name}]", args.name),
                DataType::List(Arc::new(Field::new_list_field(ty, true))),
                true,
            ))
        };
        Ok(vec![
            list("keys", DataType::Utf8),
            list("channels", DataType::Utf8),
            list("sets", DataType::Int64),
            list("opens", DataType::Int64),
            list("clicks", DataType::Int64),
        ])
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

#[derive(Debug, Default, Clone)]
struct Entry {
    channel: String,
    sets: i64,
    opens: i64,
    clicks: i64,
}

impl Entry {
    fn add(&mut self, channel: &str, sets: i64, opens: i64, clicks: i64) {
        if self.channel.is_empty() || self.channel == "app" {
            self.channel = channel.to_string();
        }
        self.sets |= sets;
        self.opens += opens;
        self.clicks += clicks;
    }
}

#[derive(Debug)]
struct MessageAccumulator {
    output: Output,
    messages: HashMap<String, Entry>,
}

impl MessageAccumulator {
    fn value(&self, name: &str) -> Option<i64> {
        let sent = self
            .messages
            .values()
            .filter(|e| e.sets & crate::sets::SENT != 0)
            .map(|e| MessageSets {
                channel: &e.channel,
                sets: e.sets,
                opens: e.opens,
                clicks: e.clicks,
            });
        catalog::count_over(name, sent)
    }
}

impl Accumulator for MessageAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let types = utf8(&values[0])?;
        let keys = utf8(&values[1])?;
        let channels = values.get(2).map(utf8).transpose()?;
        let statuses = values.get(3).map(utf8).transpose()?;
        for i in 0..types.len() {
            if types.is_null(i) || keys.is_null(i) {
                continue;
            }
            let event_type = types.value(i);
            let channel = channels
                .as_ref()
                .and_then(|c| (!c.is_null(i)).then(|| c.value(i)))
                .unwrap_or_else(|| channel_of(event_type, None));
            let status = statuses
                .as_ref()
                .and_then(|s| (!s.is_null(i)).then(|| s.value(i)));
            let sets = event_sets(event_type, channel, status);
            let opens = (sets & crate::sets::OPEN != 0) as i64;
            let clicks = (sets & crate::sets::CLICK != 0) as i64;
            self.messages
                .entry(keys.value(i).to_string())
                .or_default()
                .add(channel, sets, opens, clicks);
        }
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states.iter().map(|s| s.as_list::<i32>()).collect();
        for row in 0..lists[0].len() {
            if lists[0].is_null(row) {
                continue;
            }
            let keys = lists[0].value(row);
            let keys = keys.as_any().downcast_ref::<StringArray>().ok_or_else(|| {
                DataFusionError::Internal("message metric state: keys are not Utf8".into())
            })?;
            let channels = lists[1].value(row);
            let channels = channels
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| {
                    DataFusionError::Internal("message metric state: channels are not Utf8".into())
                })?;
            let sets = lists[2].value(row);
            let opens = lists[3].value(row);
            let clicks = lists[4].value(row);
            let (sets, opens, clicks) = (
                sets.as_primitive::<Int64Type>(),
                opens.as_primitive::<Int64Type>(),
                clicks.as_primitive::<Int64Type>(),
            );
            for i in 0..keys.len() {
                self.messages
                    .entry(keys.value(i).to_string())
                    .or_default()
                    .add(
                        channels.value(i),
                        sets.value(i),
                        opens.value(i),
                        clicks.value(i),
                    );
            }
        }
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let keys: StringArray = self.messages.keys().map(Some).collect();
        let channels: StringArray = self
            .messages
            .values()
            .map(|e| Some(e.channel.as_str()))
            .collect();
        let ints = |f: fn(&Entry) -> i64| -> ArrayRef {
            Arc::new(
                self.messages
                    .values()
                    .map(|e| Some(f(e)))
                    .collect::<Int64Array>(),
            )
        };
        let list = |a: ArrayRef| {
            datafusion::common::utils::SingleRowListArrayBuilder::new(a).build_list_scalar()
        };
        Ok(vec![
            list(Arc::new(keys)),
            list(Arc::new(channels)),
            list(ints(|e| e.sets)),
            list(ints(|e| e.opens)),
            list(ints(|e| e.clicks)),
        ])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(match self.output {
            Output::Measure(m) => ScalarValue::Int64(self.value(m.name)),
            Output::Rate(r) => {
                let n = self.value(r.numerator);
                let d = self.value(r.denominator);
                ScalarValue::Float64(match (n, d) {
                    (Some(n), Some(d)) => crate::udf::safe_rate::rate(n as f64, d as f64),
                    _ => None,
                })
            }
        })
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self
                .messages
                .keys()
                .map(|k| k.capacity() + std::mem::size_of::<Entry>() + 16)
                .sum::<usize>()
    }
}

/// Every metric aggregate function: the measures and rates that event types
/// alone determine.
pub fn all() -> Vec<AggregateUDF> {
    let measures = catalog::MEASURES
        .iter()
        .filter(|m| m.from_sets())
        .map(|m| MessageMetric::new(Output::Measure(m), m.doc));
    let rates = catalog::RATES
        .iter()
        .filter(|r| {
            message_measure(r.numerator).is_some() && message_measure(r.denominator).is_some()
        })
        .map(|r| MessageMetric::new(Output::Rate(r), r.doc));
    measures
        .chain(rates)
        .map(AggregateUDF::new_from_impl)
        .collect()
}
