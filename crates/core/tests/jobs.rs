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
            && e.bytes_done > 0
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
        after.bytes_done >= paused.bytes_done,
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
