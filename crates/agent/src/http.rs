//! The HTTP face of the agent: the router, built with its API document from the handlers'
//! annotations, and what every request goes through (the caller identified once, a log line,
//! the latency metric). Errors are `{code, message}`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::extract::Caller;
use crate::handlers;
use crate::logs;
use crate::openapi::{ApiDoc, Internal, Unauthorized};
use crate::plan_handlers;
use crate::service::ApiError;
pub use crate::stream::AppState;
use crate::stream::identify;

const BODY_LIMIT: usize = 1 << 20;

/// Every route, each with its entry in the API document.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(handlers::about))
        .routes(routes!(handlers::list, handlers::start))
        .routes(routes!(handlers::job))
        .routes(routes!(handlers::cancel))
        .routes(routes!(handlers::pause))
        .routes(routes!(handlers::resume))
        .routes(routes!(handlers::progress))
        .routes(routes!(handlers::events))
        .routes(routes!(handlers::progress_stream))
        .routes(routes!(plan_handlers::list, plan_handlers::add))
        .routes(routes!(plan_handlers::show, plan_handlers::remove))
        .routes(routes!(plan_handlers::run))
        .routes(routes!(plan_handlers::pause))
        .routes(routes!(plan_handlers::resume))
        .routes(routes!(handlers::metrics))
        .routes(routes!(openapi))
}

/// The API document the agent serves at `/api/v1/openapi.json`.
pub fn api_document() -> utoipa::openapi::OpenApi {
    api().into_openapi()
}

/// The document as served, rendered once.
#[derive(Debug, Clone)]
struct Document(Arc<Result<String, String>>);

pub fn router(state: AppState) -> Router {
    let (routes, doc) = api().split_for_parts();
    let doc = Document(Arc::new(doc.to_pretty_json().map_err(|e| e.to_string())));
    routes
        .fallback(unknown_route)
        .method_not_allowed_fallback(wrong_method)
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn_with_state(state.clone(), log_request))
        .with_state(state)
}

/// Logs each request once answered (a stream: once its head is sent) and adds it to the
/// latency metric. The caller is identified here, once, and handed to [`Caller`] through
/// the request's extensions.
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
    let took = started.elapsed();
    s.metrics.request(&method, status, took);
    logs::request(method.as_str(), &path, status, took, who.as_ref());
    resp
}

/// This document (OpenAPI 3.1), generated from the agent's code.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    responses(
        (status = 200, description = "The API document", content_type = "application/json",
            body = Object),
        Unauthorized,
        Internal,
    )
)]
async fn openapi(Caller(_): Caller, Extension(doc): Extension<Document>) -> Response {
    match &*doc.0 {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json.clone()).into_response(),
        Err(e) => ApiError::Internal(format!("cannot write the API document: {e}")).into_response(),
    }
}

async fn unknown_route() -> ApiError {
    ApiError::NotFound("no such endpoint".into())
}

/// A route asked with a method it does not answer: 405 as `{code, message}` (axum adds the
/// Allow header), not an empty body.
async fn wrong_method(method: Method) -> ApiError {
    ApiError::MethodNotAllowed(method.to_string())
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
