//! AWS Signature Version 4, checked the way AWS checks it: the canonical
//! request rebuilt from what arrived, signed again with the server's
//! secret, compared with the signature the request carries.

use axum::extract::Request;
use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::Credentials;
use crate::access::constant_time_eq;
use crate::params::percent_encode;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// How far a request's `X-Amz-Date` may be from the server's clock, as AWS
/// allows.
const SKEW_MINUTES: i64 = 15;

/// The hash of an empty body: a GET carries none.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Ok when `request` is signed with `key` at a time near `now`; otherwise
/// what is wrong, for the caller's `ForbiddenException`.
pub(crate) fn verify(
    request: &Request,
    key: &Credentials,
    now: DateTime<Utc>,
) -> Result<(), String> {
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let auth = header("authorization")
        .ok_or("the request is not signed: sign it with AWS Signature Version 4")?;
    let fields = auth
        .strip_prefix(ALGORITHM)
        .ok_or("the request is not signed with AWS4-HMAC-SHA256")?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in fields.split(',') {
        let (name, value) = part.trim().split_once('=').unwrap_or(("", ""));
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let (credential, signed, signature) = match (credential, signed, signature) {
        (Some(c), Some(h), Some(s)) => (c, h, s),
        _ => {
            return Err(
                "the Authorization header lacks Credential, SignedHeaders or Signature".into(),
            );
        }
    };
    let mut scope = credential.splitn(5, '/');
    let (id, day, region, service, terminal) = (
        scope.next().unwrap_or_default(),
        scope.next().unwrap_or_default(),
        scope.next().unwrap_or_default(),
        scope.next().unwrap_or_default(),
        scope.next().unwrap_or_default(),
    );
    if terminal != "aws4_request" {
        return Err("the credential scope does not end in aws4_request".into());
    }
    if !constant_time_eq(id.as_bytes(), key.access_key_id.as_bytes()) {
        return Err("the access key id is not this server's".into());
    }
    let amz_date = header("x-amz-date").ok_or("the request has no X-Amz-Date header")?;
    let at = NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
        .map_err(|_| "X-Amz-Date is not of the form YYYYMMDDTHHMMSSZ")?
        .and_utc();
    if (now - at).num_minutes().abs() > SKEW_MINUTES {
        return Err(format!(
            "the signature's time {amz_date} is more than {SKEW_MINUTES} minutes from the server's clock"
        ));
    }
    if !amz_date.starts_with(day) || day.len() != 8 {
        return Err("the credential scope's date is not the day of X-Amz-Date".into());
    }
    let signed_names: Vec<&str> = signed.split(';').collect();
    if !signed_names.contains(&"host") {
        return Err("the Host header is not signed".into());
    }
    let mut canonical_headers = String::new();
    for name in &signed_names {
        let values: Vec<String> = headers
            .get_all(*name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(format!("the signed header {name} is missing"));
        }
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let payload = header("x-amz-content-sha256").unwrap_or(EMPTY_SHA256);
    let canonical = format!(
        "{method}\n{uri}\n{query}\n{canonical_headers}\n{signed}\n{payload}",
        method = request.method().as_str(),
        uri = percent_encode(request.uri().path(), true),
        query = canonical_query(request.uri().query().unwrap_or("")),
    );
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{day}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let mut signing = hmac(
        format!("AWS4{}", key.secret_access_key).as_bytes(),
        day.as_bytes(),
    );
    for part in [region, service, "aws4_request"] {
        signing = hmac(&signing, part.as_bytes());
    }
    let expected = hex::encode(hmac(&signing, string_to_sign.as_bytes()));
    if constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        Ok(())
    } else {
        Err("the request signature does not match: check the secret access key".into())
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The query string with each name and value decoded, encoded again the
/// AWS way, and sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_encode(&decode(k), false),
                percent_encode(&decode(v), false),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-decoding (`+` is a space in a query).
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 3;
                        continue;
                    }
                    _ => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's own example (the "get-vanilla-query-order-key-case" case of the
    /// Signature Version 4 test suite): GET /?Param2=value2&Param1=value1 to
    /// example.amazonaws.com, service "service", region us-east-1.
    #[test]
    fn aws_test_suite_example_verifies() {
        let key = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        };
        let request = |signature: &str| {
            Request::builder()
                .method("GET")
                .uri("/?Param2=value2&Param1=value1")
                .header("host", "example.amazonaws.com")
                .header("x-amz-date", "20150830T123600Z")
                .header(
                    "authorization",
                    format!(
                        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                         SignedHeaders=host;x-amz-date, Signature={signature}"
                    ),
                )
                .body(axum::body::Body::empty())
                .unwrap()
        };
        let at = DateTime::parse_from_rfc3339("2015-08-30T12:40:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let good = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500";
        assert_eq!(verify(&request(good), &key, at), Ok(()));
        let bad = "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2501";
        assert!(verify(&request(bad), &key, at).is_err());
        // A day later, the same signature is stale.
        let late = at + chrono::Duration::days(1);
        assert!(
            verify(&request(good), &key, late)
                .unwrap_err()
                .contains("minutes")
        );
    }

    #[test]
    fn decoding_takes_percent_escapes_and_plus() {
        assert_eq!(decode("a%20b+c%2"), "a b c%2");
        assert_eq!(
            percent_encode("2026-03-01T00:00:00Z", false),
            "2026-03-01T00%3A00%3A00Z"
        );
    }
}
