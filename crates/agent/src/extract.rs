//! What handlers take from a request, each rejection answered as `{code, message}` (never
//! axum's plain text): the caller, a path's id, query parameters, a JSON body.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Identity;
use crate::service::ApiError;
use crate::stream::{AppState, error_parts, identify};

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, body) = error_parts(&self);
        let mut resp = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// The authenticated caller.
pub(crate) struct Caller(pub Identity);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(who) = parts.extensions.get::<Identity>() {
            return Ok(Caller(who.clone()));
        }
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        identify(&state.tokens, value).map(Caller)
    }
}

/// A path parameter whose rejection is an API error (400 `{code, message}`), not plain text.
pub(crate) struct Id(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

/// Query parameters whose rejection is an API error, not plain text.
pub(crate) struct Params<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| Params(v))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

/// JSON body whose rejections are API errors (400, 413) rather than plain text.
pub(crate) struct Body<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(reject)?;
        serde_json::from_value(whole_numbers(value))
            .map(Body)
            .map_err(|e| {
                ApiError::BadRequest(format!(
                    "Failed to deserialize the JSON body into the target type: {e}"
                ))
            })
    }
}

/// JSON Schema's `integer` admits `2.0` as well as `2` (a client that keeps its numbers as
/// floats sends the former), serde's integers only the latter: a number without a fraction
/// becomes an integer. A float field takes an integer too, so nothing else changes.
fn whole_numbers(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    /// 2^64 and 2^63, exactly representable.
    const U64_END: f64 = 18_446_744_073_709_551_616.0;
    const I64_MIN: f64 = -9_223_372_036_854_775_808.0;
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && (0.0..U64_END).contains(&f) => {
                Value::from(f as u64)
            }
            Some(f) if n.is_f64() && f.fract() == 0.0 && (I64_MIN..0.0).contains(&f) => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(whole_numbers).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, whole_numbers(v))).collect())
        }
        v => v,
    }
}

fn reject(r: JsonRejection) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::PayloadTooLarge
    } else {
        ApiError::BadRequest(r.body_text())
    }
}

/// Runs a blocking service call off the executor.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}
