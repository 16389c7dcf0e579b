//! The sync engine: several sources mirrored one way into `DEST/<source name>/`,
//! incrementally (size + mtime), each source with its own progress row; one failing source
//! never stops the others.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, JobError};
use crate::event::{ItemProgress, ItemState, Step};
use crate::fsutil::{self, Entry, EntryKind, ExactReader, Meta, Partial};
use crate::progress::{Reporter, StepPlan, group_digits};
use crate::walk;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    pub sources: Vec<PathBuf>,
    pub destination: PathBuf,
    /// Remove from the mirror what no longer exists in the source.
    #[serde(default)]
    pub delete: bool,
}

/// Names of the sources a run has finished, for a resumed run to skip.
const KEY_DONE: &str = "sync.done";

pub fn plan() -> StepPlan {
    StepPlan(vec![
        (Step::Waiting, 0.0),
        (Step::Scanning, 0.1),
        (Step::Copying, 0.9),
    ])
}

/// What one source needs done, decided by the scan.
struct SourcePlan {
    root: PathBuf,
    mirror: PathBuf,
    entries: Vec<Entry>,
    /// For each entry: a file the mirror already holds as it is ([`walk::Walked::fresh`]).
    fresh: Vec<bool>,
    files_to_copy: u64,
    bytes_to_copy: u64,
}

/// The name a source gets under the destination.
pub fn source_name(path: &Path) -> Option<String> {
    let canon = fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    canon
        .file_name()
        .or_else(|| path.file_name())
        .map(|n| n.to_string_lossy().into_owned())
}

pub fn run(spec: &SyncSpec, rep: &mut Reporter) -> Result<String, JobError> {
    rep.begin(
        Step::Waiting,
        None,
        None,
        "Checking the sources and the destination",
    );
    if spec.sources.is_empty() {
        return Err(JobError::InvalidInput(
            "give at least one source folder".into(),
        ));
    }
    let mut names = Vec::new();
    for src in &spec.sources {
        let name = source_name(src).ok_or_else(|| {
            JobError::InvalidInput(format!(
                "{} has no folder name to mirror it under",
                src.display()
            ))
        })?;
        if names.contains(&name) {
            return Err(JobError::InvalidInput(format!(
                "two sources are named {name:?}; each source is mirrored under its folder name"
            )));
        }
        names.push(name);
    }
    let dest = fsutil::dest_dir(&spec.destination)?;
    for src in &spec.sources {
        if let Ok(canon) = fs::canonicalize(src) {
            fsutil::check_not_inside(&canon, &dest)?;
        }
    }
    rep.set_items(names.iter().map(ItemProgress::pending).collect());

    let mut done: Vec<String> = rep.saved(KEY_DONE).unwrap_or_default();
    rep.start_step(Step::Scanning, None, None);
    let mut plans: Vec<Option<SourcePlan>> = Vec::new();
    for (i, src) in spec.sources.iter().enumerate() {
        if done.contains(&names[i]) {
            // Finished by the interrupted run this one resumes.
            let item = rep.item(i);
            item.state = ItemState::Done;
            item.total = Some(0);
            item.bytes_total = Some(0);
            plans.push(None);
            continue;
        }
        if rep.is_resumed() {
            fsutil::remove_stale_partials(&dest.join(&names[i]), None);
        }
        rep.item(i).state = ItemState::Running;
        rep.flush();
        match scan(src, &dest.join(&names[i]), rep) {
            Ok(plan) => {
                let item = rep.item(i);
                item.state = ItemState::Pending;
                item.total = Some(plan.files_to_copy);
                item.bytes_total = Some(plan.bytes_to_copy);
                plans.push(Some(plan));
            }
            Err(JobError::Cancelled) => return Err(JobError::Cancelled),
            Err(e) => {
                fail_item(rep, i, &e);
                plans.push(None);
            }
        }
    }

    let files: u64 = plans.iter().flatten().map(|p| p.files_to_copy).sum();
    let bytes: u64 = plans.iter().flatten().map(|p| p.bytes_to_copy).sum();
    rep.start_step(Step::Copying, Some(files), Some(bytes));
    for (i, plan) in plans.iter().enumerate() {
        let Some(plan) = plan else { continue };
        rep.item(i).state = ItemState::Running;
        rep.flush();
        match mirror(plan, i, spec.delete, rep) {
            Ok(()) => {
                rep.item(i).state = ItemState::Done;
                done.push(names[i].clone());
                rep.save(KEY_DONE, &done);
                rep.flush();
            }
            Err(JobError::Cancelled) => return Err(JobError::Cancelled),
            Err(e) => fail_item(rep, i, &e),
        }
    }

    let failed: Vec<&ItemProgress> = rep
        .items()
        .iter()
        .filter(|it| it.state == ItemState::Failed)
        .collect();
    if failed.is_empty() {
        rep.set_message(format!(
            "Copied {} files ({} bytes)",
            group_digits(rep.processed()),
            group_digits(rep.bytes_done())
        ));
        return Ok(dest.to_string_lossy().into_owned());
    }
    let codes: HashSet<ErrorCode> = failed
        .iter()
        .filter_map(|it| it.error.as_ref())
        .map(|e| e.code)
        .collect();
    let code = if codes.len() == 1 {
        codes.into_iter().next().unwrap_or(ErrorCode::SourcesFailed)
    } else {
        ErrorCode::SourcesFailed
    };
    let details = failed
        .iter()
        .map(|it| {
            format!(
                "{}: {}",
                it.name,
                it.error
                    .as_ref()
                    .map(|e| e.message.as_str())
                    .unwrap_or("failed")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(JobError::SourcesFailed {
        failed: failed.len(),
        total: rep.items().len(),
        details,
        code,
    })
}

fn fail_item(rep: &mut Reporter, i: usize, err: &JobError) {
    let item = rep.item(i);
    item.state = ItemState::Failed;
    item.error = Some(err.info());
    rep.flush();
}

fn scan(src: &Path, mirror: &Path, rep: &mut Reporter) -> Result<SourcePlan, JobError> {
    let root = fsutil::source_dir(src)?;
    let walk::Walked { entries, fresh } = walk::walk(&root, mirror, rep)?;
    let mut files_to_copy = 0;
    let mut bytes_to_copy = 0;
    for (e, fresh) in entries.iter().zip(&fresh) {
        if let EntryKind::File { size } = e.kind
            && !fresh
        {
            files_to_copy += 1;
            bytes_to_copy += size;
        }
    }
    Ok(SourcePlan {
        root,
        mirror: mirror.to_owned(),
        entries,
        fresh,
        files_to_copy,
        bytes_to_copy,
    })
}

fn mirror(
    plan: &SourcePlan,
    item: usize,
    delete: bool,
    rep: &mut Reporter,
) -> Result<(), JobError> {
    let mut buf = vec![0u8; 256 * 1024];
    for (i, entry) in plan.entries.iter().enumerate() {
        rep.checkpoint()?;
        let dest = || plan.mirror.join(&entry.rel);
        match &entry.kind {
            EntryKind::Dir => ensure_dir(&dest())?,
            EntryKind::Symlink { target } => ensure_symlink(&dest(), target)?,
            EntryKind::File { size } if !plan.fresh[i] => {
                copy_file(
                    &plan.root.join(&entry.rel),
                    &dest(),
                    *size,
                    &entry.meta,
                    item,
                    &mut buf,
                    rep,
                )?;
                let it = rep.item(item);
                it.processed += 1;
                rep.advance(1, 0);
            }
            EntryKind::File { .. } => {}
        }
    }
    if delete {
        delete_extras(plan, rep)?;
    }
    // Folder times last: writing into a folder changes its mtime.
    for entry in plan.entries.iter().rev() {
        if let EntryKind::Dir = entry.kind {
            let dest = plan.mirror.join(&entry.rel);
            // One `lstat` instead of two writes per folder when the mirror was up to date.
            let now = fs::symlink_metadata(&dest).ok().map(|m| Meta::of(&m));
            if now.is_none_or(|m| m.mode != entry.meta.mode) {
                let _best_effort = fs::set_permissions(&dest, entry.meta.permissions());
            }
            if now.is_none_or(|m| m.filetime() != entry.meta.filetime()) {
                let _best_effort = filetime::set_file_mtime(&dest, entry.meta.filetime());
            }
        }
    }
    Ok(())
}

fn ensure_dir(dest: &Path) -> Result<(), JobError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => fs::remove_file(dest).map_err(|e| JobError::writing(dest, e))?,
        Err(_) => {}
    }
    fs::create_dir_all(dest).map_err(|e| JobError::writing(dest, e))
}

fn ensure_symlink(dest: &Path, target: &Path) -> Result<(), JobError> {
    if fs::read_link(dest).is_ok_and(|existing| existing == target) {
        return Ok(());
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    // Build the link under a temporary name and rename it over, like a file.
    let tmp = dir.join(format!(".link.tidemark-partial-{}", std::process::id()));
    let _stale = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp).map_err(|e| JobError::writing(dest, e))?;
    if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        let _cleanup = fs::remove_file(&tmp);
        return Err(JobError::Io {
            context: format!("replacing the folder {} with a link", dest.display()),
            source: io::Error::other("a folder is in the way (use --delete to replace it)"),
        });
    }
    fs::rename(&tmp, dest).map_err(|e| {
        let _cleanup = fs::remove_file(&tmp);
        JobError::writing(dest, e)
    })
}

fn copy_file(
    src: &Path,
    dest: &Path,
    size: u64,
    meta: &Meta,
    item: usize,
    buf: &mut [u8],
    rep: &mut Reporter,
) -> Result<(), JobError> {
    let input = File::open(src).map_err(|e| JobError::reading(src, e))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (partial, mut out) = Partial::create(dir, &name)?;
    let werr = |e: io::Error| JobError::writing(dest, e);
    let mut reader = ExactReader::new(input, src.to_owned(), size, |n| {
        rep.item(item).bytes_done += n;
        rep.advance(0, n);
        rep.checkpoint().map_err(JobError::from)
    });
    loop {
        match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => out.write_all(&buf[..n]).map_err(werr)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(reader.blame(e, |e| JobError::reading(src, e))),
        }
    }
    out.set_permissions(meta.permissions()).map_err(werr)?;
    drop(out);
    filetime::set_file_mtime(partial.path(), meta.filetime()).map_err(werr)?;
    partial.persist_replace(dest)
}

fn delete_extras(plan: &SourcePlan, rep: &mut Reporter) -> Result<(), JobError> {
    let keep: HashSet<&Path> = plan.entries.iter().map(|e| e.rel.as_path()).collect();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = plan.mirror.join(&rel);
        let Ok(listing) = fs::read_dir(&dir) else {
            continue;
        };
        for item in listing.flatten() {
            rep.checkpoint()?;
            let child = rel.join(item.file_name());
            let path = plan.mirror.join(&child);
            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
            if keep.contains(child.as_path()) {
                if is_dir {
                    stack.push(child);
                }
                continue;
            }
            let removed = if is_dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| JobError::writing(&path, e))?;
        }
    }
    Ok(())
}
