//! A reader for the usual shape of Pinpoint records: the same [`WireRecord`]
//! that serde builds, in a little over half the instructions.
//!
//! Decoding is most of what ingest spends, and serde's generic plumbing
//! (a visitor and an `Option` layer per field, a field-name visitor per key,
//! a byte-at-a-time scan of strings it ignores) is most of decoding. This
//! reader knows the Pinpoint fields, borrows every string, finds the end of
//! a string with a vectorised search, and skips what it does not need while
//! still checking that it is JSON, as strictly as serde_json does.
//!
//! It declines (returns `None`) whatever it does not handle the way serde
//! would — escapes, attribute values that are numbers or objects, timestamps
//! that are not whole numbers, SES fields, a field given twice, a value of
//! an unexpected type, deep nesting, trailing text — and the caller then
//! decodes the record with serde, which builds it or says what is wrong. So
//! both ways give the same event for every record; the tests check that on
//! every kind of record and on broken copies of them.

use std::borrow::Cow;

use crate::timestamp::Micros;
use crate::wire::{
    Application, Attributes, Client, EmailChannel, Facets, MailEvent, Metrics, PinpointBounce,
    PinpointComplaint, PinpointEngagement, PinpointHeaders, PinpointMail, SesReason, Str,
    WireRecord,
};

/// The record in `text`, if it has the shape this reader handles.
pub(crate) fn read(text: &str) -> Option<WireRecord<'_>> {
    let mut r = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
    };
    let record = r.record()?;
    r.space();
    (r.at == r.bytes.len()).then_some(record)
}

/// Nesting beyond this is left to serde (whose own limit is 128).
const MAX_DEPTH: u32 = 100;

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: u32,
}

/// Marks a field as read; `None` if it was read before (serde refuses a
/// field given twice).
fn first(seen: &mut u32, field: u32) -> Option<()> {
    let bit = 1 << field;
    (*seen & bit == 0).then(|| *seen |= bit)
}

impl<'a> Reader<'a> {
    fn record(&mut self) -> Option<WireRecord<'a>> {
        let mut w = WireRecord::default();
        let mut seen = 0;
        self.object(|r, key| {
            match key {
                "event_type" => {
                    first(&mut seen, 0)?;
                    w.event_type = r.text()?;
                }
                "event_id" => {
                    first(&mut seen, 1)?;
                    w.event_id = r.text()?;
                }
                "event_timestamp" => {
                    first(&mut seen, 2)?;
                    w.event_timestamp = r.millis()?;
                }
                "arrival_timestamp" => {
                    first(&mut seen, 3)?;
                    w.arrival_timestamp = r.millis()?;
                }
                "application" => {
                    first(&mut seen, 4)?;
                    w.application = r.texts(["app_id"])?.map(|[app_id]| Application { app_id });
                }
                "client" => {
                    first(&mut seen, 5)?;
                    w.client = r
                        .texts(["client_id"])?
                        .map(|[client_id]| Client { client_id });
                }
                "attributes" => {
                    first(&mut seen, 6)?;
                    w.attributes = r.nullable(Self::attributes)?;
                }
                "metrics" => {
                    first(&mut seen, 7)?;
                    w.metrics = r.nullable(Self::metrics)?;
                }
                "facets" => {
                    first(&mut seen, 8)?;
                    w.facets = r.nullable(Self::facets)?.map(Box::new);
                }
                "awsAccountId" | "awsaccountid" => {
                    first(&mut seen, 9)?;
                    w.aws_account_id = r.text()?;
                }
                // SES records take the serde path.
                "eventType" | "notificationType" | "mail" | "bounce" | "complaint" | "delivery"
                | "send" | "reject" | "open" | "click" | "failure" | "deliveryDelay"
                | "subscription" => return None,
                _ => r.skip()?,
            }
            Some(())
        })?;
        Some(w)
    }

    fn attributes(&mut self) -> Option<Attributes<'a>> {
        let mut out = Vec::with_capacity(8);
        self.object(|r, key| {
            let value: Cow<'a, str> = match r.peek()? {
                b'"' => Cow::Borrowed(r.string()?),
                b't' => Cow::Borrowed(r.literal("true")?),
                b'f' => Cow::Borrowed(r.literal("false")?),
                b'n' => {
                    r.literal("null")?;
                    return Some(());
                }
                // Numbers and nested values keep serde's spelling of them.
                _ => return None,
            };
            out.push((Cow::Borrowed(key), value));
            Some(())
        })?;
        Some(Attributes(out))
    }

    fn metrics(&mut self) -> Option<Metrics<'a>> {
        let mut out = Vec::with_capacity(4);
        self.object(|r, key| {
            let value = match r.peek()? {
                b'n' => {
                    r.literal("null")?;
                    return Some(());
                }
                b'-' | b'0'..=b'9' => {
                    let (number, whole) = r.number()?;
                    // serde reads a whole number as an integer and a metric
                    // from its decimal text: both round to nearest, like `as`.
                    if whole {
                        // serde reads `-0` as a float, -0.0.
                        if number == "-0" {
                            return None;
                        }
                        match number.parse::<i64>() {
                            Ok(n) => n as f64,
                            Err(_) => number.parse::<u64>().ok()? as f64,
                        }
                    } else {
                        serde_json::from_str::<f64>(number).ok()?
                    }
                }
                _ => return None,
            };
            if !value.is_finite() {
                return None;
            }
            out.push((Cow::Borrowed(key), value));
            Some(())
        })?;
        Some(Metrics(out))
    }

    fn facets(&mut self) -> Option<Facets<'a>> {
        let mut f = Facets::default();
        self.fields(&["email_channel"], |r, _| {
            f.email_channel = r.nullable(|r| {
                let mut c = EmailChannel::default();
                r.fields(&["mail_event"], |r, _| {
                    c.mail_event = r.nullable(Self::mail_event)?;
                    Some(())
                })?;
                Some(c)
            })?;
            Some(())
        })?;
        Some(f)
    }

    fn mail_event(&mut self) -> Option<MailEvent<'a>> {
        const KEYS: [&str; 7] = [
            "mail",
            "click",
            "open",
            "unsubscribe",
            "bounce",
            "complaint",
            "reject",
        ];
        let mut m = MailEvent::default();
        self.fields(&KEYS, |r, field| {
            match field {
                0 => m.mail = r.nullable(Self::mail)?.map(Box::new),
                1 => m.click = r.engagement()?.map(Box::new),
                2 => m.open = r.engagement()?.map(Box::new),
                3 => m.unsubscribe = r.engagement()?.map(Box::new),
                4 => {
                    m.bounce = r.texts(["bounce_type", "bounce_sub_type"])?.map(
                        |[bounce_type, bounce_sub_type]| {
                            Box::new(PinpointBounce {
                                bounce_type,
                                bounce_sub_type,
                            })
                        },
                    )
                }
                5 => {
                    m.complaint =
                        r.texts(["complaint_feedback_type"])?
                            .map(|[complaint_feedback_type]| {
                                Box::new(PinpointComplaint {
                                    complaint_feedback_type,
                                })
                            })
                }
                _ => {
                    m.reject = r
                        .texts(["reason"])?
                        .map(|[reason]| Box::new(SesReason { reason }))
                }
            }
            Some(())
        })?;
        Some(m)
    }

    fn mail(&mut self) -> Option<PinpointMail<'a>> {
        const KEYS: [&str; 5] = [
            "message_id",
            "message_send_timestamp",
            "from_address",
            "destination",
            "common_headers",
        ];
        let mut m = PinpointMail::default();
        self.fields(&KEYS, |r, field| {
            match field {
                0 => m.message_id = r.text()?,
                1 => m.message_send_timestamp = r.millis()?,
                2 => m.from_address = r.text()?,
                3 => {
                    m.destination = r.nullable(|r| {
                        let mut out = Vec::with_capacity(1);
                        r.array(|r| {
                            out.push(Str(Cow::Borrowed(r.string()?)));
                            Some(())
                        })?;
                        Some(out)
                    })?
                }
                _ => {
                    m.common_headers = r
                        .texts(["subject"])?
                        .map(|[subject]| PinpointHeaders { subject })
                }
            }
            Some(())
        })?;
        Some(m)
    }

    fn engagement(&mut self) -> Option<Option<PinpointEngagement<'a>>> {
        let engagement = self.texts(["link", "user_agent", "ip_address"])?;
        Some(
            engagement.map(|[link, user_agent, ip_address]| PinpointEngagement {
                link,
                user_agent,
                ip_address,
            }),
        )
    }

    // ---- JSON

    /// An object of a struct's fields: `read` reads the value of the key
    /// `names[i]` as field `i` (each may appear once); others are skipped.
    fn fields(
        &mut self,
        names: &[&str],
        mut read: impl FnMut(&mut Self, u32) -> Option<()>,
    ) -> Option<()> {
        let mut seen = 0;
        self.object(|r, key| match names.iter().position(|n| *n == key) {
            Some(f) => {
                first(&mut seen, f as u32)?;
                read(r, f as u32)
            }
            None => r.skip(),
        })
    }

    /// `null`, or an object of which only the string fields `names` are
    /// read.
    fn texts<const N: usize>(&mut self, names: [&str; N]) -> Option<Option<[Option<Str<'a>>; N]>> {
        self.nullable(|r| {
            let mut values = [const { None }; N];
            r.fields(&names, |r, field| {
                values[field as usize] = r.text()?;
                Some(())
            })?;
            Some(values)
        })
    }

    /// `null`, or what `read` makes of the value.
    fn nullable<T>(&mut self, read: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(None);
        }
        read(self).map(Some)
    }

    /// A string field: `null` or a string.
    fn text(&mut self) -> Option<Option<Str<'a>>> {
        self.nullable(|r| r.string().map(|s| Str(Cow::Borrowed(s))))
    }

    /// A timestamp field: `null` or whole epoch milliseconds in range.
    fn millis(&mut self) -> Option<Option<Micros>> {
        self.nullable(|r| {
            let (number, whole) = r.number()?;
            let ms: i64 = number.parse().ok().filter(|_| whole)?;
            crate::timestamp::from_millis::<serde_json::Error>(ms).ok()
        })
    }

    fn space(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.bytes.get(self.at).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &'static str) -> Option<&'static str> {
        self.space();
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word.as_bytes()).then(|| {
            self.at = end;
            word
        })
    }

    /// A string without escapes, borrowed from the text.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = self.string_part()?;
        if self.bytes[end] != b'"' {
            return None;
        }
        // Both ends are at an ASCII quote, so on character boundaries.
        self.text.get(start..end)
    }

    /// A string passed over; its escapes are checked as serde_json checks
    /// the strings it ignores (`\u` and four hex digits, or one of eight
    /// letters).
    fn skip_string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            let end = self.string_part()?;
            if self.bytes[end] == b'"' {
                return Some(());
            }
            match *self.bytes.get(self.at)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                b'u' => {
                    let hex = self.bytes.get(self.at + 1..self.at + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.at += 5;
                }
                _ => return None,
            }
        }
    }

    /// Reads up to the next quote or backslash, which it returns the
    /// position of, and steps past it.
    fn string_part(&mut self) -> Option<usize> {
        let end = plain_run_end(self.bytes, self.at);
        // JSON forbids control characters in strings.
        if !matches!(self.bytes.get(end)?, b'"' | b'\\') {
            return None;
        }
        self.at = end + 1;
        Some(end)
    }

    /// A number as JSON spells it, and whether it is whole (no fraction or
    /// exponent).
    fn number(&mut self) -> Option<(&'a str, bool)> {
        self.space();
        let start = self.at;
        let digits = |r: &mut Self| {
            let from = r.at;
            while let Some(b'0'..=b'9') = r.bytes.get(r.at) {
                r.at += 1;
            }
            r.at - from
        };
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        let first = self.bytes.get(self.at).copied();
        let int = digits(self);
        if int == 0 || (first == Some(b'0') && int > 1) {
            return None;
        }
        let mut whole = true;
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            whole = false;
            if digits(self) == 0 {
                return None;
            }
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            whole = false;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return None;
            }
        }
        Some((self.text.get(start..self.at)?, whole))
    }

    /// An object, calling `member` with each key; it reads the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.peek()? == b'}' {
            self.at += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                member(self, key)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b'}' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// An array, calling `element` to read each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        if self.peek()? == b']' {
            self.at += 1;
        } else {
            loop {
                element(self)?;
                match self.peek()? {
                    b',' => self.at += 1,
                    b']' => {
                        self.at += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(())
    }

    /// Any JSON value, checked and passed over.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b'{' => self.object(|r, _| r.skip()),
            b'[' => self.array(Self::skip),
            b't' => self.literal("true").map(drop),
            b'f' => self.literal("false").map(drop),
            b'n' => self.literal("null").map(drop),
            _ => self.number().map(drop),
        }
    }
}

/// The position of the first quote, backslash or control character at or
/// after `from`, or the end of `bytes`: where a run of plain string
/// characters ends. Sixteen bytes at a time where SSE2 is at hand (every
/// x86-64), as string bytes are most of a record.
fn plain_run_end(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_movemask_epi8,
            _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of x86-64; each load reads the 16 bytes at
        // `at`, which the loop condition keeps inside `bytes`, and allows
        // any alignment.
        unsafe {
            let quote = _mm_set1_epi8(b'"' as i8);
            let backslash = _mm_set1_epi8(b'\\' as i8);
            let last_control = _mm_set1_epi8(0x1f);
            while at + 16 <= bytes.len() {
                let x = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
                // A byte is a control character when max(byte, 0x1f) = 0x1f.
                let control = _mm_cmpeq_epi8(_mm_max_epu8(x, last_control), last_control);
                let hits = _mm_or_si128(
                    _mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                    control,
                );
                let mask = _mm_movemask_epi8(hits) as u32;
                if mask != 0 {
                    return at + mask.trailing_zeros() as usize;
                }
                at += 16;
            }
        }
    }
    while at < bytes.len() && !matches!(bytes[at], b'"' | b'\\' | 0..=0x1f) {
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::fixture_tests::fixture;
    use crate::pinpoint;
    use crate::source::{SourceItem, list_inputs, open_source};
    use crate::split::Chunk;

    /// The event (or the reason there is none) from a Pinpoint wire record.
    fn event(w: WireRecord<'_>) -> String {
        format!("{:?}", pinpoint::to_event(w))
    }

    fn by_reader(text: &str) -> Option<String> {
        read(text).filter(|w| w.event_type.is_some()).map(event)
    }

    fn by_serde(text: &str) -> Option<String> {
        serde_json::from_str::<WireRecord>(text)
            .ok()
            .filter(|w| w.event_type.is_some())
            .map(event)
    }

    /// Whatever the reader accepts, serde accepts too and makes the same
    /// event of; returns whether the reader accepted it.
    fn agrees(text: &str) -> bool {
        let Some(fast) = by_reader(text) else {
            return false;
        };
        assert_eq!(Some(&fast), by_serde(text).as_ref(), "record: {text}");
        true
    }

    /// Every record of `data/sample`, read as ingest reads it.
    fn sample_lines() -> Vec<String> {
        let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/sample");
        let mut lines = Vec::new();
        let mut chunk = Chunk::default();
        for file in list_inputs(&[sample]).unwrap().files {
            let mut source = open_source(&file);
            while let SourceItem::Chunk = source.next_chunk(&mut chunk) {
                lines.extend(chunk.records.iter().filter_map(|span| {
                    std::str::from_utf8(chunk.record(span))
                        .ok()
                        .map(str::to_owned)
                }));
            }
        }
        lines
    }

    /// Records of every shape the reader reads, hand-written where the
    /// sample has none.
    fn shapes() -> Vec<String> {
        let mut records: Vec<String> = [
            "pinpoint-campaign-send.json",
            "pinpoint-email-click.json",
            "pinpoint-sms-success.json",
        ]
        .map(fixture)
        .into();
        records.extend([
            r#"{"event_type":"_email.hardbounce","arrival_timestamp":5,"application":null,
               "attributes":{"a":true,"b":false,"c":null,"d":""},"metrics":{"m":-2,"n":1.5e3,"o":null},
               "facets":{"email_channel":{"mail_event":{"bounce":{"bounce_type":"Permanent",
               "bounce_sub_type":"General"},"complaint":{"complaint_feedback_type":"abuse"},
               "reject":{"reason":"Bad content"},"unsubscribe":{"link":"https://x/u"},
               "mail":{"destination":["a@x","b@x"],"common_headers":null,"message_id":null}}},
               "sms_channel":{"x":[1,2.5,-0.5e-3,{"y":[]}]}},"awsaccountid":"1","extra":[[]]}"#
                .to_string(),
            r#" { "event_type" : "_custom.x" , "event_timestamp" : -12 , "client" : { "client_id" : "é" } } "#
                .to_string(),
            r#"{"event_type":"_SMS.SUCCESS","arrival_timestamp":1,"metrics":{"p":18446744073709551615,"q":9007199254740993}}"#
                .to_string(),
        ]);
        let lines = sample_lines();
        for kind in [
            "_email.send",
            "_email.open",
            "_email.click",
            "_SMS.SUCCESS",
            "_campaign.send",
        ] {
            let needle = format!(r#""event_type":"{kind}""#);
            if let Some(line) = lines.iter().find(|l| l.contains(&needle)) {
                records.push(line.clone());
            }
        }
        records
    }

    #[test]
    fn plain_runs_end_at_quotes_backslashes_and_control_characters() {
        // Every stop byte at every position of a 40-byte run, so that both
        // the 16-byte steps and the byte-by-byte tail find it.
        for stop in [b'"', b'\\', 0x00, 0x1f] {
            for at in 0..40 {
                let mut bytes = vec![b'a'; 40];
                bytes[5] = 0x20;
                bytes[7] = 0x7f;
                bytes[9] = 0xc3;
                bytes[at] = stop;
                for from in [0, at / 2, at] {
                    assert_eq!(plain_run_end(&bytes, from), at, "stop {stop} at {at}");
                }
                assert_eq!(plain_run_end(&bytes, at + 1), 40);
            }
        }
    }

    #[test]
    fn the_sample_reads_the_same_both_ways() {
        let lines = sample_lines();
        let accepted = lines.iter().filter(|l| agrees(l)).count();
        // The reader is the common path, not an exception.
        assert!(
            accepted * 100 >= lines.len() * 95,
            "{accepted} of {} read by the reader",
            lines.len()
        );
    }

    #[test]
    fn every_shape_reads_the_same_both_ways() {
        for record in shapes() {
            assert!(agrees(&record), "the reader declined {record}");
        }
    }

    #[test]
    fn broken_copies_are_declined_or_read_the_same() {
        const BYTES: &[u8] = b"\"{}[],:0-9e.+ \x01ntfx\\";
        let mut tried = 0;
        let mut accepted = 0;
        for record in shapes() {
            let bytes = record.as_bytes();
            for cut in 0..bytes.len() {
                // A record cut short is refused (past its end, only white
                // space is left).
                let (kept, rest) = bytes.split_at(cut);
                if let Ok(text) = std::str::from_utf8(kept)
                    && !rest.iter().all(u8::is_ascii_whitespace)
                {
                    assert!(by_reader(text).is_none(), "accepted a cut record: {text}");
                }
                for &b in BYTES {
                    let mut copy = bytes.to_vec();
                    copy[cut] = b;
                    if let Ok(text) = std::str::from_utf8(&copy) {
                        tried += 1;
                        accepted += usize::from(agrees(text));
                    }
                }
            }
        }
        // Many changes keep valid records (a digit for a digit, a letter in
        // a string); many do not.
        assert!(
            accepted > tried / 10 && accepted < tried,
            "{accepted} of {tried}"
        );
    }

    #[test]
    fn declines_what_serde_reads_differently_or_refuses() {
        let declined = [
            // escapes in what is read are unescaped by serde; in what is
            // skipped, checked
            r#"{"event_type":"_email.send","arrival_timestamp":1,"client":{"client_id":"a\"b"}}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"x":"\q"}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"x":"\u12g4"}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"x":"\u12"}"#,
            // a field given twice
            r#"{"event_type":"a","event_type":"b","arrival_timestamp":1}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"awsAccountId":"1","awsaccountid":"2"}"#,
            // numbers as attributes are spelled by serde; nested values too
            r#"{"event_type":"a","arrival_timestamp":1,"attributes":{"n":1}}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"attributes":{"n":{}}}"#,
            // timestamps that are not whole milliseconds, or out of range
            r#"{"event_type":"a","arrival_timestamp":1.5}"#,
            r#"{"event_type":"a","arrival_timestamp":"1"}"#,
            r#"{"event_type":"a","arrival_timestamp":99999999999999999999}"#,
            // metrics serde reads as a float, or from text
            r#"{"event_type":"a","arrival_timestamp":1,"metrics":{"m":-0}}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"metrics":{"m":"5"}}"#,
            // SES fields, trailing text, control characters, bad numbers
            r#"{"event_type":"a","arrival_timestamp":1,"mail":{}}"#,
            r#"{"event_type":"a","arrival_timestamp":1}{}"#,
            "{\"event_type\":\"a\u{1}\",\"arrival_timestamp\":1}",
            r#"{"event_type":"a","arrival_timestamp":1,"x":01}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"x":1.}"#,
            r#"{"event_type":"a","arrival_timestamp":1,"x":[1,]}"#,
            // a struct written as an array, which serde also reads
            r#"{"event_type":"a","arrival_timestamp":1,"client":["c"]}"#,
        ];
        for text in declined {
            assert!(read(text).is_none(), "read {text}");
        }
        let deep = format!(
            r#"{{"event_type":"a","arrival_timestamp":1,"x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert!(read(&deep).is_none());
        let shallow = format!(
            r#"{{"event_type":"a","arrival_timestamp":1,"x":{}{}}}"#,
            "[".repeat(50),
            "]".repeat(50)
        );
        assert!(agrees(&shallow));
        let escaped =
            r#"{"event_type":"a","arrival_timestamp":1,"x":{"y":"\"\\\/\b\f\n\r\t\u00e9\uD83D"}}"#;
        assert!(agrees(escaped));
    }
}
