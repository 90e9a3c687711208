//! The workspace's PII policy: email addresses, phone numbers and IP
//! addresses are stored as they are, hashed with the workspace's salt, or
//! dropped. The policy covers the typed columns, the attribute map and the
//! original record text alike, so no copy of a value escapes it.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::event::Event;

/// What to do with personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PiiPolicy {
    /// Store as received.
    #[default]
    Keep,
    /// Replace each value with `pii:` and 32 hex digits of SHA-256(salt, value).
    Hash,
    /// Remove the values (NULL in typed columns, empty in text).
    Drop,
}

impl std::str::FromStr for PiiPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "keep" => Ok(PiiPolicy::Keep),
            "hash" => Ok(PiiPolicy::Hash),
            "drop" => Ok(PiiPolicy::Drop),
            other => Err(format!(
                "unknown PII policy {other:?}: use \"keep\", \"hash\" or \"drop\""
            )),
        }
    }
}

impl PiiPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PiiPolicy::Keep => "keep",
            PiiPolicy::Hash => "hash",
            PiiPolicy::Drop => "drop",
        }
    }
}

static PII: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        // email addresses
        r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
        // E.164 phone numbers
        r"|\+[1-9][0-9]{6,14}\b",
        // IPv4
        r"|\b(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}\b",
        // IPv6: eight groups, or a compressed form with "::" (never a
        // clock time such as 23:12:54, which has neither)
        r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b",
        r"|\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5}\b)?",
    ))
    .expect("valid PII pattern")
});

/// Applies a [`PiiPolicy`] with a salt.
#[derive(Debug, Clone)]
pub struct PiiScrubber {
    policy: PiiPolicy,
    salt: Vec<u8>,
}

impl PiiScrubber {
    pub fn new(policy: PiiPolicy, salt: impl Into<Vec<u8>>) -> Self {
        PiiScrubber {
            policy,
            salt: salt.into(),
        }
    }

    pub fn policy(&self) -> PiiPolicy {
        self.policy
    }

    /// The stored form of one PII value.
    pub fn hash_value(&self, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(&self.salt);
        h.update([0u8]);
        h.update(value.trim().to_lowercase().as_bytes());
        let digest = h.finalize();
        let mut out = String::with_capacity(36);
        out.push_str("pii:");
        for b in &digest[..16] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Replace every PII value found in `text`.
    pub fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.policy {
            PiiPolicy::Keep => Cow::Borrowed(text),
            PiiPolicy::Hash => PII.replace_all(text, |c: &regex::Captures| self.hash_value(&c[0])),
            PiiPolicy::Drop => PII.replace_all(text, ""),
        }
    }

    fn scrub_field(&self, v: &mut Option<Cow<'_, str>>) {
        if let Some(s) = v.as_deref() {
            match self.policy {
                PiiPolicy::Keep => {}
                PiiPolicy::Hash => *v = Some(Cow::Owned(self.hash_value(s))),
                PiiPolicy::Drop => *v = None,
            }
        }
    }

    fn scrub_in_place(&self, v: &mut Option<Cow<'_, str>>) {
        if let Some(s) = v.as_deref()
            && let Cow::Owned(new) = self.scrub_text(s)
        {
            *v = (!new.is_empty()).then_some(Cow::Owned(new));
        }
    }

    /// Apply the policy to an event and its original text.
    pub fn scrub<'a>(&self, e: &mut Event<'a>, raw: &mut Cow<'a, str>) {
        if self.policy == PiiPolicy::Keep {
            return;
        }
        let endpoint_is_address = e.endpoint_id.is_some() && e.endpoint_id == e.address;
        self.scrub_field(&mut e.address);
        self.scrub_field(&mut e.ip_address);
        self.scrub_field(&mut e.from_address);
        if endpoint_is_address {
            e.endpoint_id = e.address.clone();
        } else {
            self.scrub_in_place(&mut e.endpoint_id);
        }
        self.scrub_in_place(&mut e.subject);
        self.scrub_in_place(&mut e.link);
        for (_, v) in e.attributes.iter_mut() {
            if let Cow::Owned(new) = self.scrub_text(v) {
                *v = Cow::Owned(new);
            }
        }
        if let Cow::Owned(new) = self.scrub_text(raw) {
            *raw = Cow::Owned(new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_kind() {
        let s = PiiScrubber::new(PiiPolicy::Drop, "salt");
        assert_eq!(
            s.scrub_text("to a.b+c@example.co.uk from 192.0.2.1 tel +14255550199 v6 2001:db8::1"),
            "to  from  tel  v6 "
        );
        assert_eq!(
            s.scrub_text("version 3.1 at 2019-07-02T23:12:54.836Z"),
            "version 3.1 at 2019-07-02T23:12:54.836Z"
        );
    }

    #[test]
    fn hashing_is_salted_and_stable() {
        let a = PiiScrubber::new(PiiPolicy::Hash, "one");
        let b = PiiScrubber::new(PiiPolicy::Hash, "two");
        assert_eq!(a.hash_value("X@Example.com"), a.hash_value("x@example.com"));
        assert_ne!(a.hash_value("x@example.com"), b.hash_value("x@example.com"));
        assert!(a.hash_value("x@example.com").starts_with("pii:"));
        assert_eq!(a.hash_value("x@example.com").len(), 36);
    }
}
