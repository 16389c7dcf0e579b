//! One test binary for everything that runs the real `tidemark` process (one binary links
//! once, which matters on a 2-core machine).

mod util;

mod agent;
mod bad_input;
mod cancel;
mod cli;
mod crash;
mod history;
mod remote;
mod snapshot;
mod sync;
