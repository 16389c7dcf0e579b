//! The sync engine: several sources mirrored one way into `DEST/<source name>/`,
//! incrementally (size + mtime), each source with its own progress row; one failing source
//! never stops the others.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, JobError};
use crate::event::{ItemProgress, ItemState, Step};
use crate::fsutil::{self, Entry, EntryKind, Meta};
use crate::platform;
use crate::progress::{Reporter, StepPlan, group_digits};
use crate::walk;

mod files;
use files::{copy_file, ensure_dir, ensure_symlink};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// The folders to mirror, each into a folder of its name under the destination.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::sync_sources))]
    pub sources: Vec<PathBuf>,
    /// The mirror's folder.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::sync_destination))]
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
    /// The mirror's file system files names without regard to case.
    case_insensitive: bool,
}

/// The name a source gets under the destination: its folder's name; for the root of a drive
/// (`D:\`) its letter, for a share (`\\nas\photos`) the share's name.
pub fn source_name(path: &Path) -> Option<String> {
    let canon = dunce::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    name_of(&canon).or_else(|| name_of(path))
}

fn name_of(path: &Path) -> Option<String> {
    use std::path::{Component, Prefix};
    if let Some(name) = path.file_name() {
        return Some(name.to_string_lossy().into_owned());
    }
    let name = match path.components().next()? {
        Component::Prefix(p) => match p.kind() {
            Prefix::Disk(letter) | Prefix::VerbatimDisk(letter) => char::from(letter).to_string(),
            Prefix::UNC(_, share) | Prefix::VerbatimUNC(_, share) => {
                share.to_string_lossy().into_owned()
            }
            _ => return None,
        },
        _ => return None,
    };
    Some(name)
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
    let case_insensitive = fsutil::case_insensitive(&dest);
    for src in &spec.sources {
        if let Ok(canon) = dunce::canonicalize(src) {
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
            item.counters.total = Some(0);
            item.counters.bytes_total = Some(0);
            plans.push(None);
            continue;
        }
        if rep.is_resumed() {
            fsutil::remove_stale_partials(&dest.join(&names[i]), None);
        }
        rep.item(i).state = ItemState::Running;
        rep.flush();
        match scan(src, &dest.join(&names[i]), &names[i], rep) {
            Ok(mut plan) => {
                plan.case_insensitive = case_insensitive;
                let item = rep.item(i);
                item.state = ItemState::Pending;
                item.counters.total = Some(plan.files_to_copy);
                item.counters.bytes_total = Some(plan.bytes_to_copy);
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

fn scan(
    src: &Path,
    mirror: &Path,
    label: &str,
    rep: &mut Reporter,
) -> Result<SourcePlan, JobError> {
    let root = fsutil::source_dir(src)?;
    let walk::Walked { entries, fresh } = walk::walk(&root, mirror, Path::new(label), rep)?;
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
        case_insensitive: false,
    })
}

fn mirror(
    plan: &SourcePlan,
    item: usize,
    delete: bool,
    rep: &mut Reporter,
) -> Result<(), JobError> {
    let mut buf = vec![0u8; 256 * 1024];
    let label = rep.items()[item].name.clone();
    // Folders that could not be made in the mirror: what is under them is left out too.
    let mut missing: HashSet<&Path> = HashSet::new();
    // On a case-insensitive mirror, the first of the paths that differ only in case.
    let mut by_case: HashMap<String, &Path> = HashMap::new();
    for (i, entry) in plan.entries.iter().enumerate() {
        rep.checkpoint()?;
        let under_missing = entry.rel.parent().is_some_and(|p| missing.contains(p));
        let collides = plan.case_insensitive && !under_missing && {
            let first = *by_case
                .entry(case_key(&entry.rel))
                .or_insert(entry.rel.as_path());
            first != entry.rel
        };
        if collides {
            let first = by_case[&case_key(&entry.rel)];
            rep.warn(
                format!("{label}/{}", fsutil::display(&entry.rel)),
                format!(
                    "not copied: its name differs only in case from {}, which the destination's \
                     file system cannot tell apart from it",
                    fsutil::display(first)
                ),
            );
        }
        let dest = || plan.mirror.join(&entry.rel);
        let done = match &entry.kind {
            _ if under_missing || collides => {
                if let EntryKind::File { size } = entry.kind
                    && !plan.fresh[i]
                {
                    let it = rep.item(item);
                    it.counters.processed += 1;
                    it.counters.bytes_done += size;
                    rep.advance(1, size);
                }
                Err(None)
            }
            EntryKind::Dir => ensure_dir(&dest()).map_err(Some).map(|()| None),
            EntryKind::Symlink { target } => {
                ensure_symlink(&dest(), target, &entry.meta).map_err(Some)
            }
            EntryKind::File { size } if !plan.fresh[i] => {
                let src = plan.root.join(&entry.rel);
                let copied = copy_file(&src, &dest(), *size, &entry.meta, item, &mut buf, rep);
                let it = rep.item(item);
                it.counters.processed += 1;
                rep.advance(1, 0);
                copied.map_err(Some)
            }
            EntryKind::File { .. } => Ok(None),
        };
        let rel = || format!("{label}/{}", fsutil::display(&entry.rel));
        match done {
            Ok(None) => {}
            Ok(Some(note)) => rep.warn(rel(), note),
            // The mirror's own folder is not one file among others.
            Err(Some(e)) if entry.rel.as_os_str().is_empty() => return Err(e),
            Err(Some(e)) if one_file_only(&e) => {
                rep.warn(rel(), format!("not copied: {e}"));
                if matches!(entry.kind, EntryKind::Dir) {
                    missing.insert(&entry.rel);
                }
            }
            Err(Some(e)) => return Err(e),
            Err(None) => {
                if matches!(entry.kind, EntryKind::Dir) {
                    missing.insert(&entry.rel);
                }
            }
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
                let _best_effort = platform::set_mode(&dest, entry.meta.mode);
            }
            if now.is_none_or(|m| m.filetime() != entry.meta.filetime()) {
                let _best_effort = filetime::set_file_mtime(&dest, entry.meta.filetime());
            }
        }
    }
    Ok(())
}

/// A failure that concerns one file and not the rest of the source: the source file
/// cannot be read, changed as it was read or vanished, or its name is too long for the
/// mirror. Like `rsync`, the sync warns about it and copies everything else; a destination
/// that is full or unwritable stops the source.
fn one_file_only(e: &JobError) -> bool {
    match e {
        JobError::SourceChanged { .. } | JobError::SourceUnreadable { .. } => true,
        JobError::Io { source, .. } => source.kind() == io::ErrorKind::InvalidFilename,
        _ => false,
    }
}

/// The key under which a case-insensitive file system files `rel`.
fn case_key(rel: &Path) -> String {
    crate::platform::names::case_key(&rel.to_string_lossy())
}

fn delete_extras(plan: &SourcePlan, rep: &mut Reporter) -> Result<(), JobError> {
    // On a case-insensitive mirror `Photo.JPG` is the source's `photo.jpg`, not an extra.
    let key = |rel: &Path| {
        if plan.case_insensitive {
            case_key(rel)
        } else {
            rel.to_string_lossy().into_owned()
        }
    };
    let keep: HashSet<String> = plan.entries.iter().map(|e| key(&e.rel)).collect();
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
            if keep.contains(&key(&child)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::Control;
    use crate::event::JobKind;
    use crate::log::EventLog;

    /// With a link in the source, which Windows creates only with a privilege.
    #[cfg(unix)]
    #[test]
    fn a_file_that_changed_after_the_scan_is_a_warning_and_the_rest_is_copied() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (src, mirror) = (tmp.path().join("src"), tmp.path().join("mirror/src"));
        fs::create_dir_all(src.join("sub")).expect("dirs");
        for name in [
            "a.txt",
            "gone.txt",
            "grows.txt",
            "shrinks.txt",
            "sub/ok.txt",
        ] {
            fs::write(src.join(name), b"0123456789").expect("write");
        }
        platform::symlink(Path::new("a.txt"), &src.join("link")).expect("link");
        let old = Meta {
            mtime: 1_600_000_000,
            mtime_nsec: 7,
            ..Meta::of(&fs::symlink_metadata(src.join("link")).expect("lstat"))
        };
        platform::set_link_mtime(&src.join("link"), &old).expect("link time");

        let mut rep = Reporter::new("j", JobKind::Sync, EventLog::new(), Control::new(), plan());
        rep.set_items(vec![ItemProgress::pending("src")]);
        rep.start_step(Step::Scanning, None, None);
        let plan = scan(&src, &mirror, "src", &mut rep).expect("scan");
        fs::remove_file(src.join("gone.txt")).expect("rm");
        fs::write(src.join("shrinks.txt"), b"0123").expect("shrink");
        fs::write(src.join("grows.txt"), b"0123456789 and more").expect("grow");
        rep.start_step(
            Step::Copying,
            Some(plan.files_to_copy),
            Some(plan.bytes_to_copy),
        );
        mirror_source(&plan, &mut rep);

        let warned: Vec<(&str, &str)> = rep
            .warnings()
            .iter()
            .map(|w| (w.path.as_str(), w.message.as_str()))
            .collect();
        assert_eq!(
            warned.iter().map(|w| w.0).collect::<Vec<_>>(),
            ["src/gone.txt", "src/grows.txt", "src/shrinks.txt"]
        );
        assert!(warned[0].1.contains("vanished"), "{warned:?}");
        assert!(warned[1].1.contains("grew"), "{warned:?}");
        assert!(warned[2].1.contains("shrank"), "{warned:?}");
        assert_eq!(
            fs::read(mirror.join("grows.txt")).expect("grows"),
            b"0123456789"
        );
        for name in ["a.txt", "sub/ok.txt"] {
            assert_eq!(fs::read(mirror.join(name)).expect(name), b"0123456789");
        }
        assert!(!mirror.join("gone.txt").exists());
        assert!(!mirror.join("shrinks.txt").exists());
        let names: Vec<_> = fs::read_dir(&mirror)
            .expect("mirror")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
        // Every file counts as done, copied or not.
        assert_eq!(
            (rep.processed(), rep.bytes_done()),
            (plan.files_to_copy, plan.bytes_to_copy)
        );
        let link = Meta::of(&fs::symlink_metadata(mirror.join("link")).expect("link"));
        assert_eq!(
            link.filetime(),
            old.filetime(),
            "the link's own time is kept"
        );
    }

    /// Run on a case-sensitive file system too: the plan is told the mirror is not.
    #[test]
    fn names_differing_only_in_case_are_reported_not_merged_on_a_case_insensitive_mirror() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (src, mirror) = (tmp.path().join("src"), tmp.path().join("mirror/src"));
        fs::create_dir_all(src.join("Docs")).expect("dirs");
        fs::create_dir_all(src.join("docs")).expect("dirs");
        fs::write(src.join("README"), b"upper").expect("write");
        fs::write(src.join("Docs/a.txt"), b"a").expect("write");
        fs::write(src.join("docs/b.txt"), b"b").expect("write");
        if fs::read(src.join("readme")).is_ok() {
            eprintln!("this file system cannot hold both names: nothing to test here");
            return;
        }
        fs::write(src.join("readme"), b"lower").expect("write");
        // Left by an earlier sync under another case: the same file there, not an extra.
        fs::create_dir_all(&mirror).expect("mirror");
        fs::write(mirror.join("Readme"), b"old").expect("write");

        let mut rep = Reporter::new("j", JobKind::Sync, EventLog::new(), Control::new(), plan());
        rep.set_items(vec![ItemProgress::pending("src")]);
        rep.start_step(Step::Scanning, None, None);
        let mut plan = scan(&src, &mirror, "src", &mut rep).expect("scan");
        plan.case_insensitive = true;
        rep.start_step(
            Step::Copying,
            Some(plan.files_to_copy),
            Some(plan.bytes_to_copy),
        );
        super::mirror(&plan, 0, true, &mut rep).expect("the source completes");

        let warned: Vec<&str> = rep.warnings().iter().map(|w| w.path.as_str()).collect();
        // Sorted bytewise, upper case first: `Docs` and `README` are copied.
        assert_eq!(warned, ["src/docs", "src/readme"]);
        assert!(
            rep.warnings()[1]
                .message
                .contains("only in case from README"),
            "{:?}",
            rep.warnings()
        );
        assert_eq!(fs::read(mirror.join("README")).expect("README"), b"upper");
        assert_eq!(fs::read(mirror.join("Docs/a.txt")).expect("a"), b"a");
        assert!(!mirror.join("readme").exists() && !mirror.join("docs").exists());
        assert!(
            mirror.join("Readme").exists(),
            "--delete kept the other case"
        );
        assert_eq!(
            (rep.processed(), rep.bytes_done()),
            (plan.files_to_copy, plan.bytes_to_copy),
            "the files left out count as done"
        );
    }

    #[test]
    fn a_source_is_named_after_its_folder_drive_or_share() {
        assert_eq!(name_of(Path::new("/srv/photos")).as_deref(), Some("photos"));
        assert_eq!(name_of(Path::new("/")), None);
        if cfg!(windows) {
            assert_eq!(name_of(Path::new(r"D:\")).as_deref(), Some("D"));
            assert_eq!(name_of(Path::new(r"\\?\D:\")).as_deref(), Some("D"));
            assert_eq!(
                name_of(Path::new(r"\\nas\photos\")).as_deref(),
                Some("photos")
            );
            assert_eq!(
                name_of(Path::new(r"\\nas\photos\2026")).as_deref(),
                Some("2026")
            );
            assert_eq!(
                name_of(Path::new(r"\\?\UNC\nas\photos")).as_deref(),
                Some("photos")
            );
        }
    }

    #[cfg(unix)]
    fn mirror_source(plan: &SourcePlan, rep: &mut Reporter) {
        mirror(plan, 0, false, rep).expect("the source completes");
    }
}
