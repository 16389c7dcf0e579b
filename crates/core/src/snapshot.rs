//! The snapshot engine: walk, manifest, tar + zstd, deliver — the six steps of DESIGN.md.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::event::Step;
use crate::fsutil::{self, Entry, EntryKind, ExactReader, Partial, WriteBehind};
use crate::prefetch::{self, Fetched, Prefetch};
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

/// Saved after the walk. Entries are saved as arrays, not objects: on a large tree the
/// checkpoint is held in memory by whoever keeps it, and field names would double its size.
#[derive(Debug, Deserialize)]
struct Walked {
    entries: Vec<CompactEntry>,
    warnings: Vec<crate::event::Warning>,
}

/// What is saved: the same shapes, borrowed, serialized straight to text: going through a
/// `serde_json::Value` tree costs a few KiB per file, hundreds of MiB on a large tree.
#[derive(Serialize)]
struct WalkedRef<'a> {
    entries: CompactEntries<'a>,
    warnings: &'a [crate::event::Warning],
}

/// `[rel, size, mode, uid, gid, mtime, mtime_nsec, kind, link target]`; kind 0 a file, 1 a
/// folder, 2 a link.
type CompactEntry = (PathBuf, u64, u32, u32, u32, i64, u32, u8, Option<PathBuf>);

struct CompactEntries<'a>(&'a [Entry]);

impl Serialize for CompactEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| {
            let m = &e.meta;
            let (size, kind, target) = match &e.kind {
                EntryKind::File { size } => (*size, 0u8, None),
                EntryKind::Dir => (0, 1, None),
                EntryKind::Symlink { target } => (0, 2, Some(target)),
            };
            (
                &e.rel,
                size,
                m.mode,
                m.uid,
                m.gid,
                m.mtime,
                m.mtime_nsec,
                kind,
                target,
            )
        }))
    }
}

/// The entries of a saved walk; `None` if it is not one this version wrote (the walk is
/// then redone).
fn expand(compact: Vec<CompactEntry>) -> Option<Vec<Entry>> {
    compact
        .into_iter()
        .map(
            |(rel, size, mode, uid, gid, mtime, mtime_nsec, kind, target)| {
                let kind = match (kind, target) {
                    (0, None) => EntryKind::File { size },
                    (1, None) => EntryKind::Dir,
                    (2, Some(target)) => EntryKind::Symlink { target },
                    _ => return None,
                };
                let meta = fsutil::Meta {
                    mode,
                    uid,
                    gid,
                    mtime,
                    mtime_nsec,
                };
                Some(Entry { rel, kind, meta })
            },
        )
        .collect()
}

/// Saved once the archive is complete (still under its temporary name), with what the
/// manifest needs besides the walk: the BLAKE3 of each file archived, in walk order, as one
/// hex string, and the files left out.
#[derive(Debug, Serialize, Deserialize)]
struct Compressed {
    path: PathBuf,
    len: u64,
    hashes: String,
    excluded: Vec<usize>,
    warnings: Vec<crate::event::Warning>,
}

impl Compressed {
    /// The manifest again, from the walk it was made of; `None` if they do not match.
    fn files(&self, entries: &[Entry]) -> Option<Vec<ManifestEntry>> {
        let mut hashes = self.hashes.as_bytes().chunks(64);
        let mut files = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if !matches!(e.kind, EntryKind::File { .. }) || self.excluded.contains(&i) {
                continue;
            }
            let hex = std::str::from_utf8(hashes.next()?).ok()?;
            let hash = blake3::Hash::from_hex(hex).ok()?;
            files.push(ManifestEntry {
                index: u32::try_from(i).ok()?,
                hash: *hash.as_bytes(),
            });
        }
        hashes.next().is_none().then_some(files)
    }
}

fn hashes_hex(files: &[ManifestEntry]) -> String {
    let mut out = String::with_capacity(files.len() * 64);
    for f in files {
        out.push_str(blake3::Hash::from_bytes(f.hash).to_hex().as_str());
    }
    out
}

/// One hashed file: which walk entry, and its BLAKE3. The path, size and time stay in the
/// walk's entry rather than being copied for each of 100,000s of files.
#[derive(Debug, Clone, Copy)]
struct ManifestEntry {
    index: u32,
    hash: [u8; 32],
}

/// The manifest file: `{version, source, archive, files: [{path, size, mtime, blake3}]}`.
#[derive(Serialize)]
struct Manifest<'a> {
    version: u32,
    source: String,
    archive: &'a str,
    files: ManifestFiles<'a>,
}

struct ManifestFiles<'a> {
    entries: &'a [Entry],
    files: &'a [ManifestEntry],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ManifestFile<'a> {
    path: std::borrow::Cow<'a, str>,
    size: u64,
    mtime: i64,
    blake3: &'a str,
}

impl Serialize for ManifestFiles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.files.len()))?;
        for f in self.files {
            let Some(e) = self.entries.get(f.index as usize) else {
                return Err(serde::ser::Error::custom(
                    "a manifest entry outside the walk",
                ));
            };
            let hex = blake3::Hash::from_bytes(f.hash).to_hex();
            seq.serialize_element(&ManifestFile {
                path: e.rel.to_string_lossy(),
                size: file_size(e),
                mtime: e.meta.mtime,
                blake3: hex.as_str(),
            })?;
        }
        seq.end()
    }
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

fn manifest_name(base: &str) -> String {
    format!("{base}.manifest.json")
}

/// Writes the manifest under a temporary name, ready to be published next to the archive.
/// Streamed to the file: as one buffer it would be tens of MiB on a large tree.
fn write_manifest(
    work_dir: &Path,
    base: &str,
    source: &Path,
    archive_name: &str,
    (entries, files): (&[Entry], &[ManifestEntry]),
    rep: &Reporter,
) -> Result<Partial, JobError> {
    let name = manifest_name(base);
    if rep.is_resumed() {
        fsutil::remove_stale_partials(work_dir, Some(&name));
    }
    let (partial, file) = Partial::create(work_dir, &name)?;
    let werr = |e: io::Error| JobError::writing(partial.path(), e);
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let manifest = Manifest {
        version: 1,
        source: source.to_string_lossy().into_owned(),
        archive: archive_name,
        files: ManifestFiles { entries, files },
    };
    serde_json::to_writer_pretty(&mut out, &manifest).map_err(|e| {
        if e.is_io() {
            werr(e.into())
        } else {
            JobError::Io {
                context: "encoding the manifest".into(),
                source: e.into(),
            }
        }
    })?;
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    Ok(partial)
}

fn publish_manifest(mut partial: Partial, work_dir: &Path, base: &str, rep: &mut Reporter) {
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

fn file_size(e: &Entry) -> u64 {
    match e.kind {
        EntryKind::File { size } => size,
        _ => 0,
    }
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

/// What [`compress`] made: the archive, still under its temporary name, and its manifest.
struct Archived {
    partial: Partial,
    len: u64,
    files: Vec<ManifestEntry>,
    /// Files left out, as indices into the walk.
    excluded: Vec<usize>,
}

/// Reads a source file in large chunks, hashing each chunk as it arrives: `tar` copies
/// through a small buffer, and a read and a hash update per 8 KiB would cost more system
/// calls and slower hashing than one per chunk.
struct Hashing<'b, R> {
    inner: R,
    chunk: &'b mut [u8],
    pos: usize,
    len: usize,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.len {
            let n = self.inner.read(self.chunk)?;
            self.hasher.update(&self.chunk[..n]);
            self.pos = 0;
            self.len = n;
        }
        let n = out.len().min(self.len - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A file that could not be read whole before its entry began is left out of the archive
/// and the manifest with a warning, and counts as done.
fn leave_out(
    rep: &mut Reporter,
    excluded: &mut Vec<usize>,
    i: usize,
    entry: &Entry,
    size: u64,
    why: &JobError,
) {
    rep.warn(fsutil::display(&entry.rel), format!("left out: {why}"));
    excluded.push(i);
    rep.advance(1, size);
}

/// What is said of a file that grew while it was read: the archive and the manifest hold
/// the bytes the walk listed.
fn grew_warning(rep: &mut Reporter, entry: &Entry, size: u64) {
    rep.warn(
        fsutil::display(&entry.rel),
        format!(
            "it changed as it was read (it grew); archived as listed, its first {} bytes",
            group_digits(size)
        ),
    );
}

/// The manifest names a file by its index in the walk, kept as a `u32`.
fn manifest_index(i: usize) -> Result<u32, JobError> {
    u32::try_from(i)
        .map_err(|_| JobError::InvalidInput("more than 4 billion entries in the source".into()))
}

/// Archives `entries` into `<work_dir>/<archive_name>` (temporary name), hashing each file
/// on the way. A file that cannot be read is left out with a warning; one that grew is
/// archived as listed, with a warning. A file that stops short once its entry has begun
/// (the header gives its size) is padded with zeros, as GNU tar does, and left out of the
/// manifest, with a warning saying so. Failures to write stop the snapshot.
fn compress(
    root: &Path,
    root_name: &str,
    entries: &[Entry],
    work_dir: &Path,
    archive_name: &str,
    rep: &mut Reporter,
) -> Result<Archived, JobError> {
    let (partial, file) = Partial::create(work_dir, archive_name)?;
    let out_path = partial.path().to_owned();
    let werr = |e: io::Error| JobError::writing(&out_path, e);
    let counting = Counting {
        inner: BufWriter::with_capacity(1 << 20, WriteBehind::new(file)),
        written: 0,
    };
    let mut encoder = zstd::Encoder::new(counting, 3).map_err(werr)?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    encoder.multithread(threads).map_err(werr)?;
    // zstd's default job at level 3 is 8 MiB, and it keeps several jobs' input and output
    // buffers per worker: most of the snapshot's memory. 2 MiB jobs cost nothing measurable
    // in size or speed and about 35 MiB less memory.
    encoder
        .set_parameter(zstd::zstd_safe::CParameter::JobSize(2 << 20))
        .map_err(werr)?;
    let mut tar = tar::Builder::new(encoder);
    let prefix = PathBuf::from(root_name);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut files = Vec::new();
    let mut excluded = Vec::new();
    // Borrowed from the walk: a copy of 100k paths cost memory and time before the first byte.
    let small: Vec<(&Path, u64)> = entries
        .iter()
        .filter_map(|e| match e.kind {
            EntryKind::File { size } if size <= prefetch::SMALL_FILE => {
                Some((e.rel.as_path(), size))
            }
            _ => None,
        })
        .collect();
    let ahead = Prefetch::new(root, &small);
    std::thread::scope(|s| -> Result<(), JobError> {
        let readers = (0..threads)
            .filter(|_| {
                let started = std::thread::Builder::new()
                    .name("tidemark-read".into())
                    .spawn_scoped(s, || ahead.read_ahead());
                started.is_ok()
            })
            .count();
        // Whatever way this scope is left, the readers stop, or it would wait for them.
        let _stop = ahead.stop_on_drop();
        let mut next_small = 0;
        for (i, entry) in entries.iter().enumerate() {
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
                EntryKind::File { size } if readers > 0 && *size <= prefetch::SMALL_FILE => {
                    let fetched = ahead.take(next_small);
                    next_small += 1;
                    let (data, hash) = match fetched {
                        Fetched::Read { data, hash, grew } => {
                            if grew {
                                grew_warning(rep, entry, *size);
                            }
                            (data, hash)
                        }
                        Fetched::LeftOut(e) => {
                            leave_out(rep, &mut excluded, i, entry, *size, &e);
                            continue;
                        }
                    };
                    let index = manifest_index(i)?;
                    header.set_size(*size);
                    tar.append_data(&mut header, &name, data.as_slice())
                        .map_err(werr)?;
                    files.push(ManifestEntry { index, hash });
                    rep.advance(1, *size);
                }
                EntryKind::File { size } => {
                    let path = root.join(&entry.rel);
                    let opened = File::open(&path).map_err(|e| JobError::reading(&path, e));
                    // Shorter already than listed: left out before its entry begins, rather
                    // than padded.
                    let opened = opened.and_then(|f| match f.metadata() {
                        Ok(m) if m.len() < *size => Err(JobError::SourceChanged {
                            path: path.clone(),
                            what: format!("it shrank from {size} to {} bytes", m.len()),
                        }),
                        _ => Ok(f),
                    });
                    let file = match opened {
                        Ok(f) => f,
                        Err(e) => {
                            leave_out(rep, &mut excluded, i, entry, *size, &e);
                            continue;
                        }
                    };
                    let index = manifest_index(i)?;
                    header.set_size(*size);
                    let exact = ExactReader::new(file, path.clone(), *size, |n| {
                        rep.advance(0, n);
                        rep.checkpoint().map_err(JobError::from)
                    })
                    .padding();
                    let mut reader = Hashing {
                        inner: exact,
                        chunk: &mut chunk,
                        pos: 0,
                        len: 0,
                        hasher: blake3::Hasher::new(),
                    };
                    if let Err(e) = tar.append_data(&mut header, &name, &mut reader) {
                        return Err(reader.inner.blame(e, werr));
                    }
                    let (grew, short) = (reader.inner.grew(), reader.inner.short());
                    let hash = *reader.hasher.finalize().as_bytes();
                    drop(reader);
                    if let Some(why) = short {
                        rep.warn(
                            fsutil::display(&entry.rel),
                            format!(
                                "{why}; its entry, already begun, is padded with zeros to \
                                 {size} bytes and it is left out of the manifest"
                            ),
                        );
                        excluded.push(i);
                    } else {
                        if grew {
                            grew_warning(rep, entry, *size);
                        }
                        files.push(ManifestEntry { index, hash });
                    }
                    rep.advance(1, 0);
                }
            }
        }
        Ok(())
    })?;
    rep.set_message("Finishing the archive");
    rep.tick();
    let encoder = tar.into_inner().map_err(werr)?;
    let mut counting = encoder.finish().map_err(werr)?;
    counting.flush().map_err(werr)?;
    let len = counting.written;
    let behind = counting
        .inner
        .into_inner()
        .map_err(|e| werr(e.into_error()))?;
    // The rename that follows must never publish a file whose data is still in flight.
    behind.finish().map_err(werr)?;
    rep.set_message(format!(
        "Compressed {} files into {} bytes",
        group_digits(rep.processed()),
        group_digits(len)
    ));
    Ok(Archived {
        partial,
        len,
        files,
        excluded,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsutil::Meta;

    fn entry(rel: &str, kind: EntryKind) -> Entry {
        Entry {
            rel: PathBuf::from(rel),
            kind,
            meta: Meta {
                mode: 0o644,
                uid: 1000,
                gid: 100,
                mtime: 1_700_000_000,
                mtime_nsec: 42,
            },
        }
    }

    fn tree() -> Vec<Entry> {
        vec![
            entry("", EntryKind::Dir),
            entry("a.txt", EntryKind::File { size: 3 }),
            entry(
                "link",
                EntryKind::Symlink {
                    target: PathBuf::from("a.txt"),
                },
            ),
            entry("secret", EntryKind::File { size: 9 }),
            entry("b.bin", EntryKind::File { size: 0 }),
        ]
    }

    /// Archives `src` after `change` has run between the walk and the archive.
    fn archive_after(src: &Path, change: impl FnOnce()) -> (Archived, Vec<Entry>, Reporter) {
        use crate::control::Control;
        use crate::event::JobKind;
        use crate::log::EventLog;
        let plan = StepPlan(vec![(Step::Manifest, 0.5), (Step::Compressing, 0.5)]);
        let mut rep = Reporter::new(
            "j",
            JobKind::Snapshot,
            EventLog::new(),
            Control::new(),
            plan,
        );
        rep.start_step(Step::Manifest, None, None);
        let listing = fsutil::list(src, &mut rep, false).expect("list");
        let entries = fsutil::examine(src, &listing.rels, &mut rep).expect("examine");
        change();
        rep.start_step(Step::Compressing, None, None);
        let work = src.parent().expect("parent");
        let archived =
            compress(src, "src", &entries, work, "a.tar.zst", &mut rep).expect("archive");
        (archived, entries, rep)
    }

    #[test]
    fn files_that_changed_after_the_walk_are_archived_as_listed_or_left_out_with_a_warning() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        std::fs::create_dir(&src).expect("src");
        let big = 3 * prefetch::SMALL_FILE as usize;
        let data = |len: usize| (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>();
        for (name, len) in [
            ("big-grows", big),
            ("big-shrinks", big),
            ("gone", 10),
            ("same", big),
            ("small-grows", 10),
            ("small-shrinks", 10),
        ] {
            std::fs::write(src.join(name), data(len)).expect("write");
        }
        let (archived, entries, rep) = archive_after(&src, || {
            std::fs::write(src.join("big-grows"), data(big + 5)).expect("grow");
            std::fs::write(src.join("small-grows"), data(15)).expect("grow");
            std::fs::write(src.join("big-shrinks"), data(100)).expect("shrink");
            std::fs::write(src.join("small-shrinks"), data(4)).expect("shrink");
            std::fs::remove_file(src.join("gone")).expect("rm");
        });
        let warned: Vec<(&str, &str)> = rep
            .warnings()
            .iter()
            .map(|w| (w.path.as_str(), w.message.as_str()))
            .collect();
        let paths: Vec<&str> = warned.iter().map(|w| w.0).collect();
        assert_eq!(
            paths,
            [
                "big-grows",
                "big-shrinks",
                "gone",
                "small-grows",
                "small-shrinks"
            ]
        );
        for (path, message) in &warned {
            let said = if path.ends_with("grows") {
                "grew"
            } else {
                "left out"
            };
            assert!(message.contains(said), "{path}: {message}");
        }
        // The manifest lists what the archive holds, as listed by the walk.
        let listed: Vec<(&str, [u8; 32])> = archived
            .files
            .iter()
            .map(|f| {
                let e = &entries[f.index as usize];
                (e.rel.to_str().expect("utf8"), f.hash)
            })
            .collect();
        let hash = |len: usize| *blake3::hash(&data(len)).as_bytes();
        assert_eq!(
            listed,
            [
                ("big-grows", hash(big)),
                ("same", hash(big)),
                ("small-grows", hash(10))
            ]
        );
        let file = std::fs::File::open(archived.partial.path()).expect("archive");
        let mut tar = tar::Archive::new(zstd::Decoder::new(file).expect("zstd"));
        let mut held = Vec::new();
        for entry in tar.entries().expect("entries") {
            let mut entry = entry.expect("entry");
            let path = entry.path().expect("path").to_string_lossy().into_owned();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).expect("read");
            held.push((path, blake3::hash(&bytes)));
        }
        let held: Vec<(&str, [u8; 32])> = held
            .iter()
            .filter_map(|(p, h)| {
                let p = p.strip_prefix("src/").filter(|p| !p.is_empty())?;
                Some((p, *h.as_bytes()))
            })
            .collect();
        assert_eq!(held, listed, "nothing else is in the archive");
    }

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

    #[test]
    fn a_saved_walk_reads_back_whole() {
        let entries = tree();
        let text = serde_json::to_string(&WalkedRef {
            entries: CompactEntries(&entries),
            warnings: &[],
        })
        .expect("encode");
        let walked: Walked = serde_json::from_str(&text).expect("decode");
        let back = expand(walked.entries).expect("entries");
        assert_eq!(format!("{back:?}"), format!("{entries:?}"));
    }

    #[test]
    fn a_saved_manifest_reads_back_against_its_walk_and_not_another() {
        let entries = tree();
        let files = vec![
            ManifestEntry {
                index: 1,
                hash: *blake3::hash(b"abc").as_bytes(),
            },
            ManifestEntry {
                index: 4,
                hash: *blake3::hash(b"").as_bytes(),
            },
        ];
        let text = serde_json::to_string(&Compressed {
            path: PathBuf::from("a.tar.zst"),
            len: 1,
            hashes: hashes_hex(&files),
            excluded: vec![3],
            warnings: vec![],
        })
        .expect("encode");
        let m: Compressed = serde_json::from_str(&text).expect("decode");
        let back = m.files(&entries).expect("files");
        let pairs = |f: &[ManifestEntry]| f.iter().map(|f| (f.index, f.hash)).collect::<Vec<_>>();
        assert_eq!(pairs(&back), pairs(&files));
        // A walk with another number of files is not the one these hashes belong to.
        assert!(m.files(&entries[..2]).is_none());
    }

    #[test]
    fn the_manifest_file_lists_path_size_time_and_hash() {
        let entries = tree();
        let files = [ManifestEntry {
            index: 1,
            hash: *blake3::hash(b"abc").as_bytes(),
        }];
        let v = serde_json::to_value(ManifestFiles {
            entries: &entries,
            files: &files,
        })
        .expect("encode");
        assert_eq!(
            v,
            serde_json::json!([{
                "path": "a.txt",
                "size": 3,
                "mtime": 1_700_000_000,
                "blake3": blake3::hash(b"abc").to_hex().as_str(),
            }])
        );
    }
}
