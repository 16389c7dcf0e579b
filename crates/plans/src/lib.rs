//! Plans: named snapshots and syncs saved with a schedule, a retention rule and a staleness
//! limit; the scheduler that runs them; and the operations the CLI, the agent and the
//! desktop app share. Free of Tauri and HTTP: hosts adapt these functions.
//!
//! - [`schedule`]: parsing schedules and their due times in a time zone.
//! - [`ops`]: one plain function per operation over the history database.
//! - [`scheduler`]: the actor that starts due runs through the host's [`Launcher`].
//! - [`retention`]: a snapshot plan's `keep N`, applied after a run completed.

mod model;
pub mod ops;
pub mod retention;
pub mod schedule;
pub mod scheduler;

pub use model::{LastRun, Plan, PlanError, PlanInput, PlanRun, PlanSummary};
pub use schedule::{DurationError, Schedule, ScheduleError, parse_duration};
pub use scheduler::{Launcher, SchedulerConfig, SchedulerHandle, SystemClock, WallClock};

#[cfg(test)]
mod ops_tests;
