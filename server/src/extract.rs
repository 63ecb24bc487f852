//! Request extractors: JSON bodies with problem+json rejections, and the
//! authenticated caller.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts};
use bytes::Bytes;
use praxis_protocol::ErrorCode;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::AppState;
use crate::auth::tokens;
use crate::error::AppError;

/// A JSON body. Unlike `axum::Json`, every rejection is a problem with a
/// stable code, names the offending field, and never quotes the submitted
/// value (serde's messages do: "invalid type: string \"...\"").
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let body = json_body(req, state).await?;
        decode(&body).map(ApiJson)
    }
}

/// An [`ApiJson`] body and its size in bytes, for budgets counted in bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SizedJson<T>(pub T, pub usize);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for SizedJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let body = json_body(req, state).await?;
        decode(&body).map(|value| SizedJson(value, body.len()))
    }
}

/// The bytes of a JSON body, refused as problems.
async fn json_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, AppError> {
    if !is_json(req.headers()) {
        return Err(AppError::new(ErrorCode::UnsupportedMediaType));
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::new(ErrorCode::PayloadTooLarge)
        } else {
            AppError::new(ErrorCode::MalformedJson).detail("The body could not be read")
        }
    })
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Decodes a JSON body into `T`, mapping failures to problems.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    // Syntax first, so that a truncated body is `malformed_json` even when
    // its first values already have the wrong type.
    serde_json::from_slice::<serde::de::IgnoredAny>(body)
        .map_err(|_| AppError::new(ErrorCode::MalformedJson))?;
    // Every body of the API is an object. serde's derived structs also take
    // an array, field by field in declaration order: `["x@y.org", "Name"]`
    // must not be read as an email and a name.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::invalid("body", "The body must be a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let field = field_of(&e.path().to_string(), &inner.to_string());
                AppError::invalid(&field, "Missing, unknown or wrongly typed field")
            }
            _ => AppError::new(ErrorCode::MalformedJson),
        }
    })?;
    Ok(value)
}

/// The field a data error is about: serde reports missing and unknown
/// fields against the parent path, naming the field in backticks.
fn field_of(path: &str, message: &str) -> String {
    for prefix in ["missing field `", "unknown field `"] {
        if let Some(name) = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.split('`').next())
        {
            return if path == "." {
                name.to_owned()
            } else if path == name || path.ends_with(&format!(".{name}")) {
                path.to_owned()
            } else {
                format!("{path}.{name}")
            };
        }
    }
    if path == "." {
        "body".to_owned()
    } else {
        path.to_owned()
    }
}

/// The authenticated caller: a live access token's account and family.
#[derive(Clone)]
pub struct Caller {
    /// The account.
    pub user_id: Uuid,
    /// The token family (one per login) the access token belongs to.
    pub family_id: Uuid,
    /// When the access token expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The token's hash, to check it again later (a change stream).
    pub token_hash: Vec<u8>,
}

// Ids only: the token's hash is never printed.
impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user_id", &self.user_id)
            .field("family_id", &self.family_id)
            .finish_non_exhaustive()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AppError::new(ErrorCode::Unauthorized))?;
        let hash = tokens::hash(token);
        let Some((user_id, family_id, expires_at)) =
            state.store().access(&hash, state.now()).await?
        else {
            // A device of an erased account learns it must wipe itself.
            if state.store().token_erased(&hash).await? {
                return Err(AppError::new(ErrorCode::AccountErased));
            }
            return Err(AppError::new(ErrorCode::Unauthorized));
        };
        Ok(Self {
            user_id,
            family_id,
            expires_at,
            token_hash: hash.to_vec(),
        })
    }
}

/// Parses a path id; a malformed id names nothing, so it is `not_found`.
pub(crate) fn path_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw).map_err(|_| AppError::new(ErrorCode::NotFound))
}

#[cfg(test)]
mod tests {
    use super::*;
    use praxis_protocol::LoginRequest;

    fn field(body: &str) -> Option<String> {
        decode::<LoginRequest>(body.as_bytes())
            .err()
            .and_then(|e| e.problem().field.clone())
    }

    #[test]
    fn names_missing_unknown_and_mistyped_fields() {
        assert_eq!(field(r#"{"email":"a@b.c"}"#).as_deref(), Some("password"));
        assert_eq!(
            field(r#"{"email":"a@b.c","password":"x","admin":1}"#).as_deref(),
            Some("admin")
        );
        assert_eq!(
            field(r#"{"email":5,"password":"x"}"#).as_deref(),
            Some("email")
        );
    }

    #[test]
    fn never_quotes_the_submitted_value() {
        let err = decode::<LoginRequest>(br#"{"email":["secret-value"],"password":"x"}"#)
            .expect_err("wrong type");
        let text = serde_json::to_string(err.problem()).expect("json");
        assert!(!text.contains("secret-value"), "{text}");
    }

    #[test]
    fn syntax_errors_are_malformed_json() {
        let err = decode::<LoginRequest>(b"{\"email\":").expect_err("truncated");
        assert_eq!(err.problem().code, ErrorCode::MalformedJson);
    }

    #[test]
    fn json_content_types() {
        let mut h = axum::http::HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().expect("hv"),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().expect("hv"));
        assert!(!is_json(&h));
    }
}
