//! Tidemark's job history: every job, its progress events and what a resume needs, in one
//! SQLite file. The core's event log stays the only thing that numbers events; this crate only
//! keeps what the log produced, and [`EventWriter`] does so off the job's path.

mod error;
mod store;
mod writer;

#[cfg(test)]
mod tests;

pub use error::StoreError;
pub use store::{JobFilter, JobRecord, SCHEMA_VERSION, Store};
pub use writer::EventWriter;
