//! `occurredAt` as text: read as PostgreSQL's `timestamptz` input reads what the TypeScript
//! system's producers sent, written as JavaScript's `toISOString` writes it.
//!
//! A decoded timestamp is normalised to UTC and truncated to microseconds, PostgreSQL's
//! precision, so that the stored row, the bus entry and a producer's own copy of the event agree.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};

use super::validate::preview;
use super::{Rule, ValidationError};

/// Parses an RFC 3339 timestamp, normalised to UTC and truncated to microseconds, also
/// accepting what PostgreSQL's `timestamptz` input accepts from the TypeScript system's
/// producers (a timestamp without an offset, read as UTC; a space for the `T`), each noted in
/// `coercions`. A leap second (`23:59:60`) becomes the next second, as PostgreSQL stores it.
pub(super) fn parse_timestamp_noting(
    field: &str,
    s: &str,
    coercions: &mut Vec<String>,
) -> Result<DateTime<Utc>, ValidationError> {
    let err = |e: String| {
        ValidationError::new(
            field,
            Rule::Timestamp,
            format!(
                "must be an RFC 3339 timestamp such as 2024-01-15T10:30:00.000Z, got {} ({e})",
                preview(s)
            ),
        )
    };
    let t = match DateTime::parse_from_rfc3339(s) {
        Ok(t) => t.with_timezone(&Utc),
        Err(e) => {
            let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S%.f")
                })
                .map_err(|_| err(e.to_string()))?;
            coercions.push(format!("{field}: no UTC offset, read as UTC"));
            naive.and_utc()
        }
    };
    // chrono keeps a leap second as a nanosecond count of 1e9 or more, which other code (the
    // AWS SDK's timestamps) cannot represent.
    let t = if t.nanosecond() >= 1_000_000_000 {
        coercions.push(format!("{field}: leap second read as the next second"));
        let base = t
            .with_nanosecond(t.nanosecond() - 1_000_000_000)
            .unwrap_or(t);
        base + chrono::Duration::seconds(1)
    } else {
        t
    };
    let micros = t.nanosecond() / 1_000 * 1_000;
    Ok(t.with_nanosecond(micros).unwrap_or(t))
}

/// Formats a timestamp as JavaScript's `toISOString` does (`2024-01-15T10:30:00.000Z`), with
/// microseconds when the value has them.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    let format = if t.nanosecond().is_multiple_of(1_000_000) {
        SecondsFormat::Millis
    } else {
        SecondsFormat::Micros
    };
    t.to_rfc3339_opts(format, true)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::test_events::with;
    use super::super::TrackedEvent;
    use super::*;

    #[test]
    fn offsets_are_normalised_to_utc() {
        let e = TrackedEvent::from_value(with("occurredAt", json!("2024-01-15T12:30:00+02:00")))
            .unwrap();
        assert_eq!(format_timestamp(&e.occurred_at), "2024-01-15T10:30:00.000Z");
        let e =
            TrackedEvent::from_value(with("occurredAt", json!("2024-01-15T10:30:00.123456789Z")))
                .unwrap();
        assert_eq!(
            format_timestamp(&e.occurred_at),
            "2024-01-15T10:30:00.123456Z"
        );
    }
}
