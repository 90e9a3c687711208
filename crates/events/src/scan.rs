//! Structural JSON scanning: where a record's object ends, whether its
//! structure holds, and where the next record starts after a broken one.
//!
//! Records written back to back (Firehose without a delimiter, or several on
//! one line) are told apart by their structure alone, before they are
//! decoded. Counting braces is not enough: a record cut short, or a string
//! left open, shifts the count and the next records vanish inside the broken
//! one. The [`Scanner`] follows the JSON grammar (values, keys, commas,
//! strings, literals), so it says at which byte a record stops being JSON,
//! and [`find_record_start`] then finds the next object that is a whole
//! record. Content that does not change the structure (escapes, number
//! syntax, control characters) is left to the decoder, which rejects the one
//! record that has it.

use memchr::{memchr, memchr3};

/// Deeper nesting than this is refused, as serde_json refuses it; it also
/// bounds the work [`find_record_start`] does per candidate.
pub const MAX_DEPTH: u32 = 128;

/// How far a scan got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scanned {
    /// The object ends after this many bytes (of everything fed so far).
    Complete(usize),
    /// Valid so far; the object goes on past the bytes fed.
    Incomplete,
    /// Not JSON at this byte (of everything fed so far).
    Invalid(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The opening `{` of the record.
    Start,
    /// A value (after `:`, or after `,` in an array).
    Value,
    /// A value or `]` (after `[`).
    ValueOrClose,
    /// A key or `}` (after `{`).
    KeyOrClose,
    /// A key (after `,` in an object).
    Key,
    /// `:` after a key.
    Colon,
    /// `,` or the close of the container (after a value).
    CommaOrClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    None,
    /// Inside a string; `escaped` after a backslash; `key` for object keys.
    String {
        escaped: bool,
        key: bool,
    },
    /// Inside `true`, `false` or `null`: the literal and how much matched.
    Literal(&'static [u8], usize),
    Number,
}

/// A resumable scan of one JSON object: feed it the bytes as they come.
#[derive(Debug, Clone)]
pub struct Scanner {
    expect: Expect,
    token: Token,
    depth: u32,
    /// Bit `i` set when the container at depth `i + 1` is an array.
    arrays: u128,
    /// Bytes fed so far.
    fed: usize,
    /// How the scan ended, once it has.
    ended: Option<Scanned>,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    pub fn new() -> Scanner {
        Scanner {
            expect: Expect::Start,
            token: Token::None,
            depth: 0,
            arrays: 0,
            fed: 0,
            ended: None,
        }
    }

    /// Scan the next bytes of the object. Once it is complete or invalid,
    /// feeding more changes nothing.
    pub fn feed(&mut self, data: &[u8]) -> Scanned {
        if let Some(ended) = self.ended {
            return ended;
        }
        let base = self.fed;
        let mut i = 0;
        while i < data.len() {
            match self.token {
                Token::String { escaped, key } => {
                    if escaped {
                        self.token = Token::String {
                            escaped: false,
                            key,
                        };
                        i += 1;
                        continue;
                    }
                    // A raw line break cannot be in a JSON string: a string
                    // left open ends at the line, not records later.
                    match memchr3(b'"', b'\\', b'\n', &data[i..]) {
                        None => i = data.len(),
                        Some(k) => match data[i + k] {
                            b'"' => {
                                self.token = Token::None;
                                self.expect = if key {
                                    Expect::Colon
                                } else {
                                    Expect::CommaOrClose
                                };
                                i += k + 1;
                            }
                            b'\\' => {
                                self.token = Token::String { escaped: true, key };
                                i += k + 1;
                            }
                            _ => return self.end(Scanned::Invalid(base + i + k)),
                        },
                    }
                }
                Token::Literal(word, matched) => {
                    if data[i] != word[matched] {
                        return self.end(Scanned::Invalid(base + i));
                    }
                    i += 1;
                    self.token = if matched + 1 == word.len() {
                        self.expect = Expect::CommaOrClose;
                        Token::None
                    } else {
                        Token::Literal(word, matched + 1)
                    };
                }
                Token::Number => {
                    // The number's own syntax is the decoder's to check.
                    if matches!(data[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                        i += 1;
                    } else {
                        self.token = Token::None;
                        self.expect = Expect::CommaOrClose;
                    }
                }
                Token::None => {
                    let b = data[i];
                    if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                        i += 1;
                        continue;
                    }
                    let ok = match (self.expect, b) {
                        (Expect::Start, b'{') => self.open(false),
                        (Expect::Start, _) => false,
                        (Expect::Value | Expect::ValueOrClose, b'{') => self.open(false),
                        (Expect::Value | Expect::ValueOrClose, b'[') => self.open(true),
                        (Expect::Value | Expect::ValueOrClose, b'"') => {
                            self.token = Token::String {
                                escaped: false,
                                key: false,
                            };
                            true
                        }
                        (Expect::Value | Expect::ValueOrClose, b't') => self.literal(b"true"),
                        (Expect::Value | Expect::ValueOrClose, b'f') => self.literal(b"false"),
                        (Expect::Value | Expect::ValueOrClose, b'n') => self.literal(b"null"),
                        (Expect::Value | Expect::ValueOrClose, b'-' | b'0'..=b'9') => {
                            self.token = Token::Number;
                            true
                        }
                        (Expect::ValueOrClose, b']') => self.close(),
                        (Expect::KeyOrClose, b'}') => self.close(),
                        (Expect::KeyOrClose | Expect::Key, b'"') => {
                            self.token = Token::String {
                                escaped: false,
                                key: true,
                            };
                            true
                        }
                        (Expect::Colon, b':') => {
                            self.expect = Expect::Value;
                            true
                        }
                        (Expect::CommaOrClose, b',') => {
                            self.expect = if self.in_array() {
                                Expect::Value
                            } else {
                                Expect::Key
                            };
                            true
                        }
                        (Expect::CommaOrClose, b'}') => !self.in_array() && self.close(),
                        (Expect::CommaOrClose, b']') => self.in_array() && self.close(),
                        _ => false,
                    };
                    if !ok {
                        return self.end(Scanned::Invalid(base + i));
                    }
                    i += 1;
                    if self.depth == 0 {
                        // The record's closing brace.
                        return self.end(Scanned::Complete(base + i));
                    }
                }
            }
        }
        self.fed = base + data.len();
        Scanned::Incomplete
    }

    fn end(&mut self, how: Scanned) -> Scanned {
        self.ended = Some(how);
        how
    }

    fn in_array(&self) -> bool {
        self.depth > 0 && self.arrays >> (self.depth - 1) & 1 == 1
    }

    fn open(&mut self, array: bool) -> bool {
        if self.depth >= MAX_DEPTH {
            return false;
        }
        let bit = 1u128 << self.depth;
        if array {
            self.arrays |= bit;
        } else {
            self.arrays &= !bit;
        }
        self.depth += 1;
        self.expect = if array {
            Expect::ValueOrClose
        } else {
            Expect::KeyOrClose
        };
        true
    }

    fn close(&mut self) -> bool {
        self.depth -= 1;
        self.expect = Expect::CommaOrClose;
        true
    }

    fn literal(&mut self, word: &'static [u8]) -> bool {
        self.token = Token::Literal(word, 1);
        true
    }
}

/// Scan the object at the start of `data` (which must start with `{` to be
/// one).
pub fn scan_object(data: &[u8]) -> Scanned {
    Scanner::new().feed(data)
}

/// Where the next record starts in `data`, at or after `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextRecord {
    /// A whole record: its start and length.
    At(usize, usize),
    /// An object starts here that `data` does not hold to its end: with
    /// more input it may be a record.
    Unfinished(usize),
    /// No record starts in `data` from `from` on.
    None,
}

/// The next record at or after `from`: the first `{` that opens an object
/// whose structure holds to its end and that has a record's key at its top
/// level (`event_type` for Pinpoint, `eventType` or `notificationType` for
/// SES). Nested objects of a broken record are passed over: they lack the
/// key. With `more_to_come`, an object that runs past the end of `data` is
/// reported as [`NextRecord::Unfinished`] instead of passed over.
pub fn find_record_start(data: &[u8], from: usize, more_to_come: bool) -> NextRecord {
    let mut at = from;
    while at < data.len() {
        let Some(k) = memchr(b'{', &data[at..]) else {
            break;
        };
        let q = at + k;
        match scan_object(&data[q..]) {
            Scanned::Complete(len) if is_record(&data[q..q + len]) => {
                return NextRecord::At(q, len);
            }
            Scanned::Incomplete if more_to_come => return NextRecord::Unfinished(q),
            _ => {}
        }
        at = q + 1;
    }
    NextRecord::None
}

/// Whether a structurally whole object has a record's key at its top level.
pub fn is_record(object: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Keys {
        event_type: Option<serde::de::IgnoredAny>,
        #[serde(rename = "eventType")]
        ses_event_type: Option<serde::de::IgnoredAny>,
        #[serde(rename = "notificationType")]
        ses_notification_type: Option<serde::de::IgnoredAny>,
    }
    serde_json::from_slice::<Keys>(object).is_ok_and(|k| {
        k.event_type.is_some() || k.ses_event_type.is_some() || k.ses_notification_type.is_some()
    })
}

/// One piece of a text cut into records: `start..end`, whitespace trimmed.
/// A piece that is not a whole record (broken, or garbage between records)
/// is still a piece: the decoder says what is wrong with it.
pub fn split_records(data: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= data.len() {
            return out;
        }
        let end = match scan_object(&data[pos..]) {
            Scanned::Complete(len) => pos + len,
            _ => match find_record_start(data, pos + 1, false) {
                NextRecord::At(q, _) => q,
                _ => data.len(),
            },
        };
        let mut trimmed = end;
        while trimmed > pos && data[trimmed - 1].is_ascii_whitespace() {
            trimmed -= 1;
        }
        out.push((pos, trimmed));
        pos = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str) -> Vec<&str> {
        split_records(s.as_bytes())
            .into_iter()
            .map(|(a, b)| &s[a..b])
            .collect()
    }

    #[test]
    fn whole_objects_end_where_their_structure_ends() {
        assert_eq!(scan_object(br#"{}"#), Scanned::Complete(2));
        assert_eq!(
            scan_object(br#"{"a":[1,-2.5e3,true,false,null,{"b":"}{\"x"}]} tail"#),
            Scanned::Complete(46)
        );
        assert_eq!(scan_object(br#"{"a":"#), Scanned::Incomplete);
        assert_eq!(scan_object(br#"{"a":tr"#), Scanned::Incomplete);
        assert_eq!(scan_object(br#"{"a":tx}"#), Scanned::Invalid(6));
        assert_eq!(scan_object(br#"{"a" 1}"#), Scanned::Invalid(5));
        assert_eq!(scan_object(br#"{"a":1]"#), Scanned::Invalid(6));
        assert_eq!(
            scan_object(br#"{"a":{"b":1}{"c":2}}"#),
            Scanned::Invalid(12)
        );
        assert_eq!(scan_object(b"{\"a\":\"open\n\"}"), Scanned::Invalid(10));
        assert_eq!(scan_object(b"x{}"), Scanned::Invalid(0));
        let deep = "{\"a\":".repeat(200);
        assert!(matches!(scan_object(deep.as_bytes()), Scanned::Invalid(_)));
    }

    #[test]
    fn a_scan_resumes_across_pieces() {
        let text = br#"{"a":"x\"y","b":[true,null,12],"c":{}}"#;
        for cut in 0..text.len() {
            let mut s = Scanner::new();
            let first = s.feed(&text[..cut]);
            assert_eq!(first, Scanned::Incomplete, "cut at {cut}");
            assert_eq!(s.feed(&text[cut..]), Scanned::Complete(text.len()), "{cut}");
        }
    }

    #[test]
    fn records_after_a_broken_one_are_found() {
        let good = r#"{"event_type":"_email.send","arrival_timestamp":1}"#;
        // Cut short inside a string, after a colon, and in a nested object.
        for broken in [
            r#"{"event_type":"_email.open","attri"#,
            r#"{"event_type":"_email.open","attributes":"#,
            r#"{"event_type":"_email.open","attributes":{"campaign_id":"c1""#,
            r#"{"event_type": }"#,
            r#"garbage"#,
        ] {
            let text = format!("{good}{broken}{good}{good}");
            assert_eq!(pieces(&text), [good, broken, good, good], "{broken}");
            let text = format!("{broken}{good}");
            assert_eq!(pieces(&text), [broken, good], "{broken}");
        }
    }

    #[test]
    fn nested_objects_of_a_broken_record_are_not_records() {
        let text = r#"{"eventType":"Open","mail":{"messageId":"m"},"x":tru}{"eventType":"Send","mail":{}}"#;
        assert_eq!(
            pieces(text),
            [
                r#"{"eventType":"Open","mail":{"messageId":"m"},"x":tru}"#,
                r#"{"eventType":"Send","mail":{}}"#
            ]
        );
    }

    #[test]
    fn an_unfinished_candidate_is_reported_when_more_may_come() {
        let text = br#"xx{"event_type":"a""#;
        assert_eq!(find_record_start(text, 0, true), NextRecord::Unfinished(2));
        assert_eq!(find_record_start(text, 0, false), NextRecord::None);
    }
}
