//! Filesystem pieces shared by the engines: validating folders, walking a tree without
//! following links, and files that only appear under their final name once complete.

use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use filetime::FileTime;
use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::progress::Reporter;

/// Checks that `path` is a readable folder and returns its canonical form.
pub fn source_dir(path: &Path) -> Result<PathBuf, JobError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(JobError::SourceMissing(path.to_owned()));
        }
        Err(e) => {
            return Err(JobError::SourceUnreadable {
                path: path.to_owned(),
                source: e,
            });
        }
    };
    if !meta.is_dir() {
        return Err(JobError::SourceNotDirectory(path.to_owned()));
    }
    fs::read_dir(path).map_err(|e| JobError::SourceUnreadable {
        path: path.to_owned(),
        source: e,
    })?;
    fs::canonicalize(path).map_err(|e| JobError::SourceUnreadable {
        path: path.to_owned(),
        source: e,
    })
}

/// Makes sure the destination folder exists (creating its last component, as `rsync` does)
/// and returns its canonical form.
pub fn dest_dir(path: &Path) -> Result<PathBuf, JobError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(JobError::InvalidInput(format!(
                "destination {} is a file, not a folder",
                path.display()
            )));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent_exists = path
                .parent()
                .map(|p| p.as_os_str().is_empty() || p.is_dir())
                .unwrap_or(false);
            if !parent_exists {
                return Err(JobError::DestMissing(path.to_owned()));
            }
            fs::create_dir(path).map_err(|e| JobError::writing(path, e))?;
        }
        Err(e) => return Err(JobError::writing(path, e)),
    }
    fs::canonicalize(path).map_err(|e| JobError::writing(path, e))
}

/// Refuses a destination that is the source or lies inside it: the job would read its own
/// output.
pub fn check_not_inside(source: &Path, dest: &Path) -> Result<(), JobError> {
    if dest.starts_with(source) {
        return Err(JobError::DestInsideSource {
            src: source.to_owned(),
            dest: dest.to_owned(),
        });
    }
    Ok(())
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Dir,
    File { size: u64 },
    Symlink { target: PathBuf },
}

/// What the engines keep of a file's metadata: enough to archive or mirror it, and plain
/// data, so a walk can be saved for a resumed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
}

impl Meta {
    pub fn of(m: &Metadata) -> Meta {
        use std::os::unix::fs::MetadataExt;
        let t = FileTime::from_last_modification_time(m);
        Meta {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            mtime: t.unix_seconds(),
            mtime_nsec: t.nanoseconds(),
        }
    }

    /// The same from a `stat` of [`DirStat`]. The fields' integer types differ between
    /// platforms, hence the casts.
    #[allow(clippy::unnecessary_cast)]
    pub(crate) fn of_stat(st: &rustix::fs::Stat) -> Meta {
        Meta {
            mode: st.st_mode as u32 & 0o7777,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as u32,
        }
    }

    pub fn filetime(&self) -> FileTime {
        FileTime::from_unix_time(self.mtime, self.mtime_nsec)
    }

    pub fn permissions(&self) -> fs::Permissions {
        use std::os::unix::fs::PermissionsExt;
        fs::Permissions::from_mode(self.mode)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the walked root; empty for the root itself.
    pub rel: PathBuf,
    pub kind: EntryKind,
    pub meta: Meta,
}

/// The names under a tree, depth-first, parents before children, names sorted so runs are
/// repeatable; without their metadata.
#[derive(Debug)]
pub struct Listing {
    /// Paths relative to the root; the root itself (empty) first.
    pub rels: Vec<PathBuf>,
    /// How many of them were regular files when listed.
    pub files: u64,
}

/// Lists every folder under `root`, recursing by the type the listing gives (no `stat` per
/// entry where the filesystem reports types). With `report`, each file found advances the
/// step by one item, so a large tree shows its count growing.
pub fn list(root: &Path, rep: &mut Reporter, report: bool) -> Result<Listing, JobError> {
    let mut rels = vec![PathBuf::new()];
    let mut files = 0;
    let mut stack = vec![PathBuf::new()];
    while let Some(dir_rel) = stack.pop() {
        let dir = root.join(&dir_rel);
        let listing = match fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) => {
                if dir_rel.as_os_str().is_empty() {
                    return Err(JobError::SourceUnreadable {
                        path: dir,
                        source: e,
                    });
                }
                rep.warn(
                    display(&dir_rel),
                    format!("cannot list folder, its contents are left out: {e}"),
                );
                continue;
            }
        };
        let mut names: Vec<(OsString, Option<fs::FileType>)> = Vec::new();
        for item in listing {
            match item {
                Ok(item) => names.push((item.file_name(), item.file_type().ok())),
                Err(e) => rep.warn(display(&dir_rel), format!("cannot list folder: {e}")),
            }
        }
        names.sort_by(|a, b| a.0.cmp(&b.0));
        let mut subdirs = Vec::new();
        for (name, ft) in names {
            rep.checkpoint()?;
            let rel = dir_rel.join(&name);
            if ft.is_some_and(|t| t.is_dir()) {
                subdirs.push(rel.clone());
            } else if ft.is_some_and(|t| t.is_file()) {
                files += 1;
                if report {
                    rep.advance(1, 0);
                }
            }
            rels.push(rel);
        }
        // Reverse so the stack pops them in sorted order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(Listing { rels, files })
}

/// What [`examine`] found at one path.
enum Looked {
    Entry(Entry),
    /// Vanished between listing and stat: nothing to copy, nothing to warn about.
    Gone,
    Warn(String),
    Fatal(JobError),
}

fn look(root: &Path, dirs: &mut DirStat, rel: &Path) -> Looked {
    if rel.as_os_str().is_empty() {
        return match fs::metadata(root) {
            Ok(meta) => Looked::Entry(Entry {
                rel: PathBuf::new(),
                kind: EntryKind::Dir,
                meta: Meta::of(&meta),
            }),
            Err(e) => Looked::Fatal(JobError::SourceUnreadable {
                path: root.into(),
                source: e,
            }),
        };
    }
    let st = match dirs.lstat(rel) {
        Ok(st) => st,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Looked::Gone,
        Err(e) => return Looked::Warn(format!("cannot read: {e}")),
    };
    use rustix::fs::FileType;
    let kind = match FileType::from_raw_mode(st.st_mode as rustix::fs::RawMode) {
        FileType::Directory => EntryKind::Dir,
        FileType::RegularFile => EntryKind::File {
            size: u64::try_from(st.st_size).unwrap_or(0),
        },
        FileType::Symlink => match fs::read_link(root.join(rel)) {
            Ok(target) => EntryKind::Symlink { target },
            Err(e) => return Looked::Warn(format!("cannot read link: {e}")),
        },
        _ => return Looked::Warn("skipped: not a regular file, folder or link".into()),
    };
    Looked::Entry(Entry {
        rel: rel.to_owned(),
        kind,
        meta: Meta::of_stat(&st),
    })
}

/// `lstat` of paths under one base folder, each relative to its parent folder's descriptor,
/// kept open while consecutive paths share that parent (a listing's order). The kernel then
/// looks up one name instead of every component of a long path: on a re-scan of a large
/// tree, where nothing is read, that lookup was most of the time.
#[derive(Debug)]
pub struct DirStat<'a> {
    base: &'a Path,
    /// The parent (relative to `base`) of the last path, and its descriptor, `None` when it
    /// could not be opened: then the whole path is looked up, which reports the error.
    parent: Option<(PathBuf, Option<rustix::fd::OwnedFd>)>,
}

impl<'a> DirStat<'a> {
    pub fn new(base: &'a Path) -> DirStat<'a> {
        DirStat { base, parent: None }
    }

    /// `lstat` of `base/rel` (not following a link at its end).
    pub fn lstat(&mut self, rel: &Path) -> io::Result<rustix::fs::Stat> {
        use rustix::fs::{AtFlags, CWD, Mode, OFlags};
        let whole = || rustix::fs::statat(CWD, self.base.join(rel), AtFlags::SYMLINK_NOFOLLOW);
        let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
            return Ok(whole()?);
        };
        if self.parent.as_ref().is_none_or(|(p, _)| p != parent) {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
            let fd = rustix::fs::openat(CWD, self.base.join(parent), flags, Mode::empty()).ok();
            self.parent = Some((parent.to_owned(), fd));
        }
        match &self.parent {
            Some((_, Some(fd))) => Ok(rustix::fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW)?),
            _ => Ok(whole()?),
        }
    }
}

/// The metadata of each path of a [`list`] (links not followed), on all cores, each file
/// advancing the step by one item and its size. What vanished since the listing is left out
/// silently; what cannot be read, with a warning.
pub fn examine(root: &Path, rels: &[PathBuf], rep: &mut Reporter) -> Result<Vec<Entry>, JobError> {
    let mut out = Vec::with_capacity(rels.len());
    let mut at = 0;
    par_chunks(
        rels,
        || DirStat::new(root),
        |dirs, rel| look(root, dirs, rel),
        |looked| {
            rep.checkpoint()?;
            for l in looked {
                let rel = &rels[at];
                at += 1;
                match l {
                    Looked::Entry(e) => {
                        if let EntryKind::File { size } = e.kind {
                            rep.advance(1, size);
                        }
                        out.push(e);
                    }
                    Looked::Gone => {}
                    Looked::Warn(message) => rep.warn(display(rel), message),
                    Looked::Fatal(e) => return Err(e),
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

/// How many items a worker of [`par_chunks`] takes at a time.
const PAR_CHUNK: usize = 512;

/// Runs `f` on every item on all cores, and hands the results to `take` on the calling
/// thread (which alone holds the reporter), one chunk at a time, in the items' order. A
/// scan's work per entry is a system call on a path: on a large tree those calls, not the
/// disk, are its time, and they run in parallel. An error from `take` (a cancel, say) stops
/// the workers after the chunk each is on.
pub fn par_chunks<T: Sync, R: Send, S>(
    items: &[T],
    state: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
    mut take: impl FnMut(Vec<R>) -> Result<(), JobError>,
) -> Result<(), JobError> {
    let serial = |take: &mut dyn FnMut(Vec<R>) -> Result<(), JobError>| {
        let mut st = state();
        items
            .chunks(PAR_CHUNK)
            .try_for_each(|chunk| take(chunk.iter().map(|t| f(&mut st, t)).collect()))
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if workers < 2 || items.len() <= PAR_CHUNK {
        return serial(&mut take);
    }
    let chunks: Vec<&[T]> = items.chunks(PAR_CHUNK).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Bounded: while `take` waits (a pause), the workers soon wait too.
        let (tx, rx) = mpsc::sync_channel::<(usize, Vec<R>)>(workers * 2);
        let mut spawned = 0;
        for _ in 0..workers {
            let (tx, chunks, next, stop, f) = (tx.clone(), &chunks, &next, &stop, &f);
            let state = &state;
            let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                let mut st = state();
                while !stop.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(chunk) = chunks.get(i) else { break };
                    if tx
                        .send((i, chunk.iter().map(|t| f(&mut st, t)).collect()))
                        .is_err()
                    {
                        break;
                    }
                }
            });
            // Out of threads: the ones that started do the work, or this one alone.
            spawned += usize::from(worker.is_ok());
        }
        drop(tx);
        if spawned == 0 {
            return serial(&mut take);
        }
        let mut early: std::collections::BTreeMap<usize, Vec<R>> = Default::default();
        let mut due = 0;
        let mut result = Ok(());
        'recv: for (i, out) in rx.iter() {
            early.insert(i, out);
            while let Some(out) = early.remove(&due) {
                due += 1;
                if let Err(e) = take(out) {
                    result = Err(e);
                    break 'recv;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        // Dropping the receiver fails the send of a worker that was waiting on it.
        drop(rx);
        result
    })
}

pub fn display(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

/// Marks a file as a partial write; cleaning up after a killed run looks for it.
const PARTIAL_MARK: &str = ".tidemark-partial-";
/// The longest file name most filesystems accept, in bytes.
const NAME_MAX: usize = 255;
/// Room for what follows the mark: `<pid>-<n>`, two integers of at most 10 and 20 digits.
const PARTIAL_SUFFIX_MAX: usize = 10 + 1 + 20;

/// How the temporary names of `name` begin: `.<name>.tidemark-partial-`. A name too long for
/// that to fit in a file name keeps its first bytes (cut at a character) and a hash of the
/// whole name, so the prefix stays the same for one name and tells apart two long names
/// that begin alike.
pub fn partial_prefix(name: &str) -> String {
    let room = NAME_MAX - 1 - PARTIAL_MARK.len() - PARTIAL_SUFFIX_MAX;
    if name.len() <= room {
        return format!(".{name}{PARTIAL_MARK}");
    }
    let hash = blake3::hash(name.as_bytes()).to_hex();
    let tag = &hash.as_str()[..16];
    let mut cut = room - 1 - tag.len();
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}~{tag}{PARTIAL_MARK}", &name[..cut])
}

/// Removes what a killed run left half-written: the temporary files of `name` in `dir`
/// (see [`partial_prefix`]), or any partial file under `dir` when `name` is `None`. Only
/// for a resumed run: a live run of another job may own a partial file of the same name.
pub fn remove_stale_partials(dir: &Path, name: Option<&str>) {
    let prefix = name.map(partial_prefix);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in fs::read_dir(&d).into_iter().flatten().flatten() {
            let file_name = item.file_name();
            let file_name = file_name.to_string_lossy();
            let stale = match &prefix {
                Some(p) => file_name.starts_with(p.as_str()),
                None => file_name.contains(PARTIAL_MARK),
            };
            let is_dir = item.file_type().is_ok_and(|t| t.is_dir());
            if stale && !is_dir {
                let _best_effort = fs::remove_file(item.path());
            } else if is_dir && prefix.is_none() {
                stack.push(item.path());
            }
        }
    }
}

/// A file being written under a hidden temporary name next to its final place. Dropped
/// without [`Partial::persist`], it removes itself: nothing half-written stays behind.
#[derive(Debug)]
pub struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Partial {
    /// Creates `dir/.<name>.tidemark-partial-<pid>-<n>` exclusively; its name fits in a
    /// file name whatever the length of `name` ([`partial_prefix`]).
    pub fn create(dir: &Path, name: &str) -> Result<(Partial, File), JobError> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(
            "{}{}-{n}",
            partial_prefix(name),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| JobError::writing(&path, e))?;
        Ok((Partial { path, armed: true }, file))
    }

    /// Takes charge of a complete file an earlier run left under its temporary name.
    pub fn adopt(path: PathBuf) -> Partial {
        Partial { path, armed: true }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished file to `dest`, replacing what is there.
    pub fn persist_replace(mut self, dest: &Path) -> Result<(), JobError> {
        fs::rename(&self.path, dest).map_err(|e| JobError::writing(dest, e))?;
        self.armed = false;
        Ok(())
    }

    /// Moves the finished file to `dest`, failing if something is already there; the file
    /// then stays in charge of this `Partial`, for another try under another name.
    pub fn persist_new(&mut self, dest: &Path) -> Result<(), JobError> {
        // A hard link is the portable no-clobber rename.
        match fs::hard_link(&self.path, dest) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(JobError::DestExists(dest.to_owned()));
            }
            Err(e) => return Err(JobError::writing(dest, e)),
        }
        let _ignored = fs::remove_file(&self.path);
        self.armed = false;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ignored = fs::remove_file(&self.path);
        }
    }
}

/// A file being written that is pushed to disk in the background as it grows, so the
/// `fsync` before publishing it has little left to do: without it, a machine with plenty of
/// memory holds the whole archive dirty in the page cache and that last `fsync` alone takes
/// seconds. A failed background flush is kept and returned by [`WriteBehind::finish`], since
/// a later `fsync` may report success for pages whose write-back already failed.
#[derive(Debug)]
pub struct WriteBehind {
    file: File,
    unflushed: u64,
    wake: Option<mpsc::SyncSender<()>>,
    flusher: Option<std::thread::JoinHandle<io::Result<()>>>,
}

/// How much is written between two background flushes.
const WRITE_BEHIND_STEP: u64 = 32 << 20;

impl WriteBehind {
    pub fn new(file: File) -> WriteBehind {
        // Without a second handle the file is only flushed at the end, as before.
        let (wake, flusher) = match file.try_clone() {
            Ok(clone) => {
                // One pending wake-up is enough: a flush writes everything dirty so far.
                let (tx, rx) = mpsc::sync_channel::<()>(1);
                let worker = std::thread::Builder::new()
                    .name("write-behind".into())
                    .spawn(move || {
                        for () in rx {
                            clone.sync_data()?;
                        }
                        Ok(())
                    });
                match worker {
                    Ok(handle) => (Some(tx), Some(handle)),
                    Err(_) => (None, None),
                }
            }
            Err(_) => (None, None),
        };
        WriteBehind {
            file,
            unflushed: 0,
            wake,
            flusher,
        }
    }

    /// Waits for the background flushes, then makes the whole file durable.
    pub fn finish(mut self) -> io::Result<File> {
        drop(self.wake.take());
        if let Some(flusher) = self.flusher.take() {
            flusher
                .join()
                .map_err(|_| io::Error::other("the background flush panicked"))??;
        }
        self.file.sync_all()?;
        Ok(self.file)
    }
}

impl Write for WriteBehind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.unflushed += n as u64;
        if self.unflushed >= WRITE_BEHIND_STEP {
            self.unflushed = 0;
            if let Some(wake) = &self.wake {
                // Full: a flush is already due, and it will cover this write too.
                let _ = wake.try_send(());
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A reader over one source file that yields exactly the size seen when the tree was
/// walked. A file that grew meanwhile yields its first `expected` bytes and says so
/// ([`ExactReader::grew`]), as `tar` archives a live log "changed as we read it". A file
/// that shrank, or failed to read, is an error, unless the reader pads: then the rest of
/// the expected bytes are zeros and [`ExactReader::short`] says why, since an archive whose
/// header already gave the size cannot take the entry back.
/// `on_bytes` sees every chunk (progress, pause, cancel). Errors are kept in `failure`, so
/// a caller handed back a bare `io::Error` by tar or zstd can tell them from errors of the
/// writer.
pub struct ExactReader<R, F> {
    inner: R,
    path: PathBuf,
    expected: u64,
    read: u64,
    on_bytes: F,
    pad: bool,
    /// Every expected byte was served and the end probed.
    ended: bool,
    grew: bool,
    short: Option<JobError>,
    pub failure: Option<JobError>,
}

impl<R, F> std::fmt::Debug for ExactReader<R, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExactReader")
            .field("path", &self.path)
            .field("read", &self.read)
            .finish()
    }
}

impl<R: Read, F: FnMut(u64) -> Result<(), JobError>> ExactReader<R, F> {
    pub fn new(inner: R, path: PathBuf, expected: u64, on_bytes: F) -> Self {
        Self {
            inner,
            path,
            expected,
            read: 0,
            on_bytes,
            pad: false,
            ended: false,
            grew: false,
            short: None,
            failure: None,
        }
    }

    /// A reader that pads a file that shrank or failed with zeros to its expected size.
    pub fn padding(mut self) -> Self {
        self.pad = true;
        self
    }

    /// The file holds more bytes than expected: only the expected ones were read.
    pub fn grew(&self) -> bool {
        self.grew
    }

    /// Why a padding reader served zeros for the end of the file, if it did.
    pub fn short(&mut self) -> Option<JobError> {
        self.short.take()
    }

    /// The error to report for an `io::Error` that came out of a pipeline this reader fed:
    /// the source's own failure if it had one, else whatever `otherwise` makes of it.
    pub fn blame(
        &mut self,
        err: io::Error,
        otherwise: impl FnOnce(io::Error) -> JobError,
    ) -> JobError {
        self.failure.take().unwrap_or_else(|| otherwise(err))
    }

    fn fail(&mut self, err: JobError) -> io::Error {
        let msg = err.to_string();
        self.failure = Some(err);
        io::Error::other(msg)
    }

    /// The source stopped short of the expected size: an error, or zeros from now on.
    fn stopped(&mut self, why: JobError) -> Result<(), io::Error> {
        if self.pad {
            self.short = Some(why);
            Ok(())
        } else {
            Err(self.fail(why))
        }
    }

    fn served(&mut self, n: usize) -> io::Result<usize> {
        self.read += n as u64;
        if let Err(e) = (self.on_bytes)(n as u64) {
            return Err(self.fail(e));
        }
        Ok(n)
    }
}

impl<R: Read, F: FnMut(u64) -> Result<(), JobError>> Read for ExactReader<R, F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.expected - self.read;
        if left == 0 {
            if !self.ended && self.short.is_none() {
                self.ended = true;
                // Probe one byte past the end: a file that grew must not pass as unchanged. A
                // failure here leaves the expected bytes, all read, as they are.
                let mut probe = [0u8; 1];
                self.grew = loop {
                    match self.inner.read(&mut probe) {
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        r => break matches!(r, Ok(n) if n > 0),
                    }
                };
            }
            return Ok(0);
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if self.short.is_some() {
            buf[..want].fill(0);
            return self.served(want);
        }
        match self.inner.read(&mut buf[..want]) {
            Ok(0) => {
                let what = format!("it shrank from {} to {} bytes", self.expected, self.read);
                let path = self.path.clone();
                self.stopped(JobError::SourceChanged { path, what })?;
                self.read(buf)
            }
            Ok(n) => self.served(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let path = self.path.clone();
                self.stopped(JobError::reading(&path, e))?;
                self.read(buf)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn read_all(data: &[u8], expected: u64) -> Result<Vec<u8>, JobError> {
        let mut r = ExactReader::new(data, PathBuf::from("f"), expected, |_| Ok(()));
        let mut out = Vec::new();
        match r.read_to_end(&mut out) {
            Ok(_) => Ok(out),
            Err(e) => Err(r.blame(e, |e| JobError::Io {
                context: "write".into(),
                source: e,
            })),
        }
    }

    #[test]
    fn a_file_of_the_expected_size_reads_whole() {
        assert_eq!(read_all(b"abcd", 4).expect("read"), b"abcd");
        assert_eq!(read_all(b"", 0).expect("read"), b"");
    }

    #[test]
    fn a_file_that_shrank_is_a_source_change() {
        let err = read_all(b"abc", 4).expect_err("size changed");
        assert_eq!(err.code(), ErrorCode::SourceChanged, "{err}");
    }

    #[test]
    fn a_file_that_grew_reads_as_listed_and_says_so() {
        let mut r = ExactReader::new(&b"abcdef"[..], PathBuf::from("f"), 4, |_| Ok(()));
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abcd");
        assert!(r.grew());
        let mut r = ExactReader::new(&b"abcd"[..], PathBuf::from("f"), 4, |_| Ok(()));
        r.read_to_end(&mut Vec::new()).expect("read");
        assert!(!r.grew());
    }

    #[test]
    fn a_padding_reader_fills_a_file_that_shrank_with_zeros_and_says_why() {
        let mut seen = 0;
        let mut r = ExactReader::new(&b"abc"[..], PathBuf::from("f"), 6, |n| {
            seen += n;
            Ok(())
        })
        .padding();
        let mut out = Vec::new();
        r.read_to_end(&mut out).expect("read");
        assert_eq!(out, b"abc\0\0\0");
        assert!(!r.grew());
        let why = r.short().expect("short");
        assert_eq!(why.code(), ErrorCode::SourceChanged, "{why}");
        assert!(why.to_string().contains("from 6 to 3"), "{why}");
        assert_eq!(seen, 6, "the zeros count as read");
    }

    #[test]
    fn a_vanished_file_is_a_source_change_and_a_denied_one_is_unreadable() {
        let gone = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(
            JobError::reading(Path::new("x"), gone).code(),
            ErrorCode::SourceChanged
        );
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(
            JobError::reading(Path::new("x"), denied).code(),
            ErrorCode::SourceUnreadable
        );
        let full = io::Error::from_raw_os_error(28);
        assert_eq!(
            JobError::writing(Path::new("x"), full).code(),
            ErrorCode::DiskFull
        );
    }

    #[test]
    fn a_partial_name_fits_beside_the_longest_names_and_is_cleaned_up_by_its_name() {
        let tmp = tempfile::tempdir().expect("tmp");
        // The longest legal names, of one-byte and of multi-byte characters, and two that
        // share their first 250 bytes.
        let long = "n".repeat(255);
        let wide = "é".repeat(127);
        let twin = format!("{}a", "n".repeat(250));
        let mut kept = Vec::new();
        for name in [&long, &wide, &twin, &"short".to_string()] {
            let (partial, mut file) = Partial::create(tmp.path(), name).expect("create");
            file.write_all(b"x").expect("write");
            let file_name = partial.path().file_name().expect("name").to_owned();
            assert!(file_name.len() <= NAME_MAX, "{}", file_name.len());
            assert!(
                file_name
                    .to_string_lossy()
                    .starts_with(&partial_prefix(name))
            );
            let mut partial = partial;
            partial
                .persist_new(&tmp.path().join(name))
                .expect("published under the long name");
            // What a killed run leaves behind.
            let stale = tmp
                .path()
                .join(format!("{}4294967295-7", partial_prefix(name)));
            fs::write(&stale, b"half").expect("stale");
            kept.push(stale);
        }
        assert_ne!(partial_prefix(&long), partial_prefix(&twin));
        // A resumed run cleans up the partials of its own name, and only those.
        let paths = kept;
        remove_stale_partials(tmp.path(), Some(&long));
        let exists: Vec<bool> = paths.iter().map(|p| p.exists()).collect();
        assert_eq!(exists, [false, true, true, true]);
        remove_stale_partials(tmp.path(), None);
        assert!(paths.iter().all(|p| !p.exists()));
        for name in [&long, &wide, &twin] {
            assert_eq!(fs::read(tmp.path().join(name)).expect("kept"), b"x");
        }
    }

    #[test]
    fn a_file_written_behind_holds_every_byte_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        let mut w = WriteBehind::new(File::create(&path).expect("create"));
        // Several background flushes' worth, in pieces that do not divide the step.
        let piece: Vec<u8> = (0..=250u8).cycle().take(3 << 20).collect();
        let pieces = (3 * WRITE_BEHIND_STEP as usize) / piece.len() + 2;
        for _ in 0..pieces {
            w.write_all(&piece).expect("write");
        }
        let file = w.finish().expect("finish");
        assert_eq!(
            file.metadata().expect("meta").len(),
            (pieces * piece.len()) as u64
        );
        let back = fs::read(&path).expect("read");
        assert!(back.chunks(piece.len()).all(|c| c == piece.as_slice()));
    }

    #[test]
    fn stats_relative_to_folders_agree_with_whole_paths() {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path();
        fs::create_dir_all(base.join("a/b")).expect("dirs");
        fs::write(base.join("top.txt"), b"1").expect("file");
        fs::write(base.join("a/one.txt"), b"22").expect("file");
        fs::write(base.join("a/b/two.txt"), b"333").expect("file");
        std::os::unix::fs::symlink("nowhere", base.join("a/link")).expect("link");
        let mut dirs = DirStat::new(base);
        // In a listing's order, with a parent left and come back to, and paths that fail.
        for rel in [
            "top.txt",
            "a",
            "a/one.txt",
            "a/link",
            "a/b",
            "a/b/two.txt",
            "a/one.txt",
            "a/gone.txt",
            "missing/x.txt",
            "top.txt",
            "top.txt/under-a-file",
        ] {
            let whole = fs::symlink_metadata(base.join(rel));
            match dirs.lstat(Path::new(rel)) {
                Ok(st) => {
                    let whole = whole.expect("both find it");
                    assert_eq!(Meta::of_stat(&st).mtime, Meta::of(&whole).mtime, "{rel}");
                    assert_eq!(st.st_size as u64, whole.len(), "{rel}");
                    assert_eq!(
                        rustix::fs::FileType::from_raw_mode(st.st_mode).is_symlink(),
                        whole.file_type().is_symlink(),
                        "{rel}: a link is not followed"
                    );
                }
                Err(e) => assert_eq!(
                    Some(e.kind()),
                    whole.err().map(|w| w.kind()),
                    "{rel}: the same error"
                ),
            }
        }
    }

    #[test]
    fn parallel_chunks_come_back_whole_and_in_order() {
        let items: Vec<u64> = (0..(PAR_CHUNK as u64 * 9 + 7)).collect();
        let mut seen = Vec::new();
        par_chunks(
            &items,
            || (),
            |_, n| n * 2,
            |chunk| {
                seen.extend(chunk);
                Ok(())
            },
        )
        .expect("all taken");
        assert_eq!(seen, items.iter().map(|n| n * 2).collect::<Vec<_>>());
    }

    #[test]
    fn an_error_from_the_taker_stops_parallel_chunks() {
        let items: Vec<u64> = (0..(PAR_CHUNK as u64 * 50)).collect();
        let mut taken = 0;
        let err = par_chunks(
            &items,
            || (),
            |_, n| *n,
            |_| {
                taken += 1;
                if taken == 2 {
                    Err(JobError::Cancelled)
                } else {
                    Ok(())
                }
            },
        )
        .expect_err("stopped");
        assert_eq!(err.code(), ErrorCode::Cancelled);
        assert_eq!(taken, 2, "nothing is taken after the error");
    }

    #[test]
    fn a_cancel_seen_by_the_reader_comes_out_as_cancelled() {
        let mut r = ExactReader::new(&b"abcd"[..], PathBuf::from("f"), 4, |_| {
            Err(JobError::Cancelled)
        });
        let err = r.read_to_end(&mut Vec::new()).expect_err("cancelled");
        let err = r.blame(err, |e| JobError::Io {
            context: "write".into(),
            source: e,
        });
        assert_eq!(err.code(), ErrorCode::Cancelled);
    }
}
