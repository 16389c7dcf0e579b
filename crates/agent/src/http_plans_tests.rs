//! The plans' routes as clients meet them: saved, refused (a read-only token, a bad
//! schedule, a taken name), run, paused, resumed and removed.

use axum::http::StatusCode;
use serde_json::json;

use super::fixture;

#[tokio::test]
async fn plans_are_saved_refused_run_and_removed_through_the_api() {
    let f = fixture();
    let src = f.root.join("photos");
    std::fs::create_dir(&src).expect("source");
    std::fs::write(src.join("a.txt"), b"alpha").expect("file");
    let plan = json!({
        "name": "Photos",
        "spec": {"kind": "snapshot", "source": src, "destination": f.root.join("backups")},
        "schedule": "daily 02:00",
        "keep": 2,
    });
    let ro = f
        .call("POST", "/api/v1/plans", Some(&f.viewer), Some(plan.clone()))
        .await;
    assert_eq!(
        (ro.status, ro.json()["code"].clone()),
        (StatusCode::FORBIDDEN, json!("read_only"))
    );
    let mut bad = plan.clone();
    bad["schedule"] = json!("daily 25:00");
    let bad = f
        .call("POST", "/api/v1/plans", Some(&f.admin), Some(bad))
        .await;
    assert_eq!(
        (bad.status, bad.json()["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_schedule"))
    );
    let mut outside = plan.clone();
    outside["spec"]["source"] = json!("/etc");
    assert_eq!(
        f.call("POST", "/api/v1/plans", Some(&f.admin), Some(outside))
            .await
            .status,
        StatusCode::FORBIDDEN
    );

    // JSON Schema's integers include 2.0 (a float-minded client's 2); 2.5 is none.
    let mut half = plan.clone();
    half["keep"] = json!(2.5);
    let half = f
        .call("POST", "/api/v1/plans", Some(&f.admin), Some(half))
        .await;
    assert_eq!(
        (half.status, half.json()["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("bad_request"))
    );
    let mut whole = plan.clone();
    whole["keep"] = json!(2.0);
    let added = f
        .call("POST", "/api/v1/plans", Some(&f.admin), Some(whole))
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());
    assert_eq!(added.json()["keep"], json!(2));
    assert!(added.json()["nextRunAt"].is_string());
    let dup = f
        .call("POST", "/api/v1/plans", Some(&f.admin), Some(plan))
        .await;
    assert_eq!(
        (dup.status, dup.json()["code"].clone()),
        (StatusCode::CONFLICT, json!("plan_exists"))
    );

    let listed = f.call("GET", "/api/v1/plans", Some(&f.viewer), None).await;
    assert_eq!(listed.json().as_array().map(Vec::len), Some(1));
    let run = f
        .call("POST", "/api/v1/plans/photos/run", Some(&f.admin), None)
        .await;
    assert_eq!(run.status, StatusCode::CREATED, "{}", run.text());
    let plan_id = f
        .call("GET", "/api/v1/plans/Photos", Some(&f.viewer), None)
        .await
        .json()["id"]
        .clone();
    assert_eq!(run.json()["planId"], plan_id);
    let paused = f
        .call(
            "POST",
            "/api/v1/plans/Photos/pause?seconds=3600",
            Some(&f.admin),
            None,
        )
        .await;
    assert_eq!(
        (paused.status, paused.json()["paused"].clone()),
        (StatusCode::OK, json!(true))
    );
    // The document's bounds are the agent's: a hundred years and a second is refused.
    let doc = f.document().await;
    let bounds = &doc["paths"]["/api/v1/plans/{name}/pause"]["post"]["parameters"][1]["schema"];
    assert_eq!(
        bounds["maximum"],
        json!(tidemark_plans::ops::MAX_SECS),
        "{bounds}"
    );
    let keep = &doc["components"]["schemas"]["PlanInput"]["properties"]["keep"];
    assert_eq!(
        (keep["minimum"].clone(), keep["maximum"].clone()),
        (json!(1), json!(tidemark_plans::ops::MAX_KEEP))
    );
    let too_long = format!(
        "/api/v1/plans/Photos/pause?seconds={}",
        tidemark_plans::ops::MAX_SECS + 1
    );
    let too_long = f.call("POST", &too_long, Some(&f.admin), None).await;
    assert_eq!(
        (too_long.status, too_long.json()["code"].clone()),
        (StatusCode::BAD_REQUEST, json!("invalid_input"))
    );
    let resumed = f
        .call("POST", "/api/v1/plans/Photos/resume", Some(&f.admin), None)
        .await;
    assert_eq!(resumed.json()["paused"], json!(false));
    let gone = f
        .call("DELETE", "/api/v1/plans/Photos", Some(&f.admin), None)
        .await;
    assert_eq!(gone.status, StatusCode::OK);
    let missing = f
        .call("GET", "/api/v1/plans/Photos", Some(&f.viewer), None)
        .await;
    assert_eq!(
        (missing.status, missing.json()["code"].clone()),
        (StatusCode::NOT_FOUND, json!("plan_not_found"))
    );
}
