//! The archive: tar + zstd of a walk, each file hashed as it is read.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::JobError;
use crate::fsutil::{self, Entry, EntryKind, ExactReader, Partial, WriteBehind};
use crate::prefetch::{self, Fetched, Prefetch};
use crate::progress::{Reporter, group_digits};
use crate::snapshot::manifest::ManifestEntry;

/// Counts what reaches the archive file, for the delivery step's size.
pub(super) struct Counting<W> {
    pub(super) inner: W,
    pub(super) written: u64,
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
pub(super) struct Archived {
    pub(super) partial: Partial,
    pub(super) len: u64,
    pub(super) files: Vec<ManifestEntry>,
    /// Files left out, as indices into the walk.
    pub(super) excluded: Vec<usize>,
}

/// Reads a source file in large chunks, hashing each chunk as it arrives: `tar` copies
/// through a small buffer, and a read and a hash update per 8 KiB would cost more system
/// calls and slower hashing than one per chunk.
pub(super) struct Hashing<'b, R> {
    pub(super) inner: R,
    pub(super) chunk: &'b mut [u8],
    pub(super) pos: usize,
    pub(super) len: usize,
    pub(super) hasher: blake3::Hasher,
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
pub(super) fn leave_out(
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
pub(super) fn grew_warning(rep: &mut Reporter, entry: &Entry, size: u64) {
    rep.warn(
        fsutil::display(&entry.rel),
        format!(
            "it changed as it was read (it grew); archived as listed, its first {} bytes",
            group_digits(size)
        ),
    );
}

/// The manifest names a file by its index in the walk, kept as a `u32`.
pub(super) fn manifest_index(i: usize) -> Result<u32, JobError> {
    u32::try_from(i)
        .map_err(|_| JobError::InvalidInput("more than 4 billion entries in the source".into()))
}

/// Archives `entries` into `<work_dir>/<archive_name>` (temporary name), hashing each file
/// on the way. A file that cannot be read is left out with a warning; one that grew is
/// archived as listed, with a warning. A file that stops short once its entry has begun
/// (the header gives its size) is padded with zeros, as GNU tar does, and left out of the
/// manifest, with a warning saying so. Failures to write stop the snapshot.
pub(super) fn compress(
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
    let priority = crate::platform::priority::inherit();
    std::thread::scope(|s| -> Result<(), JobError> {
        let readers = (0..threads)
            .filter(|_| {
                let started = std::thread::Builder::new()
                    .name("tidemark-read".into())
                    .spawn_scoped(s, || {
                        priority.apply();
                        ahead.read_ahead()
                    });
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
    use crate::event::Step;
    use crate::progress::StepPlan;

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
}
