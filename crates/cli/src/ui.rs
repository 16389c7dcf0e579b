//! What the command says to the person or program running it, kept in one place so it is
//! never confused with logs: results go to stdout through [`output`] or [`line`], messages
//! (errors, warnings, summaries) to stderr through [`say!`]. Logs are `tracing` events, shown
//! on stderr only with `-v` (see [`init_logs`]).
//!
//! A reader that goes away early (`tidemark history | head -n 1`) ends the output quietly
//! with status 0, as `ls` or `grep` would. Rust ignores SIGPIPE, so the write fails with
//! `BrokenPipe`, and that is handled here rather than by restoring SIGPIPE's default action
//! (which would kill the process at the next write) because:
//! - a running job must not be killed by its reader leaving: `--json` sees the failed write,
//!   cancels the job and lets it record how it ended (see `run::follow`);
//! - the agent writes to sockets, where a signal per closed connection has no place;
//! - it needs no `unsafe` (the workspace forbids it) and behaves the same on Windows, where
//!   there is no SIGPIPE and a closed pipe is the same `BrokenPipe` error.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

/// Writes one message line for the user on stderr. A closed stderr is no reason to stop.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::ui::say(format_args!($($arg)*))
    };
}

pub fn say(message: fmt::Arguments<'_>) {
    let _ignored = writeln!(io::stderr().lock(), "{message}");
}

/// Runs `print` over a buffered, locked stdout and gives the command's exit code: success
/// also when the reader went away (see the module's comment), failure on any other error.
pub fn output(print: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> ExitCode {
    let mut out = BufWriter::new(io::stdout().lock());
    let written = print(&mut out).and_then(|()| out.flush());
    ended(written)
}

/// Writes one line on stdout at once (for output that follows something live).
pub fn line(text: fmt::Arguments<'_>) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()
}

/// The exit code after writing results: a reader that left is not an error.
pub fn ended(written: io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => crate::fail(
            tidemark_core::ErrorCode::Io,
            format_args!("cannot write the output: {e}"),
        ),
    }
}

/// Installs the log subscriber: stderr, nothing by default (stderr is the user's), `-v`
/// info, `-vv` debug; a service (the agent) logs at info unasked. `RUST_LOG` overrides all.
pub fn init_logs(verbose: u8, service: bool) {
    use tracing_subscriber::EnvFilter;
    let level = if service { verbose.max(1) } else { verbose };
    // Other crates' chatter stays at warn; ours (every target starts with "tidemark") speaks.
    let default = match level {
        0 => "off",
        1 => "warn,tidemark=info",
        _ => "warn,tidemark=debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _already = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_that_left_is_a_quiet_success() {
        let gone = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(ended(Err(gone)), ExitCode::SUCCESS);
        assert_eq!(ended(Ok(())), ExitCode::SUCCESS);
        let full = io::Error::from(io::ErrorKind::StorageFull);
        assert_eq!(ended(Err(full)), ExitCode::from(crate::EXIT_FAILED));
    }
}
