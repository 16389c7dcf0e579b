use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::*;
use crate::event::JobState;
use crate::job::{JobHandle, JobOptions, JobSpec};
use crate::snapshot::SnapshotSpec;

const LONG: Duration = Duration::from_secs(20);

/// Takes a slot at once (the line must be free).
fn take(queue: &JobQueue) -> Slot {
    let ticket = queue.enter(&Control::new());
    assert_eq!(ticket.waiting_place(), None, "a slot was free");
    ticket.wait(|_| {}).expect("not cancelled")
}

/// A thread waiting in line: sends each place, then its slot.
enum News {
    Place(Place),
    Started(usize, Slot),
    Cancelled(usize),
}

fn waiter(queue: &JobQueue, n: usize, control: &Control, tx: &mpsc::Sender<News>) -> Place {
    let ticket = queue.enter(control);
    let first = ticket.waiting_place().expect("must wait");
    let tx = tx.clone();
    std::thread::spawn(move || {
        let news = match ticket.wait(|p| {
            let _ = tx.send(News::Place(p));
        }) {
            Ok(slot) => News::Started(n, slot),
            Err(Cancelled) => News::Cancelled(n),
        };
        let _ = tx.send(news);
    });
    first
}

fn next_start(rx: &mpsc::Receiver<News>) -> (usize, Slot) {
    loop {
        match rx.recv_timeout(LONG).expect("news") {
            News::Started(n, slot) => return (n, slot),
            News::Place(_) => {}
            News::Cancelled(n) => panic!("{n} was cancelled"),
        }
    }
}

#[test]
fn jobs_start_in_the_order_they_entered_and_at_most_the_limit_at_once() {
    let queue = JobQueue::new(2);
    let held = [take(&queue), take(&queue)];
    let (tx, rx) = mpsc::channel();
    let controls: Vec<Control> = (0..5).map(|_| Control::new()).collect();
    for (n, c) in controls.iter().enumerate() {
        waiter(&queue, n, c, &tx);
    }
    assert_eq!((queue.running(), queue.waiting()), (2, 5));
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        rx.try_recv().is_err(),
        "nothing starts while both slots are held"
    );
    let mut slots: VecDeque<Slot> = held.into_iter().collect();
    let mut order = Vec::new();
    while order.len() < 5 {
        drop(slots.pop_front());
        let (n, slot) = next_start(&rx);
        order.push(n);
        assert!(queue.running() <= 2, "{queue:?}");
        slots.push_back(slot);
    }
    assert_eq!(order, [0, 1, 2, 3, 4]);
    drop(slots);
    assert_eq!((queue.running(), queue.waiting()), (0, 0));
}

#[test]
fn a_waiting_job_is_told_each_new_place_once() {
    let queue = JobQueue::new(1);
    let held = take(&queue);
    let (tx, _rx) = mpsc::channel();
    assert_eq!(waiter(&queue, 0, &Control::new(), &tx).ahead, 0);
    assert_eq!(waiter(&queue, 1, &Control::new(), &tx).ahead, 1);
    let (tx3, rx3) = mpsc::channel();
    let first = waiter(&queue, 2, &Control::new(), &tx3);
    assert_eq!(first.message(), "Waiting: 2 jobs ahead");
    // Each release lets one job in and moves the last one up by one.
    drop(held);
    let Ok(News::Place(p)) = rx3.recv_timeout(LONG) else {
        panic!("no new place")
    };
    assert_eq!(p.message(), "Waiting: 1 job ahead");
    assert_eq!(queue.running(), 1);
    assert!(
        rx3.recv_timeout(Duration::from_millis(100)).is_err(),
        "told again though its place did not change"
    );
    assert_eq!(
        Place {
            ahead: 0,
            paused: false
        }
        .message(),
        "Waiting: next in line"
    );
}

#[test]
fn a_job_cancelled_in_line_leaves_it_and_the_next_moves_up() {
    let queue = JobQueue::new(1);
    let held = take(&queue);
    let (tx, rx) = mpsc::channel();
    let first = Control::new();
    waiter(&queue, 0, &first, &tx);
    let (tx2, rx2) = mpsc::channel();
    assert_eq!(waiter(&queue, 1, &Control::new(), &tx2).ahead, 1);
    first.cancel();
    assert!(matches!(
        rx.recv_timeout(LONG).expect("news"),
        News::Cancelled(0)
    ));
    let Ok(News::Place(p)) = rx2.recv_timeout(LONG) else {
        panic!("no new place")
    };
    assert_eq!(p.ahead, 0);
    assert_eq!((queue.running(), queue.waiting()), (1, 1));
    drop(held);
    assert_eq!(next_start(&rx2).0, 1);
}

#[test]
fn a_paused_job_lets_others_pass_and_keeps_its_place() {
    let queue = JobQueue::new(1);
    let held = take(&queue);
    let (tx, rx) = mpsc::channel();
    let paused = Control::new();
    paused.pause();
    let place = waiter(&queue, 0, &paused, &tx);
    assert!(place.paused, "{place:?}");
    assert!(place.message().starts_with("Paused while queued"));
    let (tx2, rx2) = mpsc::channel();
    assert_eq!(waiter(&queue, 1, &Control::new(), &tx2).ahead, 0);
    drop(held);
    let (n, slot) = next_start(&rx2);
    assert_eq!(n, 1, "the paused job let the other pass");
    paused.resume();
    let Ok(News::Place(p)) = rx.recv_timeout(LONG) else {
        panic!("no new place")
    };
    assert!(!p.paused);
    drop(slot);
    assert_eq!(next_start(&rx).0, 0);
}

#[test]
fn a_higher_limit_starts_waiting_jobs_at_once() {
    let queue = JobQueue::new(1);
    let held = take(&queue);
    let (tx, rx) = mpsc::channel();
    waiter(&queue, 0, &Control::new(), &tx);
    queue.set_limit(2);
    let (_, slot) = next_start(&rx);
    assert_eq!(queue.running(), 2);
    drop((held, slot));
    assert_eq!(JobQueue::new(0).limit(), 1, "0 would never start anything");
}

fn snapshot(src: &Path, dest: &Path) -> JobSpec {
    JobSpec::Snapshot(SnapshotSpec {
        source: src.to_owned(),
        destination: dest.to_string_lossy().into_owned(),
        name: None,
    })
}

fn queued(queue: &JobQueue, spec: JobSpec) -> JobHandle {
    JobHandle::spawn(
        spec,
        JobOptions {
            emit_interval: Duration::ZERO,
            queue: Some(queue.clone()),
            ..JobOptions::default()
        },
    )
}

fn tree(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::write(dir.join("a.txt"), b"alpha").expect("write");
    std::fs::write(dir.join("sub/b.txt"), b"beta").expect("write");
}

#[test]
fn a_job_cancelled_while_queued_never_starts_and_ends_cancelled() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("out"));
    tree(&src);
    std::fs::create_dir(&dest).expect("mkdir");
    let queue = JobQueue::new(1);
    let held = take(&queue);
    let job = queued(&queue, snapshot(&src, &dest));
    let first = job.log().latest().expect("queued event");
    assert_eq!(
        (first.state, first.message.as_str()),
        (JobState::Queued, "Waiting: next in line")
    );
    job.control().cancel();
    let log = job.log().clone();
    let end = job.wait().expect("terminal event");
    assert_eq!(end.state, JobState::Cancelled);
    let states: Vec<JobState> = log.since(0).iter().map(|e| e.state).collect();
    assert_eq!(states, [JobState::Queued, JobState::Cancelled]);
    assert_eq!(
        std::fs::read_dir(&dest).expect("dest").count(),
        0,
        "the destination was touched"
    );
    assert_eq!((queue.running(), queue.waiting()), (1, 0));
    drop(held);
}

#[test]
fn queued_jobs_all_complete_and_a_failed_one_gives_its_slot_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, dest) = (tmp.path().join("src"), tmp.path().join("out"));
    tree(&src);
    std::fs::create_dir(&dest).expect("mkdir");
    let queue = JobQueue::new(1);
    let held = take(&queue);
    let failing = queued(&queue, snapshot(&tmp.path().join("missing"), &dest));
    let jobs: Vec<JobHandle> = (0..3)
        .map(|_| queued(&queue, snapshot(&src, &dest)))
        .collect();
    let last = jobs.last().expect("jobs").log().latest().expect("event");
    assert_eq!(last.message, "Waiting: 3 jobs ahead");
    drop(held);
    assert_eq!(
        failing.wait().map(|e| e.state),
        Some(JobState::Failed),
        "its source is missing"
    );
    for job in jobs {
        let log = job.log().clone();
        assert_eq!(job.wait().map(|e| e.state), Some(JobState::Completed));
        // A place only moves up: each "jobs ahead" figure is told once, in order.
        let ahead: Vec<String> = log
            .since(0)
            .iter()
            .filter(|e| e.state == JobState::Queued)
            .map(|e| e.message.clone())
            .collect();
        let mut sorted = ahead.clone();
        sorted.dedup();
        assert_eq!(ahead, sorted, "a place told twice: {ahead:?}");
    }
    assert_eq!((queue.running(), queue.waiting()), (0, 0));
    assert_eq!(
        std::fs::read_dir(&dest).expect("dest").count(),
        6,
        "3 archives + manifests"
    );
}

#[test]
fn a_job_that_panics_gives_its_slot_back() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (src, dest) = (tmp.path().join("boom"), tmp.path().join("out"));
    tree(&src);
    std::fs::create_dir(&dest).expect("mkdir");
    crate::panic::inject::panic_on_source(&src);
    let queue = JobQueue::new(1);
    let end = queued(&queue, snapshot(&src, &dest)).wait();
    assert_eq!(end.map(|e| e.state), Some(JobState::Failed));
    assert_eq!(queue.running(), 0);
    let _slot = take(&queue);
}
