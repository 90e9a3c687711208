//! `local_date(ts, tz)` and `local_hour(ts, tz)`: calendar days and hours in
//! a time zone, for date ranges and day series.
//!
//! The time zone is a value, not part of the type, so one query (or a table
//! function) can take it as an argument. Every range of the catalog filters
//! on one of these, over every row of its scope, so they are built for
//! speed:
//! - a zone given as a literal is parsed once per batch, not expanded to a
//!   column of copies and compared row by row;
//! - offsets are looked up once per quarter hour of input and kept per
//!   thread across batches, so rows in any order hit a kept offset; a
//!   quarter hour whose first and last second differ (a change at 00:01,
//!   as St John's had) is looked up per instant and never kept.

use std::cell::RefCell;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray, new_null_array,
};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Date32Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::internal_err;
use datafusion::common::utils::take_function_args;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignature, Volatility,
};
use datafusion::scalar::ScalarValue;

use super::{DOC_SECTION, utf8};

const MICROS_PER_SEC: i64 = 1_000_000;
const QUARTER_HOUR_SECS: i64 = 900;

/// Quarter hours whose offsets a thread keeps: 42 days of one zone.
const SLOTS: usize = 4096;

/// Parse an IANA time zone name, with an error that says what is expected.
pub fn parse_tz(name: &str) -> Result<Tz> {
    Tz::from_str(name.trim()).map_err(|_| {
        DataFusionError::Plan(format!(
            "unknown time zone '{name}': use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'"
        ))
    })
}

/// Local seconds since the epoch (wall clock read as UTC) of UTC instants,
/// with the offsets of the quarter hours seen last, per zone.
struct LocalClock {
    /// (zone, quarter hour since the epoch, offset in seconds), at
    /// quarter hour modulo [`SLOTS`].
    slots: Vec<Option<(Tz, i64, i32)>>,
}

thread_local! {
    static CLOCK: RefCell<LocalClock> = RefCell::new(LocalClock::new());
}

impl LocalClock {
    fn new() -> Self {
        Self {
            slots: vec![None; SLOTS],
        }
    }

    /// Local seconds in `zone`.
    fn local_secs(&mut self, zone: Tz, utc_micros: i64) -> Result<i64> {
        let secs = utc_micros.div_euclid(MICROS_PER_SEC);
        let bucket = secs.div_euclid(QUARTER_HOUR_SECS);
        let slot = &mut self.slots[bucket.rem_euclid(SLOTS as i64) as usize];
        let offset = match *slot {
            Some((z, b, offset)) if z == zone && b == bucket => offset,
            _ => {
                let first = offset_at(zone, bucket * QUARTER_HOUR_SECS, utc_micros)?;
                let last = offset_at(zone, (bucket + 1) * QUARTER_HOUR_SECS - 1, utc_micros)?;
                if first != last {
                    // The offset changes inside this quarter hour (St
                    // John's changed at 00:01 local until 2011): this
                    // instant's own, never kept.
                    return Ok(secs + i64::from(offset_at(zone, secs, utc_micros)?));
                }
                *slot = Some((zone, bucket, first));
                first
            }
        };
        Ok(secs + i64::from(offset))
    }
}

/// The offset from UTC (seconds) of `zone` at `secs` since the epoch; the
/// error names the instant asked for (`utc_micros`).
fn offset_at(zone: Tz, secs: i64, utc_micros: i64) -> Result<i32> {
    let at = chrono::DateTime::from_timestamp(secs, 0).ok_or_else(|| {
        DataFusionError::Execution(format!("timestamp out of range: {utc_micros} µs"))
    })?;
    Ok(zone
        .offset_from_utc_datetime(&at.naive_utc())
        .fix()
        .local_minus_utc())
}

/// What a function reads off the local wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Grain {
    /// The calendar day (`Date32`).
    Day,
    /// The start of the hour (a timestamp without zone).
    Hour,
}

impl Grain {
    fn data_type(self) -> DataType {
        match self {
            Grain::Day => DataType::Date32,
            Grain::Hour => DataType::Timestamp(TimeUnit::Microsecond, None),
        }
    }

    /// The grain of every timestamp of `ts` (nulls stay null), from its
    /// local seconds as `local` gives them.
    fn of(
        self,
        ts: &PrimitiveArray<TimestampMicrosecondType>,
        local: impl FnMut(usize, i64) -> Result<Option<i64>>,
    ) -> Result<ArrayRef> {
        match self {
            Grain::Day => each::<Date32Type>(ts, local, |s| s.div_euclid(86_400) as i32),
            Grain::Hour => each::<TimestampMicrosecondType>(ts, local, |s| {
                s.div_euclid(3_600) * 3_600 * MICROS_PER_SEC
            }),
        }
    }
}

/// `grain(local(i, ts[i]))` for each row; a row is null where the
/// timestamp is or `local` says so.
fn each<O: ArrowPrimitiveType>(
    ts: &PrimitiveArray<TimestampMicrosecondType>,
    mut local: impl FnMut(usize, i64) -> Result<Option<i64>>,
    grain: impl Fn(i64) -> O::Native,
) -> Result<ArrayRef> {
    let mut values = Vec::with_capacity(ts.len());
    let mut valid = Vec::with_capacity(ts.len());
    for (i, &utc) in ts.values().iter().enumerate() {
        let local = if ts.is_valid(i) { local(i, utc)? } else { None };
        values.push(local.map_or(O::Native::default(), &grain));
        valid.push(local.is_some());
    }
    let nulls = NullBuffer::from(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    Ok(Arc::new(PrimitiveArray::<O>::new(values.into(), nulls)))
}

/// Timestamps of any unit as microseconds.
fn micros(ts: &ArrayRef) -> Result<PrimitiveArray<TimestampMicrosecondType>> {
    match ts.data_type() {
        // A NULL literal: no instant, so no day.
        DataType::Null => Ok(PrimitiveArray::new_null(ts.len())),
        DataType::Timestamp(_, tz) => Ok(cast(
            ts,
            &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        )?
        .as_primitive::<TimestampMicrosecondType>()
        .clone()),
        other => Err(DataFusionError::Plan(format!(
            "expected a timestamp as the first argument, got {other}"
        ))),
    }
}

/// The grain of `ts` in the zone named `zone` (NULL: every row null).
fn in_one_zone(grain: Grain, ts: &ArrayRef, zone: &ScalarValue) -> Result<ArrayRef> {
    let ScalarValue::Utf8(name) = zone.cast_to(&DataType::Utf8)? else {
        return internal_err!("a time zone cast to Utf8 is not Utf8");
    };
    let Some(name) = name else {
        return Ok(new_null_array(&grain.data_type(), ts.len()));
    };
    let zone = parse_tz(&name)?;
    let ts = micros(ts)?;
    CLOCK.with_borrow_mut(|clock| grain.of(&ts, |_, utc| clock.local_secs(zone, utc).map(Some)))
}

/// The grain of `ts` in each row's zone of `zones`.
fn in_zone_per_row(grain: Grain, ts: &ArrayRef, zones: &ArrayRef) -> Result<ArrayRef> {
    let (ts, zones) = (micros(ts)?, utf8(zones)?);
    let mut last: Option<(&str, Tz)> = None;
    CLOCK.with_borrow_mut(|clock| {
        grain.of(&ts, |i, utc| {
            if zones.is_null(i) {
                return Ok(None);
            }
            let name = zones.value(i);
            let zone = match last {
                Some((n, zone)) if n == name => zone,
                _ => parse_tz(name)?,
            };
            last = Some((name, zone));
            clock.local_secs(zone, utc).map(Some)
        })
    })
}

/// `local_date` or `local_hour`.
#[derive(Debug)]
struct LocalTime {
    name: &'static str,
    grain: Grain,
    signature: Signature,
    doc: Documentation,
}

impl PartialEq for LocalTime {
    fn eq(&self, other: &Self) -> bool {
        self.grain == other.grain
    }
}
impl Eq for LocalTime {}
impl std::hash::Hash for LocalTime {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.grain.hash(state);
    }
}

impl ScalarUDFImpl for LocalTime {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.grain.data_type())
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [ts, zone] = take_function_args(self.name, &args.args)?;
        let scalar = matches!(
            (ts, zone),
            (ColumnarValue::Scalar(_), ColumnarValue::Scalar(_))
        );
        let ts = ts.to_array(if scalar { 1 } else { args.number_rows })?;
        let out = match zone {
            ColumnarValue::Scalar(zone) => in_one_zone(self.grain, &ts, zone)?,
            ColumnarValue::Array(zones) => in_zone_per_row(self.grain, &ts, zones)?,
        };
        Ok(if scalar {
            ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?)
        } else {
            ColumnarValue::Array(out)
        })
    }
    fn documentation(&self) -> Option<&Documentation> {
        Some(&self.doc)
    }
}

fn udf(name: &'static str, grain: Grain, doc: Documentation) -> ScalarUDF {
    ScalarUDF::new_from_impl(LocalTime {
        name,
        grain,
        signature: Signature::one_of(vec![TypeSignature::Any(2)], Volatility::Immutable),
        doc,
    })
}

/// The `local_date` function.
pub fn local_date_udf() -> ScalarUDF {
    udf(
        "local_date",
        Grain::Day,
        Documentation::builder(
            DOC_SECTION,
            "The calendar date of a timestamp in an IANA time zone. Date ranges of the metric catalog are read this way: a message sent at 23:30 UTC on 1 March is sent on 2 March in Europe/Berlin.",
            "local_date(timestamp, time_zone)",
        )
        .with_argument("timestamp", "an instant, e.g. sent_at or occurred_at")
        .with_argument("time_zone", "IANA name such as 'UTC' or 'America/New_York'")
        .with_sql_example("SELECT local_date(occurred_at, 'Asia/Tokyo') AS day, count(*) FROM events GROUP BY 1 ORDER BY 1")
        .with_related_udf("local_hour")
        .build(),
    )
}

/// The `local_hour` function.
pub fn local_hour_udf() -> ScalarUDF {
    udf(
        "local_hour",
        Grain::Hour,
        Documentation::builder(
            DOC_SECTION,
            "The start of the local wall-clock hour of a timestamp in an IANA time zone, as a timestamp without time zone (for hourly series).",
            "local_hour(timestamp, time_zone)",
        )
        .with_argument("timestamp", "an instant, e.g. occurred_at")
        .with_argument("time_zone", "IANA name such as 'UTC' or 'Europe/Paris'")
        .with_sql_example("SELECT local_hour(occurred_at, 'Europe/Paris') AS hour, count(*) FROM events GROUP BY 1 ORDER BY 1")
        .with_related_udf("local_date")
        .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Date32Array, StringArray, TimestampMicrosecondArray};

    fn micros(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_micros()
    }

    /// The local day of `utc_micros` in `zone`, from chrono alone.
    fn chrono_day(zone: &str, utc_micros: i64) -> i32 {
        let at = chrono::DateTime::from_timestamp_micros(utc_micros).unwrap();
        let local = at.with_timezone(&parse_tz(zone).unwrap()).date_naive();
        (local - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32
    }

    /// The start of the local hour of `utc_micros` in `zone` (wall clock
    /// read as UTC), from chrono alone.
    fn chrono_hour(zone: &str, utc_micros: i64) -> i64 {
        let at = chrono::DateTime::from_timestamp_micros(utc_micros).unwrap();
        let local = at.with_timezone(&parse_tz(zone).unwrap()).naive_local();
        local.and_utc().timestamp().div_euclid(3_600) * 3_600 * MICROS_PER_SEC
    }

    #[test]
    fn one_zone_for_every_row_reads_as_a_zone_per_row() {
        // Around New York's switch to daylight time (07:00 UTC, 8 March
        // 2026) and midnights on both sides.
        let instants = [
            "2026-03-08T04:59:59Z",
            "2026-03-08T05:00:00Z",
            "2026-03-08T06:59:59Z",
            "2026-03-08T07:00:00Z",
            "2026-03-09T03:59:59Z",
            "2026-03-09T04:00:00Z",
        ];
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(
            instants
                .iter()
                .map(|t| Some(micros(t)))
                .chain([None])
                .collect::<Vec<_>>(),
        ));
        let zone = "America/New_York";
        let one = ScalarValue::Utf8View(Some(zone.into()));
        let per_row: ArrayRef = Arc::new(StringArray::from(vec![zone; ts.len()]));
        for grain in [Grain::Day, Grain::Hour] {
            let a = in_one_zone(grain, &ts, &one).unwrap();
            let b = in_zone_per_row(grain, &ts, &per_row).unwrap();
            assert_eq!(&a, &b);
        }
        let days = in_one_zone(Grain::Day, &ts, &one).unwrap();
        let days = days.as_primitive::<Date32Type>();
        // 04:59:59 UTC is 23:59:59 on 7 March in New York; 05:00 is 8 March.
        assert_eq!(days.value(1) - days.value(0), 1);
        assert_eq!(days.value(5) - days.value(4), 1);
        assert!(days.is_null(6));
        // A NULL zone: every row NULL.
        let none = in_one_zone(Grain::Day, &ts, &ScalarValue::Utf8(None)).unwrap();
        assert_eq!(none.null_count(), ts.len());
    }

    /// Offsets are kept per thread and zone: rows out of time order, zones
    /// changing from row to row, one zone after another over the same
    /// instants, and instants 42+ days apart (the same kept slot) each read
    /// their own zone's offset.
    #[test]
    fn kept_offsets_belong_to_their_zone_and_quarter_hour() {
        // New York last: its offsets are the ones kept when the next batch
        // starts.
        let zones = ["UTC", "Asia/Kolkata", "Europe/Berlin", "America/New_York"];
        let (ny, berlin) = ("America/New_York", "Europe/Berlin");
        let row_zones = [
            "UTC",
            ny,
            berlin,
            "Asia/Kolkata",
            ny,
            "UTC",
            "Asia/Kolkata",
            berlin,
        ];
        // Out of order, across both 2026 switches of New York and Berlin.
        let base: Vec<i64> = [
            "2026-10-25T00:59:59Z",
            "2026-03-08T06:59:59Z",
            "2026-03-29T01:00:00Z",
            "2026-11-01T05:59:59Z",
            "2026-03-08T07:00:00Z",
            "2026-11-01T06:00:00Z",
            "2026-10-25T01:00:00Z",
            "2026-03-29T00:59:59Z",
        ]
        .iter()
        .map(|t| micros(t))
        .collect();
        let same_slot = SLOTS as i64 * QUARTER_HOUR_SECS * MICROS_PER_SEC;
        for shift in [0, same_slot, 0] {
            let instants: Vec<i64> = base.iter().map(|t| t + shift).collect();
            let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(instants.clone()));
            let per_row: ArrayRef = Arc::new(StringArray::from(row_zones.to_vec()));
            let want: Date32Array = instants
                .iter()
                .zip(row_zones)
                .map(|(t, z)| Some(chrono_day(z, *t)))
                .collect();
            let got = in_zone_per_row(Grain::Day, &ts, &per_row).unwrap();
            assert_eq!(got.as_primitive::<Date32Type>(), &want);
            let want: Vec<i64> = instants
                .iter()
                .zip(row_zones)
                .map(|(t, z)| chrono_hour(z, *t))
                .collect();
            let got = in_zone_per_row(Grain::Hour, &ts, &per_row).unwrap();
            let got = got.as_primitive::<TimestampMicrosecondType>();
            assert_eq!(got.values().to_vec(), want);
            for zone in zones {
                let one = ScalarValue::Utf8(Some(zone.into()));
                let got = in_one_zone(Grain::Day, &ts, &one).unwrap();
                let want: Date32Array = instants
                    .iter()
                    .map(|t| Some(chrono_day(zone, *t)))
                    .collect();
                assert_eq!(got.as_primitive::<Date32Type>(), &want, "{zone}");
                let got = in_one_zone(Grain::Hour, &ts, &one).unwrap();
                let want: Vec<i64> = instants.iter().map(|t| chrono_hour(zone, *t)).collect();
                let got = got.as_primitive::<TimestampMicrosecondType>();
                assert_eq!(got.values().to_vec(), want, "{zone}");
            }
        }
    }

    /// St John's changed its offset at 00:01 local until 2011, inside a
    /// quarter hour of UTC: the minutes after the change read the new
    /// offset, before and after that quarter hour is first seen.
    #[test]
    fn an_offset_change_inside_a_quarter_hour() {
        let zone = "America/St_Johns";
        // 00:01 NDT on 7 November 2010 became 23:01 NST on the 6th.
        let instants: Vec<i64> = [
            "2010-11-07T02:30:30Z",
            "2010-11-07T02:31:30Z",
            "2010-11-07T02:44:59Z",
            "2010-11-07T02:30:59Z",
        ]
        .iter()
        .map(|t| micros(t))
        .collect();
        let ts: ArrayRef = Arc::new(TimestampMicrosecondArray::from(instants.clone()));
        let one = ScalarValue::Utf8(Some(zone.into()));
        for _ in 0..2 {
            let days = in_one_zone(Grain::Day, &ts, &one).unwrap();
            let want: Date32Array = instants
                .iter()
                .map(|t| Some(chrono_day(zone, *t)))
                .collect();
            assert_eq!(days.as_primitive::<Date32Type>(), &want);
            let hours = in_one_zone(Grain::Hour, &ts, &one).unwrap();
            let want: Vec<i64> = instants.iter().map(|t| chrono_hour(zone, *t)).collect();
            assert_eq!(
                hours
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec(),
                want
            );
        }
        // 02:30:30 UTC is the 7th, 00:00:30; 02:31:30 is the 6th, 23:01:30.
        let days = in_one_zone(Grain::Day, &ts, &one).unwrap();
        let days = days.as_primitive::<Date32Type>();
        assert_eq!(days.value(0) - days.value(1), 1);
    }

    #[test]
    fn null_instants_have_no_day() {
        let nulls = new_null_array(&DataType::Null, 3);
        let days = in_one_zone(Grain::Day, &nulls, &ScalarValue::Utf8(Some("UTC".into()))).unwrap();
        assert_eq!((days.len(), days.null_count()), (3, 3));
        let zones: ArrayRef = Arc::new(StringArray::from(vec!["UTC"; 3]));
        let hours = in_zone_per_row(Grain::Hour, &nulls, &zones).unwrap();
        assert_eq!((hours.len(), hours.null_count()), (3, 3));
    }

    #[test]
    fn days_across_zones_and_dst() {
        let mut c = LocalClock::new();
        let t = micros("2026-03-01T23:30:00Z");
        let tz = |name| parse_tz(name).unwrap();
        assert_eq!(
            c.local_secs(tz("UTC"), t).unwrap().div_euclid(86_400),
            t / 1_000_000 / 86_400
        );
        let berlin = c.local_secs(tz("Europe/Berlin"), t).unwrap();
        assert_eq!(berlin - t / 1_000_000, 3_600);
        // New York switches to daylight time at 07:00 UTC on 8 March 2026.
        let before = micros("2026-03-08T06:59:00Z");
        let after = micros("2026-03-08T07:00:00Z");
        assert_eq!(
            c.local_secs(tz("America/New_York"), before).unwrap() - before / 1_000_000,
            -5 * 3600
        );
        assert_eq!(
            c.local_secs(tz("America/New_York"), after).unwrap() - after / 1_000_000,
            -4 * 3600
        );
        assert!(parse_tz("Mars/Olympus").is_err());
        let bad: ArrayRef = Arc::new(StringArray::from(vec!["Mars/Olympus"]));
        let one: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![t]));
        assert!(in_zone_per_row(Grain::Day, &one, &bad).is_err());
    }
}
