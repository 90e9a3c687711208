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

/// How an `@` or a `+` may be written: as is, percent-encoded (once or
/// twice, as links carry addresses), as a JSON `\u` escape (the raw record
/// text is JSON) or as an HTML character reference.
const AT: &str = r"(?:@|%40|%2540|\\u0040|&#0*64;|&#[xX]0*40;|&commat;)";
const PLUS: &str = r"(?:\+|%2[Bb]|%252[Bb]|\\u002[Bb])";
const DOT: &str = r"(?:\.|%2[Ee])";

static PII: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&[
        // email addresses (a local part may hold percent-encoded + . - _)
        format!(
            r"(?:[A-Za-z0-9._+\-]|%2[BbEeDd]|%5[Ff])+{AT}[A-Za-z0-9\-]+(?:{DOT}[A-Za-z0-9\-]+)*{DOT}[A-Za-z]{{2,}}"
        ),
        // E.164 phone numbers
        format!(r"{PLUS}[1-9][0-9]{{6,14}}\b"),
        // IPv4
        r"\b(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])){3}\b".into(),
        // IPv6: eight groups, or a compressed form with "::" (never a
        // clock time such as 23:12:54, which has neither)
        r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b".into(),
        r"\b(?:[0-9A-Fa-f]{1,4}:){1,6}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,5}\b)?".into(),
    ]
    .join("|"))
    .expect("valid PII pattern")
});

/// A query parameter value that may be base64 (tracking links often carry
/// the recipient's address so): long enough to hold an address.
static BASE64_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"=([A-Za-z0-9+/_\-]{8,}(?:(?:%3[Dd]){1,2}|={0,2}))").expect("valid base64 pattern")
});

/// The value a match stands for, its encodings undone, so that every
/// spelling of one address hashes alike.
fn decoded(found: &str) -> Cow<'_, str> {
    if !found.contains(['%', '\\', '&']) {
        return Cow::Borrowed(found);
    }
    let mut s = found.to_string();
    for (from, to) in [
        ("%2540", "@"),
        ("%252B", "+"),
        ("%252b", "+"),
        ("%40", "@"),
        ("%2B", "+"),
        ("%2b", "+"),
        ("%2E", "."),
        ("%2e", "."),
        ("%2D", "-"),
        ("%2d", "-"),
        ("%5F", "_"),
        ("%5f", "_"),
        ("\\u0040", "@"),
        ("\\u002B", "+"),
        ("\\u002b", "+"),
        ("&commat;", "@"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    if s.contains("&#") {
        s = HTML_AT.replace_all(&s, "@").into_owned();
    }
    Cow::Owned(s)
}

static HTML_AT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"&#0*64;|&#[xX]0*40;").expect("valid pattern"));

/// The text of a base64 value, if it is one and decodes to text.
fn base64_text(value: &str) -> Option<String> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let value = value.trim_end_matches('=');
    let value = value
        .strip_suffix("%3D%3D")
        .or(value.strip_suffix("%3d%3d"))
        .unwrap_or(value);
    let value = value
        .strip_suffix("%3D")
        .or(value.strip_suffix("%3d"))
        .unwrap_or(value);
    let bytes = if value.contains(['-', '_']) {
        URL_SAFE_NO_PAD.decode(value).ok()?
    } else {
        STANDARD_NO_PAD.decode(value).ok()?
    };
    String::from_utf8(bytes).ok()
}

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
        let value = decoded(value.trim());
        let mut h = Sha256::new();
        h.update(&self.salt);
        h.update([0u8]);
        h.update(value.to_lowercase().as_bytes());
        let digest = h.finalize();
        let mut out = String::with_capacity(36);
        out.push_str("pii:");
        for b in &digest[..16] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Replace every PII value found in `text`, in any of the encodings
    /// [`PII`] knows, and in base64 query parameter values.
    pub fn scrub_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let replace = |found: &str| match self.policy {
            PiiPolicy::Keep => found.to_string(),
            PiiPolicy::Hash => self.hash_value(found),
            PiiPolicy::Drop => String::new(),
        };
        let scrubbed = match self.policy {
            PiiPolicy::Keep => return Cow::Borrowed(text),
            _ => PII.replace_all(text, |c: &regex::Captures| replace(&c[0])),
        };
        if !scrubbed.contains('=') {
            return scrubbed;
        }
        let encoded = |c: &regex::Captures| -> String {
            let value = &c[1];
            match base64_text(value).and_then(|t| PII.find(&t).map(|m| replace(m.as_str()))) {
                Some(stored) => format!("={stored}"),
                None => c[0].to_string(),
            }
        };
        match BASE64_VALUE.replace_all(&scrubbed, encoded) {
            Cow::Borrowed(_) => scrubbed,
            Cow::Owned(s) => Cow::Owned(s),
        }
    }

    /// [`PiiScrubber::scrub_text`] for bytes that may not be UTF-8 (a
    /// rejected record): under `hash` and `drop` they come back as text,
    /// any invalid UTF-8 replaced, since no byte may pass unscrubbed.
    pub fn scrub_bytes<'a>(&self, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if self.policy == PiiPolicy::Keep {
            return Cow::Borrowed(bytes);
        }
        let text = String::from_utf8_lossy(bytes);
        match self.scrub_text(&text) {
            Cow::Borrowed(_) => match text {
                Cow::Borrowed(_) => Cow::Borrowed(bytes),
                Cow::Owned(t) => Cow::Owned(t.into_bytes()),
            },
            Cow::Owned(t) => Cow::Owned(t.into_bytes()),
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
    fn encoded_addresses_are_found_and_hash_as_the_plain_ones() {
        let s = PiiScrubber::new(PiiPolicy::Hash, "salt");
        let plain = s.hash_value("alice@example.com");
        for written in [
            "alice%40example.com",
            "alice%2540example.com",
            "alice\\u0040example.com",
            "alice&#64;example.com",
            "alice&#x40;example.com",
            "alice&commat;example.com",
            "ALICE@Example.COM",
        ] {
            let text = format!("https://t.example.net/c?e={written}&x=1");
            assert_eq!(
                s.scrub_text(&text),
                format!("https://t.example.net/c?e={plain}&x=1"),
                "{written}"
            );
        }
        // Base64 (standard or URL-safe, with or without padding).
        for value in [
            "YWxpY2VAZXhhbXBsZS5jb20=",
            "YWxpY2VAZXhhbXBsZS5jb20",
            "YWxpY2VAZXhhbXBsZS5jb20%3D",
        ] {
            let text = format!("https://t.example.net/c?u={value}&x=1");
            assert_eq!(
                s.scrub_text(&text),
                format!("https://t.example.net/c?u={plain}&x=1"),
                "{value}"
            );
        }
        let phone = s.hash_value("+14255550199");
        assert_eq!(s.scrub_text("to=%2B14255550199"), format!("to={phone}"));
        let d = PiiScrubber::new(PiiPolicy::Drop, "salt");
        assert_eq!(
            d.scrub_text("?e=bob%40example.org&u=Ym9iQGV4YW1wbGUub3Jn"),
            "?e=&u="
        );
        // An id that merely looks like base64 stays.
        assert_eq!(d.scrub_text("?id=0123456789abcdef"), "?id=0123456789abcdef");
    }

    #[test]
    fn bytes_that_are_not_text_are_scrubbed_too() {
        let d = PiiScrubber::new(PiiPolicy::Drop, "salt");
        assert_eq!(
            &*d.scrub_bytes(b"\xff to a@example.com"),
            "\u{fffd} to ".as_bytes()
        );
        let k = PiiScrubber::new(PiiPolicy::Keep, "salt");
        assert_eq!(
            &*k.scrub_bytes(b"\xff a@example.com"),
            b"\xff a@example.com"
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
