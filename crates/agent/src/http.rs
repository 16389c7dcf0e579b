//! The HTTP face of the agent: each handler authenticates, hands one plain function of
//! [`Agent`] to a blocking thread, and turns its result into JSON (errors as `{code, message}`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use tidemark_core::{Delivery, JobSpec, ProgressEvent};

use crate::auth::{Identity, Tokens};
use crate::service::{Agent, ApiError, Feed, FeedItem, Reattach};

const OPENAPI: &str = include_str!("openapi.json");
const BODY_LIMIT: usize = 1 << 20;
/// Told to SSE clients: reconnect after this long.
const RETRY: Duration = Duration::from_secs(1);
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// The comment every progress stream opens with, before any event: it tells a client at once
/// that it reached a Tidemark stream (and not a proxy's error page), even when the job is
/// quiet.
pub const HELLO: &str = "tidemark";

#[derive(Debug, Clone)]
pub struct AppState {
    pub agent: Arc<Agent>,
    pub tokens: Arc<Tokens>,
    pub json: Arc<JsonCache>,
}

/// Jobs whose newest encoded event is kept; past this the cache starts over.
const JSON_CACHE_JOBS: usize = 1024;

/// The JSON of the newest event sent, per job. Every watcher of a job sends the same events,
/// so the first to send one encodes it and the others reuse the text: with thousands of
/// watchers, encoding once per watcher would cost more than the job being watched.
#[derive(Debug, Default)]
pub struct JsonCache(Mutex<HashMap<String, (u64, Arc<str>)>>);

impl JsonCache {
    fn encode(&self, ev: &ProgressEvent) -> Arc<str> {
        let lock = || self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seq, json)) = lock().get(&ev.job_id)
            && *seq == ev.seq
        {
            return json.clone();
        }
        let json: Arc<str> = serde_json::to_string(ev).unwrap_or_default().into();
        let mut cache = lock();
        if cache.len() >= JSON_CACHE_JOBS && !cache.contains_key(&ev.job_id) {
            cache.clear();
        }
        // A watcher replaying older events must not evict the newest one the others share.
        if cache.get(&ev.job_id).is_none_or(|(seq, _)| *seq < ev.seq) {
            cache.insert(ev.job_id.clone(), (ev.seq, json.clone()));
        }
        json
    }
}

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
        .with_state(state)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenPath(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = serde_json::json!({ "code": self.code(), "message": self.to_string() });
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
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or(ApiError::Unauthorized)?;
        state
            .tokens
            .identify(token.trim())
            .map(Caller)
            .ok_or(ApiError::Unauthorized)
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
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.job(&who, &id)).await?).into_response())
}

async fn cancel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.cancel(&who, &id)).await?).into_response())
}

async fn pause(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.pause(&who, &id)).await?).into_response())
}

async fn resume(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.resume(&who, &id)).await?).into_response())
}

async fn progress(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
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
    Path(id): Path<String>,
    Query(q): Query<Since>,
) -> Result<Response, ApiError> {
    let since = q.since.unwrap_or(0);
    let evs = blocking(move || s.agent.events(&who, &id, since)).await?;
    let evs: Vec<&tidemark_core::ProgressEvent> = evs.iter().map(|e| &**e).collect();
    Ok(axum::Json(evs).into_response())
}

async fn stream(
    State(s): State<AppState>,
    Caller(who): Caller,
    Path(id): Path<String>,
    Query(q): Query<Since>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_event_id = match headers.get("last-event-id") {
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::BadRequest("Last-Event-ID must be a seq number".into()))?,
        ),
        None => None,
    };
    let since = last_event_id.or(q.since).unwrap_or(0);
    let agent = s.agent.clone();
    let feed = blocking(move || agent.subscribe(&who, &id, since)).await?;
    let sse = Sse::new(feed_stream(s.agent.clone(), s.json.clone(), feed))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"));
    Ok(sse.into_response())
}

/// How often a stream waiting on an interrupted job looks whether it was resumed.
const REATTACH_EVERY: Duration = Duration::from_millis(500);

/// The SSE body: stored events, then live ones; ends after the terminal event, or when the
/// subscriber fell behind what the log keeps (it reconnects and catches up by seq). For a job
/// that is not running and not over, it stays open and follows the job once resumed.
fn feed_stream(
    agent: Arc<Agent>,
    json: Arc<JsonCache>,
    feed: Feed,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold((feed, true, false), move |(mut feed, first, done)| {
        let agent = agent.clone();
        let json = json.clone();
        async move {
            if done {
                return None;
            }
            if first {
                let hello = Event::default().comment(HELLO).retry(RETRY);
                return Some((Ok(hello), (feed, false, false)));
            }
            while feed.replay.is_empty() && feed.live.is_none() {
                let after = feed.waiting_after?;
                tokio::time::sleep(REATTACH_EVERY).await;
                let (a, id) = (agent.clone(), feed.job_id.clone());
                match tokio::task::spawn_blocking(move || a.reattach(&id, after)).await {
                    Ok(Ok(Reattach::Live(sub))) => feed.live = Some(sub),
                    Ok(Ok(Reattach::Ended(rest))) => {
                        feed.waiting_after = None;
                        feed.replay.extend(rest.into_iter().map(FeedItem::Event));
                    }
                    Ok(Ok(Reattach::Wait)) => {}
                    _ => return None,
                }
            }
            let (ev, kind) = match feed.replay.pop_front() {
                Some(FeedItem::Event(ev)) => (ev, "progress"),
                Some(FeedItem::Resync(ev)) => (ev, "resync"),
                None => match feed.live.as_mut()?.next().await? {
                    Delivery::Event(ev) => (ev, "progress"),
                    Delivery::Resync { .. } => return None,
                },
            };
            if let Some(w) = feed.waiting_after.as_mut() {
                *w = ev.seq;
            }
            let ended = ev.is_terminal();
            let event = Event::default()
                .id(ev.seq.to_string())
                .event(kind)
                .data(&*json.encode(&ev));
            Some((Ok(event), (feed, false, ended)))
        }
    })
}

async fn openapi(Caller(_): Caller) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}
