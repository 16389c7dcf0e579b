use super::*;

fn event(ms: i64, state: JobState, step: Step, counters: Counters) -> ProgressEvent {
    ProgressEvent {
        state,
        step,
        counters,
        timestamp: chrono::DateTime::from_timestamp_millis(1_735_689_600_000 + ms)
            .expect("instant")
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        ..ProgressEvent::blank("j", JobKind::Sync, 4)
    }
}

fn counts(
    processed: u64,
    total: Option<u64>,
    bytes_done: u64,
    bytes_total: Option<u64>,
) -> Counters {
    Counters {
        processed,
        total,
        bytes_done,
        bytes_total,
    }
}

/// A sync: scanning `scan` ms finding `files`, copying `copy` ms of `bytes`.
fn sync_run(scan: i64, files: u64, copy: i64, bytes: u64, end: JobState) -> Vec<ProgressEvent> {
    let none = Counters::default();
    vec![
        event(0, JobState::Queued, Step::Waiting, none),
        event(0, JobState::Running, Step::Scanning, none),
        event(
            scan,
            JobState::Running,
            Step::Scanning,
            counts(files, None, 0, None),
        ),
        event(
            scan,
            JobState::Running,
            Step::Copying,
            counts(0, Some(files), 0, Some(bytes)),
        ),
        event(
            scan + copy,
            end,
            Step::Completed,
            counts(files, Some(files), bytes, Some(bytes)),
        ),
    ]
}

fn seed() -> EtaSeed {
    let runs = [
        sync_run(2_000, 100, 10_000, 1_000_000, JobState::Completed),
        sync_run(4_000, 300, 30_000, 3_000_000, JobState::Completed),
        // Neither a failed run nor another kind of work says anything.
        sync_run(100, 1, 100_000, 10, JobState::Failed),
        vec![ProgressEvent {
            kind: JobKind::Snapshot,
            ..event(0, JobState::Completed, Step::Completed, Counters::default())
        }],
    ];
    EtaSeed::from_runs(runs.iter().map(Vec::as_slice)).expect("a seed")
}

#[test]
fn a_seed_is_the_mean_of_the_completed_runs_of_one_kind() {
    let seed = seed();
    assert_eq!((seed.kind, seed.runs), (JobKind::Sync, 2));
    assert_eq!(
        seed.steps,
        [
            StepHistory {
                step: Step::Scanning,
                secs: 3.0,
                items: 200.0,
                bytes: 0.0
            },
            StepHistory {
                step: Step::Copying,
                secs: 20.0,
                items: 200.0,
                bytes: 2_000_000.0
            },
        ]
    );
    let json = serde_json::to_string(&seed).expect("json");
    assert_eq!(serde_json::from_str::<EtaSeed>(&json).expect("reads"), seed);
    assert_eq!(EtaSeed::from_runs(std::iter::empty()), None);
}

#[test]
fn the_rest_is_predicted_from_this_runs_totals_once_known() {
    let steps = [Step::Waiting, Step::Scanning, Step::Copying];
    let mut seeded = Seeded::new(seed());
    let at = |current, counters, in_step| Position {
        steps: &steps,
        current,
        counters,
        in_step,
    };
    assert_eq!(
        seeded.remaining(&at(0, Counters::default(), 0.0)),
        None,
        "the seed knows no waiting step"
    );
    // Scanning, total unknown: the past runs' times, half of the files they found seen.
    let r = seeded
        .remaining(&at(1, counts(100, None, 0, None), 1.0))
        .expect("estimate");
    assert!((r - (1.5 + 20.0)).abs() < 1e-9, "{r}");
    // Copying this run's 500 kB, a quarter done: a quarter of the past runs' bytes, at their
    // speed.
    let r = seeded
        .remaining(&at(2, counts(10, Some(40), 125_000, Some(500_000)), 1.0))
        .expect("estimate");
    assert!((r - 3.75).abs() < 1e-9, "{r}");
    // Nothing to copy: nothing left but a sliver.
    let r = seeded
        .remaining(&at(2, counts(0, Some(0), 0, Some(0)), 0.0))
        .expect("estimate");
    assert_eq!(r, 0.0);
}

#[test]
fn estimates_are_rounded_as_estimates() {
    for (secs, shown) in [
        (0.2, 1.0),
        (3.4, 3.0),
        (12.34, 12.0),
        (347.0, 350.0),
        (1234.0, 1200.0),
        (86_000.0, 86_000.0),
    ] {
        assert_eq!(round_estimate(secs), shown, "{secs}");
    }
}

#[test]
fn the_blend_moves_from_the_seed_to_the_live_figure() {
    assert_eq!(blend(100.0, 50.0, 0.0, 30.0), 100.0, "nothing elapsed yet");
    assert_eq!(blend(100.0, 50.0, 100.0, 0.0), 100.0, "live just appeared");
    assert_eq!(blend(100.0, 50.0, 100.0, 30.0), 75.0, "half way, settled");
    let late = blend(10.0, 50.0, 990.0, 30.0);
    assert!((late - 49.6).abs() < 1e-9, "{late}");
}
