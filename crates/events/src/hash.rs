//! Record identity for de-duplication.
//!
//! Kinesis delivers at least once, and Firehose can deliver the same
//! records twice in two forms (the JSON source backup and the Parquet
//! conversion). A record's identity therefore depends on what it says, not
//! on how it is written: its explicit event id when it has one, else its
//! decoded content ([`Event`] fields: type, times, application, endpoint,
//! every typed field, attributes and metrics, in a fixed order with
//! attributes and metrics sorted by name). Compact or pretty JSON,
//! reordered keys and a row of Firehose's Parquet give the same identity.
//!
//! The identity is stored in the table (`record_hash`), so it is keyed with
//! the workspace's secret salt: a 128-bit XXH3 digest of the content, then
//! SipHash-1-3 (a keyed pseudo-random function) over that digest. Without
//! the salt, nobody holding the table can confirm a guessed address by
//! hashing it.

use std::hash::Hasher;

use sha2::{Digest, Sha256};
use siphasher::sip128::{Hasher128, SipHasher13};
use xxhash_rust::xxh3::xxh3_128;

use crate::event::Event;

/// The key of record identities, derived from the workspace's salt.
#[derive(Clone)]
pub struct IdentityKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(..)")
    }
}

impl IdentityKey {
    /// The key for a workspace's salt (a derivation of its own, so that the
    /// identities and the PII hashes never share a key).
    pub fn from_salt(salt: &[u8]) -> IdentityKey {
        let mut h = Sha256::new();
        h.update(b"sendlens record identity\0");
        h.update(salt);
        let d = h.finalize();
        IdentityKey {
            k0: u64::from_le_bytes(d[..8].try_into().expect("8 bytes")),
            k1: u64::from_le_bytes(d[8..16].try_into().expect("8 bytes")),
        }
    }

    fn keyed(&self, digest: u128) -> u128 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write(&digest.to_le_bytes());
        h.finish128().as_u128()
    }
}

/// Buffers reused from one record to the next: the canonical form, and the
/// order of attributes and metrics by name.
#[derive(Debug, Default)]
pub struct Scratch {
    form: Vec<u8>,
    order: Vec<u32>,
}

/// Identity of one decoded record.
pub fn record_identity(event: &Event<'_>, key: &IdentityKey, scratch: &mut Scratch) -> u128 {
    scratch.form.clear();
    canonical(event, scratch);
    key.keyed(xxh3_128(&scratch.form))
}

/// The canonical form of a record's content: each field tagged and
/// length-prefixed, so that no two contents share a form.
fn canonical(e: &Event<'_>, scratch: &mut Scratch) {
    let Scratch { form: out, order } = scratch;
    if let Some(id) = e.event_id.as_deref() {
        text(out, 0, Some(id));
        return;
    }
    text(out, 1, Some(&e.event_type));
    out.push(2);
    out.extend_from_slice(&e.occurred_at.to_le_bytes());
    if let Some(t) = e.sent_at {
        out.push(3);
        out.extend_from_slice(&t.to_le_bytes());
    }
    text(out, 4, e.campaign_id.as_deref());
    text(out, 5, e.aws_account_id.as_deref());
    for (tag, v) in (10u8..).zip(e.column_texts()) {
        text(out, tag, v.as_deref());
    }
    if let Some(n) = e.message_parts {
        out.push(40);
        out.extend_from_slice(&n.to_le_bytes());
    }
    // Empty attribute values are as good as missing (a Parquet map may
    // hold a null where the JSON had no key).
    order.clear();
    order
        .extend((0..e.attributes.len() as u32).filter(|&i| !e.attributes[i as usize].1.is_empty()));
    order.sort_unstable_by(|&a, &b| e.attributes[a as usize].cmp(&e.attributes[b as usize]));
    for &i in order.iter() {
        let (k, v) = &e.attributes[i as usize];
        text(out, 41, Some(k));
        text(out, 42, Some(v));
    }
    order.clear();
    order.extend(0..e.metrics.len() as u32);
    order.sort_unstable_by(|&a, &b| e.metrics[a as usize].0.cmp(&e.metrics[b as usize].0));
    for &i in order.iter() {
        let (k, v) = &e.metrics[i as usize];
        let v = *v;
        text(out, 43, Some(k));
        // 0.0 and -0.0 are one value; every NaN is one NaN.
        let v = if v == 0.0 {
            0.0
        } else if v.is_nan() {
            f64::NAN
        } else {
            v
        };
        out.extend_from_slice(&v.to_bits().to_le_bytes());
    }
}

fn text(out: &mut Vec<u8>, tag: u8, v: Option<&str>) {
    if let Some(v) = v {
        out.push(tag);
        out.extend_from_slice(&(v.len() as u64).to_le_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DecodeOptions, decode_record};

    fn id(text: &str, key: &IdentityKey) -> u128 {
        let e = decode_record(text, None, &DecodeOptions::default()).unwrap();
        record_identity(&e, key, &mut Scratch::default())
    }

    #[test]
    fn the_same_content_however_written_is_one_identity() {
        let key = IdentityKey::from_salt(b"salt");
        let compact = r#"{"event_type":"_campaign.send","arrival_timestamp":1700000000000,"event_timestamp":1700000000000,"client":{"client_id":"ep1"},"attributes":{"campaign_id":"c1","campaign_activity_id":"r1"},"metrics":{"m":1}}"#;
        let pretty = "{\n  \"metrics\": {\"m\": 1.0},\n  \"attributes\": {\"campaign_activity_id\": \"r1\", \"campaign_id\": \"c1\", \"empty\": \"\"},\n  \"client\": {\"client_id\": \"ep1\"},\n  \"event_timestamp\": 1700000000000,\n  \"arrival_timestamp\": 1700000000000,\n  \"event_type\": \"_campaign.send\"\n}";
        assert_eq!(id(compact, &key), id(pretty, &key));
        let other_run = compact.replace("\"r1\"", "\"r2\"");
        assert_ne!(id(compact, &key), id(&other_run, &key));
        let other_metric = compact.replace("\"m\":1", "\"m\":2");
        assert_ne!(id(compact, &key), id(&other_metric, &key));
    }

    #[test]
    fn an_event_id_decides_alone_and_the_salt_keys_it() {
        let key = IdentityKey::from_salt(b"salt");
        let a = r#"{"event_type":"a","arrival_timestamp":1,"event_id":"e1"}"#;
        let b = r#"{"event_type":"b","arrival_timestamp":2,"event_id":"e1"}"#;
        assert_eq!(id(a, &key), id(b, &key));
        assert_ne!(id(a, &key), id(a, &IdentityKey::from_salt(b"pepper")));
    }

    #[test]
    fn field_boundaries_are_part_of_the_form() {
        let key = IdentityKey::from_salt(b"salt");
        let a = r#"{"event_type":"a","arrival_timestamp":1,"attributes":{"ab":"c"}}"#;
        let b = r#"{"event_type":"a","arrival_timestamp":1,"attributes":{"a":"bc"}}"#;
        assert_ne!(id(a, &key), id(b, &key));
    }
}
