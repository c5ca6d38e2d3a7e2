//! The opaque `nextCursor` of keyset pagination.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ParamError;

/// Format version, the first byte, so that the encoding can change without misreading old
/// cursors.
const VERSION: u8 = 1;
const LEN: usize = 1 + 8 + 16;

/// Where the next page starts: the `(occurred_at, event_id)` of the last row returned. The next
/// page holds the rows strictly after it in the order `occurred_at DESC, event_id DESC`, so rows
/// inserted meanwhile never shift a page (no gaps, no repeats).
///
/// On the wire it is opaque: base64url (no padding) of a version byte, the microseconds since
/// the epoch (big-endian `i64`) and the 16 bytes of the id.
///
/// ```
/// use kx_events_query::Cursor;
///
/// let c = Cursor::new(chrono::Utc::now(), uuid::Uuid::new_v4());
/// assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    occurred_at: DateTime<Utc>,
    event_id: Uuid,
}

impl Cursor {
    /// The cursor after the row `(occurred_at, event_id)` (truncated to microseconds, as
    /// PostgreSQL stores it).
    pub fn new(occurred_at: DateTime<Utc>, event_id: Uuid) -> Self {
        let micros = occurred_at.timestamp_micros();
        Self {
            occurred_at: DateTime::from_timestamp_micros(micros).unwrap_or(occurred_at),
            event_id,
        }
    }

    /// The last row's `occurred_at`.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }

    /// The last row's `event_id`.
    pub fn event_id(&self) -> Uuid {
        self.event_id
    }

    /// The opaque text form.
    pub fn encode(&self) -> String {
        let mut b = [0u8; LEN];
        b[0] = VERSION;
        b[1..9].copy_from_slice(&self.occurred_at.timestamp_micros().to_be_bytes());
        b[9..].copy_from_slice(self.event_id.as_bytes());
        URL_SAFE_NO_PAD.encode(b)
    }

    /// Reads a cursor made by [`Cursor::encode`]; anything else is an error on `cursor`.
    pub fn decode(text: &str) -> Result<Self, ParamError> {
        let bad = || {
            ParamError::new(
                "cursor",
                "must be the nextCursor of a previous page, unchanged",
            )
        };
        let b = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| bad())?;
        if b.len() != LEN || b[0] != VERSION {
            return Err(bad());
        }
        let micros = i64::from_be_bytes(b[1..9].try_into().map_err(|_| bad())?);
        let occurred_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        let event_id = Uuid::from_slice(&b[9..]).map_err(|_| bad())?;
        Ok(Self {
            occurred_at,
            event_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_microseconds() {
        let t = DateTime::parse_from_rfc3339("2024-01-15T10:30:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Cursor::new(t, Uuid::nil());
        let back = Cursor::decode(&c.encode()).unwrap();
        assert_eq!(back.occurred_at().timestamp_micros(), t.timestamp_micros());
        assert_eq!(back.occurred_at().timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(c.encode().len(), 34);
    }

    #[test]
    fn tampered_cursors_are_refused() {
        let good = Cursor::new(Utc::now(), Uuid::new_v4()).encode();
        for bad in [
            "",
            "!!!",
            &good[..20],
            &format!("{good}AA"),
            &URL_SAFE_NO_PAD.encode([2u8; LEN]),
        ] {
            let e = Cursor::decode(bad).unwrap_err();
            assert_eq!(
                e.to_string(),
                "cursor: must be the nextCursor of a previous page, unchanged",
                "{bad:?}"
            );
        }
    }
}
