//! Rate and time-remaining estimation.
//!
//! The rate is an exponentially weighted moving average over recent samples (time-based, so
//! irregular sampling does not bias it), blended with the overall average so one burst or one
//! pause does not swing the estimate. It says nothing (`None`) until it has seen enough, and
//! nothing while the work is stalled; it never says "0 s" while work remains.

use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct EtaEstimator {
    tau: Duration,
    recent_weight: f64,
    min_elapsed: Duration,
    stall_after: Duration,
    start: Option<(Instant, f64)>,
    last: Option<(Instant, f64)>,
    last_progress_at: Option<Instant>,
    ewma: Option<f64>,
}

impl Default for EtaEstimator {
    fn default() -> Self {
        Self::new()
    }
}

impl EtaEstimator {
    pub fn new() -> Self {
        Self {
            tau: Duration::from_secs(5),
            recent_weight: 0.7,
            min_elapsed: Duration::from_secs(1),
            stall_after: Duration::from_secs(5),
            start: None,
            last: None,
            last_progress_at: None,
            ewma: None,
        }
    }

    /// Samples shorter than this are folded into the next one: tiny intervals carry mostly
    /// timer noise.
    const MIN_SAMPLE: Duration = Duration::from_millis(200);

    /// Records that `done` units are finished at `now` (`done` is cumulative).
    pub fn observe(&mut self, now: Instant, done: f64) {
        let Some((t_last, d_last)) = self.last else {
            self.start = Some((now, done));
            self.last = Some((now, done));
            self.last_progress_at = Some(now);
            return;
        };
        if done > d_last {
            self.last_progress_at = Some(now);
        }
        let dt = now.saturating_duration_since(t_last);
        if dt < Self::MIN_SAMPLE {
            return;
        }
        let rate = (done - d_last).max(0.0) / dt.as_secs_f64();
        let alpha = 1.0 - (-dt.as_secs_f64() / self.tau.as_secs_f64()).exp();
        self.ewma = Some(match self.ewma {
            None => rate,
            Some(prev) => prev + alpha * (rate - prev),
        });
        self.last = Some((now, done));
    }

    /// Units per second, or `None` while unknown or stalled.
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let (t0, d0) = self.start?;
        let (_, d_last) = self.last?;
        let elapsed = now.saturating_duration_since(t0);
        if elapsed < self.min_elapsed || self.is_stalled(now) {
            return None;
        }
        let ewma = self.ewma?;
        let overall = (d_last - d0).max(0.0) / elapsed.as_secs_f64();
        let rate = self.recent_weight * ewma + (1.0 - self.recent_weight) * overall;
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
    fn follows_a_slowdown_faster_than_the_overall_average() {
        let t0 = Instant::now();
        let mut est = EtaEstimator::new();
        est.observe(t0, 0.0);
        let done = feed(&mut est, t0, 30, 1000.0, 0.0);
        let t1 = t0 + Duration::from_secs(30);
        let mut slow = EtaEstimator { ..est.clone() };
        let mut d = done;
        for i in 1..=40u64 {
            d = done + 100.0 * i as f64 / 4.0;
            slow.observe(t1 + Duration::from_millis(250 * i), d);
        }
        let now = t1 + Duration::from_secs(10);
        let overall = d / 40.0;
        let rate = slow.rate(now).expect("rate");
        assert!(
            rate < overall,
            "blended rate {rate} should be below the overall {overall}"
        );
        assert!(
            rate > 100.0,
            "and above the new speed while blending: {rate}"
        );
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
