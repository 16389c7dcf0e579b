//! One test binary for everything that runs the real `tidemark` process (one binary links
//! once, which matters on a 2-core machine).

// These suites drive the programs from a Linux host with its tools (GNU tar, diff, setpriv,
// Xvfb; Wine for the Windows build): they are built for Unix hosts only.
#![cfg(unix)]

mod util;

mod agent;
mod agent_proc;
mod bad_input;
mod cancel;
mod cli;
mod crash;
mod history;
mod pairing;
mod plan;
mod queue;
mod remote;
mod restore;
mod snapshot;
mod sync;
