//! Record identity for de-duplication.
//!
//! Kinesis delivers at least once, so the same record can arrive twice with
//! the same bytes. A record's identity is its explicit event id when it has
//! one, else the 128-bit XXH3 hash of its text without surrounding
//! whitespace. 16 bytes per event keeps the de-duplication state compact.

use xxhash_rust::xxh3::xxh3_128;

/// Identity of one record.
pub fn record_hash(text: &[u8], event_id: Option<&str>) -> u128 {
    match event_id {
        Some(id) => {
            let mut buf = Vec::with_capacity(id.len() + 9);
            buf.extend_from_slice(b"event_id\0");
            buf.extend_from_slice(id.as_bytes());
            xxh3_128(&buf)
        }
        None => xxh3_128(text.trim_ascii()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity() {
        assert_eq!(
            record_hash(b"{\"a\":1}", None),
            record_hash(b"  {\"a\":1}\r\n", None)
        );
        assert_ne!(
            record_hash(b"{\"a\":1}", None),
            record_hash(b"{\"a\":2}", None)
        );
        assert_eq!(
            record_hash(b"{\"a\":1}", Some("e1")),
            record_hash(b"{\"a\":2}", Some("e1"))
        );
    }
}
