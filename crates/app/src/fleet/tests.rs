//! The actor and the check loop with scripted agents, on tokio's paused clock: when checks
//! happen, what each result changes, and which notifications the changes make.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tidemark_core::{Counters, ErrorCode, JobKind, JobState};
use tidemark_remote::RemoteJob;
use tokio::time::Instant;

use super::state::{CheckResult, Checked, Failure};
use super::*;
use crate::notify::NotificationKind;
use crate::types::Reachability;

/// Answers from a script (the last answer repeats) and records when it was asked.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<CheckResult>>,
    asked: Mutex<Vec<Instant>>,
}

impl Scripted {
    fn new(answers: Vec<CheckResult>) -> Arc<Scripted> {
        Arc::new(Scripted {
            answers: Mutex::new(answers.into()),
            asked: Mutex::default(),
        })
    }

    fn asked(&self) -> Vec<Instant> {
        self.asked.lock().expect("asked").clone()
    }
}

impl Probe for Scripted {
    fn check(&self) -> BoxFuture<'_, CheckResult> {
        self.asked.lock().expect("asked").push(Instant::now());
        let mut answers = self.answers.lock().expect("answers");
        let answer = if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        };
        Box::pin(async move { answer.unwrap_or_else(|| Err(down("no script"))) })
    }
}

#[derive(Default)]
struct Recorded {
    fleets: Mutex<Vec<Fleet>>,
    notes: Mutex<Vec<Notification>>,
}

impl Output for Recorded {
    fn changed(&self, fleet: &Fleet) {
        self.fleets.lock().expect("fleets").push(fleet.clone());
    }
    fn notify(&self, n: &Notification) {
        self.notes.lock().expect("notes").push(n.clone());
    }
}

impl Recorded {
    fn last(&self) -> Fleet {
        self.fleets
            .lock()
            .expect("fleets")
            .last()
            .cloned()
            .unwrap_or_default()
    }
    fn notes(&self) -> Vec<(NotificationKind, String)> {
        let notes = self.notes.lock().expect("notes");
        notes.iter().map(|n| (n.kind, n.title.clone())).collect()
    }
}

fn down(reason: &str) -> Failure {
    Failure {
        reason: reason.into(),
        code: ErrorCode::AgentUnreachable,
    }
}

fn job(id: &str, state: JobState, percent: Option<f64>) -> RemoteJob {
    RemoteJob {
        id: id.into(),
        kind: JobKind::Snapshot,
        state,
        created_at: "2026-11-23T10:00:00Z".into(),
        started_at: Some("2026-11-23T10:00:00Z".into()),
        finished_at: state.is_terminal().then(|| "2026-11-23T10:00:42Z".into()),
        percent,
        counters: Counters {
            bytes_done: 3_000_000,
            ..Counters::default()
        },
        result_url: None,
        error: None,
    }
}

fn up(jobs: Vec<RemoteJob>) -> CheckResult {
    Ok(Checked {
        info: tidemark_remote::AgentInfo {
            version: "0.1.0".into(),
            roots: vec!["/srv/data".into()],
            read_only: false,
        },
        jobs,
    })
}

fn schedule() -> Schedule {
    Schedule {
        interval: Duration::from_secs(2),
        seed: 7,
    }
}

fn member(id: &str, probe: Arc<Scripted>) -> Member {
    Member {
        id: id.into(),
        name: "NAS".into(),
        url: "https://nas:7040".into(),
        probe,
    }
}

/// The gaps between checks, in whole seconds.
fn gaps(asked: &[Instant]) -> Vec<f64> {
    asked
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn an_answering_agent_is_checked_every_two_seconds_and_a_silent_one_on_the_backoff() {
    let mut script = vec![up(vec![]), up(vec![])];
    script.extend((0..7).map(|_| Err(down("cannot connect"))));
    script.push(up(vec![]));
    let probe = Scripted::new(script);
    let out = Arc::new(Recorded::default());
    let fleet = FleetHandle::spawn(&Handle::current(), out.clone(), schedule());
    fleet.add(member("a", probe.clone()));
    tokio::time::sleep(Duration::from_secs(120)).await;

    let gaps = gaps(&probe.asked());
    assert_eq!(gaps[..2], [2.0, 2.0], "{gaps:?}");
    // After each failure the next check waits its turn of 1, 2, 4, 8, 15, 30, 30 s (±20 %).
    for (gap, base) in gaps[2..9]
        .iter()
        .zip([1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 30.0])
    {
        assert!(
            (base * 0.8..=base * 1.2).contains(gap),
            "{gap} s for {base} s: {gaps:?}"
        );
    }
    // Back: every 2 s again.
    assert!(gaps[9..].iter().all(|g| *g == 2.0), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn transitions_make_the_notifications_and_the_jobs_follow_the_agent() {
    let probe = Scripted::new(vec![
        up(vec![
            job("j2", JobState::Running, Some(10.0)),
            job("j1", JobState::Completed, Some(100.0)),
        ]),
        up(vec![
            job("j2", JobState::Running, Some(42.0)),
            job("j1", JobState::Completed, Some(100.0)),
        ]),
        Err(down("cannot connect: refused")),
        Err(down("cannot connect: refused")),
        up(vec![
            job("j2", JobState::Completed, Some(100.0)),
            job("j1", JobState::Completed, Some(100.0)),
        ]),
    ]);
    let out = Arc::new(Recorded::default());
    let fleet = FleetHandle::spawn(&Handle::current(), out.clone(), schedule());
    fleet.add(member("a", probe.clone()));
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let first = out.fleets.lock().expect("fleets")[0].clone();
    assert_eq!(
        first.agents[0].reachability,
        Reachability::Checking,
        "shown before its first answer"
    );

    let now = fleet.get().await;
    let nas = &now.agents[0];
    assert!(
        matches!(nas.reachability, Reachability::Online { .. }),
        "{nas:?}"
    );
    assert_eq!(nas.version.as_deref(), Some("0.1.0"));
    assert_eq!(nas.roots, ["/srv/data"]);
    let running: Vec<_> = nas
        .running
        .iter()
        .map(|j| (j.id.as_str(), j.percent))
        .collect();
    assert_eq!(running, [("j2", Some(42.0))]);
    assert_eq!(nas.running[0].title, "Snapshot on NAS");
    assert_eq!(nas.recent.len(), 1, "j1 ended before the app looked");
    assert_eq!(out.notes(), [], "nothing the app saw change yet");

    tokio::time::sleep(Duration::from_secs(10)).await;
    let fleets = out.fleets.lock().expect("fleets").clone();
    let revisions: Vec<u64> = fleets.iter().map(|f| f.revision).collect();
    assert!(revisions.windows(2).all(|w| w[1] > w[0]), "{revisions:?}");
    let unreachable = fleets.iter().find_map(|f| match &f.agents[0].reachability {
        Reachability::Unreachable { reason, code, .. } => Some((reason.clone(), *code)),
        _ => None,
    });
    assert_eq!(
        unreachable,
        Some((
            "cannot connect: refused".into(),
            ErrorCode::AgentUnreachable
        ))
    );
    assert_eq!(
        out.notes(),
        [
            (
                NotificationKind::AgentUnreachable,
                "Agent NAS is unreachable".into()
            ),
            (NotificationKind::AgentBack, "Agent NAS is back".into()),
            (
                NotificationKind::Completed,
                "Snapshot on NAS completed".into()
            ),
        ],
        "one of each, the second failure says nothing new"
    );
    let body = out.notes.lock().expect("notes")[2].body.clone();
    assert_eq!(body, "3.0 MB in 42 s");
    let last = out.last();
    assert!(last.agents[0].running.is_empty());
    assert_eq!(last.agents[0].recent.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn an_agent_never_reached_is_not_announced_gone_nor_back() {
    let probe = Scripted::new(vec![Err(down("no route to host")), up(vec![])]);
    let out = Arc::new(Recorded::default());
    let fleet = FleetHandle::spawn(&Handle::current(), out.clone(), schedule());
    fleet.add(member("a", probe));
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(matches!(
        out.last().agents[0].reachability,
        Reachability::Online { .. }
    ));
    assert_eq!(out.notes(), []);
}

#[tokio::test(start_paused = true)]
async fn a_removed_agent_is_no_longer_checked_and_a_poke_checks_at_once() {
    let probe = Scripted::new(vec![up(vec![])]);
    let out = Arc::new(Recorded::default());
    let fleet = FleetHandle::spawn(&Handle::current(), out.clone(), schedule());
    fleet.add(member("a", probe.clone()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    fleet.check_now("a");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(probe.asked().len(), 2, "the poke did not wait 2 s");

    fleet.remove("a");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let asked = probe.asked().len();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(probe.asked().len(), asked);
    assert!(fleet.get().await.agents.is_empty());
    assert!(out.last().agents.is_empty());

    // The last handle gone, the actor stops its checks.
    let again = Scripted::new(vec![up(vec![])]);
    fleet.add(member("b", again.clone()));
    tokio::time::sleep(Duration::from_millis(10)).await;
    drop(fleet);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let asked = again.asked().len();
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(again.asked().len(), asked);
}

#[tokio::test(start_paused = true)]
async fn a_job_started_here_that_ends_before_any_check_saw_it_is_still_notified() {
    let probe = Scripted::new(vec![
        up(vec![]),
        up(vec![job("j1", JobState::Failed, Some(12.0))]),
    ]);
    let out = Arc::new(Recorded::default());
    let fleet = FleetHandle::spawn(&Handle::current(), out.clone(), schedule());
    fleet.add(member("a", probe.clone()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    fleet.started("a", "j1");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(probe.asked().len(), 2, "checked at once");
    assert_eq!(
        out.notes(),
        [(NotificationKind::Failed, "Snapshot on NAS failed".into())]
    );
    // Seen once, it is news no more.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(out.notes().len(), 1);
}

#[test]
fn the_running_jobs_of_reachable_agents_are_listed_beside_local_ones() {
    let mut nas = state::AgentState::new("a", "NAS", "https://nas:7040");
    nas.apply(
        up(vec![
            job("j3", JobState::Paused, Some(70.0)),
            job("j2", JobState::Running, Some(42.0)),
            job("j1", JobState::Interrupted, Some(10.0)),
            job("j0", JobState::Completed, Some(100.0)),
        ]),
        "2026-11-23T10:00:00Z",
    );
    let mut gone = state::AgentState::new("b", "Pi", "https://pi:7040");
    gone.apply(
        up(vec![job("k1", JobState::Running, Some(5.0))]),
        "2026-11-23T10:00:00Z",
    );
    gone.apply(Err(down("cannot connect")), "2026-11-23T10:00:02Z");
    let fleet = Fleet {
        revision: 3,
        agents: vec![nas.view, gone.view],
        ..Fleet::default()
    };
    let jobs: Vec<(String, String, JobState, Option<f64>)> = fleet
        .active_jobs()
        .into_iter()
        .map(|j| (j.id, j.title, j.state, j.percent))
        .collect();
    assert_eq!(
        jobs,
        [
            (
                "remote-a-j3".into(),
                "Snapshot on NAS".into(),
                JobState::Paused,
                Some(70.0)
            ),
            (
                "remote-a-j2".into(),
                "Snapshot on NAS".into(),
                JobState::Running,
                Some(42.0)
            ),
        ],
        "neither an interrupted job nor an unreachable agent's"
    );
}
