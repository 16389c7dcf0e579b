//! The reconnection schedule: 1, 2, 4, 8, 15, 30 s (the cap), each with ±20 % jitter so a
//! crowd of watchers does not reconnect in step.

use std::time::Duration;

/// Base delays before reconnection 1, 2, 3, …; the last one repeats.
pub const SCHEDULE: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
    Duration::from_secs(30),
];

pub const JITTER: f64 = 0.2;

#[derive(Debug, Clone)]
pub struct Backoff {
    state: u64,
}

impl Backoff {
    /// `seed` makes the jitter reproducible; any value works.
    pub fn new(seed: u64) -> Self {
        Self { state: seed | 1 }
    }

    pub fn base(attempt: u32) -> Duration {
        let idx = (attempt.max(1) as usize - 1).min(SCHEDULE.len() - 1);
        SCHEDULE[idx]
    }

    /// The delay before reconnection `attempt` (1-based): its base ±20 %.
    pub fn delay(&mut self, attempt: u32) -> Duration {
        let unit = (self.next() % 10_001) as f64 / 10_000.0; // 0.0 ..= 1.0
        Self::base(attempt).mul_f64(1.0 - JITTER + 2.0 * JITTER * unit)
    }

    fn next(&mut self) -> u64 {
        // xorshift64: jitter needs spread, not cryptographic strength.
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_doubles_to_fifteen_then_caps_at_thirty() {
        let bases: Vec<u64> = (1..=8).map(|a| Backoff::base(a).as_secs()).collect();
        assert_eq!(bases, vec![1, 2, 4, 8, 15, 30, 30, 30]);
    }

    #[test]
    fn jitter_stays_within_twenty_percent_and_actually_varies() {
        let mut b = Backoff::new(42);
        for attempt in 1..=7 {
            let base = Backoff::base(attempt).as_secs_f64();
            let delays: Vec<f64> = (0..500).map(|_| b.delay(attempt).as_secs_f64()).collect();
            for d in &delays {
                assert!(
                    *d >= base * 0.8 - 1e-9 && *d <= base * 1.2 + 1e-9,
                    "{d} for base {base}"
                );
            }
            let min = delays.iter().cloned().fold(f64::MAX, f64::min);
            let max = delays.iter().cloned().fold(f64::MIN, f64::max);
            assert!(max - min > base * 0.3, "jitter too narrow: {min}..{max}");
        }
    }
}
