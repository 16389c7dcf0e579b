//! The background check of one agent: what it is and its jobs, every 2 s while it answers,
//! on the reconnection schedule (1, 2, 4, 8, 15, 30 s, jittered) while it does not. Each
//! result goes to the fleet's actor; nothing here decides what a result means.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tidemark_core::ErrorCode;
use tidemark_remote::backoff::Backoff;
use tidemark_remote::{Endpoint, TransportError};
use tokio::sync::{Notify, mpsc};

use super::state::{CheckResult, Checked, Failure};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Asks an agent once. The real one speaks HTTPS; tests script one.
pub(crate) trait Probe: Send + Sync {
    fn check(&self) -> BoxFuture<'_, CheckResult>;
}

/// How often, and how the backoff's jitter is seeded.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    /// Between two checks of an agent that answers.
    pub interval: Duration,
    pub seed: u64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            interval: Duration::from_secs(2),
            seed: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(11),
        }
    }
}

/// One check's result, for the agent `id`.
#[derive(Debug)]
pub(crate) struct Report {
    pub id: String,
    pub result: CheckResult,
}

/// Checks the agent until the actor stops listening (or aborts the task). A `poke` asks
/// for the next check at once (after a job was started or changed there).
pub(crate) async fn run(
    id: String,
    probe: Arc<dyn Probe>,
    poke: Arc<Notify>,
    reports: mpsc::Sender<Report>,
    schedule: Schedule,
) {
    let mut backoff = Backoff::new(schedule.seed ^ seed_of(&id));
    let mut failures = 0u32;
    loop {
        let result = probe.check().await;
        let delay = if result.is_ok() {
            failures = 0;
            schedule.interval
        } else {
            failures = failures.saturating_add(1);
            backoff.delay(failures)
        };
        let report = Report {
            id: id.clone(),
            result,
        };
        if reports.send(report).await.is_err() {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = poke.notified() => {}
        }
    }
}

/// Agents checked from one app do not retry in step.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The real check: `GET /api/v1/agent` and `GET /api/v1/jobs`, together.
#[derive(Debug)]
pub(crate) struct HttpProbe(pub Endpoint);

/// A check that takes longer than this is a failure, whatever the client's own timeouts.
const CHECK_TIMEOUT: Duration = Duration::from_secs(12);

impl Probe for HttpProbe {
    fn check(&self) -> BoxFuture<'_, CheckResult> {
        Box::pin(async move {
            let both = async {
                tokio::try_join!(
                    tidemark_remote::agent_info(&self.0),
                    tidemark_remote::list_jobs(&self.0)
                )
            };
            match tokio::time::timeout(CHECK_TIMEOUT, both).await {
                Ok(Ok((info, jobs))) => Ok(Checked { info, jobs }),
                Ok(Err(e)) => Err(failure(&e)),
                Err(_) => Err(Failure {
                    reason: "no answer in time".into(),
                    code: ErrorCode::AgentUnreachable,
                }),
            }
        })
    }
}

/// An agent that cannot be asked at all (its stored address is unusable, or no token is
/// kept for it): every check fails with why, so its card says so and offers Remove.
#[derive(Debug)]
pub(crate) struct CannotAsk(pub Failure);

impl Probe for CannotAsk {
    fn check(&self) -> BoxFuture<'_, CheckResult> {
        let failure = self.0.clone();
        Box::pin(async move { Err(failure) })
    }
}

fn failure(e: &TransportError) -> Failure {
    let code = match e {
        TransportError::Auth(_) => ErrorCode::AgentAuthFailed,
        TransportError::Fingerprint { .. } => ErrorCode::FingerprintMismatch,
        TransportError::Untrusted(_) => ErrorCode::Certificate,
        TransportError::Refused { error, .. } => error.code,
        _ => ErrorCode::AgentUnreachable,
    };
    Failure {
        reason: e.to_string(),
        code,
    }
}
