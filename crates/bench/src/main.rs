//! `tidemark-bench`: measures Tidemark against its peers (tar + zstd, rsync), the cost of its
//! history and of its progress, and the accuracy of its ETA, then writes the page
//! (docs/BENCHMARKS.md). A benchmark, not a test: nothing asserts on speed.
//!
//! `make bench` runs it at full size; `make bench-smoke` runs it once on a tiny data set so it
//! cannot rot.

mod data;
mod desktop;
mod eta_replay;
mod eta_seeded;
mod fanout;
mod history;
mod machine;
mod measure;
mod micro;
mod page;
mod plan_delay;
mod restore;
mod rows;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use crate::data::Shape;
use crate::measure::{Pair, Runner, available, flush_disks};
use crate::rows::{Ctx, Mirrors};

const USAGE: &str = "\
usage: tidemark-bench [--smoke] [--out PATH] [--tidemark PATH] [--work-dir DIR]
                      [--runs N] [--small-files N] [--large-files N] [--large-mib N]

  --smoke          tiny data set, one run per row (what `make bench-smoke` runs)
  --out PATH       the page to write [docs/BENCHMARKS.md; target/bench-smoke/BENCHMARKS.md
                   with --smoke]
  --tidemark PATH  the tidemark binary [next to this one]
  --work-dir DIR   where the temporary data folder goes [the system temp folder]
  --runs N         timed runs per side, after one warm-up [5; 1 with --smoke]
  --small-files N  small files (1-16 KiB) [100000; 300 with --smoke]
  --large-files N  large files [5; 2 with --smoke]
  --large-mib N    size of each large file in MiB [240; 2 with --smoke]
  --subscribers N,M  SSE fan-out: subscriber counts, one run each [1000,10000; 20 with --smoke]
  --rows LIST      only these rows, e.g. 1,5,6 (1 = rows 1 and 1b, 2 = rows 2 and 3, 9 = rows 9
                   and 10; the others show n/a) [all]";

#[derive(Debug)]
struct Config {
    smoke: bool,
    out: PathBuf,
    tidemark: PathBuf,
    work_dir: PathBuf,
    runs: usize,
    shape: Shape,
    /// SSE fan-out: how many subscribers, one measurement each.
    subscribers: Vec<usize>,
    /// The rows to measure (`None`: all), by their number on the page.
    rows: Option<Vec<u32>>,
}

impl Config {
    fn wants(&self, row: u32) -> bool {
        self.rows.as_ref().is_none_or(|r| r.contains(&row))
    }
}

fn parse_args() -> Result<Config, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut cfg = Config {
        smoke,
        out: PathBuf::from(if smoke {
            "target/bench-smoke/BENCHMARKS.md"
        } else {
            "docs/BENCHMARKS.md"
        }),
        tidemark: std::env::current_exe()
            .map_err(|e| format!("cannot find this binary: {e}"))?
            .with_file_name("tidemark"),
        work_dir: std::env::temp_dir(),
        runs: if smoke { 1 } else { 5 },
        subscribers: if smoke { vec![20] } else { vec![1_000, 10_000] },
        rows: None,
        shape: Shape {
            small_files: if smoke { 300 } else { 100_000 },
            small_min: 1024,
            small_max: 16 * 1024,
            large_files: if smoke { 2 } else { 5 },
            large_bytes: if smoke { 2 << 20 } else { 240 << 20 },
        },
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{arg} needs a value"))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{arg}: {v:?} is not a number"))
        };
        match arg.as_str() {
            "--smoke" => {}
            "--out" => cfg.out = value()?.into(),
            "--tidemark" => cfg.tidemark = value()?.into(),
            "--work-dir" => cfg.work_dir = value()?.into(),
            "--runs" => cfg.runs = number(value()?)?.max(1) as usize,
            "--small-files" => cfg.shape.small_files = number(value()?)?,
            "--large-files" => cfg.shape.large_files = number(value()?)?,
            "--large-mib" => cfg.shape.large_bytes = number(value()?)? << 20,
            "--subscribers" => {
                cfg.subscribers = value()?
                    .split(',')
                    .map(|v| number(v.to_owned()).map(|n| n as usize))
                    .collect::<Result<_, _>>()?
            }
            "--rows" => {
                cfg.rows = Some(
                    value()?
                        .split(',')
                        .map(|v| number(v.to_owned()).map(|n| n as u32))
                        .collect::<Result<_, _>>()?,
                )
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let started = Instant::now();
    let cfg = match parse_args() {
        Ok(c) => c,
        Err(why) => {
            if !why.is_empty() {
                eprintln!("tidemark-bench: {why}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&cfg, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(why) => {
            eprintln!("tidemark-bench: {why}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &Config, started: Instant) -> Result<(), String> {
    let tidemark = std::fs::canonicalize(&cfg.tidemark).map_err(|e| {
        format!(
            "{}: {e} (build it first: cargo build --release -p tidemark-cli)",
            cfg.tidemark.display()
        )
    })?;
    for tool in ["tar", "zstd"] {
        if !available(tool) {
            return Err(format!("{tool} is missing (`make tools` installs it)"));
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix("tidemark-bench-")
        .tempdir_in(&cfg.work_dir)
        .map_err(|e| {
            format!(
                "cannot make a temp folder in {}: {e}",
                cfg.work_dir.display()
            )
        })?;
    let work = tmp.path().to_owned();
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    let scratch = work.join("scratch");
    std::fs::create_dir_all(&scratch).map_err(|e| io("cannot create", &scratch, e))?;
    let data_parent = work.join("data");
    std::fs::create_dir_all(&data_parent).map_err(|e| io("cannot create", &data_parent, e))?;
    let machine = machine::describe(&work);

    eprintln!(
        "[bench] generating {} small + {} large files in {}",
        cfg.shape.small_files,
        cfg.shape.large_files,
        data_parent.display()
    );
    let t = Instant::now();
    let data = data::generate(&data_parent, &cfg.shape)
        .map_err(|e| io("cannot generate the data in", &data_parent, e))?;
    flush_disks();
    let gen_secs = t.elapsed().as_secs_f64();
    eprintln!(
        "[bench] {} files, {} bytes in {gen_secs:.1} s",
        data.files, data.bytes
    );

    let runner = Runner::new(scratch);
    let rss_measured = runner.time_bin.is_some();
    let ctx = Ctx {
        runs: cfg.runs,
        tidemark: tidemark.clone(),
        runner,
        work: work.clone(),
        data: &data,
    };
    eprintln!("[bench] ETA replay");
    let eta = eta_replay::replay_all(false);
    let eta_floored = eta_replay::replay_all(true);
    let eta_seeded = eta_seeded::run_all();
    let skipped = || Err("not selected (--rows)".to_string());
    let snapshot = if cfg.wants(1) {
        rows::snapshot_cli(&ctx)
    } else {
        Pair::default()
    };
    let (persistence, history) = if cfg.wants(4) {
        let (pair, db, last) = rows::persistence(&ctx);
        let parts = last.map(|id| history::parts(&db, &id, &work, cfg.smoke));
        (pair, parts)
    } else {
        (Pair::default(), None)
    };
    let (micro, progress) = if cfg.wants(5) {
        (Some(micro::run(cfg.smoke)), rows::progress(&ctx))
    } else {
        (None, Pair::default())
    };
    let mirrors = Mirrors::new(&ctx);
    let (sync_first, sync_unchanged) = if cfg.wants(2) {
        let first = rows::sync_first(&ctx, &mirrors);
        let unchanged = match &first {
            Ok(_) => rows::sync_unchanged(&ctx, &mirrors),
            Err(why) => Err(why.clone()),
        };
        (first, unchanged)
    } else {
        (skipped(), skipped())
    };
    let fanout = if cfg.wants(7) {
        fanout::run_all(&tidemark, &work, &data.root, &cfg.subscribers)
    } else {
        vec![Err("not selected (--rows)".to_string())]
    };
    let (desktop, desktop_job) = if cfg.wants(8) {
        (
            desktop::measure(&tidemark, &work),
            desktop::measure_job(&tidemark, &work, &data.root),
        )
    } else {
        let skipped = || "not selected (--rows)".to_string();
        (Err(skipped()), Err(skipped()))
    };
    let restore = if cfg.wants(9) || cfg.wants(10) {
        Ok(restore::run(&ctx))
    } else {
        Err("not selected (--rows)".to_string())
    };
    let plan_delays = if cfg.wants(11) {
        eprintln!("[bench] plans: due and missed runs");
        let (due, wakes) = if cfg.smoke { (2, 1) } else { (10, 4) };
        plan_delay::measure(&work, due, wakes)
    } else {
        Err("not selected (--rows)".to_string())
    };
    eprintln!("[bench] removing the data");
    mirrors.remove();
    tmp.close().map_err(|e| io("cannot remove", &work, e))?;

    let report = page::Report {
        smoke: cfg.smoke,
        build: if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M").to_string(),
        machine,
        data_dir: format!("{}/tidemark-bench-*", cfg.work_dir.display()),
        data,
        gen_secs,
        runs: cfg.runs,
        rss_measured,
        snapshot,
        sync_first,
        sync_unchanged,
        persistence,
        history,
        progress,
        micro,
        eta,
        eta_floored,
        eta_seeded,
        fanout,
        desktop,
        desktop_job,
        restore,
        plan_delays,
        harness_secs: started.elapsed().as_secs_f64(),
        load_at_end: machine::load_average(),
        reproduce: if cfg.smoke {
            "make bench-smoke"
        } else {
            "make bench"
        },
    };
    let text = report.render();
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| io("cannot create", dir, e))?;
    }
    std::fs::write(&cfg.out, &text).map_err(|e| io("cannot write", &cfg.out, e))?;
    eprintln!(
        "[bench] wrote {} in {:.1} s",
        cfg.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
