//! The HTTP face of the agent: each handler authenticates, hands one plain function of
//! [`Agent`] to a blocking thread, and turns its result into JSON (errors as `{code, message}`).

use std::convert::Infallible;
use std::time::Instant;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{
    DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, RawQuery, Request, State,
};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream;
use serde::Deserialize;
use tidemark_core::JobSpec;

use crate::auth::Identity;
use crate::logs;
use crate::service::ApiError;
pub use crate::stream::AppState;
use crate::stream::{Frames, error_parts, identify, last_event_id, since_param};

const OPENAPI: &str = include_str!("openapi.json");
const BODY_LIMIT: usize = 1 << 20;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/jobs", get(list).post(start))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/jobs/{id}/cancel", post(cancel))
        .route("/api/v1/jobs/{id}/pause", post(pause))
        .route("/api/v1/jobs/{id}/resume", post(resume))
        .route("/api/v1/jobs/{id}/progress", get(progress))
        .route("/api/v1/jobs/{id}/events", get(events))
        .route("/api/v1/jobs/{id}/progress/stream", get(stream))
        .route("/api/v1/openapi.json", get(openapi))
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// Logs each request once answered (a stream: once its head is sent). The caller is
/// identified here, once, and handed to [`Caller`] through the request's extensions.
async fn log_request(State(s): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let authorization = req.headers().get(header::AUTHORIZATION);
    let who = identify(&s.tokens, authorization.map(|v| v.as_bytes())).ok();
    if let Some(who) = &who {
        req.extensions_mut().insert(who.clone());
    }
    let (method, path) = (req.method().clone(), req.uri().path().to_owned());
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    logs::request(
        method.as_str(),
        &path,
        status,
        started.elapsed(),
        who.as_ref(),
    );
    resp
}

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
struct Caller(Identity);

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
struct Id(String);

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
struct Params<T>(T);

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
struct Body<T>(T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(reject(rejection)),
        }
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
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
}

async fn start(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(spec): Body<JobSpec>,
) -> Result<Response, ApiError> {
    let job = blocking(move || s.agent.start(&who, spec)).await?;
    Ok((StatusCode::CREATED, axum::Json(job)).into_response())
}

async fn list(State(s): State<AppState>, Caller(who): Caller) -> Result<Response, ApiError> {
    let jobs = blocking(move || s.agent.list(&who)).await?;
    Ok(axum::Json(jobs).into_response())
}

async fn job(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.job(&who, &id)).await?).into_response())
}

async fn cancel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.cancel(&who, &id)).await?).into_response())
}

async fn pause(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.pause(&who, &id)).await?).into_response())
}

async fn resume(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.resume(&who, &id)).await?).into_response())
}

async fn progress(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let ev = blocking(move || s.agent.progress(&who, &id)).await?;
    Ok(axum::Json(&*ev).into_response())
}

#[derive(Debug, Deserialize)]
struct Since {
    since: Option<u64>,
}

async fn events(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
    Params(q): Params<Since>,
) -> Result<Response, ApiError> {
    let since = q.since.unwrap_or(0);
    let evs = blocking(move || s.agent.events(&who, &id, since)).await?;
    let evs: Vec<&tidemark_core::ProgressEvent> = evs.iter().map(|e| &**e).collect();
    Ok(axum::Json(evs).into_response())
}

/// A job's progress stream: stored events after `Last-Event-ID` (or `since`), then live ones.
async fn stream(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let since = match last_event_id(headers.get("last-event-id").map(|v| v.as_bytes()))? {
        Some(seq) => seq,
        None => since_param(query.as_deref())?,
    };
    let frames = Frames::open(&s, who, id, since).await?;
    let body = stream::unfold(frames, |mut f| async move {
        f.next().await.map(|frame| (Ok::<_, Infallible>(frame), f))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

async fn openapi(Caller(_): Caller) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}
