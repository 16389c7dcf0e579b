//! The snapshot engine: walk, manifest, tar + zstd, deliver — the six steps ARCHITECTURE.md lists.
//! The archive is made in `archive`; what a run saves for a resumed one, in `checkpoint`;
//! the manifest file, in `manifest`.

mod archive;
mod checkpoint;
mod manifest;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::event::Step;
use crate::fsutil::{self, EntryKind, Partial};
use crate::progress::{Reporter, StepPlan};
use crate::upload;
use archive::compress;
use checkpoint::{CompactEntries, Compressed, Walked, WalkedRef, expand, hashes_hex};
use manifest::{manifest_name, publish_manifest, write_manifest};

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSpec {
    /// The folder to archive.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::snapshot_source))]
    pub source: PathBuf,
    /// A local folder, or an `http(s)://` URL (ending in `/` for a folder-like prefix).
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::snapshot_destination))]
    pub destination: String,
    /// Archive name without extension; defaults to `<folder>-<UTC time>`. A file name: not
    /// `.` or `..`, no `/`.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, pattern = r"^(?!\.{0,2}(\.tar\.zst)?$)[^/\x00]+$")
    )]
    pub name: Option<String>,
}

enum Target {
    Folder(PathBuf),
    Url(reqwest::Url),
}

/// Whether a snapshot destination names a URL rather than a folder.
pub fn is_url(dest: &str) -> bool {
    dest.starts_with("http://") || dest.starts_with("https://")
}

impl Target {
    fn parse(dest: &str) -> Result<Target, JobError> {
        if is_url(dest) {
            return upload::parse_url(dest).map(Target::Url);
        }
        if dest.is_empty() {
            return Err(JobError::InvalidInput("the destination is empty".into()));
        }
        Ok(Target::Folder(PathBuf::from(dest)))
    }
}

pub fn plan_for(spec: &SnapshotSpec) -> StepPlan {
    let remote = matches!(Target::parse(&spec.destination), Ok(Target::Url(_)));
    // Shares measured on a typical tree: listing and stat-ing are metadata only; compressing
    // reads, hashes and compresses every byte; a local delivery is a rename, an upload is the
    // network.
    let (browse, manifest, compress, deliver) = if remote {
        (0.02, 0.03, 0.6, 0.35)
    } else {
        (0.03, 0.05, 0.91, 0.01)
    };
    StepPlan(vec![
        (Step::Waiting, 0.0),
        (Step::Browsing, browse),
        (Step::Manifest, manifest),
        (Step::Compressing, compress),
        (Step::Uploading, deliver),
    ])
}

const KEY_NAME: &str = "snapshot.name";

const KEY_WALK: &str = "snapshot.walk";

const KEY_ARCHIVE: &str = "snapshot.archive";

/// Runs the snapshot; returns where the archive ended up.
pub fn run(spec: &SnapshotSpec, rep: &mut Reporter) -> Result<String, JobError> {
    rep.begin(
        Step::Waiting,
        None,
        None,
        "Checking the source and the destination",
    );
    let source = fsutil::source_dir(&spec.source)?;
    let target = Target::parse(&spec.destination)?;
    let root_name = source
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into());
    // A resumed run must produce the archive the interrupted one was making.
    let mut base = match rep.saved::<String>(KEY_NAME) {
        Some(name) => name,
        None => archive_base_name(spec.name.as_deref(), &root_name)?,
    };
    // Only a name the user chose is refused when taken; a default one moves aside.
    let named = spec.name.is_some();
    let (work_dir, final_path) = match &target {
        Target::Folder(dest) => {
            let dest = fsutil::dest_dir(dest)?;
            fsutil::check_not_inside(&source, &dest)?;
            let final_path = dest.join(format!("{base}.tar.zst"));
            if let Ok(m) = final_path.symlink_metadata() {
                // Killed after publishing its archive: a resumed run finds it is its own.
                let ours = rep
                    .saved::<Compressed>(KEY_ARCHIVE)
                    .is_some_and(|c| c.len == m.len());
                if ours {
                    return finish_published(&dest, &final_path, &base, &source, rep);
                }
                if named {
                    return Err(JobError::DestExists(final_path));
                }
            }
            if !named {
                base = free_base(&dest, &base)?;
            }
            let final_path = dest.join(format!("{base}.tar.zst"));
            (dest, Some(final_path))
        }
        Target::Url(_) => (std::env::temp_dir(), None),
    };
    rep.save(KEY_NAME, &base);
    let stem = base.clone();
    let archive_name = format!("{base}.tar.zst");

    let saved_walk = rep
        .saved::<Walked>(KEY_WALK)
        .and_then(|w| Some((expand(w.entries)?, w.warnings)));
    let entries = match saved_walk {
        Some((entries, warnings)) => {
            for w in warnings {
                rep.warn(w.path, w.message);
            }
            entries
        }
        None => {
            rep.start_step(Step::Browsing, None, None);
            let listing = fsutil::list(&source, rep, true)?;
            // The manifest's paths, sizes, modes and times; its hashes are taken as each file
            // is archived, so each file is read once and its hash describes the bytes the
            // archive holds, even if the file changes during the run.
            rep.start_step(Step::Manifest, Some(listing.files), None);
            let entries = fsutil::examine(&source, &listing.rels, rep)?;
            let warnings = rep.warnings().to_vec();
            rep.save(
                KEY_WALK,
                &WalkedRef {
                    entries: CompactEntries(&entries),
                    warnings: &warnings,
                },
            );
            entries
        }
    };

    let finished = rep
        .saved::<Compressed>(KEY_ARCHIVE)
        .filter(|c| {
            std::fs::symlink_metadata(&c.path).is_ok_and(|m| m.is_file() && m.len() == c.len)
        })
        .and_then(|c| Some((c.files(&entries)?, c)));
    let (partial, archive_len, manifest) = match finished {
        Some((manifest, c)) => {
            for w in c.warnings.into_iter().skip(rep.warnings().len()) {
                rep.warn(w.path, w.message);
            }
            (Partial::adopt(c.path), c.len, manifest)
        }
        None => {
            if rep.is_resumed() {
                fsutil::remove_stale_partials(&work_dir, Some(&archive_name));
            }
            let (files, bytes) = entries.iter().fold((0, 0), |(n, b), e| match e.kind {
                EntryKind::File { size } => (n + 1, b + size),
                _ => (n, b),
            });
            rep.start_step(Step::Compressing, Some(files), Some(bytes));
            let archived = compress(&source, &root_name, &entries, &work_dir, &archive_name, rep)?;
            rep.save(
                KEY_ARCHIVE,
                &Compressed {
                    path: archived.partial.path().to_owned(),
                    len: archived.len,
                    hashes: hashes_hex(&archived.files),
                    excluded: archived.excluded,
                    warnings: rep.warnings().to_vec(),
                },
            );
            (archived.partial, archived.len, archived.files)
        }
    };

    // Delivery counts the files the archive carries, not "1 archive": its counts are what
    // the last event, and so the finished job, shows ("57/57 files").
    let files = manifest.len() as u64;
    match (&target, final_path) {
        (Target::Folder(_), Some(mut final_path)) => {
            rep.begin(
                Step::Uploading,
                Some(files),
                Some(archive_len),
                format!("Saving {archive_name}"),
            );
            let mut partial = partial;
            loop {
                let archive_name = format!("{base}.tar.zst");
                let mpartial = write_manifest(
                    &work_dir,
                    &base,
                    &source,
                    &archive_name,
                    (&entries, &manifest),
                    rep,
                )?;
                match partial.persist_new(&final_path) {
                    Ok(()) => {
                        publish_manifest(mpartial, &work_dir, &base, rep);
                        break;
                    }
                    // Another snapshot of the same folder, started in the same second,
                    // published first.
                    Err(JobError::DestExists(_)) if !named => {
                        base = free_base(&work_dir, &stem)?;
                        final_path = work_dir.join(format!("{base}.tar.zst"));
                        rep.save(KEY_NAME, &base);
                    }
                    Err(e) => return Err(e),
                }
            }
            rep.advance(files, archive_len);
            Ok(final_path.to_string_lossy().into_owned())
        }
        (Target::Url(base_url), _) => {
            let url = upload::object_url(base_url, &archive_name)?;
            rep.begin(
                Step::Uploading,
                Some(files),
                Some(archive_len),
                format!("Uploading to {url}"),
            );
            let location = upload::put(&url, partial.path(), archive_len, rep)?;
            rep.advance(files, 0);
            drop(partial);
            Ok(location)
        }
        (Target::Folder(_), None) => unreachable_target(),
    }
}

/// The end of a resumed run whose interrupted run had already published the archive: clear
/// what it left half-written and make sure the manifest is there too.
fn finish_published(
    dest: &Path,
    final_path: &Path,
    base: &str,
    source: &Path,
    rep: &mut Reporter,
) -> Result<String, JobError> {
    let archive_name = format!("{base}.tar.zst");
    fsutil::remove_stale_partials(dest, Some(&archive_name));
    if !dest.join(manifest_name(base)).exists()
        && let Some(entries) = rep
            .saved::<Walked>(KEY_WALK)
            .and_then(|w| expand(w.entries))
        && let Some(files) = rep
            .saved::<Compressed>(KEY_ARCHIVE)
            .and_then(|c| c.files(&entries))
    {
        let partial = write_manifest(dest, base, source, &archive_name, (&entries, &files), rep)?;
        publish_manifest(partial, dest, base, rep);
    }
    Ok(final_path.to_string_lossy().into_owned())
}

fn unreachable_target() -> Result<String, JobError> {
    Err(JobError::InvalidInput(
        "a folder destination without a final path".into(),
    ))
}

/// How many names [`free_base`] tries before giving up.
const MAX_SUFFIX: u32 = 1000;

/// The first of `stem`, `stem-2`, `stem-3`, … that names neither an archive nor a manifest
/// in `dest`.
fn free_base(dest: &Path, stem: &str) -> Result<String, JobError> {
    let taken = |base: &str| {
        [format!("{base}.tar.zst"), manifest_name(base)]
            .iter()
            .any(|n| dest.join(n).symlink_metadata().is_ok())
    };
    (1..=MAX_SUFFIX)
        .map(|n| match n {
            1 => stem.to_string(),
            n => format!("{stem}-{n}"),
        })
        .find(|base| !taken(base))
        .ok_or_else(|| JobError::DestExists(dest.join(format!("{stem}.tar.zst"))))
}

/// The archive's base name a chosen `--name` gives (`.tar.zst` is left out), if it is a
/// file name: not empty, not `.` or `..`, no `/` nor NUL.
pub fn chosen_base_name(name: &str) -> Result<&str, JobError> {
    let n = name.strip_suffix(".tar.zst").unwrap_or(name);
    if n.is_empty() || n == "." || n == ".." || n.contains('/') || n.contains('\0') {
        return Err(JobError::InvalidInput(format!(
            "--name {n:?} is not a valid file name"
        )));
    }
    Ok(n)
}

fn archive_base_name(name: Option<&str>, root_name: &str) -> Result<String, JobError> {
    match name {
        Some(n) => chosen_base_name(n).map(str::to_owned),
        None => Ok(format!(
            "{root_name}-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_name_taken_moves_to_the_first_free_suffix() {
        let tmp = tempfile::tempdir().expect("tmp");
        let dest = tmp.path();
        assert_eq!(free_base(dest, "src-1").expect("free"), "src-1");
        std::fs::write(dest.join("src-1.tar.zst"), b"a").expect("write");
        assert_eq!(free_base(dest, "src-1").expect("free"), "src-1-2");
        // A manifest alone takes its name too.
        std::fs::write(dest.join("src-1-2.manifest.json"), b"{}").expect("write");
        std::fs::write(dest.join("src-1-4.tar.zst"), b"a").expect("write");
        assert_eq!(free_base(dest, "src-1").expect("free"), "src-1-3");
    }
}
