//! The extracting step: every entry of the archive, in order, into the target, each file
//! checked against the manifest as it is written.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tar::EntryType;

use crate::error::JobError;
use crate::event::Warning;
use crate::fsutil::{self, Meta};
use crate::progress::Reporter;
use crate::restore::manifest::ManifestFile;
use crate::restore::safety::{self, Folders, Parents};
use crate::restore::source::{Decompressed, InputFailure, Location, read_error};
use crate::restore::write::{self, Existing, FolderMeta, READ_FAILED};

/// What a run saves as it goes: how many entries are written whole, and what it said so far.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Done {
    pub(crate) entries: u64,
    pub(crate) warnings: Vec<Warning>,
}

pub(crate) const KEY_DONE: &str = "restore.done";

/// How often the count of finished entries is saved for a resume.
const SAVE_EVERY: Duration = Duration::from_secs(1);

/// What this restore is asked to do.
pub(crate) struct Job<'a> {
    pub(crate) loc: &'a Location,
    pub(crate) failure: &'a InputFailure,
    pub(crate) root: &'a Path,
    pub(crate) only: &'a [String],
    pub(crate) overwrite: bool,
    /// Entries a killed run of this job wrote whole: read through, not written again.
    pub(crate) skip: u64,
    pub(crate) resumed: bool,
    /// The manifest's files by path (under the archive's top folder).
    pub(crate) expected: Option<HashMap<&'a str, &'a ManifestFile>>,
    /// Compressed bytes read so far.
    pub(crate) read: Arc<AtomicU64>,
}

/// What the extraction did.
#[derive(Debug, Default)]
pub(crate) struct Extracted {
    pub(crate) files: u64,
    pub(crate) kept: u64,
    /// Manifest paths met in the archive.
    pub(crate) seen: HashSet<String>,
    pub(crate) folders: Vec<FolderMeta>,
}

/// The path the manifest knows an entry by: under the archive's top folder.
pub(crate) fn manifest_key(rel: &Path) -> String {
    let mut c = rel.components();
    c.next();
    fsutil::portable(c.as_path()).into_owned()
}

/// Whether `--only` asks for the entry at `rel` (or needs it as a folder on the way).
fn wanted(only: &[String], rel: &Path, key: &str, folder: bool) -> bool {
    if only.is_empty() {
        return true;
    }
    let full = fsutil::portable(rel);
    only.iter().any(|p| {
        let under = |name: &str| name == p || name.starts_with(&format!("{p}/"));
        let above = |name: &str| name.is_empty() || p.starts_with(&format!("{name}/"));
        under(key) || under(&full) || (folder && (above(key) || above(&full)))
    })
}

/// The `--only` paths as they are compared: `/`-separated, no leading `./` or slashes.
pub(crate) fn normalize_only(only: &[String]) -> Vec<String> {
    only.iter()
        .map(|p| {
            let p = p.replace('\\', "/");
            let p = p.trim_start_matches("./").trim_matches('/');
            p.to_owned()
        })
        .filter(|p| !p.is_empty())
        .collect()
}

struct Meter {
    read: Arc<AtomicU64>,
    shown: u64,
}

impl Meter {
    fn tick(&mut self, rep: &mut Reporter) {
        let now = self.read.load(Ordering::Relaxed);
        rep.advance(0, now.saturating_sub(self.shown));
        self.shown = self.shown.max(now);
    }
}

fn meta_of(header: &tar::Header) -> Meta {
    Meta {
        mode: header.mode().unwrap_or(0o644) & 0o7777,
        uid: header.uid().unwrap_or(0) as u32,
        gid: header.gid().unwrap_or(0) as u32,
        mtime: header.mtime().unwrap_or(0) as i64,
        mtime_nsec: 0,
    }
}

/// Writes the archive's entries under `job.root`.
pub(crate) fn extract(
    job: &Job<'_>,
    stream: Decompressed,
    rep: &mut Reporter,
) -> Result<Extracted, JobError> {
    let mut out = Extracted::default();
    let mut folders = Folders::default();
    let mut meter = Meter {
        read: job.read.clone(),
        shown: 0,
    };
    let mut buf = vec![0u8; 256 * 1024];
    let mut last_save = Instant::now();
    let mut archive = tar::Archive::new(stream);
    let mut at: Option<String> = None;
    let read_err = |at: Option<&str>, e: io::Error| read_error(job.loc, job.failure, at, e);
    let entries = archive.entries().map_err(|e| read_err(None, e))?;
    for (i, entry) in entries.enumerate() {
        let i = i as u64;
        rep.checkpoint()?;
        let mut entry = entry.map_err(|e| read_err(at.as_deref(), e))?;
        let raw = entry
            .path()
            .map_err(|e| read_err(at.as_deref(), e))?
            .into_owned();
        let shown = raw.to_string_lossy().into_owned();
        at = Some(shown.clone());
        let kind = entry.header().entry_type();
        let Some(rel) = safety::entry_path(&raw, &shown, kind)? else {
            continue;
        };
        let key = manifest_key(&rel);
        let is_file = matches!(
            kind,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
        );
        if !wanted(job.only, &rel, &key, kind == EntryType::Directory) {
            meter.tick(rep);
            continue;
        }
        if let Some(why) = safety::name_problem(&rel) {
            if i >= job.skip {
                rep.warn(fsutil::display(&rel), format!("not restored: {why}"));
            }
            continue;
        }
        let meta = meta_of(entry.header());
        if kind == EntryType::Directory {
            out.folders.push(FolderMeta {
                rel: rel.clone(),
                mode: meta.mode,
                mtime: meta.mtime,
            });
        }
        if is_file {
            out.seen.insert(key.clone());
        }
        if i < job.skip {
            // Written whole by the killed run.
            if is_file {
                out.files += 1;
                rep.advance(1, 0);
            }
            meter.tick(rep);
            continue;
        }
        let dest = job.root.join(&rel);
        let parents = folders.prepare(job.root, &rel, &shown, true)?;
        if let Parents::Blocked(at) = parents {
            rep.warn(
                fsutil::display(&rel),
                format!(
                    "not restored: {} is a file, not a folder, in the target",
                    fsutil::display(&at)
                ),
            );
            continue;
        }
        let size = entry.size();
        let found = write::existing(&dest)?;
        // A killed run of this job may have written it after its last save.
        let ours = job.resumed
            && matches!(found, Existing::Other { size: s, mtime, .. }
                if mtime == meta.mtime && (s == size || !is_file));
        let replace = found != Existing::Nothing;
        let keep = |rep: &mut Reporter, what: &str| {
            rep.warn(
                fsutil::display(&rel),
                format!("kept: {what} (restore with --overwrite to replace it)"),
            );
        };
        match kind {
            EntryType::Directory => match found {
                Existing::Folder => folders.note(&rel),
                Existing::Nothing => {
                    std::fs::create_dir(&dest).map_err(|e| JobError::writing(&dest, e))?;
                    folders.note(&rel);
                }
                Existing::Other { .. } if job.overwrite || ours => {
                    std::fs::remove_file(&dest).map_err(|e| JobError::writing(&dest, e))?;
                    std::fs::create_dir(&dest).map_err(|e| JobError::writing(&dest, e))?;
                    folders.note(&rel);
                }
                Existing::Other { .. } => {
                    out.kept += 1;
                    keep(rep, "a file of that name is already there");
                }
            },
            _ if is_file => {
                if found == Existing::Folder {
                    out.kept += 1;
                    rep.warn(
                        fsutil::display(&rel),
                        "not restored: a folder of that name is in the target",
                    );
                    rep.advance(1, 0);
                    continue;
                }
                if replace && !job.overwrite && !ours {
                    out.kept += 1;
                    keep(rep, "it already exists");
                    rep.advance(1, 0);
                    continue;
                }
                let expected = job.expected.as_ref().and_then(|m| m.get(key.as_str()));
                let expect = expected.and_then(|f| blake3::Hash::from_hex(&f.blake3).ok());
                if job.expected.is_some() && expect.is_none() {
                    rep.warn(
                        fsutil::display(&rel),
                        "not in the manifest: restored without a check",
                    );
                }
                let written = write::file(
                    &mut entry,
                    &dest,
                    &key_or(&key, &shown),
                    &meta,
                    expect,
                    replace,
                    &mut buf,
                    rep,
                    &mut |rep| meter.tick(rep),
                );
                let written = match written {
                    Err(JobError::Io { context, source }) if context == READ_FAILED => {
                        return Err(read_err(Some(&shown), source));
                    }
                    other => other?,
                };
                if written {
                    out.files += 1;
                } else {
                    out.kept += 1;
                    keep(rep, "it appeared while it was restored");
                }
                rep.advance(1, 0);
            }
            EntryType::Symlink => {
                let Some(target) = entry.link_name().map_err(|e| read_err(Some(&shown), e))? else {
                    rep.warn(
                        fsutil::display(&rel),
                        "not restored: a link without a target",
                    );
                    continue;
                };
                let target = target.into_owned();
                if found == Existing::Folder {
                    out.kept += 1;
                    rep.warn(
                        fsutil::display(&rel),
                        "not restored: a folder of that name is in the target",
                    );
                    continue;
                }
                let ours =
                    ours || (job.resumed && std::fs::read_link(&dest).is_ok_and(|t| t == target));
                if replace && !job.overwrite && !ours {
                    out.kept += 1;
                    keep(rep, "it already exists");
                    continue;
                }
                if let Some(note) = write::symlink(&dest, &target, &meta, replace)? {
                    rep.warn(fsutil::display(&rel), note);
                }
            }
            EntryType::Link => {
                let Some(target) = entry.link_name().map_err(|e| read_err(Some(&shown), e))? else {
                    rep.warn(
                        fsutil::display(&rel),
                        "not restored: a link without a target",
                    );
                    continue;
                };
                let Some(trel) = safety::relative(&target, &shown)? else {
                    return Err(safety::unsafe_entry(
                        &shown,
                        "it links to the archive's top",
                    ));
                };
                let tpath = job.root.join(&trel);
                let through = folders.prepare(job.root, &trel, &shown, false)?;
                let source_ok = through == Parents::Ready
                    && matches!(
                        write::existing(&tpath)?,
                        Existing::Other { link: false, .. }
                    );
                if !source_ok {
                    rep.warn(
                        fsutil::display(&rel),
                        format!(
                            "not restored: the file it links to, {}, was not restored",
                            fsutil::display(&trel)
                        ),
                    );
                    continue;
                }
                if found == Existing::Folder || (replace && !job.overwrite && !ours) {
                    out.kept += 1;
                    keep(rep, "something of that name is already there");
                    continue;
                }
                write::hard_link(&dest, &tpath, replace)?;
            }
            EntryType::Fifo => {
                rep.warn(fsutil::display(&rel), "not restored: a FIFO (named pipe)");
            }
            EntryType::XGlobalHeader
            | EntryType::XHeader
            | EntryType::GNULongName
            | EntryType::GNULongLink => {}
            other => {
                rep.warn(
                    fsutil::display(&rel),
                    format!("not restored: an entry of type {other:?}"),
                );
            }
        }
        meter.tick(rep);
        if last_save.elapsed() >= SAVE_EVERY {
            save(rep, i + 1);
            last_save = Instant::now();
        }
    }
    meter.tick(rep);
    Ok(out)
}

fn key_or(key: &str, shown: &str) -> String {
    if key.is_empty() {
        shown.to_owned()
    } else {
        key.to_owned()
    }
}

/// Saves that the first `entries` entries are written whole.
pub(crate) fn save(rep: &mut Reporter, entries: u64) {
    let warnings = rep.warnings().to_vec();
    rep.save(KEY_DONE, &Done { entries, warnings });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_takes_a_path_under_the_top_folder_or_the_whole_entry_path() {
        let only = normalize_only(&["./many/".into(), "project/plain.txt".into()]);
        assert_eq!(only, ["many", "project/plain.txt"]);
        let yes = |rel: &str, folder: bool| {
            let rel = Path::new(rel);
            wanted(&only, rel, &manifest_key(rel), folder)
        };
        assert!(yes("project/many/a.dat", false));
        assert!(yes("project/plain.txt", false));
        assert!(yes("project", true), "the folder on the way");
        assert!(!yes("project/manyother/a", false));
        assert!(!yes("project/other.txt", false));
        assert!(!yes("project/empty", true));
    }
}
