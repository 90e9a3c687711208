//! `local_date(ts, tz)` and `local_hour(ts, tz)`: calendar days and hours in
//! a time zone, for date ranges and day series.
//!
//! The time zone is a value, not part of the type, so one query (or a table
//! function) can take it as an argument. Offsets are looked up once per
//! quarter hour of input and reused, because events arrive roughly in time
//! order and every real offset change falls on a quarter hour.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Date32Array, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{Documentation, ScalarUDF, Signature, TypeSignature, Volatility};

use super::{DOC_SECTION, SimpleUdf, utf8};

const MICROS_PER_SEC: i64 = 1_000_000;
const QUARTER_HOUR_SECS: i64 = 900;

/// Parse an IANA time zone name, with an error that says what is expected.
pub fn parse_tz(name: &str) -> Result<Tz> {
    Tz::from_str(name.trim()).map_err(|_| {
        DataFusionError::Plan(format!(
            "unknown time zone '{name}': use an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'"
        ))
    })
}

/// Local seconds since the epoch (wall clock read as UTC) of UTC instants.
struct LocalClock {
    zone: Option<(String, Tz)>,
    cached: Option<(i64, i64)>,
}

impl LocalClock {
    fn new() -> Self {
        Self {
            zone: None,
            cached: None,
        }
    }

    fn local_secs(&mut self, tz_name: &str, utc_micros: i64) -> Result<i64> {
        if self.zone.as_ref().is_none_or(|(n, _)| n != tz_name) {
            self.set_zone(tz_name)?;
        }
        self.in_zone(utc_micros)
    }

    fn set_zone(&mut self, tz_name: &str) -> Result<()> {
        self.zone = Some((tz_name.to_string(), parse_tz(tz_name)?));
        self.cached = None;
        Ok(())
    }

    /// Local seconds in the zone set last.
    fn in_zone(&mut self, utc_micros: i64) -> Result<i64> {
        let Some(tz) = self.zone.as_ref().map(|(_, tz)| *tz) else {
            return Err(DataFusionError::Internal("no time zone set".into()));
        };
        let secs = utc_micros.div_euclid(MICROS_PER_SEC);
        let bucket = secs.div_euclid(QUARTER_HOUR_SECS);
        let offset = match self.cached {
            Some((b, off)) if b == bucket => off,
            _ => {
                let at = chrono::DateTime::from_timestamp(bucket * QUARTER_HOUR_SECS, 0)
                    .ok_or_else(|| {
                        DataFusionError::Execution(format!(
                            "timestamp out of range: {utc_micros} µs"
                        ))
                    })?;
                let off = i64::from(
                    tz.offset_from_utc_datetime(&at.naive_utc())
                        .fix()
                        .local_minus_utc(),
                );
                self.cached = Some((bucket, off));
                off
            }
        };
        Ok(secs + offset)
    }
}

/// Evaluate `f(local_seconds)` for every (timestamp, zone) row.
fn each_local<T>(args: &[ArrayRef], mut f: impl FnMut(i64) -> T) -> Result<Vec<Option<T>>> {
    let ts = match args[0].data_type() {
        DataType::Timestamp(_, tz) => cast(
            &args[0],
            &DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        )?,
        other => {
            return Err(DataFusionError::Plan(format!(
                "expected a timestamp as the first argument, got {other}"
            )));
        }
    };
    let ts = ts.as_primitive::<TimestampMicrosecondType>();
    let mut clock = LocalClock::new();
    let mut out = Vec::with_capacity(ts.len());
    // One zone for every row (a literal, as in every range of the
    // catalog): read once, not row by row.
    if let Some(zone) = one_zone(&args[1]) {
        clock.set_zone(zone)?;
        for i in 0..ts.len() {
            if ts.is_null(i) {
                out.push(None);
            } else {
                out.push(Some(f(clock.in_zone(ts.value(i))?)));
            }
        }
        return Ok(out);
    }
    let zones = utf8(&args[1])?;
    for i in 0..ts.len() {
        if ts.is_null(i) || zones.is_null(i) {
            out.push(None);
        } else {
            out.push(Some(f(clock.local_secs(zones.value(i), ts.value(i))?)));
        }
    }
    Ok(out)
}

/// The zone of every row, when a view array (a literal expanded to the
/// batch) holds one non-null value in each.
fn one_zone(zones: &ArrayRef) -> Option<&str> {
    let zones = zones.as_string_view_opt()?;
    let views = zones.views();
    let first = *views.first()?;
    (zones.null_count() == 0 && views.iter().all(|v| *v == first)).then(|| zones.value(0))
}

fn date_kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let days = each_local(args, |s| s.div_euclid(86_400) as i32)?;
    Ok(Arc::new(Date32Array::from(days)))
}

fn hour_kernel(args: &[ArrayRef]) -> Result<ArrayRef> {
    let hours = each_local(args, |s| s.div_euclid(3_600) * 3_600 * MICROS_PER_SEC)?;
    Ok(Arc::new(TimestampMicrosecondArray::from(hours)))
}

fn signature() -> Signature {
    Signature::one_of(vec![TypeSignature::Any(2)], Volatility::Immutable)
}

/// The `local_date` function.
pub fn local_date_udf() -> ScalarUDF {
    SimpleUdf::udf(
        "local_date",
        signature(),
        DataType::Date32,
        date_kernel,
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
    SimpleUdf::udf(
        "local_hour",
        signature(),
        DataType::Timestamp(TimeUnit::Microsecond, None),
        hour_kernel,
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

    fn micros(rfc3339: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .timestamp_micros()
    }

    #[test]
    fn one_zone_for_every_row_reads_as_a_zone_per_row() {
        use datafusion::arrow::array::StringArray;
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
        let n = ts.len();
        // A literal zone, as a query hands it over: one view, repeated.
        let one = datafusion::scalar::ScalarValue::Utf8View(Some(zone.into()))
            .to_array_of_size(n)
            .unwrap();
        let per_row: ArrayRef = Arc::new(StringArray::from(vec![zone; n]));
        assert!(one_zone(&one).is_some() && one_zone(&per_row).is_none());
        for kernel in [date_kernel, hour_kernel] {
            let a = kernel(&[ts.clone(), one.clone()]).unwrap();
            let b = kernel(&[ts.clone(), per_row.clone()]).unwrap();
            assert_eq!(&a, &b);
        }
        let days = date_kernel(&[ts.clone(), one]).unwrap();
        let days = days.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        // 04:59:59 UTC is 23:59:59 on 7 March in New York; 05:00 is 8 March.
        assert_eq!(days.value(1) - days.value(0), 1);
        assert_eq!(days.value(5) - days.value(4), 1);
        assert!(days.is_null(6));
    }

    #[test]
    fn days_across_zones_and_dst() {
        let mut c = LocalClock::new();
        let t = micros("2026-03-01T23:30:00Z");
        assert_eq!(
            c.local_secs("UTC", t).unwrap().div_euclid(86_400),
            t / 1_000_000 / 86_400
        );
        let berlin = c.local_secs("Europe/Berlin", t).unwrap();
        assert_eq!(berlin - t / 1_000_000, 3_600);
        // New York switches to daylight time at 07:00 UTC on 8 March 2026.
        let before = micros("2026-03-08T06:59:00Z");
        let after = micros("2026-03-08T07:00:00Z");
        assert_eq!(
            c.local_secs("America/New_York", before).unwrap() - before / 1_000_000,
            -5 * 3600
        );
        assert_eq!(
            c.local_secs("America/New_York", after).unwrap() - after / 1_000_000,
            -4 * 3600
        );
        assert!(c.local_secs("Mars/Olympus", t).is_err());
    }
}
