//! A walk of a source tree beside its mirror, one folder per task on all cores: each task
//! lists a folder, `lstat`s every name in it relative to the folder's descriptor, and
//! compares each regular file with the mirror's same path. A sync where nothing changed is
//! nothing but these calls (two per file), so they are spread over the cores from the first
//! folder on, with no single-threaded listing before them.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, mpsc};

use crate::error::JobError;
use crate::fsutil::{Entry, EntryKind, Meta, display};
use crate::platform::{self, Dir, Kind};
use crate::progress::Reporter;

/// A source tree as [`walk`] found it.
#[derive(Debug)]
pub struct Walked {
    /// In [`crate::fsutil::list`]'s order: the root (empty path) first, parents before
    /// children, names sorted (bytewise) so runs are repeatable.
    pub entries: Vec<Entry>,
    /// For each entry: it is a regular file and the mirror holds a regular file at the same
    /// path with the same size and modification time.
    pub fresh: Vec<bool>,
}

/// Walks `root` (links recorded, never followed; FIFOs, sockets and devices skipped with a
/// warning, as reading a FIFO would block forever; a folder that cannot be listed is a
/// warning) and compares each regular file with the one at the same path under `mirror`.
/// Each file found advances the step by one item and its size. What vanishes while the walk
/// runs is left out silently. Warnings name paths under `label` (a sync's source name).
pub fn walk(
    root: &Path,
    mirror: &Path,
    label: &Path,
    rep: &mut Reporter,
) -> Result<Walked, JobError> {
    let meta = fs::metadata(root).map_err(|e| JobError::SourceUnreadable {
        path: root.into(),
        source: e,
    })?;
    let tree = Tree {
        root,
        mirror,
        next_id: AtomicUsize::new(1),
    };
    let mut listed: Vec<Option<Listed>> = Vec::new();
    let mut take = |l: Listed| -> Result<(), JobError> {
        rep.checkpoint()?;
        if let Some(e) = l.fatal {
            return Err(e);
        }
        for item in &l.items {
            if let Found::Entry(EntryKind::File { size }, _) | Found::FreshFile(size, _) =
                item.found
            {
                rep.advance(1, size);
            }
        }
        let id = l.id;
        if listed.len() <= id {
            listed.resize_with(id + 1, || None);
        }
        listed[id] = Some(l);
        Ok(())
    };
    let root_folder = Folder {
        id: 0,
        rel: PathBuf::new(),
        mirror_below: true,
    };
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if workers < 2 || !in_parallel(&tree, root_folder.clone(), workers, &mut take)? {
        let mut stack = vec![root_folder];
        while let Some(folder) = stack.pop() {
            let (l, subfolders) = tree.list(&folder);
            take(l)?;
            stack.extend(subfolders);
        }
    }
    Ok(assemble(Meta::of(&meta), listed, label, rep))
}

/// Lists the tree on `workers` threads, handing each folder's listing to `take` on this
/// thread (which alone holds the reporter). `Ok(false)`: no thread could be started.
fn in_parallel(
    tree: &Tree,
    root: Folder,
    workers: usize,
    take: &mut dyn FnMut(Listed) -> Result<(), JobError>,
) -> Result<bool, JobError> {
    let queue = Mutex::new(Queue {
        todo: vec![root],
        pending: 1,
    });
    let wake = Condvar::new();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Bounded: while `take` waits (a pause), the workers soon wait too.
        let (tx, rx) = mpsc::sync_channel::<Listed>(workers * 4);
        let mut spawned = 0;
        let priority = crate::platform::priority::inherit();
        for _ in 0..workers {
            let (tx, queue, wake, stop) = (tx.clone(), &queue, &wake, &stop);
            let worker = std::thread::Builder::new().spawn_scoped(s, move || {
                priority.apply();
                while let Some(folder) = next_folder(queue, wake, stop) {
                    let (listed, subfolders) = tree.list(&folder);
                    {
                        let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
                        q.pending += subfolders.len();
                        q.pending -= 1;
                        // Reversed so a worker goes on with the first of them (less to hold).
                        q.todo.extend(subfolders.into_iter().rev());
                    }
                    wake.notify_all();
                    if tx.send(listed).is_err() {
                        break;
                    }
                }
            });
            spawned += usize::from(worker.is_ok());
        }
        drop(tx);
        if spawned == 0 {
            return Ok(false);
        }
        let mut result = Ok(true);
        for listed in rx.iter() {
            if let Err(e) = take(listed) {
                result = Err(e);
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
        {
            // Under the lock, so a worker about to wait sees `stop` or gets the wake-up.
            let _q = queue.lock().unwrap_or_else(|p| p.into_inner());
            wake.notify_all();
        }
        // Dropping the receiver fails the send of a worker that was waiting on it.
        drop(rx);
        result
    })
}

struct Queue {
    todo: Vec<Folder>,
    /// Folders handed out or waiting whose listing is not finished: at 0 the walk is done.
    pending: usize,
}

fn next_folder(queue: &Mutex<Queue>, wake: &Condvar, stop: &AtomicBool) -> Option<Folder> {
    let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        if stop.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(f) = q.todo.pop() {
            return Some(f);
        }
        if q.pending == 0 {
            return None;
        }
        q = wake.wait(q).unwrap_or_else(|p| p.into_inner());
    }
}

#[derive(Debug, Clone)]
struct Folder {
    id: usize,
    rel: PathBuf,
    /// The mirror's folders down to this one's parent are folders, not links: a link there
    /// leads out of the mirror, and the sync replaces it with a folder, empty.
    mirror_below: bool,
}

/// One folder's listing, its names in order.
struct Listed {
    id: usize,
    /// Only for the root: it could not be listed.
    fatal: Option<JobError>,
    /// The folder could not be listed (or not to its end).
    warning: Option<String>,
    items: Vec<Item>,
}

struct Item {
    name: OsString,
    found: Found,
}

enum Found {
    /// Anything but a folder or a file the mirror already holds.
    Entry(EntryKind, Meta),
    /// With the id of its own listing.
    Folder(usize, Meta),
    /// A regular file (of this size) the mirror holds as it is.
    FreshFile(u64, Meta),
    Warn(String),
}

struct Tree<'a> {
    root: &'a Path,
    mirror: &'a Path,
    next_id: AtomicUsize,
}

impl Tree<'_> {
    fn list(&self, folder: &Folder) -> (Listed, Vec<Folder>) {
        let mut listed = Listed {
            id: folder.id,
            fatal: None,
            warning: None,
            items: Vec::new(),
        };
        let path = self.root.join(&folder.rel);
        let is_root = folder.rel.as_os_str().is_empty();
        // The root may be reached through a link; below it a folder replaced by a link since
        // its `lstat` must not lead the walk out of the tree.
        let mut dir = match Dir::open(&path, is_root) {
            Ok(d) => d,
            Err(e) if is_root => {
                listed.fatal = Some(JobError::SourceUnreadable { path, source: e });
                return (listed, Vec::new());
            }
            Err(e) => {
                listed.warning = Some(format!(
                    "cannot list folder, its contents are left out: {e}"
                ));
                return (listed, Vec::new());
            }
        };
        let (mut names, failed) = dir.names();
        if let Some(e) = failed {
            listed.warning = Some(format!("cannot list folder: {e}"));
        }
        names.sort_unstable();
        let mirror = folder
            .mirror_below
            .then(|| Dir::open(&self.mirror.join(&folder.rel), false).ok())
            .flatten();
        let mut subfolders = Vec::new();
        listed.items.reserve(names.len());
        for name in names {
            if let Some(why) = platform::name_problem(&name) {
                let found = Found::Warn(format!("skipped: {why}"));
                listed.items.push(Item { name, found });
                continue;
            }
            let st = match dir.lstat(&name) {
                Ok(st) => st,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let found = Found::Warn(format!("cannot read: {e}"));
                    listed.items.push(Item { name, found });
                    continue;
                }
            };
            let meta = st.meta;
            let found = match st.kind {
                Kind::Dir => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    subfolders.push(Folder {
                        id,
                        rel: folder.rel.join(&name),
                        mirror_below: mirror.is_some(),
                    });
                    Found::Folder(id, meta)
                }
                Kind::File => {
                    let size = st.size;
                    if mirror
                        .as_ref()
                        .is_some_and(|m| same_file(m, &name, size, &meta))
                    {
                        Found::FreshFile(size, meta)
                    } else {
                        Found::Entry(EntryKind::File { size }, meta)
                    }
                }
                Kind::Symlink => match dir.read_link(&name) {
                    Ok(target) => Found::Entry(EntryKind::Symlink { target }, meta),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => Found::Warn(format!("cannot read link: {e}")),
                },
                Kind::Other => Found::Warn("skipped: not a regular file, folder or link".into()),
            };
            listed.items.push(Item { name, found });
        }
        (listed, subfolders)
    }
}

/// The mirror's `name` in the folder `dir` is a regular file of this size and time.
fn same_file(dir: &Dir, name: &OsStr, size: u64, meta: &Meta) -> bool {
    dir.lstat(name).is_ok_and(|d| {
        d.kind == Kind::File && d.size == size && d.meta.filetime() == meta.filetime()
    })
}

/// Puts the folders' listings in the walk's order (that of [`crate::fsutil::list`]: a folder's
/// names together, then its subfolders in turn), giving each entry its path; warnings go out
/// in that order too, so runs are repeatable.
fn assemble(
    root: Meta,
    mut listed: Vec<Option<Listed>>,
    label: &Path,
    rep: &mut Reporter,
) -> Walked {
    let mut entries = vec![Entry {
        rel: PathBuf::new(),
        kind: EntryKind::Dir,
        meta: root,
    }];
    let mut fresh = vec![false];
    let mut stack = vec![(0, PathBuf::new())];
    while let Some((id, dir)) = stack.pop() {
        let Some(l) = listed.get_mut(id).and_then(Option::take) else {
            continue;
        };
        if let Some(w) = l.warning {
            rep.warn(display(&label.join(&dir)), w);
        }
        let mut subfolders = Vec::new();
        for item in l.items {
            let rel = dir.join(&item.name);
            let (kind, meta, is_fresh) = match item.found {
                Found::Warn(w) => {
                    rep.warn(display(&label.join(&rel)), w);
                    continue;
                }
                Found::Entry(kind, meta) => (kind, meta, false),
                Found::FreshFile(size, meta) => (EntryKind::File { size }, meta, true),
                Found::Folder(id, meta) => {
                    subfolders.push((id, rel.clone()));
                    (EntryKind::Dir, meta, false)
                }
            };
            entries.push(Entry { rel, kind, meta });
            fresh.push(is_fresh);
        }
        // Reversed so the stack pops them in order.
        stack.extend(subfolders.into_iter().rev());
    }
    Walked { entries, fresh }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::control::Control;
    use crate::event::{JobKind, Step};
    #[cfg(unix)]
    use crate::fsutil;
    use crate::log::EventLog;
    use crate::progress::StepPlan;

    fn reporter(control: Control) -> Reporter {
        let plan = StepPlan(vec![(Step::Waiting, 0.0), (Step::Scanning, 1.0)]);
        let mut rep = Reporter::new("j", JobKind::Sync, EventLog::new(), control, plan);
        rep.start_step(Step::Scanning, None, None);
        rep
    }

    fn file(path: &Path, len: usize) {
        fs::create_dir_all(path.parent().expect("parent")).expect("dirs");
        fs::write(path, vec![b'x'; len]).expect("file");
    }

    /// Folders wide and deep, links, a FIFO, an empty folder: enough folders that the
    /// workers take them in an order of their own.
    fn tree(root: &Path) -> (u64, u64) {
        let (mut files, mut bytes) = (0, 0);
        for d in 0..30 {
            for f in 0..(d % 4) {
                let len = d * 10 + f;
                file(&root.join(format!("d{d:02}/f{f}")), len);
                (files, bytes) = (files + 1, bytes + len as u64);
            }
        }
        file(&root.join("deep/a/b/c/d/e/leaf"), 5);
        file(&root.join("deep/a/b/z"), 6);
        file(&root.join("top"), 7);
        (files, bytes) = (files + 3, bytes + 18);
        fs::create_dir_all(root.join("empty")).expect("dir");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("top", root.join("d01/link")).expect("link");
            std::os::unix::fs::symlink("deep", root.join("folder-link")).expect("link");
            // mkfifo(1): the same on Linux and macOS, where rustix has no `mknodat`.
            let made = std::process::Command::new("mkfifo")
                .arg(root.join("d02/pipe"))
                .status()
                .expect("mkfifo");
            assert!(made.success(), "mkfifo");
        }
        (files, bytes)
    }

    /// Links and a FIFO are part of the tree: Unix only.
    #[cfg(unix)]
    #[test]
    fn a_walk_finds_what_a_listing_and_its_stats_find_in_the_same_order() {
        let tmp = tempfile::tempdir().expect("tmp");
        let src = tmp.path().join("src");
        let (files, bytes) = tree(&src);

        let mut rep = reporter(Control::new());
        let walked =
            walk(&src, &tmp.path().join("no-mirror"), Path::new(""), &mut rep).expect("walk");
        let (processed, bytes_done) = (rep.processed(), rep.bytes_done());
        let warnings = rep.warnings().to_vec();

        // The oracle: the snapshot's listing, then the stat of each listed path.
        let mut rep = reporter(Control::new());
        let listing = fsutil::list(&src, &mut rep, false).expect("list");
        let examined = fsutil::examine(&src, &listing.rels, &mut rep).expect("examine");

        let shape = |e: &Entry| (e.rel.clone(), format!("{:?}", e.kind), e.meta);
        assert_eq!(
            walked.entries.iter().map(shape).collect::<Vec<_>>(),
            examined.iter().map(shape).collect::<Vec<_>>()
        );
        assert!(
            walked
                .entries
                .iter()
                .any(|e| e.rel == Path::new("folder-link")
                    && matches!(e.kind, EntryKind::Symlink { .. }))
        );
        assert_eq!(warnings, rep.warnings(), "the FIFO is warned about, once");
        assert_eq!(warnings.len(), 1);
        assert_eq!((processed, bytes_done), (files, bytes));
        assert_eq!(walked.fresh, vec![false; walked.entries.len()], "no mirror");
    }

    #[cfg(unix)]
    #[test]
    fn a_file_is_fresh_only_where_the_mirror_holds_it_with_its_size_and_time() {
        let tmp = tempfile::tempdir().expect("tmp");
        let (src, mirror) = (tmp.path().join("src"), tmp.path().join("mirror"));
        let names = [
            "same",
            "missing",
            "longer",
            "newer",
            "a-folder",
            "a-link",
            "in/linked",
            "in/deeper/linked",
            "ok/same",
        ];
        for name in names {
            file(&src.join(name), 4);
        }
        let copy = |to: &Path, name: &str, len: usize| {
            file(&to.join(name), len);
            let t = fs::metadata(src.join(name)).expect("meta");
            let t = filetime::FileTime::from_last_modification_time(&t);
            filetime::set_file_times(to.join(name), t, t).expect("times");
        };
        copy(&mirror, "same", 4);
        copy(&mirror, "longer", 5);
        copy(&mirror, "ok/same", 4);
        file(&mirror.join("newer"), 4);
        filetime::set_file_mtime(
            mirror.join("newer"),
            filetime::FileTime::from_unix_time(9, 0),
        )
        .expect("time");
        fs::create_dir_all(mirror.join("a-folder")).expect("dir");
        // Links to the same files: the mirror does not hold them itself (syncing into the
        // link `in` would write outside the mirror).
        let outside = tmp.path().join("outside");
        copy(&outside, "a-link", 4);
        std::os::unix::fs::symlink(outside.join("a-link"), mirror.join("a-link")).expect("link");
        copy(&outside, "in/linked", 4);
        copy(&outside, "in/deeper/linked", 4);
        std::os::unix::fs::symlink(outside.join("in"), mirror.join("in")).expect("link");

        let walked =
            walk(&src, &mirror, Path::new(""), &mut reporter(Control::new())).expect("walk");
        let fresh: Vec<_> = walked
            .entries
            .iter()
            .zip(&walked.fresh)
            .filter(|(_, f)| **f)
            .map(|(e, _)| e.rel.to_string_lossy().into_owned())
            .collect();
        assert_eq!(fresh, ["same", "ok/same"]);
    }

    #[test]
    fn a_cancelled_walk_ends_cancelled_and_a_missing_root_unreadable() {
        let tmp = tempfile::tempdir().expect("tmp");
        tree(&tmp.path().join("src"));
        let control = Control::new();
        control.cancel();
        let cancelled = walk(
            &tmp.path().join("src"),
            tmp.path(),
            Path::new(""),
            &mut reporter(control),
        );
        assert!(
            matches!(cancelled, Err(JobError::Cancelled)),
            "{cancelled:?}"
        );
        let missing = walk(
            &tmp.path().join("gone"),
            tmp.path(),
            Path::new(""),
            &mut reporter(Control::new()),
        );
        assert!(
            matches!(missing, Err(JobError::SourceUnreadable { .. })),
            "{missing:?}"
        );
    }
}
