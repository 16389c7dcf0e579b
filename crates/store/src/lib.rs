//! Tidemark's job history: every job, its progress events and what a resume needs, in one
//! SQLite file. The core's event log stays the only thing that numbers events; this crate only
//! keeps what the log produced, and [`EventWriter`] does so off the job's path.

mod error;
mod places;
mod plans;
mod pool;
mod registry;
mod remote;
mod rows;
mod runs;
mod schema;
mod seed;
mod store;
mod writer;

#[cfg(test)]
mod plans_tests;
#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use places::Places;
pub use plans::{Claim, PlanRow, PlanWrite};
pub use pool::{Pool, Pooled};
pub use registry::{LiveJob, Registry};
pub use rows::{JobFilter, JobRecord, RemoteAppend, RemoteOrigin};
pub use runs::{DEFAULT_KEEP_RUNS, Launch, RecordedJob, RunError, recover};
pub use schema::SCHEMA_VERSION;
pub use store::Store;
pub use writer::EventWriter;
