use super::*;

fn reporter(log: &Arc<EventLog>) -> Reporter {
    let plan = StepPlan(vec![
        (Step::Waiting, 0.0),
        (Step::Browsing, 0.1),
        (Step::Compressing, 0.9),
    ]);
    Reporter::new("j", JobKind::Snapshot, log.clone(), Control::new(), plan)
        .with_interval(Duration::ZERO)
}

#[test]
fn unknown_totals_give_no_percent_and_known_ones_are_weighted() {
    let log = EventLog::new();
    let mut r = reporter(&log);
    r.queued();
    r.start_step(Step::Waiting, None, None);
    assert_eq!(
        log.latest().and_then(|e| e.percent),
        None,
        "waiting knows no total"
    );
    r.start_step(Step::Browsing, None, None);
    r.advance(10, 100);
    assert_eq!(log.latest().and_then(|e| e.percent), None, "no fake 0 %");
    r.start_step(Step::Compressing, Some(10), Some(1000));
    r.advance(5, 500);
    let ev = log.latest().expect("event");
    assert_eq!(ev.percent, Some(55.0));
    assert_eq!((ev.step_number, ev.total_steps), (3, 4));
    assert_eq!(ev.message, "Compressing 5 of 10 files");
}

#[test]
fn percent_never_goes_back_and_the_end_is_last() {
    let log = EventLog::new();
    let mut r = reporter(&log);
    r.queued();
    r.start_step(Step::Compressing, Some(2), Some(100));
    r.advance(1, 80);
    // A total discovered to be larger must not pull the bar back.
    r.set_totals(Some(2), Some(1000));
    r.advance(0, 10);
    r.finish(&Ok("/tmp/x".into()));
    let events = log.since(0);
    let percents: Vec<f64> = events.iter().filter_map(|e| e.percent).collect();
    assert!(percents.windows(2).all(|w| w[1] >= w[0]), "{percents:?}");
    let last = events.last().expect("events");
    assert_eq!(last.state, JobState::Completed);
    assert_eq!(last.percent, Some(100.0));
    assert_eq!(last.step_number, last.total_steps);
    assert_eq!(events.iter().filter(|e| e.is_terminal()).count(), 1);
}

#[test]
fn failure_carries_the_code_and_keeps_the_percent_reached() {
    let log = EventLog::new();
    let mut r = reporter(&log);
    r.start_step(Step::Compressing, Some(4), Some(400));
    r.advance(2, 200);
    let err = JobError::DiskFull("/x".into());
    let ev = r.finish(&Err(err)).expect("terminal event");
    assert_eq!(ev.state, JobState::Failed);
    assert_eq!(ev.step, Step::Failed);
    assert_eq!(
        ev.error.as_ref().map(|e| e.code),
        Some(crate::ErrorCode::DiskFull)
    );
    assert_eq!(ev.percent, Some(55.0));
}

#[test]
fn digits_are_grouped() {
    assert_eq!(group_digits(0), "0");
    assert_eq!(group_digits(999), "999");
    assert_eq!(group_digits(12034), "12,034");
    assert_eq!(group_digits(1_000_000), "1,000,000");
}

mod seeded {
    use super::*;
    use crate::event::EtaSource;
    use crate::seed::EtaSeed;

    const TICK: Duration = Duration::from_millis(100);

    /// A reporter's events, each with the simulated second it was logged at.
    type Seen = Vec<(f64, Arc<ProgressEvent>)>;

    fn snapshot_plan() -> StepPlan {
        StepPlan(vec![
            (Step::Waiting, 0.0),
            (Step::Browsing, 0.03),
            (Step::Manifest, 0.05),
            (Step::Compressing, 0.91),
            (Step::Uploading, 0.01),
        ])
    }

    /// Reporters fed the same snapshot in lockstep on a simulated clock: `files` files of
    /// 1 MB each, at `speed` times the base speed (browsing 1000 files/s, manifest 2000/s,
    /// compressing 100 MB/s). Returns, per reporter, (seconds from start, event) for each event
    /// it logged, and the run's length.
    fn run(reps: &mut [&mut Reporter], t0: Instant, files: u64, speed: f64) -> (Vec<Seen>, f64) {
        let mut seen: Vec<Seen> = vec![Vec::new(); reps.len()];
        let mut t = 0.0;
        let mut record = |reps: &mut [&mut Reporter], t: f64| {
            for (r, seen) in reps.iter().zip(seen.iter_mut()) {
                if let Some(e) = r.last_event()
                    && seen.last().is_none_or(|(_, l)| l.seq != e.seq)
                {
                    seen.push((t, e.clone()));
                }
            }
        };
        let at = |t: f64| t0 + Duration::from_secs_f64(t);
        let mb = 1_000_000;
        // (step, items per second, bytes per second, fixed seconds or 0)
        let steps = [
            (Step::Waiting, 0.0, 0.0, 0.2),
            (Step::Browsing, 1000.0, 0.0, 0.0),
            (Step::Manifest, 2000.0, 0.0, 0.0),
            (Step::Compressing, 100.0, 100.0 * mb as f64, 0.0),
        ];
        for (step, items_per_s, bytes_per_s, fixed) in steps {
            let (total, bytes_total) = match step {
                Step::Manifest => (Some(files), None),
                Step::Compressing => (Some(files), Some(files * mb)),
                _ => (None, None),
            };
            for r in reps.iter_mut() {
                r.start_step_at(at(t), step, total, bytes_total);
            }
            record(reps, t);
            let secs = if fixed > 0.0 {
                fixed
            } else {
                files as f64 / items_per_s / speed
            };
            let ticks = (secs / TICK.as_secs_f64()).round() as u64;
            for _ in 0..ticks {
                t += TICK.as_secs_f64();
                let per = |rate: f64| (rate * speed * TICK.as_secs_f64()).round() as u64;
                for r in reps.iter_mut() {
                    r.advance_at(at(t), per(items_per_s), per(bytes_per_s));
                }
                record(reps, t);
            }
        }
        for r in reps.iter_mut() {
            r.start_step_at(at(t), Step::Uploading, Some(files), Some(files * mb));
            r.finish(&Ok("/out/x.tar.zst".into()));
        }
        record(reps, t);
        (seen, t)
    }

    fn reporter(seed: Option<EtaSeed>) -> (Arc<EventLog>, Reporter) {
        let log = EventLog::new();
        let rep = Reporter::new(
            "j",
            JobKind::Snapshot,
            log.clone(),
            Control::new(),
            snapshot_plan(),
        )
        .with_interval(Duration::ZERO)
        .with_eta_seed(seed);
        (log, rep)
    }

    /// The seed of a past run of `files` files: its events stamped on the simulated clock.
    fn past_run(files: u64) -> EtaSeed {
        let (_log, mut rep) = reporter(None);
        let base = chrono::Utc::now();
        let (mut seen, _) = run(&mut [&mut rep], Instant::now(), files, 1.0);
        let events: Vec<ProgressEvent> = seen
            .remove(0)
            .into_iter()
            .map(|(t, e)| ProgressEvent {
                timestamp: (base + chrono::Duration::milliseconds((t * 1000.0).round() as i64))
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                ..(*e).clone()
            })
            .collect();
        EtaSeed::from_runs([events.as_slice()]).expect("a completed run")
    }

    fn error(eta: f64, truth: f64) -> f64 {
        (eta - truth).abs() / truth
    }

    #[test]
    fn a_run_like_the_past_ones_has_a_close_eta_from_its_first_seconds() {
        let seed = past_run(2000);
        let (_a, mut seeded) = reporter(Some(seed));
        let (_b, mut unseeded) = reporter(None);
        // This run has 10 % more files, on a slightly slower day.
        let (seen, end) = run(
            &mut [&mut seeded, &mut unseeded],
            Instant::now(),
            2200,
            0.95,
        );
        let first_running = seen[0]
            .iter()
            .find(|(_, e)| e.state == JobState::Running)
            .expect("running");
        assert_eq!(first_running.1.eta_source, Some(EtaSource::History));
        let mut checked = 0;
        for (t, e) in seen[0].iter().filter(|(t, _)| *t <= 3.0) {
            if e.state != JobState::Running {
                continue;
            }
            let eta = e
                .eta_seconds
                .expect("an ETA from the first running event on");
            assert!(
                error(eta, end - t) < 0.2,
                "at {t:.1} s: {eta} s, truly {} s",
                end - t
            );
            checked += 1;
        }
        assert!(checked > 20, "{checked}");
        let unseeded_early = seen[1]
            .iter()
            .filter(|(t, e)| *t <= 3.0 && e.eta_seconds.is_some())
            .count();
        assert_eq!(unseeded_early, 0, "without a past, no ETA while browsing");
        assert!(seen[1].iter().all(|(_, e)| e.eta_source.is_none()));
    }

    #[test]
    fn the_blend_ends_as_the_runs_own_estimate() {
        // Long enough that the ETAs near the end are not a few seconds, which are rounded.
        let seed = past_run(20_000);
        let (_a, mut seeded) = reporter(Some(seed));
        let (_b, mut unseeded) = reporter(None);
        // Twice as slow as the past run: the seed is wrong, the run's own speed right.
        let (seen, end) = run(
            &mut [&mut seeded, &mut unseeded],
            Instant::now(),
            20_000,
            0.5,
        );
        let gap_at = |from: f64, to: f64| -> Vec<f64> {
            seen[0]
                .iter()
                .zip(&seen[1])
                .filter(|((t, _), _)| *t >= from * end && *t < to * end)
                .filter_map(|((_, s), (_, u))| Some(error(s.eta_seconds?, u.eta_seconds?)))
                .collect()
        };
        let early = gap_at(0.08, 0.12);
        let late = gap_at(0.85, 0.95);
        assert!(!early.is_empty() && !late.is_empty());
        assert!(
            early.iter().all(|g| *g > 0.3),
            "early on the seed dominates: {early:?}"
        );
        assert!(
            late.iter().all(|g| *g < 0.1),
            "late, the live figure: {late:?}"
        );
        let sources: Vec<Option<EtaSource>> = seen[0].iter().map(|(_, e)| e.eta_source).collect();
        assert!(sources.contains(&Some(EtaSource::Blend)));
        assert_eq!(seen[0].last().map(|(_, e)| e.eta_seconds), Some(None));
    }
}
