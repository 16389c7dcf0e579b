//! Plans: named snapshots and syncs saved with a schedule, a retention rule and a staleness
//! limit; the scheduler that runs them; and the operations the CLI, the agent and the
//! desktop app share. Free of Tauri and HTTP: hosts adapt these functions.

pub mod schedule;

pub use schedule::{DurationError, Schedule, ScheduleError, parse_duration};
