//! Who may read: everyone on loopback; off loopback, pages ask for the
//! server's token and API calls for an AWS Signature Version 4 made with
//! the server's key pair.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, page_error};
use crate::{Options, Shared, sigv4};

/// An AWS access key pair.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id requests name.
    pub access_key_id: String,
    /// The secret they are signed with.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"…")
            .finish()
    }
}

pub(crate) struct Access {
    /// Bound to a loopback address: only this host can connect.
    loopback: bool,
    token: Option<String>,
    api_key: Option<Credentials>,
}

impl Access {
    pub fn new(options: &Options) -> anyhow::Result<Access> {
        let loopback = options.bind.ip().is_loopback();
        let token = options.auth_token.clone().filter(|t| !t.is_empty());
        if !loopback && token.is_none() {
            anyhow::bail!(
                "refusing to listen on {} without a token: anyone who reaches that address could read \
                 the workspace. Pass --auth-token TOKEN (or --auth-token-file FILE), or bind to \
                 127.0.0.1",
                options.bind
            );
        }
        Ok(Access {
            loopback,
            token,
            api_key: options.api_key.clone(),
        })
    }

    fn page_allowed(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else {
            return self.loopback;
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let presented = if let Some(bearer) = given.strip_prefix("Bearer ") {
            Some(bearer.trim().to_string())
        } else if let Some(basic) = given.strip_prefix("Basic ") {
            decode_basic_password(basic.trim())
        } else {
            None
        };
        presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes()))
    }
}

/// The password of an HTTP Basic `user:password` (base64), any user.
fn decode_basic_password(b64: &str) -> Option<String> {
    let bytes = base64_decode(b64)?;
    let text = String::from_utf8(bytes).ok()?;
    text.split_once(':').map(|(_, p)| p.to_string())
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    };
    let s = s.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

/// Equal byte strings, in time that depends on their lengths only.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware every request passes: read-only methods, then the page
/// token or the API signature.
pub(crate) async fn check(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let access = &state.access;
    let api = request.uri().path().starts_with("/v1/");
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let message = "sendlens serve is read-only: only GET requests are answered";
        return if api {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowedException",
                message,
            )
            .into_response()
        } else {
            page_error(StatusCode::METHOD_NOT_ALLOWED, message)
        };
    }
    if api {
        if !access.loopback {
            let Some(key) = &access.api_key else {
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "ForbiddenException",
                    "this server has no API key pair: start it with --api-access-key-id and \
                     --api-secret-access-key to accept signed requests",
                )
                .into_response();
            };
            if let Err(why) = sigv4::verify(&request, key, chrono::Utc::now()) {
                return ApiError::new(StatusCode::FORBIDDEN, "ForbiddenException", &why)
                    .into_response();
            }
        }
    } else if !access.page_allowed(request.headers()) {
        let mut response = page_error(
            StatusCode::UNAUTHORIZED,
            "this server asks for its token: sign in with any user name and the token as the \
             password, or send `Authorization: Bearer TOKEN`",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"sendlens\", charset=\"UTF-8\""),
        );
        return response;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_passwords_decode() {
        // "user:s3cret"
        assert_eq!(
            decode_basic_password("dXNlcjpzM2NyZXQ="),
            Some("s3cret".into())
        );
        assert_eq!(decode_basic_password("!!"), None);
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }
}
