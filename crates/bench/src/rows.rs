//! The measured rows: each one prepares its folders (untimed), times only the work, and checks
//! that the work was really done.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tidemark_core::{JobHandle, JobOptions, JobSpec, JobState, ProgressEvent, SnapshotSpec};
use tidemark_store::RecordedJob;

use crate::data::{DataSet, count_tree};
use crate::measure::{Pair, Runner, Sample, available, compare, flush_disks, fsync_file};

/// What every row needs.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub runs: usize,
    pub tidemark: PathBuf,
    pub runner: Runner,
    /// Scratch space for outputs, mirrors and databases (inside the temp dir).
    pub work: PathBuf,
    pub data: &'a DataSet,
}

/// Emptied (or created) before a run.
fn fresh_dir(dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("cannot remove {}: {e}", dir.display()));
    }
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
}

fn remove_dir(dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("cannot remove {}: {e}", dir.display()));
    }
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_owned()).collect()
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{} was not produced: {e}", path.display()))
        .len()
}

/// Row 1: the `tidemark snapshot` process against `tar -I 'zstd -T0 -3'`.
pub fn snapshot_cli(ctx: &Ctx) -> Pair {
    let out_ours = ctx.work.join("snap-cli");
    let out_peer = ctx.work.join("snap-tar");
    let db = ctx.work.join("cli-snapshot.db");
    let parent = ctx
        .data
        .root
        .parent()
        .expect("the tree has a parent folder");
    compare(
        "snapshot (process)",
        ctx.runs,
        |i| {
            fresh_dir(&out_ours);
            flush_disks();
            let name = format!("cli-{i}");
            let args = os(&[
                &"snapshot",
                &ctx.data.root,
                &"--to",
                &out_ours,
                &"--name",
                &name,
            ]);
            let mut s = ctx
                .runner
                .run(&ctx.tidemark, &args, &[("TIDEMARK_DB", db.as_path())]);
            s.out_bytes = Some(file_len(&out_ours.join(format!("{name}.tar.zst"))));
            remove_dir(&out_ours);
            s
        },
        |i| {
            fresh_dir(&out_peer);
            flush_disks();
            let archive = out_peer.join(format!("peer-{i}.tar.zst"));
            let args = os(&[
                &"-I",
                &"zstd -T0 -3",
                &"-cf",
                &archive,
                &"-C",
                &parent,
                &"tree",
            ]);
            let mut s = ctx.runner.run(Path::new("tar"), &args, &[]);
            s.out_bytes = Some(file_len(&archive));
            s.fsync_secs = fsync_file(&archive);
            remove_dir(&out_peer);
            s
        },
    )
}

/// The mirrors rows 2 and 3 share.
#[derive(Debug)]
pub struct Mirrors {
    ours: PathBuf,
    peer: PathBuf,
    db: PathBuf,
}

impl Mirrors {
    pub fn new(ctx: &Ctx) -> Self {
        Self {
            ours: ctx.work.join("mirror-tidemark"),
            peer: ctx.work.join("mirror-rsync"),
            db: ctx.work.join("cli-sync.db"),
        }
    }

    fn run_ours(&self, ctx: &Ctx) -> Sample {
        let args = os(&[&"sync", &ctx.data.root, &"--to", &self.ours]);
        ctx.runner
            .run(&ctx.tidemark, &args, &[("TIDEMARK_DB", self.db.as_path())])
    }

    fn run_peer(&self, ctx: &Ctx) -> Sample {
        let mut src = ctx.data.root.clone().into_os_string();
        src.push("/");
        let mut dst = self.peer.join("tree").into_os_string();
        dst.push("/");
        ctx.runner
            .run(Path::new("rsync"), &[OsString::from("-a"), src, dst], &[])
    }

    /// Both mirrors hold exactly the tree.
    fn check(&self, ctx: &Ctx) {
        let want = (ctx.data.files, ctx.data.dirs, ctx.data.bytes);
        for mirror in [&self.ours, &self.peer] {
            let got = count_tree(&mirror.join("tree"))
                .unwrap_or_else(|e| panic!("cannot read {}: {e}", mirror.display()));
            assert_eq!(
                got,
                want,
                "{} is not a full mirror (files, folders, bytes)",
                mirror.display()
            );
        }
    }

    pub fn remove(&self) {
        remove_dir(&self.ours);
        remove_dir(&self.peer);
    }
}

pub const NO_RSYNC: &str = "rsync is not installed (`make tools` installs it)";

/// Row 2: a first sync (empty mirror) against `rsync -a`.
pub fn sync_first(ctx: &Ctx, mirrors: &Mirrors) -> Result<Pair, String> {
    if !available("rsync") {
        return Err(NO_RSYNC.into());
    }
    // The last run's mirrors stay for the check and for row 3; the others go at once, before
    // their data is written back (a delete of flushed files is slow on some disks).
    let last = ctx.runs;
    let pair = compare(
        "sync, first run",
        ctx.runs,
        |i| {
            remove_dir(&mirrors.ours);
            flush_disks();
            let s = mirrors.run_ours(ctx);
            if i != last {
                remove_dir(&mirrors.ours);
            }
            s
        },
        |i| {
            fresh_dir(&mirrors.peer);
            flush_disks();
            let s = mirrors.run_peer(ctx);
            if i != last {
                remove_dir(&mirrors.peer);
            }
            s
        },
    );
    mirrors.check(ctx);
    Ok(pair)
}

/// Row 3: a sync with nothing changed, against `rsync -a` with nothing changed. Needs the
/// mirrors row 2 left.
pub fn sync_unchanged(ctx: &Ctx, mirrors: &Mirrors) -> Result<Pair, String> {
    if !available("rsync") {
        return Err(NO_RSYNC.into());
    }
    let pair = compare(
        "sync, nothing changed",
        ctx.runs,
        |_| {
            flush_disks();
            mirrors.run_ours(ctx)
        },
        |_| {
            flush_disks();
            mirrors.run_peer(ctx)
        },
    );
    mirrors.check(ctx);
    Ok(pair)
}

fn snapshot_spec(ctx: &Ctx, out: &Path, name: &str) -> JobSpec {
    JobSpec::Snapshot(SnapshotSpec {
        source: ctx.data.root.clone(),
        destination: out.to_string_lossy().into_owned(),
        name: Some(name.to_owned()),
    })
}

fn check_completed(end: Option<&Arc<ProgressEvent>>, what: &str) {
    let end = end.unwrap_or_else(|| panic!("{what}: no terminal event"));
    assert_eq!(
        end.state,
        JobState::Completed,
        "{what} did not complete: {} {:?}",
        end.message,
        end.error
    );
}

/// An in-process snapshot through `JobHandle` (no history), timed from spawn to its end.
fn plain_snapshot(ctx: &Ctx, out: &Path, name: &str, interval: Duration) -> Sample {
    fresh_dir(out);
    flush_disks();
    let spec = snapshot_spec(ctx, out, name);
    let opts = JobOptions {
        emit_interval: interval,
        ..JobOptions::default()
    };
    let start = Instant::now();
    let end = JobHandle::spawn(spec, opts).wait();
    let secs = start.elapsed().as_secs_f64();
    check_completed(end.as_ref(), "in-process snapshot");
    let out_bytes = Some(file_len(&out.join(format!("{name}.tar.zst"))));
    remove_dir(out);
    Sample {
        secs,
        rss_kib: None,
        out_bytes,
        fsync_secs: None,
        events: end.map(|e| e.seq),
    }
}

/// Row 4: the same in-process snapshot with every event and checkpoint recorded in SQLite
/// (`RecordedJob`) against none (`JobHandle`). Also returns the database and the id of the
/// last recorded run, for [`crate::history::parts`].
pub fn persistence(ctx: &Ctx) -> (Pair, PathBuf, Option<String>) {
    let out = ctx.work.join("snap-inproc");
    let db = ctx.work.join("inproc.db");
    let default_interval = JobOptions::default().emit_interval;
    let mut last = None;
    let pair = compare(
        "persistence overhead",
        ctx.runs,
        |i| {
            fresh_dir(&out);
            flush_disks();
            let name = format!("recorded-{i}");
            let spec = snapshot_spec(ctx, &out, &name);
            let start = Instant::now();
            let job = RecordedJob::start(&db, spec).expect("start a recorded job");
            last = Some(job.id().to_owned());
            let (end, recorded) = job.wait();
            let secs = start.elapsed().as_secs_f64();
            recorded.expect("the history was recorded");
            check_completed(end.as_ref(), "recorded snapshot");
            let out_bytes = Some(file_len(&out.join(format!("{name}.tar.zst"))));
            remove_dir(&out);
            Sample {
                secs,
                rss_kib: None,
                out_bytes,
                fsync_secs: None,
                events: end.map(|e| e.seq),
            }
        },
        |i| plain_snapshot(ctx, &out, &format!("plain-{i}"), default_interval),
    );
    (pair, db, last)
}

/// How long "progress off" waits between counter updates: longer than any run here.
pub const PROGRESS_OFF: Duration = Duration::from_secs(3600);

/// Row 5: the in-process snapshot with the default emit interval against one of an hour.
pub fn progress(ctx: &Ctx) -> Pair {
    let out = ctx.work.join("snap-progress");
    let default_interval = JobOptions::default().emit_interval;
    compare(
        "progress overhead",
        ctx.runs,
        |i| plain_snapshot(ctx, &out, &format!("default-{i}"), default_interval),
        |i| plain_snapshot(ctx, &out, &format!("off-{i}"), PROGRESS_OFF),
    )
}
