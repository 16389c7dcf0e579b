//! ETA accuracy: synthetic speed profiles replayed through the core's `EtaEstimator` with
//! explicit instants (no sleeping), against the naive estimate (remaining / overall average).

use std::time::{Duration, Instant};

use tidemark_core::eta::EtaEstimator;

use crate::data::Rng;

/// Where the error is read, as fractions of the work done.
pub const CHECKPOINTS: [f64; 3] = [0.25, 0.5, 0.75];
/// The error at a checkpoint is the mean over the ticks from it to this much further (a
/// fraction of the work), so it does not hang on where one tick falls.
pub const WINDOW: f64 = 0.01;
/// How often the estimator is fed: the reporter's default emit interval.
pub const TICK_SECS: f64 = 0.1;
/// How long the job takes at the base speed.
pub const BASE_SECS: f64 = 600.0;
/// The noisy profile draws a new speed this often.
pub const NOISE_PERIOD_SECS: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Constant,
    SlowsDown,
    SpeedsUp,
    Noisy,
}

impl Profile {
    pub const ALL: [Profile; 4] = [
        Profile::Constant,
        Profile::SlowsDown,
        Profile::SpeedsUp,
        Profile::Noisy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Constant => "constant",
            Self::SlowsDown => "slows down 4× halfway",
            Self::SpeedsUp => "speeds up 4× halfway",
            Self::Noisy => "noisy ±50 %",
        }
    }

    /// Speed as a multiple of the base speed, at `done` (fraction of the work).
    fn factor(self, done: f64, noise: f64) -> f64 {
        match self {
            Self::Constant => 1.0,
            Self::SlowsDown if done >= 0.5 => 0.25,
            Self::SpeedsUp if done >= 0.5 => 4.0,
            Self::SlowsDown | Self::SpeedsUp => 1.0,
            Self::Noisy => noise,
        }
    }
}

/// The errors on one profile, in percent of the true remaining time.
#[derive(Debug, Clone)]
pub struct ProfileResult {
    pub profile: Profile,
    /// Wall time of the whole simulated job.
    pub total_secs: f64,
    /// `None` where the estimator gave no estimate.
    pub ours: [Option<f64>; 3],
    pub naive: [f64; 3],
}

/// The simulated job: (seconds since start, fraction done) every tick, and when it ends.
fn simulate(profile: Profile) -> (Vec<(f64, f64)>, f64) {
    let base_rate = 1.0 / BASE_SECS;
    let mut rng = Rng::new(0x0065_7461);
    let ticks_per_noise = (NOISE_PERIOD_SECS / TICK_SECS).round() as u64;
    let mut noise = 1.0;
    let mut samples = vec![(0.0, 0.0)];
    let mut done = 0.0;
    let mut tick = 0u64;
    loop {
        if tick.is_multiple_of(ticks_per_noise) {
            noise = 0.5 + rng.unit(); // 0.5× .. 1.5×
        }
        let rate = base_rate * profile.factor(done, noise);
        let t = tick as f64 * TICK_SECS;
        if done + rate * TICK_SECS >= 1.0 {
            return (samples, t + (1.0 - done) / rate);
        }
        done += rate * TICK_SECS;
        tick += 1;
        samples.push((tick as f64 * TICK_SECS, done));
    }
}

/// Relative error in percent.
fn error(estimate: f64, truth: f64) -> f64 {
    (estimate - truth).abs() / truth * 100.0
}

/// Replays `profile`, feeding the exact fraction of the work done (in percent), as the
/// reporter does; `floored`: the percent floored to 0.1 instead, as the reporter shows it.
pub fn replay(profile: Profile, floored: bool) -> ProfileResult {
    let (samples, end) = simulate(profile);
    let t0 = Instant::now();
    let mut est = EtaEstimator::new();
    // Per checkpoint: sum of errors, ticks, ticks with an estimate.
    let mut ours_sum = [0.0; 3];
    let mut naive_sum = [0.0; 3];
    let mut ticks = [0u32; 3];
    let mut estimated = [0u32; 3];
    for &(t, done) in &samples {
        let now = t0 + Duration::from_millis((t * 1000.0).round() as u64);
        let percent = if floored {
            (done * 1000.0).floor() / 10.0
        } else {
            done * 100.0
        };
        est.observe(now, percent);
        for (k, &at) in CHECKPOINTS.iter().enumerate() {
            if done < at || done >= at + WINDOW {
                continue;
            }
            let truth = end - t;
            ticks[k] += 1;
            // No estimate counts as wholly wrong.
            ours_sum[k] += est.eta(now, 100.0 - percent).map_or(100.0, |e| {
                estimated[k] += 1;
                error(e, truth)
            });
            naive_sum[k] += error((1.0 - done) / (done / t), truth);
        }
    }
    let mean = |sum: f64, n: u32| sum / f64::from(n.max(1));
    let ours = std::array::from_fn(|k| (estimated[k] > 0).then(|| mean(ours_sum[k], ticks[k])));
    let naive = std::array::from_fn(|k| mean(naive_sum[k], ticks[k]));
    ProfileResult {
        profile,
        total_secs: end,
        ours,
        naive,
    }
}

pub fn replay_all(floored: bool) -> Vec<ProfileResult> {
    Profile::ALL
        .into_iter()
        .map(|p| replay(p, floored))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_take_the_time_they_should() {
        let (_, end) = simulate(Profile::Constant);
        assert!((end - BASE_SECS).abs() < 0.2, "{end}");
        // Half at 1×, half at ¼×: 300 s + 1200 s.
        let (_, end) = simulate(Profile::SlowsDown);
        assert!((end - 1500.0).abs() < 1.0, "{end}");
    }

    #[test]
    fn exact_on_a_constant_speed_when_fed_the_exact_fraction() {
        let r = replay(Profile::Constant, false);
        for (ours, naive) in r.ours.iter().zip(r.naive) {
            assert!(ours.is_some_and(|e| e < 1.0), "{ours:?}");
            assert!(naive < 1.0, "{naive}");
        }
        let r = replay(Profile::Constant, true);
        assert!(r.ours.iter().all(Option::is_some), "{:?}", r.ours);
    }
}
