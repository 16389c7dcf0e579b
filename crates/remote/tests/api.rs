//! The REST calls against a real agent on a loopback port (HTTPS with its own certificate,
//! pinned): what it says about itself, a job started, paused, resumed and cancelled, and what
//! a read-only token is answered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tidemark_core::{ErrorCode, JobSpec, JobState, SnapshotSpec};
use tidemark_remote::{Endpoint, JobControl, TransportError, agent_info, control_job, start_job};
use tidemark_tests::slow_put::SlowPut;

struct Agent {
    admin: Endpoint,
    viewer: Endpoint,
    root: PathBuf,
    _dir: tempfile::TempDir,
    server: tokio::task::JoinHandle<Result<(), tidemark_agent::AgentError>>,
}

async fn agent() -> Agent {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    let tokens = dir.path().join("agent-tokens.json");
    let cfg = tidemark_agent::AgentConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        vec![root.clone()],
        dir.path().join("agent.db"),
        tokens.clone(),
    );
    let (tx, rx) = tokio::sync::oneshot::channel();
    let server = tokio::spawn(tidemark_agent::serve(cfg, move |started| {
        let _ = tx.send(started);
    }));
    let started = rx.await.expect("the agent started");
    let viewer = tidemark_agent::add_named(&tokens, "viewer", true).expect("read-only token");
    let endpoint = |token: String| Endpoint {
        base: started.url.clone(),
        token,
        pin: started.fingerprint,
    };
    Agent {
        admin: endpoint(started.new_admin_token.clone().expect("admin token")),
        viewer: endpoint(viewer),
        root: dunce::canonicalize(&root).expect("canonical root"),
        _dir: dir,
        server,
    }
}

/// About 6 MB that does not compress: its upload to a [`SlowPut`] lasts several seconds.
fn tree(at: &Path) -> PathBuf {
    tidemark_tests::write(
        at.join("data.bin"),
        &tidemark_tests::pseudo_random(6 << 20, 5),
    );
    at.to_owned()
}

async fn state_of(agent: &Endpoint, id: &str) -> JobState {
    tidemark_remote::list_jobs(agent)
        .await
        .expect("listed")
        .into_iter()
        .find(|j| j.id == id)
        .map(|j| j.state)
        .expect("the job is listed")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_says_what_it_is_and_runs_what_it_is_asked() {
    let a = agent().await;
    let info = agent_info(&a.admin).await.expect("info");
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert_eq!(info.roots, [a.root.display().to_string()]);
    assert!(!info.read_only);
    assert!(agent_info(&a.viewer).await.expect("info").read_only);

    // Uploading to a slow server, the job is still running whatever is asked of it below.
    let put = SlowPut::start();
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: tree(&a.root.join("vault")),
        destination: put.url.clone(),
        name: None,
    });
    let job = start_job(&a.admin, &spec).await.expect("started");
    assert_eq!(job.kind, tidemark_core::JobKind::Snapshot);
    control_job(&a.admin, &job.id, JobControl::Pause)
        .await
        .expect("paused");
    // The job's own thread takes the pause and records it: listed as paused soon after.
    let mut state = state_of(&a.admin, &job.id).await;
    for _ in 0..200 {
        if state == JobState::Paused {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        state = state_of(&a.admin, &job.id).await;
    }
    assert_eq!(state, JobState::Paused);

    // A read-only token is told so, with the agent's own code.
    for what in [JobControl::Resume, JobControl::Cancel] {
        match control_job(&a.viewer, &job.id, what).await {
            Err(TransportError::Refused { status, error }) => {
                assert_eq!((status, error.code), (403, ErrorCode::ReadOnly), "{what:?}");
            }
            other => panic!("{what:?} with a read-only token: {other:?}"),
        }
    }
    match start_job(&a.viewer, &spec).await {
        Err(TransportError::Refused { error, .. }) => assert_eq!(error.code, ErrorCode::ReadOnly),
        other => panic!("start with a read-only token: {other:?}"),
    }

    control_job(&a.admin, &job.id, JobControl::Resume)
        .await
        .expect("resumed");
    control_job(&a.admin, &job.id, JobControl::Cancel)
        .await
        .expect("cancelled");
    let mut state = JobState::Running;
    for _ in 0..200 {
        state = state_of(&a.admin, &job.id).await;
        if state.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, JobState::Cancelled);
    assert!(
        put.whole().is_empty(),
        "cancelled before the upload was whole"
    );

    // A path outside the roots keeps the agent's code too; an id that is no id goes nowhere.
    let outside = JobSpec::Snapshot(SnapshotSpec {
        source: std::env::temp_dir(),
        destination: a.root.display().to_string(),
        name: None,
    });
    match start_job(&a.admin, &outside).await {
        Err(TransportError::Refused { status, error }) => {
            assert_eq!((status, error.code), (403, ErrorCode::ForbiddenPath));
        }
        other => panic!("a path outside the roots: {other:?}"),
    }
    assert!(matches!(
        control_job(&a.admin, "../agent", JobControl::Cancel).await,
        Err(TransportError::NotFound(_))
    ));
    let wrong = Endpoint {
        token: "wrong".into(),
        ..a.admin.clone()
    };
    assert!(matches!(
        agent_info(&wrong).await,
        Err(TransportError::Auth(_))
    ));
    a.server.abort();
}
