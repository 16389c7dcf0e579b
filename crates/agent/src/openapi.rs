//! The API document's frame: its title, the bearer scheme every route requires, and the error
//! answers many routes share. The operations come from each handler's `#[utoipa::path]`
//! (`handlers`, `http`) and the schemas from the wire types themselves (the `openapi` feature
//! of tidemark-core and tidemark-store), so the document cannot drift from the code.
//!
//! The structs below only describe answers: every error is an `ApiError` answered as
//! [`ErrorInfo`], so none of them is ever built.
#![allow(dead_code)]

use tidemark_core::ErrorInfo;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tidemark agent API",
        version = "1",
        description = "Start and watch snapshot and sync jobs on a headless Tidemark agent. \
            Every request needs `Authorization: Bearer <token>`: the admin token sees and acts \
            on every job, a named token only on the jobs it started, a read-only token sees \
            every job and acts on none. Every error is `{code, message}` (`ErrorInfo`)."
    ),
    security(("bearer" = [])),
    modifiers(&Bearer),
    components(schemas(ErrorInfo))
)]
pub(crate) struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", scheme);
    }
}

/// No `Authorization: Bearer` header, or a token the agent does not know: `unauthorized`.
#[derive(IntoResponses)]
#[response(
    status = 401,
    headers(("WWW-Authenticate" = String, description = "`Bearer`"))
)]
pub(crate) struct Unauthorized(ErrorInfo);

/// A read-only token asked to change a job: `read_only`.
#[derive(IntoResponses)]
#[response(status = 403)]
pub(crate) struct ReadOnly(ErrorInfo);

/// No such job, or one another named token started: `not_found`.
#[derive(IntoResponses)]
#[response(status = 404)]
pub(crate) struct NoSuchJob(ErrorInfo);

/// No plan by that name: `plan_not_found`.
#[derive(IntoResponses)]
#[response(status = 404)]
pub(crate) struct NoSuchPlan(ErrorInfo);

/// The id in the path cannot be read (it is not UTF-8 once percent-decoded): `bad_request`.
#[derive(IntoResponses)]
#[response(status = 400)]
pub(crate) struct BadId(ErrorInfo);

/// The job is not running here (it ended, or was interrupted): `conflict`.
#[derive(IntoResponses)]
#[response(status = 409)]
pub(crate) struct NotRunning(ErrorInfo);

/// The history database stayed locked by another process past its timeout: `db_locked`.
/// Try again.
#[derive(IntoResponses)]
#[response(status = 503)]
pub(crate) struct Busy(ErrorInfo);

/// The agent failed (its history cannot be read or written, or a bug): `internal`.
#[derive(IntoResponses)]
#[response(status = 500)]
pub(crate) struct Internal(ErrorInfo);

/// The header a progress stream resumes from (read by hand: a header, not a query).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub(crate) struct LastEventId {
    /// The seq of the last event received; wins over `since`.
    #[param(rename = "Last-Event-ID", value_type = u64, required = false)]
    last_event_id: Option<u64>,
}

/// One Server-Sent Event of a progress stream. Comments (the opening `: tidemark`, and
/// `: keep-alive`) and the opening `retry:` line are no events.
#[derive(utoipa::ToSchema)]
pub(crate) struct ProgressStreamEvent {
    /// The event's seq, which `Last-Event-ID` resumes after.
    #[schema(pattern = "^[0-9]+$")]
    id: String,
    event: ProgressStreamEventKind,
    /// The event: a ProgressEvent as JSON, on one line.
    #[schema(schema_with = progress_event_json)]
    data: String,
}

/// `progress` for each event in seq order; `resync` for the whole current state, standing in
/// for events the agent no longer keeps.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub(crate) enum ProgressStreamEventKind {
    Progress,
    Resync,
}

fn progress_event_json() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::extensions::Extensions;
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    // `contentSchema` is JSON Schema's own keyword (2020-12); utoipa has no builder for it.
    let content_schema = serde_json::json!({"$ref": "#/components/schemas/ProgressEvent"});
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some("The event: a ProgressEvent as JSON, on one line."))
        .content_media_type("application/json")
        .extensions(Some(Extensions::from_iter([(
            "contentSchema",
            content_schema,
        )])))
        .build()
}
