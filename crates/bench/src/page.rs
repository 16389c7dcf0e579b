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
    pub fanout: Vec<Result<FanOut, String>>,
    pub desktop: Result<Desktop, String>,
    pub desktop_job: Result<DuringJob, String>,
    pub harness_secs: f64,
    pub load_at_end: String,
    pub reproduce: &'static str,
}

pub const PERSISTENCE_GOAL_PCT: f64 = 2.0;
pub const PROGRESS_GOAL_PCT: f64 = 1.0;
pub const ETA_GOAL_PCT: f64 = 10.0;
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
        self.fanout(&mut p);
        self.desktop(&mut p);
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

    fn eta(&self, p: &mut String) {
        let _ = writeln!(p, "## 6. ETA accuracy\n");
        let _ = writeln!(
            p,
            "Pure computation: four synthetic speed profiles replayed through \
             `tidemark_core::eta::EtaEstimator` with explicit instants (no sleeping). The job \
             takes {base:.0} s at the base speed; the estimator is fed every {tick:.0} ms (the \
             reporter's default interval). \"Halfway\" is at 50 % of the work; the noisy profile \
             draws a new speed, uniform in 0.5–1.5× the base, every {noise:.0} s (fixed seed). \
             The error is |estimate − true remaining time| / true remaining time at 25, 50 and \
             75 % done: the mean over the ticks from each point to {window:.0} % of the work \
             further (so it does not hang on where one tick falls). The naive estimator is remaining work \
             / overall average rate. Goals: median error < {ETA_GOAL_PCT} %, and better than \
             naive on every profile.\n",
            base = eta_replay::BASE_SECS,
            tick = eta_replay::TICK_SECS * 1000.0,
            noise = eta_replay::NOISE_PERIOD_SECS,
            window = eta_replay::WINDOW * 100.0,
        );
        let _ = writeln!(
            p,
            "**As the reporter feeds it** — the exact percent of the job's work done (from \
             its byte and file counters, not the figure it shows):\n"
        );
        eta_table(p, &self.eta);
        let _ = writeln!(
            p,
            "**Fed the shown percent** — the same replay with the percent floored to 0.1 %, as \
             events carry it, to show what a coarser input costs:\n"
        );
        eta_table(p, &self.eta_floored);
        let _ = writeln!(
            p,
            "No estimator can foresee a change of speed: before the change both see a \
             constant speed, so at 25 % of the step profiles their errors are those of \
             extrapolating the first half, and at 50 % (just after the change) those of \
             extrapolating it while the new speed sets in. The 75 % point \
             shows how fast each follows the new speed. On the constant and noisy profiles \
             the speed never changes for good, so the overall average (the naive estimate) is \
             the steadiest there is: there Tidemark's estimator keeps to it, and \"equal\" is \
             the best it can do.\n"
        );
    }

    fn fanout(&self, p: &mut String) {
        let _ = writeln!(p, "## 7. SSE fan-out\n");
        let _ = writeln!(
            p,
            "The real agent (`tidemark agent` on 127.0.0.1, port 0, its own database in the temp \
             folder) runs one snapshot of the tree above while N clients in the harness's process \
             follow `GET /api/v1/jobs/ID/progress/stream`, all with the admin token \
             (`--max-streams-per-token N+8`, `--max-connections-per-address N+8`), each on an \
             HTTPS connection of its own (TLS 1.3 to the agent's own certificate, pinned, as a \
             paired client's; served by hyper like every request). The agent's jobs send \
             progress at its default rate, one event every {} ms at most (steps and the end at \
             once). The job is paused until every stream is open, then \
             resumed: each event emitted after the resume, at every subscriber, is one sample of \
             **emit-to-receipt delay** = the time the client read it − the event's own \
             `timestamp` (set when the job emitted it; millisecond resolution, same clock). The \
             clients share the {} cores with the agent and the job, so the delay includes their \
             own scheduling. Agent peak RSS is `VmHWM` of /proc/PID/status at the end; beside it \
             `VmRSS` with the job paused before the first stream and with every stream open, \
             and what each open stream added. Goals: p99 < {FANOUT_P99_GOAL_MS} ms, agent RSS \
             < {FANOUT_RSS_GOAL_MIB} MB.\n",
            tidemark_agent::EMIT_INTERVAL.as_millis(),
            self.machine.cores
        );
        let _ = writeln!(
            p,
            "| subscribers | streams open at resume | reached the end | live events each | \
             samples | p50 | p99 | max | agent peak RSS | agent RSS: no stream → all open (each) | \
             job time after resume | goals |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for r in &self.fanout {
            match r {
                Ok(f) => {
                    let rss = f.agent_rss_kib.map(|k| k as f64 * 1024.0);
                    let met = match (f.p99_ms, rss) {
                        (Some(p99), Some(rss)) => {
                            let ok = p99 < FANOUT_P99_GOAL_MS
                                && rss < FANOUT_RSS_GOAL_MIB * 1024.0 * 1024.0
                                && f.completed == f.subscribers;
                            if ok { "**met**" } else { "**not met**" }
                        }
                        _ => "n/a",
                    };
                    let ms = |v: Option<f64>| {
                        v.map(|v| format!("{v:.0} ms"))
                            .unwrap_or_else(|| "n/a".into())
                    };
                    let open = match (f.rss_before_streams_kib, f.rss_streams_open_kib) {
                        (Some(before), Some(open)) => format!(
                            "{} → {} ({:.1} KiB)",
                            mib(before as f64 * 1024.0),
                            mib(open as f64 * 1024.0),
                            open.saturating_sub(before) as f64 / f.connected.max(1) as f64
                        ),
                        _ => "n/a".into(),
                    };
                    let _ = writeln!(
                        p,
                        "| {} | {} | {} | {} | {} | **{}** | **{}** | {} | **{}** | {open} | {} | \
                         {met}{} |",
                        group(f.subscribers as u64),
                        group(f.connected as u64),
                        group(f.completed as u64),
                        f.live_events,
                        group(f.latency_ms.map(|s| s.n as u64).unwrap_or(0)),
                        ms(f.latency_ms.map(|s| s.median)),
                        ms(f.p99_ms),
                        ms(f.latency_ms.map(|s| s.max)),
                        rss.map(mib).unwrap_or_else(|| "n/a".into()),
                        time(f.job_secs),
                        if f.failures.is_empty() {
                            String::new()
                        } else {
                            format!("; failures: {}", f.failures.join("; "))
                        }
                    );
                }
                Err(why) => {
                    let _ = writeln!(p, "| not measured: {why} | | | | | | | | | | | |");
                }
            }
        }
        let _ = writeln!(p);
    }

    fn desktop(&self, p: &mut String) {
        let _ = writeln!(p, "## 8. Desktop app memory\n");
        let _ = writeln!(
            p,
            "The {} `tidemark-desktop` under a virtual X server (`xvfb-run -a \
             dbus-run-session -- tidemark-desktop`, `TIDEMARK_DB` in the temp folder): `VmRSS` \
             of /proc/PID/status of the app's process, and separately of the WebKit processes \
             under it (the window's page runs in those). **Idle**: the app started on its own, \
             with no job, read {} s after the start. **During a job**: a second start, through \
             WebDriver (tauri-driver and WebKitWebDriver), which {} s after the start fills in \
             the Jobs view's snapshot form with the data set above and clicks Start, as a person \
             would; the modal then follows the job's progress events. The processes are read \
             every {} ms until the modal shows the job's end, and once more {} s later. Goal: \
             idle < {DESKTOP_IDLE_GOAL_MIB} MB for the app's process.\n",
            self.build,
            desktop::SETTLE.as_secs(),
            desktop::SETTLE.as_secs(),
            desktop::SAMPLE_EVERY.as_millis(),
            desktop::AFTER.as_secs()
        );
        let _ = writeln!(
            p,
            "| what | tidemark-desktop | WebKit processes | all together | goal |\n|---|---|---|---|---|"
        );
        let kib = |k: u64| mib(k as f64 * 1024.0);
        let _ = match &self.desktop {
            Ok(d) => {
                let webkit: u64 = d.webkit.iter().map(|(_, k)| k).sum();
                let each = d
                    .webkit
                    .iter()
                    .map(|(n, k)| format!("{n} {}", kib(*k)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let met = (d.app_kib as f64) < DESKTOP_IDLE_GOAL_MIB * 1024.0;
                writeln!(
                    p,
                    "| idle, {:.0} s after the start | **{}** | {} ({}) | {} | idle < {} MB: **{}** |",
                    d.settled_secs,
                    kib(d.app_kib),
                    kib(webkit),
                    if each.is_empty() {
                        "none found".into()
                    } else {
                        each
                    },
                    kib(d.app_kib + webkit),
                    DESKTOP_IDLE_GOAL_MIB,
                    if met { "met" } else { "not met" }
                )
            }
            Err(why) => writeln!(p, "| idle | not measured: {why} | | | |"),
        };
        let _ = match &self.desktop_job {
            Ok(j) => writeln!(
                p,
                "| under WebDriver, just before the click on Start | **{}** ({} own) | | | |\n\
                 | during the job (largest of {} readings over {:.1} s; the modal ended \
                 `{}`) | **{}** ({} own) | {} | {} | |\n\
                 | {} s after the job's end | **{}** ({} own) | | | |\n\n\
                 \"own\" is `RssAnon`, the process's heap and stacks; the job runs in the app's \
                 process, so its buffers count there.\n",
                kib(j.before_kib),
                kib(j.anon_kib[0]),
                j.samples,
                j.job_secs,
                j.end_state,
                kib(j.app_peak_kib),
                kib(j.anon_kib[1]),
                kib(j.webkit_peak_kib),
                kib(j.app_peak_kib + j.webkit_peak_kib),
                desktop::AFTER.as_secs(),
                kib(j.after_kib),
                kib(j.anon_kib[2]),
            ),
            Err(why) => writeln!(p, "| during a job | not measured: {why} | | | |\n"),
        };
        if let Ok(d) = &self.desktop {
            let files = d
                .app_top_files
                .iter()
                .map(|(n, k)| format!("`{n}` {}", kib(*k)))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                p,
                "Of the app's {}: **{}** its own memory (`RssAnon`: heap, stacks) and {} pages of \
                 mapped files (`RssFile`: its binary and the libraries, shared with every other \
                 process that maps them). The files holding the most: {}.\n",
                kib(d.app_kib),
                kib(d.app_anon_kib),
                kib(d.app_file_kib),
                if files.is_empty() {
                    "not read".into()
                } else {
                    files
                }
            );
            if d.app_top_files
                .iter()
                .any(|(n, _)| n.starts_with("libLLVM"))
            {
                let _ = writeln!(
                    p,
                    "`libLLVM` is there for Mesa's software OpenGL (llvmpipe, in `swrast_dri.so`), \
                     which WebKitGTK's UI process loads to draw the page on a machine without a \
                     GPU driver, such as this virtual X server.\n"
                );
            }
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

/// One ETA table and its summary line.
fn eta_table(p: &mut String, results: &[ProfileResult]) {
    let heads: Vec<String> = CHECKPOINTS
        .iter()
        .map(|c| format!("{:.0} %", c * 100.0))
        .collect();
    let _ = writeln!(
        p,
        "| profile | job length | Tidemark at {h} | naive at {h} | Tidemark median | naive median | vs naive |\n|---|---|---|---|---|---|---|",
        h = heads.join(" / ")
    );
    let mut all_ours = Vec::new();
    let mut better = 0;
    let mut equal = Vec::new();
    let mut worse = Vec::new();
    for r in results {
        // No estimate counts as 100 % wrong.
        let ours: Vec<f64> = r.ours.iter().map(|e| e.unwrap_or(100.0)).collect();
        all_ours.extend_from_slice(&ours);
        let om = median_of(&ours).unwrap_or(f64::NAN);
        let nm = median_of(&r.naive).unwrap_or(f64::NAN);
        let cmp = if om < nm - 0.05 {
            better += 1;
            "better"
        } else if om > nm + 0.05 {
            worse.push(r.profile.name());
            "worse"
        } else {
            equal.push(r.profile.name());
            "equal"
        };
        let _ = writeln!(
            p,
            "| {} | {} | {} | {} | {om:.1} % | {nm:.1} % | {cmp} |",
            r.profile.name(),
            time(r.total_secs),
            r.ours
                .iter()
                .map(|e| pct(*e))
                .collect::<Vec<_>>()
                .join(" / "),
            r.naive
                .iter()
                .map(|e| pct(Some(*e)))
                .collect::<Vec<_>>()
                .join(" / "),
        );
    }
    let overall = median_of(&all_ours);
    let _ = writeln!(
        p,
        "\nMedian error of Tidemark's estimator over all {} points: **{}** (goal < {ETA_GOAL_PCT} %: \
         **{}**). Better than naive (median of a profile's three points) on **{better} of {}** \
         profiles{}{} (goal: better on every profile: **{}**).\n",
        all_ours.len(),
        pct(overall),
        if overall.is_some_and(|o| o < ETA_GOAL_PCT) {
            "met"
        } else {
            "not met"
        },
        results.len(),
        if equal.is_empty() {
            String::new()
        } else {
            format!(", equal on {}", equal.join(", "))
        },
        if worse.is_empty() {
            String::new()
        } else {
            format!(", worse on {}", worse.join(", "))
        },
        if better == results.len() {
            "met"
        } else {
            "not met"
        }
    );
}
