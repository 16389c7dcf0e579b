//! The page's section for row 11: how late a plan's scheduled and missed runs start.

use std::fmt::Write as _;

use super::*;
use crate::plan_delay::{CATCH_UP, EVERY_SECS};

/// A due run's first event within this of its due time.
pub const DUE_GOAL_SECS: f64 = 2.0;

fn secs_stats(values: &[f64]) -> String {
    match stats(values) {
        Some(s) if s.n > 1 => format!(
            "**{}** ({}–{}, {} samples)",
            time(s.median),
            time(s.min),
            time(s.max),
            s.n
        ),
        Some(s) => format!("**{}** (1 sample)", time(s.median)),
        None => "n/a".into(),
    }
}

impl Report {
    pub(super) fn plan_delays(&self, p: &mut String) {
        let _ = writeln!(p, "## 11. Plans: how late a run starts\n");
        let d = match &self.plan_delays {
            Ok(d) => d,
            Err(why) => {
                let _ = writeln!(p, "Not measured: {why}.\n");
                return;
            }
        };
        let _ = writeln!(
            p,
            "The plans' scheduler (`tidemark_plans::SchedulerHandle`, as `tidemark agent` and \
             the desktop app run it, on a tokio runtime of 2 threads) on a SQLite history in the \
             temp folder; each run is a real recorded snapshot of a 4-file folder, started as the \
             agent starts one (recorded with its plan, its ETA seeded from the plan's past runs). \
             **Due → first event**: a plan `every {EVERY_SECS}s`, added while the scheduler runs; \
             for each due time, the claim's key (the due time the scheduler claimed) against the \
             `timestamp` of the run's first event in the history. **Wake → a missed run**: an \
             hourly plan, and the scheduler's wall clock moved two hours ahead (what a machine \
             that slept through a due time sees on waking: its monotonic clock stopped, the wall \
             clock did not), at moments spread over the scheduler's {} s between looks at the \
             clock; catch-up delay configured to {} s (the default is 10 s, for the network to \
             come back). Goal for a due run: < {DUE_GOAL_SECS} s.\n",
            d.max_tick.as_secs(),
            CATCH_UP.as_secs(),
        );
        let _ = writeln!(p, "| what | delay |\n|---|---|");
        let _ = writeln!(
            p,
            "| due time → the run's first event | {} |",
            secs_stats(&d.due)
        );
        let _ = writeln!(
            p,
            "| wake → the scheduler notices it (its next look at the clock) | {} |",
            secs_stats(&d.noticed)
        );
        let _ = writeln!(
            p,
            "| noticed → the missed run's first event, less the catch-up delay | {} |",
            secs_stats(&d.after_notice)
        );
        let _ = writeln!(
            p,
            "| wake → the missed run's first event, less the catch-up delay | {} |\n",
            secs_stats(&d.wake)
        );
        let worst = d.due.iter().copied().fold(f64::NAN, f64::max);
        let _ = writeln!(
            p,
            "Slowest due run: {} (goal < {DUE_GOAL_SECS} s: **{}**). A wake is noticed at the \
             scheduler's next look at the clock, at most {} s later (a sleeping timer counts \
             monotonic time, which stood still during the sleep), so a missed run starts \
             between the catch-up delay and that much more after the machine wakes.\n",
            if worst.is_nan() {
                "n/a".into()
            } else {
                time(worst)
            },
            if worst < DUE_GOAL_SECS {
                "met"
            } else {
                "not met"
            },
            d.max_tick.as_secs(),
        );
    }
}
