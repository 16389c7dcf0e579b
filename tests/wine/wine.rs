//! The Windows build of `tidemark` as `.ci/wine-e2e` prepared it: where Wine and the .exe are,
//! and Linux paths as the Windows program must be given them.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tidemark_core::{JobState, ProgressEvent};

use crate::util::Run;

/// Set by `.ci/wine-e2e`: the Wine loader, the cross-built `tidemark.exe` (with the test
/// machine's `bcryptprimitives.dll` beside it) and the throwaway prefix it booted.
const VARS: [&str; 3] = ["TIDEMARK_WINE", "TIDEMARK_WINE_EXE", "WINEPREFIX"];

#[derive(Debug)]
pub struct Wine {
    wine64: PathBuf,
    exe: PathBuf,
    prefix: PathBuf,
}

impl Wine {
    /// The set-up `.ci/wine-e2e` made, or `None` after one line saying this test runs there
    /// (a plain `cargo test --workspace` has no Windows build nor Wine prefix).
    pub fn get(test: &str) -> Option<Wine> {
        let vars: Vec<Option<PathBuf>> = VARS
            .iter()
            .map(|k| {
                std::env::var_os(k)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .collect();
        match vars.as_slice() {
            [Some(wine64), Some(exe), Some(prefix)] => {
                assert!(exe.is_file(), "{}: no such .exe", exe.display());
                Some(Wine {
                    wine64: wine64.clone(),
                    exe: exe.clone(),
                    prefix: prefix.clone(),
                })
            }
            [None, None, _] => {
                // Straight to the handle: the harness captures print! of a passing test, and
                // this line must be seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "wine::{test}: not run by plain `cargo test`; `.ci/wine-e2e` (make wine-e2e) runs it on the Windows build"
                );
                None
            }
            _ => panic!("half a Wine set-up: {VARS:?} must all be set (by .ci/wine-e2e)"),
        }
    }

    /// `tidemark.exe --db DB` under Wine, with a history of the test's own.
    pub fn tidemark(&self, db: &Path) -> Command {
        let mut c = self.exe();
        c.arg("--db").arg(win(db));
        c
    }

    /// `tidemark.exe` under Wine, no history given.
    pub fn exe(&self) -> Command {
        let mut c = Command::new(&self.wine64);
        c.arg(&self.exe)
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .env_remove("TIDEMARK_DB")
            .env_remove("TIDEMARK_TOKEN")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    /// Where a Windows program's `%TEMP%` is on this side: the prefix's user folders.
    pub fn temp_dirs(&self) -> Vec<PathBuf> {
        let users = self.prefix.join("drive_c/users");
        std::fs::read_dir(&users)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path().join("Temp"))
                    .filter(|t| t.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A Windows program holding a file open with no sharing (tests/wine/locker), until dropped.
pub struct Locked(Child);

impl Wine {
    /// Holds `file` open with no sharing, as another Windows program would (wineserver keeps
    /// share modes between the programs of one prefix, as Windows does).
    pub fn lock(&self, file: &Path) -> Locked {
        let mut child = Command::new(&self.wine64)
            .arg(self.exe.with_file_name("locker.exe"))
            .arg(win(file))
            .env("WINEPREFIX", &self.prefix)
            .env("WINEDEBUG", "-all")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn locker.exe under Wine");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("locker's first line");
        assert_eq!(
            line.trim(),
            "locked",
            "locker.exe could not hold {}",
            file.display()
        );
        Locked(child)
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        // Its input closing is its signal to let go and end.
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Completed with warnings (exit 23) that name exactly `want`, each also said on stderr.
pub fn completed_warning_about(run: &Run, want: &[String]) {
    let end = run.last();
    assert_eq!(end.state, JobState::Completed, "stderr: {}", run.stderr);
    assert_eq!(run.code, 23, "done with warnings; stderr: {}", run.stderr);
    let mut warned: Vec<&str> = end.warnings.iter().map(|w| w.path.as_str()).collect();
    warned.sort_unstable();
    let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(warned, want, "{:?}", end.warnings);
    for path in want {
        assert!(
            run.stderr.contains(path),
            "{path} not on stderr: {}",
            run.stderr
        );
    }
}

/// A Linux path as a Windows program under Wine names it: the drive Z: is the Linux root.
/// (`winepath -w` says the same, at the cost of a Wine process per path.)
pub fn win(path: &Path) -> String {
    let p = path.to_str().expect("test paths are UTF-8");
    assert!(p.starts_with('/'), "{p}: only absolute paths map to Z:");
    format!("Z:{}", p.replace('/', "\\"))
}

/// A `--json` run read as it goes: the events come through a channel, so a test can act at a
/// moment of the job (and never blocks on a job that stalls).
pub struct Live {
    pub child: Child,
    events: mpsc::Receiver<ProgressEvent>,
    pub seen: Vec<ProgressEvent>,
}

impl Live {
    pub fn spawn(mut cmd: Command) -> Live {
        let mut child = cmd
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tidemark.exe under Wine");
        let stdout: ChildStdout = child.stdout.take().expect("stdout");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let ev = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            events,
            seen: Vec::new(),
        }
    }

    /// Reads events until one satisfies `want`; panics (naming what was seen) after `within`.
    pub fn until(&mut self, within: Duration, want: impl Fn(&ProgressEvent) -> bool) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left) {
                Ok(ev) => {
                    let hit = want(&ev);
                    self.seen.push(ev);
                    if hit {
                        return;
                    }
                }
                Err(e) => panic!(
                    "no such event within {within:?} ({e}); saw: {:?}",
                    self.seen
                        .iter()
                        .map(|e| (e.seq, e.state, e.step, e.counters.bytes_done))
                        .collect::<Vec<_>>()
                ),
            }
        }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
