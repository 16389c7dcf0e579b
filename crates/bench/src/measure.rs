//! Timing: running a command (optionally under `/usr/bin/time` for its peak RSS), alternating
//! two sides of a comparison, and summarising runs.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// One timed run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub secs: f64,
    /// Peak resident set size in KiB, when measured.
    pub rss_kib: Option<u64>,
    /// Size of what the run produced (an archive), when it produces one.
    pub out_bytes: Option<u64>,
    /// Seconds to `fsync` the output afterwards (untimed in `secs`), when measured.
    pub fsync_secs: Option<f64>,
    /// Events the job emitted, when it ran in the harness's process.
    pub events: Option<u64>,
}

/// Median, min and max of some runs.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

pub fn stats(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Some(Stats {
        median,
        min: v[0],
        max: v[n - 1],
        n,
    })
}

/// The runs of one side of a comparison.
#[derive(Debug, Clone, Default)]
pub struct Runs {
    pub samples: Vec<Sample>,
}

impl Runs {
    pub fn time(&self) -> Option<Stats> {
        stats(&self.samples.iter().map(|s| s.secs).collect::<Vec<_>>())
    }

    pub fn rss_kib(&self) -> Option<Stats> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.rss_kib.map(|k| k as f64))
            .collect();
        (v.len() == self.samples.len()).then(|| stats(&v)).flatten()
    }

    /// Events the job emitted, for runs in the harness's process.
    pub fn events(&self) -> Option<Stats> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.events.map(|e| e as f64))
            .collect();
        stats(&v)
    }

    /// The run plus the `fsync` of its output.
    pub fn time_with_fsync(&self) -> Option<Stats> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.fsync_secs.map(|f| s.secs + f))
            .collect();
        (v.len() == self.samples.len()).then(|| stats(&v)).flatten()
    }

    pub fn out_bytes(&self) -> Option<Stats> {
        let v: Vec<f64> = self
            .samples
            .iter()
            .filter_map(|s| s.out_bytes.map(|b| b as f64))
            .collect();
        (v.len() == self.samples.len()).then(|| stats(&v)).flatten()
    }
}

/// Both sides of a comparison, measured in the same harness run.
#[derive(Debug, Clone, Default)]
pub struct Pair {
    pub ours: Runs,
    pub peer: Runs,
}

impl Pair {
    /// Median of ours over median of the peer.
    pub fn ratio(&self) -> Option<f64> {
        let (a, b) = (self.ours.time()?, self.peer.time()?);
        (b.median > 0.0).then(|| a.median / b.median)
    }
}

/// One warm-up run of each side (not kept), then `runs` timed runs of each, alternating the
/// order (AB, BA, AB, …) so neither side always runs second.
pub fn compare(
    label: &str,
    runs: usize,
    mut ours: impl FnMut(usize) -> Sample,
    mut peer: impl FnMut(usize) -> Sample,
) -> Pair {
    let show = |what: &str, i: usize, s: Sample| {
        let run = if i == 0 {
            "warm-up".to_string()
        } else {
            format!("run {i} of {runs}")
        };
        eprintln!("[bench] {label}, {run}: {what} {:.3} s", s.secs);
        s
    };
    let mut pair = Pair::default();
    for i in 0..=runs {
        let (a, b) = if i % 2 == 1 || i == 0 {
            let a = show("tidemark", i, ours(i));
            (a, show("peer", i, peer(i)))
        } else {
            let b = show("peer", i, peer(i));
            (show("tidemark", i, ours(i)), b)
        };
        // Run 0 is the warm-up: not kept.
        if i > 0 {
            pair.ours.samples.push(a);
            pair.peer.samples.push(b);
        }
    }
    pair
}

/// Runs external commands, each with its output in a log file under `scratch`.
#[derive(Debug, Clone)]
pub struct Runner {
    /// GNU time, to read a command's peak RSS; `None` when not installed.
    pub time_bin: Option<PathBuf>,
    pub scratch: PathBuf,
}

impl Runner {
    pub fn new(scratch: PathBuf) -> Self {
        let time_bin = Path::new("/usr/bin/time");
        let time_bin = Command::new(time_bin)
            .args(["-f", "%M", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
            .then(|| time_bin.to_owned());
        Self { time_bin, scratch }
    }

    /// Runs `program args` to the end and times it (spawn to exit). Panics, with its output,
    /// if it fails: a failed run measures nothing.
    pub fn run(&self, program: &Path, args: &[OsString], envs: &[(&str, &Path)]) -> Sample {
        let log = self.scratch.join("command.log");
        let rss_file = self.scratch.join("rss.txt");
        let mut cmd = match &self.time_bin {
            Some(time) => {
                let _stale = fs::remove_file(&rss_file);
                let mut c = Command::new(time);
                c.args(["-f", "%M", "-o"]).arg(&rss_file).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).expect("create the command log"));
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let start = Instant::now();
        let status = cmd
            .status()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        let secs = start.elapsed().as_secs_f64();
        if !status.success() {
            let out = fs::read_to_string(&log).unwrap_or_default();
            let tail: String = out
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!(
                "{} {:?} failed ({status}):\n{tail}",
                program.display(),
                args
            );
        }
        let rss_kib = self.time_bin.as_ref().and_then(|_| {
            fs::read_to_string(&rss_file)
                .ok()?
                .lines()
                .last()?
                .trim()
                .parse()
                .ok()
        });
        Sample {
            secs,
            rss_kib,
            out_bytes: None,
            fsync_secs: None,
            events: None,
        }
    }
}

/// Flushes dirty pages to disk (untimed, between runs) so one run's writeback does not land
/// in the next one's time.
pub fn flush_disks() {
    let start = Instant::now();
    let _best_effort = Command::new("sync").status();
    let secs = start.elapsed().as_secs_f64();
    if secs > 2.0 {
        eprintln!("[bench] (flushing to disk took {secs:.1} s, untimed)");
    }
}

/// Times `sync FILE` (an `fsync` of that file).
pub fn fsync_file(path: &Path) -> Option<f64> {
    let start = Instant::now();
    let ok = Command::new("sync")
        .arg(path)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| start.elapsed().as_secs_f64())
}

/// Whether `program` can be run (found on PATH and answers `--version`).
pub fn available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = stats(&[3.0, 1.0, 2.0]).expect("stats");
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = stats(&[4.0, 1.0, 2.0, 3.0]).expect("stats");
        assert_eq!(s.median, 2.5);
        assert!(stats(&[]).is_none());
    }
}
