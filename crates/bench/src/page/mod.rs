//! The page: docs/BENCHMARKS.md (or the smoke run's copy), written only from measured figures.

use std::fmt::Write as _;

use crate::data::{DataSet, LARGE_TEXT_SHARE, SMALL_TEXT_SHARE};
use crate::desktop::{self, Desktop, DuringJob};
use crate::eta_replay::{self, CHECKPOINTS, ProfileResult};
use crate::fanout::FanOut;
use crate::history::HistoryParts;
use crate::machine::Machine;
use crate::measure::{Pair, Runs, Stats, stats};
use crate::micro::Parts;
use crate::rows::PROGRESS_OFF;

mod plans;
mod restore;
mod sections;

#[derive(Debug)]
pub struct Report {
    pub smoke: bool,
    pub build: &'static str,
    pub date: String,
    pub machine: Machine,
    pub data_dir: String,
    pub data: DataSet,
    pub gen_secs: f64,
    pub runs: usize,
    pub rss_measured: bool,
    pub snapshot: Pair,
    pub sync_first: Result<Pair, String>,
    pub sync_unchanged: Result<Pair, String>,
    pub persistence: Pair,
    /// Row 4's parts, measured after its runs.
    pub history: Option<HistoryParts>,
    pub progress: Pair,
    /// The small parts (criterion), measured with row 5.
    pub micro: Option<Parts>,
    pub eta: Vec<ProfileResult>,
    pub eta_floored: Vec<ProfileResult>,
    pub eta_seeded: Vec<crate::eta_seeded::SeededResult>,
    pub fanout: Vec<Result<FanOut, String>>,
    pub desktop: Result<Desktop, String>,
    pub desktop_job: Result<DuringJob, String>,
    /// Rows 9 and 10.
    pub restore: Result<crate::restore::Restore, String>,
    pub plan_delays: Result<crate::plan_delay::PlanDelays, String>,
    pub harness_secs: f64,
    pub load_at_end: String,
    pub reproduce: &'static str,
}

pub const PERSISTENCE_GOAL_PCT: f64 = 2.0;
pub const PROGRESS_GOAL_PCT: f64 = 1.0;
pub const ETA_GOAL_PCT: f64 = 10.0;
/// A plan's second run: the seeded estimate's median error at 5 % of the run.
pub const SEEDED_GOAL_PCT: f64 = 15.0;
pub const FANOUT_P99_GOAL_MS: f64 = 100.0;
pub const FANOUT_RSS_GOAL_MIB: f64 = 200.0;
pub const DESKTOP_IDLE_GOAL_MIB: f64 = 80.0;

fn time(secs: f64) -> String {
    if secs < 0.01 {
        format!("{:.2} ms", secs * 1e3)
    } else if secs < 1.0 {
        format!("{:.0} ms", secs * 1e3)
    } else {
        format!("{secs:.2} s")
    }
}

fn time_stats(s: Option<Stats>) -> String {
    match s {
        Some(s) if s.n > 1 => format!("**{}** ({}–{})", time(s.median), time(s.min), time(s.max)),
        Some(s) => format!("**{}**", time(s.median)),
        None => "n/a".into(),
    }
}

fn ns(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 1e6 => format!("{:.2} ms", v / 1e6),
        Some(v) if v >= 1e3 => format!("{:.2} µs", v / 1e3),
        Some(v) => format!("{v:.1} ns"),
        None => "n/a".into(),
    }
}

fn ns_stats(s: Option<Stats>) -> String {
    match s {
        Some(s) => format!(
            "**{}** ({}–{})",
            ns(Some(s.median)),
            ns(Some(s.min)),
            ns(Some(s.max))
        ),
        None => "n/a".into(),
    }
}

/// An overhead added up from its parts (rows 4 and 5): what the parts cost one job, over the
/// job's median time. An A/B of whole runs cannot resolve a percent or two when runs of the
/// same work differ by more.
struct Direct {
    /// Events the job emitted (median of its runs).
    events: f64,
    secs: f64,
    job_secs: f64,
}

impl Direct {
    fn new(events: f64, secs: f64, job_secs: f64) -> Option<Direct> {
        (job_secs > 0.0).then_some(Direct {
            events,
            secs,
            job_secs,
        })
    }

    fn pct(&self) -> f64 {
        self.secs / self.job_secs * 100.0
    }
}

/// The notes of rows 4 and 5: the direct figure when there is one, else the A/B's.
fn overhead_note(direct: Option<&Direct>, pair: &Pair, goal: f64, decimals: usize) -> String {
    match direct {
        Some(d) => format!(
            "measured directly (below): {:.decimals$} %; goal {}",
            d.pct(),
            verdict(Some(d.pct()), goal)
        ),
        None => format!("goal {}", verdict(overhead_pct(pair), goal)),
    }
}

fn mib(bytes: f64) -> String {
    let m = bytes / (1024.0 * 1024.0);
    if m >= 1024.0 {
        format!("{:.2} GiB", m / 1024.0)
    } else if m >= 10.0 {
        format!("{m:.0} MiB")
    } else {
        format!("{m:.1} MiB")
    }
}

fn rss_stats(runs: &Runs) -> String {
    match runs.rss_kib() {
        Some(s) if s.n > 1 => format!(
            "**{}** ({}–{})",
            mib(s.median * 1024.0),
            mib(s.min * 1024.0),
            mib(s.max * 1024.0)
        ),
        Some(s) => format!("**{}**", mib(s.median * 1024.0)),
        None => "n/a".into(),
    }
}

fn rss_ratio(pair: &Pair) -> String {
    match (pair.ours.rss_kib(), pair.peer.rss_kib()) {
        (Some(a), Some(b)) if b.median > 0.0 => format!("{:.2}×", a.median / b.median),
        _ => "n/a".into(),
    }
}

fn throughput(bytes: u64, runs: &Runs) -> String {
    match runs.time() {
        Some(s) if s.median > 0.0 => {
            format!("{:.0} MiB/s", bytes as f64 / 1024.0 / 1024.0 / s.median)
        }
        _ => "n/a".into(),
    }
}

fn ratio(pair: &Pair) -> String {
    pair.ratio()
        .map(|r| format!("{r:.2}×"))
        .unwrap_or_else(|| "n/a".into())
}

/// `(ours / peer − 1)` in percent, from the medians.
fn overhead_pct(pair: &Pair) -> Option<f64> {
    pair.ratio().map(|r| (r - 1.0) * 100.0)
}

fn overhead(pair: &Pair) -> String {
    overhead_pct(pair)
        .map(|p| format!("{p:+.1} %"))
        .unwrap_or_else(|| "n/a".into())
}

fn verdict(pct: Option<f64>, goal: f64) -> String {
    match pct {
        Some(p) if p < goal => format!("< {goal} %: **met**"),
        Some(_) => format!("< {goal} %: **not met**"),
        None => format!("< {goal} %: n/a"),
    }
}

fn met(pct: f64, goal: f64) -> &'static str {
    if pct < goal { "met" } else { "not met" }
}

fn group(n: u64) -> String {
    tidemark_core::progress::group_digits(n)
}

fn pct(e: Option<f64>) -> String {
    e.map(|e| format!("{e:.1} %"))
        .unwrap_or_else(|| "no estimate".into())
}

fn median_of(values: &[f64]) -> Option<f64> {
    stats(values).map(|s| s.median)
}

impl Report {
    pub fn render(&self) -> String {
        let mut p = String::new();
        self.header(&mut p);
        self.machine(&mut p);
        self.data_set(&mut p);
        self.method(&mut p);
        self.results(&mut p);
        self.eta(&mut p);
        self.eta_seeded(&mut p);
        self.fanout(&mut p);
        self.desktop(&mut p);
        self.restore(&mut p);
        self.plan_delays(&mut p);
        self.reproduce(&mut p);
        p
    }

    fn header(&self, p: &mut String) {
        let _ = writeln!(p, "# Benchmarks\n");
        if self.smoke {
            let _ = writeln!(
                p,
                "> **Smoke run** (`make bench-smoke`): a tiny data set, a {} build and one run per \
                 row. These figures say nothing about speed; they only show the harness still \
                 works. The real page is docs/BENCHMARKS.md, written by `make bench`.\n",
                self.build
            );
        }
        let _ = writeln!(
            p,
            "Written by `tidemark-bench` on {} (UTC); the harness ran for {}. Every figure on \
             this page is its output; nothing here is a test, and no figure is asserted on.\n",
            self.date,
            time(self.harness_secs)
        );
    }

    fn machine(&self, p: &mut String) {
        let m = &self.machine;
        let _ = writeln!(p, "## Machine\n");
        let _ = writeln!(p, "| | |\n|---|---|");
        let _ = writeln!(p, "| CPU | {} cores (`nproc`), {} |", m.cores, m.cpu_model);
        let _ = writeln!(p, "| Memory | {} |", m.memory);
        let _ = writeln!(
            p,
            "| Disk (data folder `{}`) | `{}` |",
            self.data_dir,
            m.disk.last().map(String::as_str).unwrap_or("unknown")
        );
        let _ = writeln!(p, "| Kernel | {} |", m.kernel);
        let _ = writeln!(p, "| Tools | {} |", m.tools.join("; "));
        let _ = writeln!(
            p,
            "| Load average (1 / 5 / 15 min) | {} at the start, {} at the end (anything else \
             running shares the cores with the runs) |",
            m.load_at_start, self.load_at_end
        );
        let _ = writeln!(p, "| Build | {} (Tidemark and the harness) |\n", self.build);
        if m.disk.len() > 1 {
            let _ = writeln!(p, "`df -h` of the data folder:\n\n```");
            for l in &m.disk {
                let _ = writeln!(p, "{l}");
            }
            let _ = writeln!(p, "```\n");
        }
    }

    fn data_set(&self, p: &mut String) {
        let d = &self.data;
        let s = &d.shape;
        let _ = writeln!(p, "## Data set\n");
        let _ = writeln!(
            p,
            "Generated by the harness in a temporary folder (removed at the end) in {}: \
             **{} files, {} folders, {} bytes ({})**:\n",
            time(self.gen_secs),
            group(d.files),
            group(d.dirs),
            group(d.bytes),
            mib(d.bytes as f64)
        );
        let _ = writeln!(
            p,
            "- {} small files of {}–{} KiB (uniform), {} in all, 100 per folder;",
            group(s.small_files),
            s.small_min / 1024,
            s.small_max / 1024,
            mib(d.small_bytes as f64)
        );
        let _ = writeln!(
            p,
            "- {} large files of {} each, {} in all;",
            s.large_files,
            mib(s.large_bytes as f64),
            mib(d.large_total as f64)
        );
        let ratio = match (self.snapshot.peer.out_bytes(), d.bytes) {
            (Some(a), b) if b > 0 => format!(
                "`zstd -3` brings the tree down to {:.0} % of its size",
                a.median / b as f64 * 100.0
            ),
            _ => "compressed size not measured".into(),
        };
        let _ = writeln!(
            p,
            "- content: deterministic pseudo-random (SplitMix64, seed `{:#x}`) in 4 KiB blocks, \
             each either text-like (words from a small vocabulary) or random bytes; {:.0} % of \
             the blocks of small files and {:.0} % of those of large files are text-like: {ratio}.\n",
            d.seed,
            SMALL_TEXT_SHARE * 100.0,
            LARGE_TEXT_SHARE * 100.0
        );
    }

    fn method(&self, p: &mut String) {
        let _ = writeln!(p, "## Method\n");
        let _ = writeln!(
            p,
            "- Each figure is the **median of {n} timed run{s}** with the min–max beside it. Each \
             side of a comparison has **one warm-up run first, not counted**; then the two sides \
             alternate (AB, BA, …) so neither always runs second.",
            n = self.runs,
            s = if self.runs == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            p,
            "- **The page cache is not dropped** (the harness cannot do that): the tree fits in \
             memory and is read warm by every run, the warm-up included. These are CPU, metadata \
             and write costs, not cold-disk reads."
        );
        let _ = writeln!(
            p,
            "- `sync` (flush to disk) runs before every run, untimed, so one run's writeback does \
             not land in the next run's time. Outputs are deleted right after their run. \
             Tidemark `fsync`s the archive before publishing it and `tar` does not, so row 1 \
             also shows `tar` followed by an fsync of its archive."
        );
        let _ = writeln!(
            p,
            "- Rows 1–3 time the whole process, spawn to exit (the CLI with `TIDEMARK_DB` on a \
             database in the temp folder; its progress goes to a log file, as when not on a \
             terminal). Rows 4–5 run in the harness's process through the library: start to \
             the job's end."
        );
        let _ = writeln!(
            p,
            "- Peak RSS: {}.",
            if self.rss_measured {
                "`/usr/bin/time -f %M` (the kernel's `ru_maxrss`: the largest single process of \
                 the command, e.g. `tar` or the `zstd` it runs, not their sum)"
            } else {
                "not measured: `/usr/bin/time` is not installed (`make bench` installs it)"
            }
        );
        let _ = writeln!(
            p,
            "- Ratio = Tidemark's median / the peer's median (below 1 means Tidemark is faster).\n"
        );
    }

    fn results(&self, p: &mut String) {
        let d = &self.data;
        let _ = writeln!(p, "## Results\n");
        let _ = writeln!(
            p,
            "| # | what | Tidemark | peer | peer's figure | ratio | notes |\n|---|---|---|---|---|---|---|"
        );
        let snap = &self.snapshot;
        let sizes = match (snap.ours.out_bytes(), snap.peer.out_bytes()) {
            (Some(a), Some(b)) => format!("archive {} vs {}", mib(a.median), mib(b.median)),
            _ => String::new(),
        };
        let fsynced = match (snap.peer.time_with_fsync(), snap.ours.time()) {
            (Some(t), Some(o)) if t.median > 0.0 => format!(
                "; `tar` then `sync out.tar.zst` (an fsync, as Tidemark does): {} ({:.2}×)",
                time_stats(Some(t)),
                o.median / t.median
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            p,
            "| 1 | snapshot of the tree (list, stat, then each file read once for its BLAKE3 and \
             tar + zstd -3 on all cores, archive fsynced, deliver): `tidemark snapshot SRC --to \
             DEST --name N` | {} | `tar -I 'zstd -T0 -3' -cf out.tar.zst -C parent tree` | {} | {} \
             | {} vs {}; {sizes}; Tidemark also hashes every file and writes a manifest{fsynced} |",
            time_stats(snap.ours.time()),
            time_stats(snap.peer.time()),
            ratio(snap),
            throughput(d.bytes, &snap.ours),
            throughput(d.bytes, &snap.peer),
        );
        let _ = writeln!(
            p,
            "| 1b | peak RSS of the snapshot | {} | same `tar` | {} | {} | |",
            rss_stats(&snap.ours),
            rss_stats(&snap.peer),
            rss_ratio(snap)
        );
        let sync_row = |p: &mut String, n: &str, what: &str, r: &Result<Pair, String>| {
            let _ = match r {
                Ok(pair) => writeln!(
                    p,
                    "| {n} | {what}: `tidemark sync SRC --to DEST` | {} | `rsync -a SRC/ DEST/tree/` | \
                     {} | {} | peak RSS {} vs {} |",
                    time_stats(pair.ours.time()),
                    time_stats(pair.peer.time()),
                    ratio(pair),
                    rss_stats(&pair.ours),
                    rss_stats(&pair.peer),
                ),
                Err(why) => writeln!(p, "| {n} | {what} | not measured: {why} | | | | |"),
            };
        };
        sync_row(
            p,
            "2",
            "sync, first run (empty mirror; the mirror is checked complete after)",
            &self.sync_first,
        );
        sync_row(
            p,
            "3",
            &format!("sync, nothing changed ({} files)", group(d.files)),
            &self.sync_unchanged,
        );
        let per = &self.persistence;
        let history = self.history_direct();
        let _ = writeln!(
            p,
            "| 4 | persistence overhead: in-process snapshot with every event and checkpoint in \
             SQLite, `RecordedJob::start(&db, spec)` + `.wait()` | {} | no history: \
             `JobHandle::spawn(spec, JobOptions::default())` + `.wait()` | {} | {} ({}) | {} |",
            time_stats(per.ours.time()),
            time_stats(per.peer.time()),
            ratio(per),
            overhead(per),
            overhead_note(history.as_ref(), per, PERSISTENCE_GOAL_PCT, 2)
        );
        let prog = &self.progress;
        let direct = self.progress_direct();
        let _ = writeln!(
            p,
            "| 5 | progress overhead: in-process snapshot (`JobHandle`), default emit interval \
             ({} ms) | {} | `emit_interval` {} s (progress effectively off) | {} | {} ({}) | {} |\n",
            tidemark_core::progress::DEFAULT_EMIT_INTERVAL.as_millis(),
            time_stats(prog.ours.time()),
            PROGRESS_OFF.as_secs(),
            time_stats(prog.peer.time()),
            ratio(prog),
            overhead(prog),
            overhead_note(direct.as_ref(), prog, PROGRESS_GOAL_PCT, 3)
        );
        let _ = writeln!(
            p,
            "Rows 4 and 5 compare two runs of the same work: their difference can be smaller \
             than the run-to-run spread, so read the min–max before the sign of the difference.\n"
        );
        self.history_parts(p, history.as_ref());
        self.small_parts(p, direct.as_ref());
    }

    /// Row 4 from its parts ([`crate::history`]): the fixed cost of a recorded run, its
    /// checkpoints, and its events at the cost of one each, over the time of the job without
    /// history.
    fn history_direct(&self) -> Option<Direct> {
        let h = self.history.as_ref()?;
        let events = self.persistence.ours.events()?.median;
        let secs =
            h.fixed_secs()? + h.checkpoints_secs?.median + events * h.per_event_ns?.median / 1e9;
        Direct::new(events, secs, self.persistence.peer.time()?.median)
    }

    fn history_parts(&self, p: &mut String, d: Option<&Direct>) {
        let (Some(h), Some(d)) = (&self.history, d) else {
            return;
        };
        let fixed = h.fixed_secs().unwrap_or_default();
        let _ = writeln!(
            p,
            "**Row 4 measured directly:** what the history adds to a run, each part timed on its \
             own (median, min–max):\n\n\
             | part | time |\n|---|---|\n\
             | one event stored, in a transaction of its own as the history's writer does when \
             events come one at a time (criterion) | {} |\n\
             | the recorded run's {} checkpoints ({}), encoded as JSON again and saved under a new \
             job | {} |\n\
             | the rest of a run (database opened, recovery, retention, the job's row, its lock \
             and its end): a recorded snapshot of a one-file folder {} against one without \
             history {} | {} |\n",
            ns_stats(h.per_event_ns),
            h.checkpoints,
            mib(h.checkpoint_bytes as f64),
            time_stats(h.checkpoints_secs),
            time_stats(h.fixed_recorded),
            time_stats(h.fixed_plain),
            time(fixed),
        );
        let _ = writeln!(
            p,
            "The job of row 4 emitted {} events (median of its recorded runs): {} + {} + {} × {} \
             = **{}**, **{:.2} %** of the job's median time without history ({}). Goal < \
             {PERSISTENCE_GOAL_PCT} %: **{}**. The events are written on the history's own \
             thread, not the job's; they are counted in full all the same, since the two share \
             the cores.\n",
            group(d.events.round() as u64),
            time(fixed),
            time(h.checkpoints_secs.map_or(0.0, |s| s.median)),
            group(d.events.round() as u64),
            ns(h.per_event_ns.map(|s| s.median)),
            time(d.secs),
            d.pct(),
            time(d.job_secs),
            met(d.pct(), PERSISTENCE_GOAL_PCT)
        );
    }

    /// Row 5 from its parts: what the reporting calls cost, times how often the job makes
    /// them, over the job's time. An A/B of whole runs cannot resolve a fraction of a percent
    /// when runs of the same work differ by several.
    fn progress_direct(&self) -> Option<Direct> {
        let parts = self.micro.as_ref()?;
        let per_file_ns = parts.per_file.ns?.median;
        let per_event_ns = parts.per_event.ns?.median;
        let with = &self.progress.ours;
        let events = with.events()?.median;
        let secs = (self.data.files as f64 * per_file_ns + events * per_event_ns) / 1e9;
        Direct::new(events, secs, with.time()?.median)
    }

    fn small_parts(&self, p: &mut String, direct: Option<&Direct>) {
        let Some(parts) = &self.micro else {
            return;
        };
        let _ = writeln!(
            p,
            "**The small parts** (criterion, in the harness's process: each figure is the median \
             time per call over criterion's samples, min–max beside it):\n\n\
             | part | time per call |\n|---|---|"
        );
        for part in [&parts.per_file, &parts.per_event, &parts.to_json] {
            let _ = writeln!(p, "| {} | {} |", part.what, ns_stats(part.ns));
        }
        let _ = writeln!(p);
        if let Some(d) = direct {
            let _ = writeln!(
                p,
                "**Row 5 measured directly:** the job of row 5 makes the per-file calls once per \
                 file ({} files) and emitted {} events (median of its runs): {} × {} + {} × {} = \
                 **{}**, **{:.3} %** of its median time ({}). Goal < {PROGRESS_GOAL_PCT} %: \
                 **{}**. Progress off still counts every file (only the events stop), so the A/B \
                 above sees the events alone; this figure counts both.\n",
                group(self.data.files),
                group(d.events.round() as u64),
                group(self.data.files),
                ns(parts.per_file.ns.map(|s| s.median)),
                group(d.events.round() as u64),
                ns(parts.per_event.ns.map(|s| s.median)),
                time(d.secs),
                d.pct(),
                time(d.job_secs),
                met(d.pct(), PROGRESS_GOAL_PCT)
            );
        }
    }

    fn reproduce(&self, p: &mut String) {
        let _ = writeln!(p, "## Reproduce\n");
        let _ = writeln!(
            p,
            "```sh\n{}\n```\n\n`make bench` builds Tidemark and the harness in release mode, \
             generates the data set in a temporary folder, measures every row above, rewrites \
             docs/BENCHMARKS.md and removes the data. `make bench-smoke` runs the same harness on \
             a tiny data set once (a debug build, part of `make test`) and writes \
             target/bench-smoke/BENCHMARKS.md. The harness is crates/bench.",
            self.reproduce
        );
    }
}
