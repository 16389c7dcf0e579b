//! The snapshot engine: walk, manifest, tar + zstd, deliver — the six steps of DESIGN.md.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::event::Step;
use crate::fsutil::{self, Entry, EntryKind, ExactReader, Partial};
use crate::progress::{Reporter, StepPlan, group_digits};
use crate::upload;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSpec {
    pub source: PathBuf,
    /// A local folder, or an `http(s)://` URL (ending in `/` for a folder-like prefix).
    pub destination: String,
    /// Archive name without extension; defaults to `<folder>-<UTC time>`.
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
    // Shares measured on a typical tree: hashing reads everything once, compressing reads it
    // again and does the CPU work; a local delivery is a rename, an upload is the network.
    let (browse, manifest, compress, deliver) = if remote {
        (0.05, 0.2, 0.45, 0.3)
    } else {
        (0.05, 0.3, 0.64, 0.01)
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
const KEY_MANIFEST: &str = "snapshot.manifest";
const KEY_ARCHIVE: &str = "snapshot.archive";

/// Saved after the walk.
#[derive(Debug, Deserialize)]
struct Walked {
    entries: Vec<Entry>,
    warnings: Vec<crate::event::Warning>,
}

/// What is saved: the same shapes, borrowed. Serialized straight to text: going through a
/// `serde_json::Value` tree costs a few KiB per file, hundreds of MiB on a large tree.
#[derive(Serialize)]
struct WalkedRef<'a> {
    entries: &'a [Entry],
    warnings: &'a [crate::event::Warning],
}

#[derive(Serialize)]
struct ManifestedRef<'a> {
    files: &'a [ManifestEntry],
    excluded: &'a [usize],
    warnings: &'a [crate::event::Warning],
}

/// Saved after the manifest.
#[derive(Debug, Deserialize)]
struct Manifested {
    files: Vec<ManifestEntry>,
    excluded: Vec<usize>,
    warnings: Vec<crate::event::Warning>,
}

/// Saved once the archive is complete (still under its temporary name).
#[derive(Debug, Serialize, Deserialize)]
struct Compressed {
    path: PathBuf,
    len: u64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ManifestEntry {
    path: String,
    size: u64,
    mtime: i64,
    blake3: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Manifest<'a> {
    version: u32,
    source: String,
    archive: &'a str,
    files: Vec<ManifestEntry>,
}

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
    let base = match rep.saved::<String>(KEY_NAME) {
        Some(name) => name,
        None => archive_base_name(spec.name.as_deref(), &root_name)?,
    };
    rep.save(KEY_NAME, &base);
    let archive_name = format!("{base}.tar.zst");
    let (work_dir, final_path) = match &target {
        Target::Folder(dest) => {
            let dest = fsutil::dest_dir(dest)?;
            fsutil::check_not_inside(&source, &dest)?;
            let final_path = dest.join(&archive_name);
            if let Ok(m) = final_path.symlink_metadata() {
                // Killed after publishing its archive: a resumed run finds it is its own.
                let ours = rep
                    .saved::<Compressed>(KEY_ARCHIVE)
                    .is_some_and(|c| c.len == m.len());
                if !ours {
                    return Err(JobError::DestExists(final_path));
                }
                return finish_published(&dest, &final_path, &base, &source, rep);
            }
            (dest, Some(final_path))
        }
        Target::Url(_) => (std::env::temp_dir(), None),
    };

    let entries = match rep.saved::<Walked>(KEY_WALK) {
        Some(walked) => {
            for w in walked.warnings {
                rep.warn(w.path, w.message);
            }
            walked.entries
        }
        None => {
            rep.start_step(Step::Browsing, None, None);
            let entries = fsutil::walk(&source, rep)?;
            let warnings = rep.warnings().to_vec();
            rep.save(
                KEY_WALK,
                &WalkedRef {
                    entries: &entries,
                    warnings: &warnings,
                },
            );
            entries
        }
    };

    let files: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }))
        .collect();
    let bytes: u64 = files.iter().map(|e| file_size(e)).sum();
    let (manifest, excluded) = match rep.saved::<Manifested>(KEY_MANIFEST) {
        Some(m) => {
            for w in m.warnings.into_iter().skip(rep.warnings().len()) {
                rep.warn(w.path, w.message);
            }
            (m.files, m.excluded)
        }
        None => {
            rep.start_step(Step::Manifest, Some(files.len() as u64), Some(bytes));
            let (manifest, excluded) = build_manifest(&source, &entries, rep)?;
            let warnings = rep.warnings().to_vec();
            rep.save(
                KEY_MANIFEST,
                &ManifestedRef {
                    files: &manifest,
                    excluded: &excluded,
                    warnings: &warnings,
                },
            );
            (manifest, excluded)
        }
    };

    let included: Vec<&Entry> = entries
        .iter()
        .enumerate()
        .filter(|(i, _)| !excluded.contains(i))
        .map(|(_, e)| e)
        .collect();
    let in_files = included
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::File { .. }))
        .count();
    let in_bytes: u64 = included.iter().map(|e| file_size(e)).sum();
    let finished = rep.saved::<Compressed>(KEY_ARCHIVE).filter(|c| {
        std::fs::symlink_metadata(&c.path).is_ok_and(|m| m.is_file() && m.len() == c.len)
    });
    let (partial, archive_len) = match finished {
        Some(c) => (Partial::adopt(c.path), c.len),
        None => {
            if rep.is_resumed() {
                fsutil::remove_stale_partials(&work_dir, Some(&archive_name));
            }
            rep.start_step(Step::Compressing, Some(in_files as u64), Some(in_bytes));
            let (partial, len) = compress(
                &source,
                &root_name,
                &included,
                &work_dir,
                &archive_name,
                rep,
            )?;
            rep.save(
                KEY_ARCHIVE,
                &Compressed {
                    path: partial.path().to_owned(),
                    len,
                },
            );
            (partial, len)
        }
    };

    match (&target, final_path) {
        (Target::Folder(_), Some(final_path)) => {
            rep.begin(
                Step::Uploading,
                Some(1),
                Some(archive_len),
                format!("Saving {archive_name}"),
            );
            let mpartial = write_manifest(&work_dir, &base, &source, &archive_name, manifest, rep)?;
            partial.persist_new(&final_path)?;
            publish_manifest(mpartial, &work_dir, &base, rep);
            rep.advance(1, archive_len);
            Ok(final_path.to_string_lossy().into_owned())
        }
        (Target::Url(base_url), _) => {
            let url = upload::object_url(base_url, &archive_name)?;
            rep.begin(
                Step::Uploading,
                Some(1),
                Some(archive_len),
                format!("Uploading to {url}"),
            );
            let location = upload::put(&url, partial.path(), archive_len, rep)?;
            rep.advance(1, 0);
            drop(partial);
            Ok(location)
        }
        (Target::Folder(_), None) => unreachable_target(),
    }
}

fn manifest_name(base: &str) -> String {
    format!("{base}.manifest.json")
}

/// Writes the manifest under a temporary name, ready to be published next to the archive.
fn write_manifest(
    work_dir: &Path,
    base: &str,
    source: &Path,
    archive_name: &str,
    files: Vec<ManifestEntry>,
    rep: &Reporter,
) -> Result<Partial, JobError> {
    let json = serde_json::to_vec_pretty(&Manifest {
        version: 1,
        source: source.to_string_lossy().into_owned(),
        archive: archive_name,
        files,
    })
    .map_err(|e| JobError::Io {
        context: "encoding the manifest".into(),
        source: e.into(),
    })?;
    let name = manifest_name(base);
    if rep.is_resumed() {
        fsutil::remove_stale_partials(work_dir, Some(&name));
    }
    let (partial, mut file) = Partial::create(work_dir, &name)?;
    file.write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(|e| JobError::writing(partial.path(), e))?;
    Ok(partial)
}

fn publish_manifest(partial: Partial, work_dir: &Path, base: &str, rep: &mut Reporter) {
    let path = work_dir.join(manifest_name(base));
    if let Err(e) = partial.persist_new(&path) {
        // The archive alone is still a complete snapshot; say what is missing.
        rep.warn(path.to_string_lossy(), format!("manifest not saved: {e}"));
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
        && let Some(m) = rep.saved::<Manifested>(KEY_MANIFEST)
    {
        let partial = write_manifest(dest, base, source, &archive_name, m.files, rep)?;
        publish_manifest(partial, dest, base, rep);
    }
    Ok(final_path.to_string_lossy().into_owned())
}

fn unreachable_target() -> Result<String, JobError> {
    Err(JobError::InvalidInput(
        "a folder destination without a final path".into(),
    ))
}

fn file_size(e: &Entry) -> u64 {
    match e.kind {
        EntryKind::File { size } => size,
        _ => 0,
    }
}

fn archive_base_name(name: Option<&str>, root_name: &str) -> Result<String, JobError> {
    match name {
        Some(n) => {
            let n = n.strip_suffix(".tar.zst").unwrap_or(n);
            if n.is_empty() || n == "." || n == ".." || n.contains('/') || n.contains('\0') {
                return Err(JobError::InvalidInput(format!(
                    "--name {n:?} is not a valid file name"
                )));
            }
            Ok(n.to_string())
        }
        None => Ok(format!(
            "{root_name}-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    }
}

/// Hashes every file. Files that cannot be opened for lack of permission are left out with a
/// warning (returned as indices into `entries`); any other failure stops the snapshot.
fn build_manifest(
    root: &Path,
    entries: &[Entry],
    rep: &mut Reporter,
) -> Result<(Vec<ManifestEntry>, Vec<usize>), JobError> {
    let mut manifest = Vec::new();
    let mut excluded = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    for (i, entry) in entries.iter().enumerate() {
        let EntryKind::File { size } = entry.kind else {
            continue;
        };
        rep.checkpoint()?;
        let path = root.join(&entry.rel);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                rep.warn(fsutil::display(&entry.rel), format!("left out: {e}"));
                excluded.push(i);
                rep.advance(1, size);
                continue;
            }
            Err(e) => return Err(JobError::reading(&path, e)),
        };
        let mut hasher = blake3::Hasher::new();
        let mut reader = ExactReader::new(file, path.clone(), size, |n| {
            rep.advance(0, n);
            rep.checkpoint().map_err(JobError::from)
        });
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(reader.blame(e, |e| JobError::reading(&path, e))),
            }
        }
        rep.advance(1, 0);
        manifest.push(ManifestEntry {
            path: fsutil::display(&entry.rel),
            size,
            mtime: entry.meta.mtime,
            blake3: hasher.finalize().to_hex().to_string(),
        });
    }
    Ok((manifest, excluded))
}

/// Counts what reaches the archive file, for the delivery step's size.
struct Counting<W> {
    inner: W,
    written: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn compress(
    root: &Path,
    root_name: &str,
    entries: &[&Entry],
    work_dir: &Path,
    archive_name: &str,
    rep: &mut Reporter,
) -> Result<(Partial, u64), JobError> {
    let (partial, file) = Partial::create(work_dir, archive_name)?;
    let out_path = partial.path().to_owned();
    let werr = |e: io::Error| JobError::writing(&out_path, e);
    let counting = Counting {
        inner: BufWriter::with_capacity(1 << 20, file),
        written: 0,
    };
    let mut encoder = zstd::Encoder::new(counting, 3).map_err(werr)?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    encoder.multithread(threads).map_err(werr)?;
    let mut tar = tar::Builder::new(encoder);
    let prefix = PathBuf::from(root_name);
    for entry in entries {
        rep.checkpoint()?;
        let name = prefix.join(&entry.rel);
        let mut header = tar::Header::new_gnu();
        header.set_mode(entry.meta.mode);
        header.set_uid(entry.meta.uid.into());
        header.set_gid(entry.meta.gid.into());
        header.set_mtime(entry.meta.mtime.max(0) as u64);
        match &entry.kind {
            EntryKind::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                tar.append_data(&mut header, &name, io::empty())
                    .map_err(werr)?;
            }
            EntryKind::Symlink { target } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                tar.append_link(&mut header, &name, target).map_err(werr)?;
            }
            EntryKind::File { size } => {
                let path = root.join(&entry.rel);
                let file = File::open(&path).map_err(|e| JobError::reading(&path, e))?;
                header.set_size(*size);
                let mut reader = ExactReader::new(file, path.clone(), *size, |n| {
                    rep.advance(0, n);
                    rep.checkpoint().map_err(JobError::from)
                });
                if let Err(e) = tar.append_data(&mut header, &name, &mut reader) {
                    return Err(reader.blame(e, werr));
                }
                rep.advance(1, 0);
            }
        }
    }
    rep.set_message("Finishing the archive");
    rep.tick();
    let encoder = tar.into_inner().map_err(werr)?;
    let mut counting = encoder.finish().map_err(werr)?;
    counting.flush().map_err(werr)?;
    let len = counting.written;
    let file = counting
        .inner
        .into_inner()
        .map_err(|e| werr(e.into_error()))?;
    // The rename that follows must never publish a file whose data is still in flight.
    file.sync_all().map_err(werr)?;
    rep.set_message(format!(
        "Compressed {} files into {} bytes",
        group_digits(rep.processed()),
        group_digits(len)
    ));
    Ok((partial, len))
}
