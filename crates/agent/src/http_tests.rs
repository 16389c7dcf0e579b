//! The router as clients meet it (requests through the real router, a real history and real
//! jobs in a temp folder): the API document against the routes, what a job spec must be, and
//! the metrics.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tidemark_core::ErrorCode;
use tower::ServiceExt;

use super::{AppState, router};
use crate::metrics::Metrics;
use crate::{Agent, EMIT_INTERVAL, MAX_STREAMS_PER_TOKEN, Tokens, add_named};

struct Fixture {
    _tmp: tempfile::TempDir,
    root: std::path::PathBuf,
    app: axum::Router,
    admin: String,
    viewer: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).expect("root");
    let root = dunce::canonicalize(&root).expect("canonical root");
    let tokens_path = tmp.path().join("agent-tokens.json");
    let (_, admin) = Tokens::load_or_create(&tokens_path).expect("tokens");
    let admin = admin.expect("a new admin token");
    let viewer = add_named(&tokens_path, "viewer", true).expect("read-only token");
    let (tokens, _) = Tokens::load_or_create(&tokens_path).expect("tokens again");
    let agent = Agent::open(
        tmp.path().join("h.db"),
        std::slice::from_ref(&root),
        MAX_STREAMS_PER_TOKEN,
        EMIT_INTERVAL,
    )
    .expect("agent");
    let state = AppState {
        agent: Arc::new(agent),
        tokens: Arc::new(tokens),
        frames: Arc::default(),
        metrics: Arc::new(Metrics::new()),
    };
    Fixture {
        _tmp: tmp,
        root,
        app: router(state),
        admin,
        viewer,
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Fixture {
    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let status = resp.status();
        let body = axum::body::to_bytes(resp.into_body(), 16 << 20)
            .await
            .expect("body")
            .to_vec();
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn document(&self) -> Value {
        let doc = self
            .call("GET", "/api/v1/openapi.json", Some(&self.viewer), None)
            .await;
        assert_eq!(doc.status, StatusCode::OK);
        assert_eq!(doc.content_type, "application/json");
        doc.json()
    }
}

/// Every route the agent serves: the router is built only from the documented handlers
/// (`http::api`), so this is also the document's list.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/agent"),
    ("GET", "/api/v1/jobs"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{id}"),
    ("POST", "/api/v1/jobs/{id}/cancel"),
    ("POST", "/api/v1/jobs/{id}/pause"),
    ("POST", "/api/v1/jobs/{id}/resume"),
    ("GET", "/api/v1/jobs/{id}/progress"),
    ("GET", "/api/v1/jobs/{id}/events"),
    ("GET", "/api/v1/jobs/{id}/progress/stream"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/plans"),
    ("POST", "/api/v1/plans"),
    ("GET", "/api/v1/plans/{name}"),
    ("DELETE", "/api/v1/plans/{name}"),
    ("POST", "/api/v1/plans/{name}/run"),
    ("POST", "/api/v1/plans/{name}/pause"),
    ("POST", "/api/v1/plans/{name}/resume"),
];

// The plans' routes, through the same fixture.
#[path = "http_plans_tests.rs"]
mod plans;

fn error_ref(response: &Value) -> &Value {
    &response["content"]["application/json"]["schema"]["$ref"]
}

#[tokio::test]
async fn the_document_lists_every_route_and_each_one_is_served() {
    let f = fixture();
    let doc = f.document().await;
    assert_eq!(doc["openapi"], "3.1.0");

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            documented.insert((method.to_uppercase(), path.clone()));
            let responses = op["responses"].as_object().expect("responses");
            for code in ["401", "500"] {
                assert!(responses.contains_key(code), "{method} {path} lacks {code}");
            }
            for (code, response) in responses {
                if code.starts_with('4') || code.starts_with('5') {
                    assert_eq!(
                        error_ref(response),
                        "#/components/schemas/ErrorInfo",
                        "{method} {path} {code}"
                    );
                }
            }
        }
    }
    let expected: BTreeSet<_> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, expected);

    // Each documented route is the router's: without a token it answers 401 `{code,
    // message}`, where an unknown route would answer 404 and a wrong method 405.
    for (method, path) in ROUTES {
        let path = path.replace("{id}", "x").replace("{name}", "x");
        let answer = f.call(method, &path, None, None).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{method} {path}");
        assert_eq!(answer.json()["code"], "unauthorized", "{method} {path}");
    }
    let unknown = f.call("GET", "/api/v1/nothing", Some(&f.admin), None).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["code"], "not_found");
    let req = Request::delete("/api/v1/jobs")
        .header(header::AUTHORIZATION, format!("Bearer {}", f.admin))
        .body(Body::empty())
        .expect("request");
    let wrong = f.app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        wrong
            .headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("GET,HEAD,POST")
    );
    let body = axum::body::to_bytes(wrong.into_body(), 1 << 16)
        .await
        .expect("body");
    let body: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["code"], "bad_request");
}

#[tokio::test]
async fn the_agent_says_its_version_its_roots_and_whether_the_token_is_read_only() {
    let f = fixture();
    let root = f.root.display().to_string();
    for (token, read_only) in [(&f.admin, false), (&f.viewer, true)] {
        let answer = f.call("GET", "/api/v1/agent", Some(token), None).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(
            answer.json(),
            json!({"version": env!("CARGO_PKG_VERSION"), "roots": [root], "readOnly": read_only})
        );
    }
    let doc = f.document().await;
    let schema = &doc["components"]["schemas"]["AgentInfo"];
    let mut required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    required.sort_unstable();
    assert_eq!(required, ["readOnly", "roots", "version"], "{schema}");
}

#[tokio::test]
async fn the_document_says_what_requests_must_be_and_what_answers_are() {
    let doc = fixture().document().await;
    let schemas = &doc["components"]["schemas"];
    let codes: BTreeSet<&str> = schemas["ErrorCode"]["enum"]
        .as_array()
        .expect("ErrorCode is an enum")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let all: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(codes, all);
    assert_eq!(schemas["ErrorInfo"]["required"], json!(["code", "message"]));

    let sync = &schemas["SyncSpec"]["properties"];
    assert_eq!(sync["sources"]["minItems"], 1);
    assert_eq!(sync["sources"]["items"]["minLength"], 1);
    assert_eq!(sync["destination"]["minLength"], 1);
    let snapshot = &schemas["SnapshotSpec"]["properties"];
    assert_eq!(snapshot["source"]["minLength"], 1);
    assert_eq!(snapshot["destination"]["minLength"], 1);
    if cfg!(unix) {
        let absolute = r"^/[^\x00]*$";
        assert_eq!(
            snapshot["source"]["pattern"], absolute,
            "paths are absolute"
        );
        assert_eq!(sync["sources"]["items"]["pattern"], absolute);
        assert_eq!(sync["destination"]["pattern"], absolute);
        assert_eq!(
            snapshot["destination"]["pattern"],
            r"^(/[^\x00]*|https?://[\s\S]*)$"
        );
    }
    let kinds: Vec<&Value> = schemas["JobSpec"]["oneOf"]
        .as_array()
        .expect("JobSpec is one of its kinds")
        .iter()
        .map(|k| &k["allOf"][1]["properties"]["kind"]["enum"][0])
        .collect();
    assert_eq!(
        kinds,
        [
            &json!("snapshot"),
            &json!("sync"),
            &json!("restore"),
            &json!("verify")
        ]
    );
    let restore = &schemas["RestoreSpec"]["properties"];
    if cfg!(unix) {
        assert_eq!(restore["to"]["pattern"], r"^/[^\x00]*$");
        assert_eq!(
            restore["archive"]["pattern"],
            r"^(/[^\x00]*|https?://[\s\S]*)$"
        );
    }

    let stream = &doc["paths"]["/api/v1/jobs/{id}/progress/stream"]["get"];
    let param = |name: &str| {
        stream["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .find(|p| p["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no parameter {name}"))
    };
    let last = param("Last-Event-ID");
    assert_eq!(last["in"], "header");
    assert_eq!(
        last["schema"],
        json!({"type": "integer", "format": "int64", "minimum": 0})
    );
    assert_eq!(param("since")["schema"]["type"], "integer");
    assert_eq!(
        stream["responses"]["200"]["content"]["text/event-stream"]["schema"]["$ref"],
        "#/components/schemas/ProgressStreamEvent"
    );
    let event = &schemas["ProgressStreamEvent"];
    assert_eq!(event["required"], json!(["id", "event", "data"]));
    assert_eq!(
        event["properties"]["data"]["contentSchema"]["$ref"],
        "#/components/schemas/ProgressEvent"
    );
    assert_eq!(
        schemas["ProgressStreamEventKind"]["enum"],
        json!(["progress", "resync"])
    );
    assert_eq!(
        stream["responses"]["429"]["description"]
            .as_str()
            .map(|d| d.contains("too_many_streams")),
        Some(true)
    );
    let metrics = &doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"];
    assert!(metrics["text/plain"].is_object(), "{metrics}");
}

fn sync_spec(root: &Path, sources: Value) -> Value {
    json!({"kind": "sync", "sources": sources, "destination": root.join("mirror")})
}

#[tokio::test]
async fn a_spec_the_document_refuses_is_answered_400_and_starts_nothing() {
    let f = fixture();
    let src = f.root.join("docs");
    std::fs::create_dir(&src).expect("source");
    let bad = [
        sync_spec(&f.root, json!([])),
        sync_spec(&f.root, json!([""])),
        sync_spec(&f.root, json!([format!("{}/a\u{0}b", f.root.display())])),
        json!({"kind": "sync", "sources": [src], "destination": ""}),
        json!({"kind": "snapshot", "source": "", "destination": f.root}),
        json!({"kind": "snapshot", "source": src, "destination": ""}),
        json!({"kind": "snapshot", "source": src, "destination": f.root, "name": ""}),
        json!({"kind": "snapshot", "source": src, "destination": f.root, "name": "a/b"}),
        json!({"kind": "snapshot", "source": "relative", "destination": f.root}),
        json!({"kind": "copy", "source": src, "destination": f.root}),
        json!({"kind": "sync", "sources": [7], "destination": f.root}),
    ];
    for spec in bad {
        let answer = f
            .call("POST", "/api/v1/jobs", Some(&f.admin), Some(spec.clone()))
            .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{spec}: {}",
            answer.text()
        );
        assert_eq!(answer.json()["code"], "bad_request", "{spec}");
        assert!(answer.json()["message"].is_string(), "{spec}");
    }
    let outside = json!({"kind": "sync", "sources": ["/"], "destination": f.root.join("m")});
    let answer = f
        .call("POST", "/api/v1/jobs", Some(&f.admin), Some(outside))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["code"], "forbidden_path");
    let good = sync_spec(&f.root, json!([src]));
    let answer = f
        .call("POST", "/api/v1/jobs", Some(&f.viewer), Some(good))
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.json()["code"], "read_only");

    let jobs = f.call("GET", "/api/v1/jobs", Some(&f.admin), None).await;
    assert_eq!(jobs.json(), json!([]), "no job was started");
}

#[tokio::test]
async fn seqs_past_what_sqlite_holds_are_bad_requests() {
    let f = fixture();
    let src = f.root.join("docs");
    std::fs::create_dir(&src).expect("source");
    let job = f
        .call(
            "POST",
            "/api/v1/jobs",
            Some(&f.admin),
            Some(sync_spec(&f.root, json!([src]))),
        )
        .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.text());
    let id = job.json()["id"].as_str().expect("id").to_owned();
    let huge = u64::MAX;
    for path in [
        format!("/api/v1/jobs/{id}/events?since={huge}"),
        format!("/api/v1/jobs/{id}/progress/stream?since={huge}"),
        format!("/api/v1/jobs/{id}/events?since=-1"),
    ] {
        let answer = f.call("GET", &path, Some(&f.admin), None).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {}",
            answer.text()
        );
        assert_eq!(answer.json()["code"], "bad_request");
    }
    let req = Request::get(format!("/api/v1/jobs/{id}/progress/stream?since={huge}"))
        .header(header::AUTHORIZATION, format!("Bearer {}", f.admin))
        .header("last-event-id", "0")
        .body(Body::empty())
        .expect("request");
    let answer = f.app.clone().oneshot(req).await.expect("infallible");
    assert_eq!(
        answer.status(),
        StatusCode::BAD_REQUEST,
        "a bad `since` is refused even when Last-Event-ID wins over it"
    );
    let fine = f
        .call(
            "GET",
            &format!("/api/v1/jobs/{id}/events?since={}", i64::MAX),
            Some(&f.admin),
            None,
        )
        .await;
    assert_eq!(fine.status, StatusCode::OK, "{}", fine.text());
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_jobs_streams_events_and_requests() {
    let f = fixture();
    let answer = f.call("GET", "/metrics", None, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["code"], "unauthorized");

    let src = f.root.join("docs");
    std::fs::create_dir(&src).expect("source");
    std::fs::write(src.join("a.txt"), b"hello").expect("a file");
    let job = f
        .call(
            "POST",
            "/api/v1/jobs",
            Some(&f.admin),
            Some(sync_spec(&f.root, json!([src]))),
        )
        .await;
    assert_eq!(job.status, StatusCode::CREATED, "{}", job.text());
    let id = job.json()["id"].as_str().expect("id").to_owned();

    // A stream held open counts; reading it to the end (the job's last event) sends every
    // event once.
    let stream = |since: u64| {
        Request::get(format!("/api/v1/jobs/{id}/progress/stream?since={since}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", f.admin))
            .body(Body::empty())
            .expect("request")
    };
    let held = f.app.clone().oneshot(stream(0)).await.expect("stream");
    assert_eq!(held.status(), StatusCode::OK);
    let mut held = held.into_body().into_data_stream();
    let hello = held.next().await.expect("a frame").expect("bytes");
    assert!(hello.starts_with(b": tidemark"));
    let text = f.call("GET", "/metrics", Some(&f.viewer), None).await;
    assert_eq!(text.status, StatusCode::OK);
    assert!(
        text.content_type.starts_with("text/plain"),
        "{}",
        text.content_type
    );
    assert_eq!(metric(&text.text(), "tidemark_open_streams"), Some(1.0));

    let whole = f.app.clone().oneshot(stream(0)).await.expect("stream");
    let whole = axum::body::to_bytes(whole.into_body(), 16 << 20)
        .await
        .expect("to the end");
    let whole = String::from_utf8_lossy(&whole).into_owned();
    let sent = whole.matches("\nevent: progress\n").count();
    assert!(whole.contains("\"state\":\"completed\""), "{whole}");
    drop(held);
    // The stream ends with the job's last event; the history records it on its own thread.
    for _ in 0..1000 {
        let job = f
            .call("GET", &format!("/api/v1/jobs/{id}"), Some(&f.admin), None)
            .await;
        if job.json()["state"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }

    let text = f
        .call("GET", "/metrics", Some(&f.viewer), None)
        .await
        .text();
    assert_eq!(metric(&text, "tidemark_open_streams"), Some(0.0), "{text}");
    assert_eq!(
        metric(&text, "tidemark_events_sent_total"),
        Some(sent as f64),
        "{text}"
    );
    assert_eq!(
        metric(&text, "tidemark_jobs{state=\"completed\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(&text, "tidemark_jobs{state=\"running\"}"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tidemark_http_request_duration_seconds_count{method=\"POST\",status=\"201\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "tidemark_http_request_duration_seconds_count{method=\"GET\",status=\"401\"}"
        ),
        Some(1.0),
        "{text}"
    );
}
