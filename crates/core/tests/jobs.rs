//! Scenario tests of jobs through the public API, with a collector as the consumer.

use std::fs;
use std::path::Path;
use std::time::Duration;

use tidemark_core::sink::Collector;
use tidemark_core::{JobHandle, JobOptions, JobSpec, JobState, SnapshotSpec, Step, SyncSpec, pump};

fn big_tree(root: &Path, files: usize, size: usize) {
    fs::create_dir_all(root).expect("root");
    let chunk: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
    for i in 0..files {
        fs::write(root.join(format!("f{i:03}.bin")), &chunk).expect("write");
    }
}

fn collect(job: &JobHandle) -> std::thread::JoinHandle<Collector> {
    let sub = job.subscribe(0);
    std::thread::spawn(move || {
        let mut c = Collector::default();
        pump(sub, &mut c).expect("collector never closes");
        c
    })
}

#[test]
fn a_paused_job_reports_paused_stops_moving_and_finishes_after_resume() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    big_tree(&src, 40, 1 << 20);
    let spec = JobSpec::Sync(SyncSpec {
        sources: vec![src.clone()],
        destination: tmp.path().join("mirror"),
        delete: false,
    });
    let job = JobHandle::spawn(
        spec,
        JobOptions {
            emit_interval: Duration::ZERO,
            ..Default::default()
        },
    );
    let collector = collect(&job);
    let mut sub = job.subscribe(0);
    // Pause as soon as copying has begun.
    while let Some(d) = sub.next_blocking() {
        if let tidemark_core::Delivery::Event(e) = d
            && e.step == Step::Copying
            && e.counters.bytes_done > 0
        {
            break;
        }
    }
    job.control().pause();
    let paused = loop {
        match sub.next_blocking() {
            Some(tidemark_core::Delivery::Event(e)) if e.state == JobState::Paused => break e,
            Some(_) => {}
            None => panic!("the job ended instead of pausing"),
        }
    };
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        job.log().last_seq(),
        paused.seq,
        "a paused job emits nothing and does nothing"
    );
    job.control().resume();
    let end = job.wait().expect("terminal event");
    assert_eq!(end.state, JobState::Completed);
    let events = collector.join().expect("collector").events();
    let after = &events[paused.seq as usize];
    assert_eq!(after.state, JobState::Running, "resume is reported");
    assert!(
        after.counters.bytes_done >= paused.counters.bytes_done,
        "and goes on from where it stopped"
    );
}

#[test]
fn cancel_ends_with_one_cancelled_event_and_no_archive() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    big_tree(&src, 40, 1 << 20);
    let dest = tmp.path().join("out");
    fs::create_dir(&dest).expect("dest");
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: src,
        destination: dest.to_string_lossy().into_owned(),
        name: None,
    });
    let job = JobHandle::spawn(spec, JobOptions::default());
    job.control().pause();
    let collector = collect(&job);
    job.control().cancel();
    let end = job.wait().expect("terminal event");
    assert_eq!(end.state, JobState::Cancelled);
    assert_eq!(end.step, Step::Cancelled);
    let events = collector.join().expect("collector").events();
    assert_eq!(events.iter().filter(|e| e.state.is_terminal()).count(), 1);
    assert_eq!(
        fs::read_dir(&dest).expect("dest").count(),
        0,
        "nothing at the destination"
    );
}

/// (name, nice value) of every thread of this process, from /proc.
#[cfg(target_os = "linux")]
fn threads_nice() -> Vec<(String, i32)> {
    let mut out = Vec::new();
    for task in fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let Ok(stat) = fs::read_to_string(task.expect("task").path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        // "tid (comm) state ppid …": comm may hold spaces, so split at its closing parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].to_owned();
        // Fields after the comm start at field 3 (state); nice is field 19.
        let nice = stat[close + 1..]
            .split_whitespace()
            .nth(16)
            .and_then(|n| n.parse().ok())
            .expect("nice field");
        out.push((name, nice));
    }
    out
}

#[cfg(target_os = "linux")]
#[test]
fn a_background_job_and_the_threads_it_starts_run_nicer_than_the_rest() {
    use tidemark_core::Priority;
    let tmp = tempfile::tempdir().expect("tmp");
    let src = tmp.path().join("src");
    // Small files are read ahead on reader threads, large ones compressed on zstd's workers:
    // both are started by the job thread, not by the caller.
    big_tree(&src, 200, 64 << 10);
    big_tree(&src.join("large"), 8, 4 << 20);
    let dest = tmp.path().join("out");
    fs::create_dir_all(&dest).expect("dest");
    let spec = JobSpec::Snapshot(SnapshotSpec {
        source: src,
        destination: dest.to_string_lossy().into_owned(),
        name: None,
    });
    let job = JobHandle::spawn(
        spec,
        JobOptions {
            emit_interval: Duration::ZERO,
            priority: Priority::Background,
            ..Default::default()
        },
    );
    let mut sub = job.subscribe(0);
    while let Some(d) = sub.next_blocking() {
        if let tidemark_core::Delivery::Event(e) = d
            && e.step == Step::Compressing
            && e.counters.bytes_done > 0
        {
            break;
        }
    }
    job.control().pause();
    let name = tidemark_core::job::thread_name(job.id());
    let threads = threads_nice();
    job.control().resume();
    let end = job.wait().expect("terminal event");
    assert_eq!(end.state, JobState::Completed);

    let ours = threads
        .iter()
        .find(|(name, _)| name.starts_with("a_background"))
        .map(|(_, nice)| *nice)
        .expect("the test's own thread");
    let job_threads: Vec<_> = threads
        .iter()
        .filter(|(n, _)| *n == name || n == "tidemark-read")
        .collect();
    assert!(
        job_threads.len() >= 2,
        "the job thread and threads it started: {threads:?}"
    );
    for (n, nice) in &job_threads {
        assert_eq!(*nice, (ours + 10).min(19), "{n} in {threads:?}");
    }
}
