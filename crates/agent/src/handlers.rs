//! The routes' handlers: each authenticates, hands one plain function of [`Agent`] to a
//! blocking thread and answers JSON. Each one's `#[utoipa::path]` is its entry in the API
//! document: every status it can answer is listed there.
//!
//! [`Agent`]: crate::Agent

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;
use serde::Deserialize;
use tidemark_core::{ErrorInfo, JobSpec, ProgressEvent};
use tidemark_store::JobRecord;

use crate::about::AgentInfo;
use crate::extract::{Body, Caller, Id, Params, blocking};
use crate::openapi::{
    BadId, Busy, Internal, LastEventId, NoSuchJob, NotRunning, ProgressStreamEvent, ReadOnly,
    Unauthorized,
};
use crate::service::ApiError;
use crate::stream::{AppState, Frames, last_event_id, seq_in_range};

/// The agent itself: its version, its roots (a job's paths must lie under one of them) and
/// whether the caller's token is read-only. Any valid token may ask.
#[utoipa::path(
    get,
    path = "/api/v1/agent",
    responses(
        (status = 200, description = "The agent", body = AgentInfo),
        Unauthorized,
        Internal,
    )
)]
pub(crate) async fn about(State(s): State<AppState>, Caller(who): Caller) -> Response {
    axum::Json(s.agent.about(&who)).into_response()
}

/// The jobs the caller may see, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/jobs",
    responses(
        (status = 200, description = "The jobs, newest first", body = [JobRecord]),
        Unauthorized,
        Busy,
        Internal,
    )
)]
pub(crate) async fn list(
    State(s): State<AppState>,
    Caller(who): Caller,
) -> Result<Response, ApiError> {
    let jobs = blocking(move || s.agent.list(&who)).await?;
    Ok(axum::Json(jobs).into_response())
}

/// Starts a job. Its paths must be absolute and lie under one of the agent's `--root`
/// folders (links are followed to decide); a snapshot may instead upload to an http(s) URL.
#[utoipa::path(
    post,
    path = "/api/v1/jobs",
    request_body = JobSpec,
    responses(
        (status = 201, description = "The job, started", body = JobRecord),
        (status = 400, description = "The body is not a job spec (or not JSON), or a path is empty, \
            relative or holds a NUL byte: `bad_request`", body = ErrorInfo),
        Unauthorized,
        (status = 403, description = "A read-only token (`read_only`), or a path outside the \
            agent's roots (`forbidden_path`)", body = ErrorInfo),
        (status = 413, description = "The body is larger than 1 MiB: `payload_too_large`", body = ErrorInfo),
        Busy,
        Internal,
    )
)]
pub(crate) async fn start(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(spec): Body<JobSpec>,
) -> Result<Response, ApiError> {
    let job = blocking(move || s.agent.start(&who, spec)).await?;
    Ok((StatusCode::CREATED, axum::Json(job)).into_response())
}

/// One job.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobRecord),
        BadId,
        Unauthorized,
        NoSuchJob,
        Busy,
        Internal,
    )
)]
pub(crate) async fn job(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.job(&who, &id)).await?).into_response())
}

/// Cancels a running (or paused) job; it ends `cancelled`, nothing half-written left behind.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/cancel",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job, as it was when asked", body = JobRecord),
        BadId,
        Unauthorized,
        ReadOnly,
        NoSuchJob,
        NotRunning,
        Busy,
        Internal,
    )
)]
pub(crate) async fn cancel(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.cancel(&who, &id)).await?).into_response())
}

/// Pauses a running job.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/pause",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job, as it was when asked", body = JobRecord),
        BadId,
        Unauthorized,
        ReadOnly,
        NoSuchJob,
        NotRunning,
        Busy,
        Internal,
    )
)]
pub(crate) async fn pause(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.pause(&who, &id)).await?).into_response())
}

/// Resumes a paused job, or continues an interrupted one from its last checkpoint.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/resume",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job", body = JobRecord),
        BadId,
        Unauthorized,
        ReadOnly,
        NoSuchJob,
        (status = 409, description = "The job ended (only a paused or interrupted job resumes), \
            or another process runs it: `conflict`", body = ErrorInfo),
        Busy,
        Internal,
    )
)]
pub(crate) async fn resume(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.resume(&who, &id)).await?).into_response())
}

/// The job's newest event: its whole current state, for polling.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/progress",
    params(("id" = String, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The newest event", body = ProgressEvent),
        BadId,
        Unauthorized,
        NoSuchJob,
        Busy,
        Internal,
    )
)]
pub(crate) async fn progress(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
) -> Result<Response, ApiError> {
    let ev = blocking(move || s.agent.progress(&who, &id)).await?;
    Ok(axum::Json(&*ev).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Since {
    /// Only the events after this seq (0, the default: from the first).
    since: Option<u64>,
}

impl Since {
    fn seq(&self) -> Result<u64, ApiError> {
        seq_in_range(self.since.unwrap_or(0), "since")
    }
}

/// Every event of the job after a seq that exists now, to catch up.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/events",
    params(("id" = String, Path, description = "The job's id"), Since),
    responses(
        (status = 200, description = "The events, in seq order", body = [ProgressEvent]),
        (status = 400, description = "`since` is not a seq, or the id cannot be read: \
            `bad_request`", body = ErrorInfo),
        Unauthorized,
        NoSuchJob,
        Busy,
        Internal,
    )
)]
pub(crate) async fn events(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
    Params(q): Params<Since>,
) -> Result<Response, ApiError> {
    let since = q.seq()?;
    let evs = blocking(move || s.agent.events(&who, &id, since)).await?;
    let evs: Vec<&ProgressEvent> = evs.iter().map(|e| &**e).collect();
    Ok(axum::Json(evs).into_response())
}

/// The job's progress as Server-Sent Events: stored events after `Last-Event-ID` (or
/// `since`), then live ones until the job ends.
///
/// The stream opens with a `: tidemark` comment and a `retry:` line. Each event is
/// `id: <seq>`, `event: progress` and `data: <ProgressEvent as JSON>` on one line; a
/// `: keep-alive` comment comes when the job is quiet for 15 s. If the asked events are no
/// longer kept, one `event: resync` with the whole current state comes first. The stream ends
/// after the job's terminal event; one that falls behind what the agent keeps is closed, and
/// its client reconnects with `Last-Event-ID`. A stream of an interrupted job stays open and
/// follows the job once it is resumed.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}/progress/stream",
    params(
        ("id" = String, Path, description = "The job's id"),
        Since,
        LastEventId,
    ),
    responses(
        (status = 200, description = "The event stream; the schema is each event's, whose \
            `data` is a ProgressEvent", content_type = "text/event-stream",
            body = ProgressStreamEvent),
        (status = 400, description = "`since` or `Last-Event-ID` is not a seq, or the id cannot \
            be read: `bad_request`", body = ErrorInfo),
        Unauthorized,
        NoSuchJob,
        (status = 429, description = "The token holds as many streams as it may: \
            `too_many_streams`", body = ErrorInfo),
        Busy,
        Internal,
    )
)]
pub(crate) async fn progress_stream(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(id): Id,
    Params(q): Params<Since>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // `since` is checked even when the header wins over it: a bad one is a bad request.
    let since = q.seq()?;
    let since = last_event_id(headers.get("last-event-id").map(|v| v.as_bytes()))?.unwrap_or(since);
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

/// The agent's metrics in Prometheus' text format (version 0.0.4), every name `tidemark_…`:
/// `tidemark_jobs{state}` (the history's jobs by state), `tidemark_job_percent{job}` (each
/// running or paused job's percent, once known), `tidemark_open_streams`,
/// `tidemark_events_sent_total` and `tidemark_http_request_duration_seconds{method,status}`
/// (a histogram). Any valid token may read them.
#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain", body = String),
        Unauthorized,
        Busy,
        Internal,
    )
)]
pub(crate) async fn metrics(
    State(s): State<AppState>,
    Caller(_): Caller,
) -> Result<Response, ApiError> {
    let agent = s.agent.clone();
    let now = blocking(move || agent.jobs_now()).await?;
    let text = s
        .metrics
        .render(&now)
        .map_err(|e| ApiError::Internal(format!("cannot write the metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], text).into_response())
}
