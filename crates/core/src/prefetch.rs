//! Small files read and hashed ahead of the archive, on other threads. A tree of many small
//! files costs an open, reads and a close per file: done one after the other on the thread
//! that feeds the archive, those system calls left the cores half idle while the compressor
//! waited for input. Readers here do them in parallel, a bounded number of bytes ahead, and
//! hand the files over in the order the archive needs them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::error::JobError;
use crate::fsutil::ExactReader;

/// Files up to this size are read ahead; larger ones are streamed by the archive's thread.
pub const SMALL_FILE: u64 = 256 * 1024;
/// Bytes read ahead and not yet taken, at most (one file alone may exceed it).
const BUDGET: u64 = 8 << 20;

/// One file read ahead.
#[derive(Debug)]
pub enum Fetched {
    /// Its content of the size the scan saw, and its BLAKE3; `grew`: the file had more by
    /// then, left unread.
    Read {
        data: Vec<u8>,
        hash: [u8; 32],
        grew: bool,
    },
    /// It could not be read whole (denied, vanished, shrunk, a read error): it is left out
    /// with a warning. Read before its archive entry begins, it leaves nothing behind.
    LeftOut(JobError),
}

struct State {
    /// The next position of `files` a reader claims.
    next: usize,
    /// Bytes claimed and not yet taken.
    in_flight: u64,
    /// Files read and not yet taken, by position.
    done: BTreeMap<usize, Fetched>,
    stop: bool,
}

/// Reads `files` (paths under `root`, with the sizes the scan saw) on `readers` threads, in
/// order of position, at most [`BUDGET`] bytes ahead of [`Prefetch::take`].
pub struct Prefetch<'a> {
    root: &'a Path,
    files: &'a [(&'a Path, u64)],
    state: Mutex<State>,
    /// Signalled when a file is read, taken, or the readers must stop.
    changed: Condvar,
}

impl std::fmt::Debug for Prefetch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefetch")
            .field("files", &self.files.len())
            .finish()
    }
}

impl<'a> Prefetch<'a> {
    pub fn new(root: &'a Path, files: &'a [(&'a Path, u64)]) -> Prefetch<'a> {
        Prefetch {
            root,
            files,
            state: Mutex::new(State {
                next: 0,
                in_flight: 0,
                done: BTreeMap::new(),
                stop: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A reader that panicked left the state consistent: every change is one statement.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A reader thread's loop: claim the next file when the budget allows, read it, repeat.
    /// Claims are made in order, so the file [`Self::take`] waits for is never held back by
    /// later ones filling the budget.
    pub fn read_ahead(&self) {
        loop {
            let (pos, rel, size) = {
                let mut st = self.lock();
                loop {
                    if st.stop || st.next >= self.files.len() {
                        return;
                    }
                    let size = self.files[st.next].1;
                    if st.in_flight == 0 || st.in_flight + size <= BUDGET {
                        break;
                    }
                    st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                let pos = st.next;
                st.next += 1;
                let (rel, size) = &self.files[pos];
                st.in_flight += size;
                (pos, rel, *size)
            };
            let fetched = read_one(&self.root.join(rel), size);
            self.lock().done.insert(pos, fetched);
            self.changed.notify_all();
        }
    }

    /// The file at `pos`, waiting for a reader to finish it. Positions are taken in order.
    pub fn take(&self, pos: usize) -> Fetched {
        let mut st = self.lock();
        loop {
            if let Some(fetched) = st.done.remove(&pos) {
                st.in_flight -= self.files[pos].1;
                drop(st);
                self.changed.notify_all();
                return fetched;
            }
            st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Stops the readers after the file each is on (the archive ended or failed).
    pub fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }

    /// Stops the readers when dropped: a scope that spawned them and is left by an error or
    /// a panic would otherwise wait for them forever.
    pub fn stop_on_drop(&self) -> StopOnDrop<'_, 'a> {
        StopOnDrop(self)
    }
}

#[derive(Debug)]
pub struct StopOnDrop<'p, 'a>(&'p Prefetch<'a>);

impl Drop for StopOnDrop<'_, '_> {
    fn drop(&mut self) {
        self.0.stop();
    }
}

fn read_one(path: &Path, size: u64) -> Fetched {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return Fetched::LeftOut(JobError::reading(path, e)),
    };
    let mut reader = ExactReader::new(file, path.to_owned(), size, |_| Ok(()));
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    match reader.read_to_end(&mut data) {
        Ok(_) => Fetched::Read {
            hash: *blake3::hash(&data).as_bytes(),
            grew: reader.grew(),
            data,
        },
        Err(e) => Fetched::LeftOut(reader.blame(e, |e| JobError::reading(path, e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use std::path::PathBuf;

    fn borrowed(files: &[(PathBuf, u64)]) -> Vec<(&Path, u64)> {
        files.iter().map(|(p, n)| (p.as_path(), *n)).collect()
    }

    #[test]
    fn files_come_back_in_order_whole_and_hashed_or_with_their_failure() {
        let tmp = tempfile::tempdir().expect("tmp");
        let mut files = Vec::new();
        for i in 0..300u64 {
            // Sizes around the budget's scale too, so readers wait on it.
            let size = if i % 50 == 0 { BUDGET / 3 } else { i * 37 };
            let data: Vec<u8> = (0..size).map(|b| (b * 7 + i) as u8).collect();
            std::fs::write(tmp.path().join(format!("f{i}")), &data).expect("write");
            files.push((PathBuf::from(format!("f{i}")), size));
        }
        // One listed bigger than it is, one gone since the scan, one listed smaller.
        files[7].1 += 1;
        files[8].0 = PathBuf::from("gone");
        files[9].1 -= 1;
        let listed = borrowed(&files);
        let prefetch = Prefetch::new(tmp.path(), &listed);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| prefetch.read_ahead());
            }
            let _stop = prefetch.stop_on_drop();
            for (pos, (rel, size)) in files.iter().enumerate() {
                match prefetch.take(pos) {
                    Fetched::Read { data, hash, grew } => {
                        let on_disk = std::fs::read(tmp.path().join(rel)).expect("read");
                        // Longer than the scan saw: the bytes listed, and a word about it.
                        let listed = &on_disk[..*size as usize];
                        assert_eq!(data, listed, "{rel:?}");
                        assert_eq!(grew, pos == 9, "{rel:?}");
                        assert_eq!(hash, *blake3::hash(listed).as_bytes());
                    }
                    // Shorter than the scan saw, or gone since: left out, the source changed.
                    Fetched::LeftOut(e) if pos == 7 || pos == 8 => {
                        assert_eq!(e.code(), ErrorCode::SourceChanged, "{e}")
                    }
                    other => panic!("{rel:?}: {other:?}"),
                }
            }
        });
    }

    #[test]
    fn stopping_ends_the_readers_with_files_left() {
        let tmp = tempfile::tempdir().expect("tmp");
        let files: Vec<(PathBuf, u64)> = (0..100)
            .map(|i| {
                std::fs::write(tmp.path().join(format!("f{i}")), vec![1u8; 1 << 20])
                    .expect("write");
                (PathBuf::from(format!("f{i}")), 1 << 20)
            })
            .collect();
        let listed = borrowed(&files);
        let prefetch = Prefetch::new(tmp.path(), &listed);
        std::thread::scope(|s| {
            let readers: Vec<_> = (0..2).map(|_| s.spawn(|| prefetch.read_ahead())).collect();
            assert!(matches!(prefetch.take(0), Fetched::Read { .. }));
            // Readers blocked on the budget must wake up and end.
            prefetch.stop();
            for r in readers {
                r.join().expect("a reader ends");
            }
        });
    }
}
