//! The plans' routes: each authenticates, runs one `Agent` plan function on a blocking
//! thread and answers JSON, documented like the jobs' routes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tidemark_core::ErrorInfo;
use tidemark_plans::{Plan, PlanInput, PlanSummary};
use tidemark_store::JobRecord;

use crate::extract::{Body, Caller, Id, Params, blocking};
use crate::openapi::{BadId, Busy, Internal, NoSuchPlan, ReadOnly, Unauthorized};
use crate::service::ApiError;
use crate::stream::AppState;

/// Every plan with how it is doing (last run, last success, next run, stale), by name.
#[utoipa::path(
    get,
    path = "/api/v1/plans",
    responses(
        (status = 200, description = "The plans", body = [PlanSummary]),
        Unauthorized,
        Busy,
        Internal,
    )
)]
pub(crate) async fn list(
    State(s): State<AppState>,
    Caller(_): Caller,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.plans()).await?).into_response())
}

/// Saves a plan; the agent's scheduler runs it. Its paths must be absolute and under a root.
/// Refused, with nothing saved, for a bad schedule (`bad_schedule`), a missing folder, a bad
/// destination, or a name another plan has (`plan_exists`).
#[utoipa::path(
    post,
    path = "/api/v1/plans",
    request_body = PlanInput,
    responses(
        (status = 201, description = "The plan, saved", body = PlanSummary),
        (status = 400, description = "The body is not a plan, a path is not usable or the \
            schedule cannot be read: `bad_request`, `bad_schedule`, `source_missing`, …",
            body = ErrorInfo),
        Unauthorized,
        (status = 403, description = "A read-only token (`read_only`), or a path outside the \
            agent's roots (`forbidden_path`)", body = ErrorInfo),
        (status = 409, description = "Another plan has this name: `plan_exists`", body = ErrorInfo),
        (status = 413, description = "The body is larger than 1 MiB: `payload_too_large`", body = ErrorInfo),
        Busy,
        Internal,
    )
)]
pub(crate) async fn add(
    State(s): State<AppState>,
    Caller(who): Caller,
    Body(input): Body<PlanInput>,
) -> Result<Response, ApiError> {
    let plan = blocking(move || s.agent.add_plan(&who, input)).await?;
    Ok((StatusCode::CREATED, axum::Json(plan)).into_response())
}

/// One plan with how it is doing.
#[utoipa::path(
    get,
    path = "/api/v1/plans/{name}",
    params(("name" = String, Path, description = "The plan's name")),
    responses(
        (status = 200, description = "The plan", body = PlanSummary),
        BadId,
        Unauthorized,
        NoSuchPlan,
        Busy,
        Internal,
    )
)]
pub(crate) async fn show(
    State(s): State<AppState>,
    Caller(_): Caller,
    Id(name): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.plan(&name)).await?).into_response())
}

/// Removes a plan; its runs stay in the history.
#[utoipa::path(
    delete,
    path = "/api/v1/plans/{name}",
    params(("name" = String, Path, description = "The plan's name")),
    responses(
        (status = 200, description = "The plan removed", body = Plan),
        BadId,
        Unauthorized,
        ReadOnly,
        NoSuchPlan,
        Busy,
        Internal,
    )
)]
pub(crate) async fn remove(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(name): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.remove_plan(&who, &name)).await?).into_response())
}

/// Runs the plan now, as a job of the agent recorded with its plan.
#[utoipa::path(
    post,
    path = "/api/v1/plans/{name}/run",
    params(("name" = String, Path, description = "The plan's name")),
    responses(
        (status = 201, description = "The run, started", body = JobRecord),
        BadId,
        Unauthorized,
        ReadOnly,
        NoSuchPlan,
        (status = 409, description = "A run of the plan is going on: `plan_busy`", body = ErrorInfo),
        Busy,
        Internal,
    )
)]
pub(crate) async fn run(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(name): Id,
) -> Result<Response, ApiError> {
    let job = blocking(move || s.agent.run_plan(&who, &name)).await?;
    Ok((StatusCode::CREATED, axum::Json(job)).into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PauseFor {
    /// Pause for this many seconds (at most a hundred years); without it, until resumed.
    #[param(minimum = 0, maximum = 3_155_760_000_u64)]
    seconds: Option<u64>,
}

/// Pauses the plan: runs due meanwhile are skipped. It resumes by itself after `seconds`.
#[utoipa::path(
    post,
    path = "/api/v1/plans/{name}/pause",
    params(("name" = String, Path, description = "The plan's name"), PauseFor),
    responses(
        (status = 200, description = "The plan, paused", body = PlanSummary),
        (status = 400, description = "`seconds` is not a number (`bad_request`) or more than a \
            hundred years (`invalid_input`), or the name cannot be read", body = ErrorInfo),
        Unauthorized,
        ReadOnly,
        NoSuchPlan,
        Busy,
        Internal,
    )
)]
pub(crate) async fn pause(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(name): Id,
    Params(q): Params<PauseFor>,
) -> Result<Response, ApiError> {
    let plan = blocking(move || s.agent.pause_plan(&who, &name, q.seconds)).await?;
    Ok(axum::Json(plan).into_response())
}

/// Resumes a paused plan.
#[utoipa::path(
    post,
    path = "/api/v1/plans/{name}/resume",
    params(("name" = String, Path, description = "The plan's name")),
    responses(
        (status = 200, description = "The plan", body = PlanSummary),
        BadId,
        Unauthorized,
        ReadOnly,
        NoSuchPlan,
        Busy,
        Internal,
    )
)]
pub(crate) async fn resume(
    State(s): State<AppState>,
    Caller(who): Caller,
    Id(name): Id,
) -> Result<Response, ApiError> {
    Ok(axum::Json(blocking(move || s.agent.resume_plan(&who, &name)).await?).into_response())
}
