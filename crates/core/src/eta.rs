//! Rate and time-remaining estimation.
//!
//! The rate is the average since the last change of speed. While the speed only wobbles, that
//! is the overall average, the steadiest estimate there is (any shorter window only adds
//! noise). When the last few seconds run at more than twice or less than half that average,
//! the speed has changed (a step with other work, a slower disk, a stall): the average
//! restarts from there, so the estimate follows the new speed within seconds instead of
//! dragging the old one along. It says nothing (`None`) until it has seen enough, and nothing
//! while the work is stalled; it never says "0 s" while work remains.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct EtaEstimator {
    min_elapsed: Duration,
    stall_after: Duration,
    first_seen: Option<Instant>,
    /// The first sample of the current speed: the rate is the average since then.
    segment: Option<(Instant, f64)>,
    /// Accepted samples covering the last [`Self::WINDOW`] (and the one just before it).
    recent: VecDeque<(Instant, f64)>,
    /// The newest sample, accepted or not: the rate counts every unit reported.
    latest: Option<(Instant, f64)>,
    last_progress_at: Option<Instant>,
    /// Since when the window has looked like a new speed.
    deviating_since: Option<Instant>,
}

impl Default for EtaEstimator {
    fn default() -> Self {
        Self::new()
    }
}

/// Work done per second between two samples.
fn rate_between(a: (Instant, f64), b: (Instant, f64)) -> Option<f64> {
    let dt = b.0.saturating_duration_since(a.0).as_secs_f64();
    (dt > 0.0).then(|| (b.1 - a.1).max(0.0) / dt)
}

fn before(t: Instant, d: Duration) -> Instant {
    t.checked_sub(d).unwrap_or(t)
}

impl EtaEstimator {
    pub fn new() -> Self {
        Self {
            min_elapsed: Duration::from_secs(1),
            stall_after: Duration::from_secs(5),
            first_seen: None,
            segment: None,
            recent: VecDeque::new(),
            latest: None,
            last_progress_at: None,
            deviating_since: None,
        }
    }

    /// Samples closer than this to the last accepted one are folded into the next: tiny
    /// intervals carry mostly timer noise.
    const MIN_SAMPLE: Duration = Duration::from_millis(200);
    /// How far back "the last few seconds" reach when looking for a change of speed: long
    /// enough that ordinary wobble averages out, short enough to notice a change quickly.
    const WINDOW: Duration = Duration::from_secs(5);
    /// A change is only looked for once the current speed has been seen this long (twice the
    /// window: the average it is compared with must be the steadier of the two).
    const SETTLED: Duration = Duration::from_secs(10);
    /// How far the window's rate must be from the average to count as a new speed: beyond
    /// anything a ±50 % wobble averaged over the window can reach.
    const CHANGE_FACTOR: f64 = 2.0;
    /// How long the window must keep looking like a new speed before it counts: one odd
    /// stretch (a coarse counter that just ticked, a burst of tiny files) is not a change.
    const CONFIRM: Duration = Duration::from_millis(1000);
    /// Right after a change the new average is too short to trust: until it is this long,
    /// the rate over the newest stretch this long is used instead. Shorter than the time a
    /// change takes to be noticed, so that stretch is all at the new speed.
    const FRESH: Duration = Duration::from_secs(1);

    /// Records that `done` units are finished at `now` (`done` is cumulative).
    pub fn observe(&mut self, now: Instant, done: f64) {
        let Some(&(t_last, d_last)) = self.recent.back() else {
            self.first_seen = Some(now);
            self.segment = Some((now, done));
            self.recent.push_back((now, done));
            self.latest = Some((now, done));
            self.last_progress_at = Some(now);
            return;
        };
        // Work never comes undone: a smaller figure (a total found larger) is not progress.
        let done = done.max(self.latest.map_or(d_last, |l| l.1));
        if self.latest.is_some_and(|l| done > l.1) {
            self.last_progress_at = Some(now);
        }
        self.latest = Some((now, done));
        if now.saturating_duration_since(t_last) < Self::MIN_SAMPLE {
            return;
        }
        self.recent.push_back((now, done));
        // Keep one sample at or before the window's start, so the window is spanned.
        while self.recent.len() > 2 && self.recent[1].0 <= before(now, Self::WINDOW) {
            self.recent.pop_front();
        }
        self.look_for_a_change();
    }

    /// Restarts the average at the newest sample if the window's rate says the speed has
    /// changed.
    fn look_for_a_change(&mut self) {
        let (Some(seg), Some(&first), Some(&last)) =
            (self.segment, self.recent.front(), self.recent.back())
        else {
            return;
        };
        if last.0.saturating_duration_since(first.0) < Self::WINDOW
            || last.0.saturating_duration_since(seg.0) < Self::SETTLED
        {
            return;
        }
        // The average before the window, so the window does not water down what it is
        // compared with.
        let (Some(before_window), Some(window)) =
            (rate_between(seg, first), rate_between(first, last))
        else {
            return;
        };
        if before_window <= 0.0 {
            return;
        }
        let ratio = window / before_window;
        if (1.0 / Self::CHANGE_FACTOR..=Self::CHANGE_FACTOR).contains(&ratio) {
            self.deviating_since = None;
            return;
        }
        let since = *self.deviating_since.get_or_insert(last.0);
        if last.0.saturating_duration_since(since) >= Self::CONFIRM {
            // The window mixes both speeds; only what comes next is surely the new one.
            self.segment = Some(last);
            self.deviating_since = None;
        }
    }

    /// Units per second, or `None` while unknown or stalled.
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let seg = self.segment?;
        let latest = self.latest?;
        let started = self.first_seen?;
        if now.saturating_duration_since(started) < self.min_elapsed || self.is_stalled(now) {
            return None;
        }
        let rate = if latest.0.saturating_duration_since(seg.0) >= Self::FRESH {
            // Up to now, not to the last sample: time without progress counts against it.
            rate_between(seg, (now.max(latest.0), latest.1))?
        } else {
            // Just after a change: the newest stretch, all at the new speed.
            let from = self
                .recent
                .iter()
                .find(|s| s.0 >= before(latest.0, Self::FRESH))
                .copied()?;
            rate_between(from, latest)?
        };
        (rate > 0.0 && rate.is_finite()).then_some(rate)
    }

    pub fn is_stalled(&self, now: Instant) -> bool {
        self.last_progress_at
            .is_some_and(|t| now.saturating_duration_since(t) >= self.stall_after)
    }

    /// Seconds left for `remaining` units, or `None` while not estimable.
    pub fn eta(&self, now: Instant, remaining: f64) -> Option<f64> {
        if remaining <= 0.0 {
            return Some(0.0);
        }
        let secs = remaining / self.rate(now)?;
        // Work remains, so "0 s" would be a lie; one second is the honest floor.
        Some((secs.max(1.0) * 10.0).round() / 10.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(est: &mut EtaEstimator, t0: Instant, secs: u64, per_sec: f64, start: f64) -> f64 {
        let mut done = start;
        for i in 1..=secs * 4 {
            done = start + per_sec * i as f64 / 4.0;
            est.observe(t0 + Duration::from_millis(250 * i), done);
        }
        done
    }

    /// Feeds `secs` seconds at `per_sec` starting at `t0` with `start` done; returns the done.
    fn feed_from(est: &mut EtaEstimator, t0: Instant, secs: u64, per_sec: f64, start: f64) -> f64 {
        let mut done = start;
        for i in 1..=secs * 10 {
            done = start + per_sec * i as f64 / 10.0;
            est.observe(t0 + Duration::from_millis(100 * i), done);
        }
        done
    }

    #[test]
    fn unknown_until_enough_has_been_seen() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        assert_eq!(est.eta(t0, 100.0), None);
        est.observe(t0, 0.0);
        est.observe(t0 + Duration::from_millis(500), 10.0);
        assert_eq!(est.eta(t0 + Duration::from_millis(500), 90.0), None);
    }

    #[test]
    fn converges_on_a_constant_rate() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        let done = feed(&mut est, t0, 20, 1000.0, 0.0);
        let now = t0 + Duration::from_secs(20);
        let rate = est.rate(now).expect("rate known");
        assert!((rate - 1000.0).abs() < 1.0, "rate {rate}");
        let eta = est.eta(now, 100_000.0 - done).expect("eta known");
        assert!((eta - 80.0).abs() < 0.5, "eta {eta}");
    }

    #[test]
    fn follows_a_slowdown_within_seconds() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        let done = feed(&mut est, t0, 30, 1000.0, 0.0);
        let t1 = t0 + Duration::from_secs(30);
        let mut d = done;
        for i in 1..=40u64 {
            d = done + 100.0 * i as f64 / 4.0;
            est.observe(t1 + Duration::from_millis(250 * i), d);
        }
        let now = t1 + Duration::from_secs(10);
        let overall = d / 40.0;
        let rate = est.rate(now).expect("rate");
        assert!(overall > 700.0, "the overall average still says {overall}");
        assert!(
            (rate - 100.0).abs() < 5.0,
            "rate {rate}, the new speed is 100"
        );
    }

    #[test]
    fn follows_a_speedup_within_seconds() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        let done = feed(&mut est, t0, 30, 100.0, 0.0);
        let t1 = t0 + Duration::from_secs(30);
        feed_from(&mut est, t1, 5, 400.0, done);
        let rate = est.rate(t1 + Duration::from_secs(5)).expect("rate");
        assert!(
            (rate - 400.0).abs() < 20.0,
            "rate {rate}, the new speed is 400"
        );
    }

    #[test]
    fn a_wobbling_speed_gives_the_overall_average() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        // One second at 1.5×, one at 0.5×, …: never a change of speed, only wobble.
        let mut done = 0.0;
        for s in 0..60u64 {
            let per_sec = if s % 2 == 0 { 150.0 } else { 50.0 };
            done = feed_from(&mut est, t0 + Duration::from_secs(s), 1, per_sec, done);
        }
        let now = t0 + Duration::from_secs(60);
        let rate = est.rate(now).expect("rate");
        assert!((rate - done / 60.0).abs() < 1e-6, "rate {rate}");
    }

    #[test]
    fn null_while_stalled_and_back_when_work_resumes() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        let done = feed(&mut est, t0, 5, 100.0, 0.0);
        let t1 = t0 + Duration::from_secs(5);
        for i in 1..=24u64 {
            est.observe(t1 + Duration::from_millis(250 * i), done);
        }
        let stalled_at = t1 + Duration::from_secs(6);
        assert_eq!(
            est.eta(stalled_at, 500.0),
            None,
            "no estimate while nothing moves"
        );
        est.observe(stalled_at + Duration::from_millis(250), done + 25.0);
        assert!(
            est.eta(stalled_at + Duration::from_millis(250), 475.0)
                .is_some()
        );
    }

    #[test]
    fn never_zero_while_work_remains() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        feed(&mut est, t0, 5, 1e9, 0.0);
        let eta = est.eta(t0 + Duration::from_secs(5), 1.0).expect("eta");
        assert!(eta >= 1.0, "eta {eta}");
        assert_eq!(est.eta(t0 + Duration::from_secs(5), 0.0), Some(0.0));
    }
}
