//! Writing one entry of an archive into the target: a file through a temporary name (hashed
//! as it is written, its runs of zeros left as holes), a link, a hard link, a folder (whose
//! mode and time are set once everything inside it is written).

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use filetime::FileTime;

use crate::error::JobError;
use crate::fsutil::{Meta, Partial};
use crate::platform::{self, Kind};
use crate::progress::Reporter;

/// The size of the blocks checked for zeros: a block of zeros is a hole in the file written,
/// as `tar --sparse` and `cp --sparse=auto` leave it, so a sparse file comes back sparse.
const BLOCK: usize = 4096;

/// What stands at an entry's place in the target before it is written.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Existing {
    Nothing,
    Folder,
    /// A file or link of this size and modification time (seconds).
    Other {
        size: u64,
        mtime: i64,
        link: bool,
    },
}

pub(crate) fn existing(path: &Path) -> Result<Existing, JobError> {
    match platform::lstat_path(path) {
        Ok(st) if st.kind == Kind::Dir => Ok(Existing::Folder),
        Ok(st) => Ok(Existing::Other {
            size: st.size,
            mtime: st.meta.mtime,
            link: st.kind == Kind::Symlink,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(JobError::writing(path, e)),
    }
}

/// A file's bytes: hashed, and written with holes where whole blocks are zeros. Blocks are
/// the file's own (offsets multiple of `BLOCK`), however the archive's stream cuts its data.
struct Sparse<'a> {
    out: &'a mut File,
    hasher: blake3::Hasher,
    /// The start of a block not yet whole.
    pending: Vec<u8>,
    /// Where the next block goes; past the written end after a hole.
    offset: u64,
    /// Where the written bytes end: a trailing hole is made by setting the length.
    written_end: u64,
}

impl<'a> Sparse<'a> {
    fn new(out: &'a mut File) -> Self {
        Sparse {
            out,
            hasher: blake3::Hasher::new(),
            pending: Vec::with_capacity(BLOCK),
            offset: 0,
            written_end: 0,
        }
    }

    fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.hasher.update(data);
        if !self.pending.is_empty() {
            let take = (BLOCK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < BLOCK {
                return Ok(());
            }
            let block = std::mem::take(&mut self.pending);
            self.put(&block)?;
            self.pending = block;
            self.pending.clear();
        }
        let whole = data.len() / BLOCK * BLOCK;
        self.put(&data[..whole])?;
        self.pending.extend_from_slice(&data[whole..]);
        Ok(())
    }

    /// Writes whole blocks (or the file's last piece), skipping those of zeros.
    fn put(&mut self, blocks: &[u8]) -> io::Result<()> {
        let mut rest = blocks;
        while !rest.is_empty() {
            let zeros = rest
                .chunks(BLOCK)
                .take_while(|b| b.len() == BLOCK && b.iter().all(|x| *x == 0))
                .count()
                * BLOCK;
            if zeros > 0 {
                self.offset += zeros as u64;
                rest = &rest[zeros..];
                continue;
            }
            let run = data_run(rest);
            if self.written_end != self.offset {
                self.out.seek(SeekFrom::Start(self.offset))?;
            }
            self.out.write_all(&rest[..run])?;
            self.offset += run as u64;
            self.written_end = self.offset;
            rest = &rest[run..];
        }
        Ok(())
    }

    fn finish(mut self) -> io::Result<blake3::Hash> {
        let tail = std::mem::take(&mut self.pending);
        if tail.iter().all(|b| *b == 0) {
            self.offset += tail.len() as u64;
        } else {
            self.put(&tail)?;
        }
        if self.written_end != self.offset {
            self.out.set_len(self.offset)?;
        }
        Ok(self.hasher.finalize())
    }
}

/// How many bytes of `data` (which starts on a block) to write before the next block of
/// zeros: whole blocks with data in them, and the tail after the last whole block.
fn data_run(data: &[u8]) -> usize {
    let mut n = 0;
    for block in data.chunks(BLOCK) {
        if block.len() == BLOCK && block.iter().all(|b| *b == 0) {
            break;
        }
        n += block.len();
    }
    n
}

/// Writes `data` as `dest` through a temporary name beside it. `expect` is checked before
/// the file takes its name: a file whose hash differs never appears. `Ok(false)`: without
/// `replace`, something appeared at its place meanwhile, and it stays.
#[allow(clippy::too_many_arguments)]
pub(crate) fn file(
    data: &mut dyn Read,
    dest: &Path,
    shown: &str,
    meta: &Meta,
    expect: Option<blake3::Hash>,
    replace: bool,
    buf: &mut [u8],
    rep: &mut Reporter,
    on_read: &mut dyn FnMut(&mut Reporter),
) -> Result<bool, JobError> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (mut partial, mut out) = Partial::create(dir, &name)?;
    let werr = |e: io::Error| JobError::writing(dest, e);
    let mut sparse = Sparse::new(&mut out);
    loop {
        let n = match data.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(JobError::Io {
                    context: READ_FAILED.into(),
                    source: e,
                });
            }
        };
        sparse.write(&buf[..n]).map_err(werr)?;
        on_read(rep);
        rep.checkpoint()?;
    }
    let hash = sparse.finish().map_err(werr)?;
    if let Some(expected) = expect
        && expected != hash
    {
        return Err(JobError::ChecksumMismatch {
            path: shown.to_owned(),
            expected: expected.to_hex().to_string(),
            actual: hash.to_hex().to_string(),
        });
    }
    platform::set_file_mode(&out, meta.mode).map_err(werr)?;
    // Through the open file: no second lookup of its path.
    filetime::set_file_handle_times(&out, None, Some(meta.filetime())).map_err(werr)?;
    drop(out);
    if replace {
        partial.persist_replace(dest)?;
        return Ok(true);
    }
    match partial.persist_new(dest) {
        Ok(()) => Ok(true),
        Err(JobError::DestExists(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Marks an error of the archive's stream met while writing a file, for the caller to
/// tell it apart from a write error and say what the archive's problem is.
pub(crate) const READ_FAILED: &str = "reading the archive";

/// Makes the link `dest` → `target` through a temporary name. `Ok(Some(note))`: this
/// platform or file system could not make it (Windows without the privilege).
pub(crate) fn symlink(
    dest: &Path,
    target: &Path,
    meta: &Meta,
    replace: bool,
) -> Result<Option<String>, JobError> {
    let tmp = temp_beside(dest, "link");
    let _stale = fs::remove_file(&tmp);
    match platform::symlink(target, &tmp) {
        Ok(()) => {}
        Err(e) if platform::link_needs_privilege(&e) => {
            return Ok(Some(format!("link not created: {e}")));
        }
        Err(e) => return Err(JobError::writing(dest, e)),
    }
    let placed = platform::set_link_mtime(&tmp, meta).and_then(|()| {
        if replace {
            fs::rename(&tmp, dest)
        } else {
            platform::rename_no_replace(&tmp, dest)
        }
    });
    placed.map(|()| None).map_err(|e| {
        let _cleanup = fs::remove_file(&tmp);
        JobError::writing(dest, e)
    })
}

/// Makes `dest` another name of the file at `source` (both in the target).
pub(crate) fn hard_link(dest: &Path, source: &Path, replace: bool) -> Result<(), JobError> {
    let tmp = temp_beside(dest, "hardlink");
    let _stale = fs::remove_file(&tmp);
    fs::hard_link(source, &tmp).map_err(|e| JobError::writing(dest, e))?;
    let placed = if replace {
        fs::rename(&tmp, dest)
    } else {
        platform::rename_no_replace(&tmp, dest)
    };
    placed.map_err(|e| {
        let _cleanup = fs::remove_file(&tmp);
        JobError::writing(dest, e)
    })
}

/// A temporary name beside `dest` that a resumed run's cleanup recognises.
fn temp_beside(dest: &Path, what: &str) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(
        "{}{what}-{}",
        crate::fsutil::partial_prefix(&name),
        std::process::id()
    ))
}

/// A folder's mode and time, set once everything inside it is written (writing into a
/// folder changes its time, and a read-only folder could not be written into).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct FolderMeta {
    pub(crate) rel: PathBuf,
    pub(crate) mode: u32,
    pub(crate) mtime: i64,
}

/// Sets each folder's mode and time, deepest first.
pub(crate) fn finish_folders(root: &Path, folders: &[FolderMeta], rep: &mut Reporter) {
    let mut order: Vec<&FolderMeta> = folders.iter().collect();
    order.sort_by_key(|f| std::cmp::Reverse(f.rel.components().count()));
    for f in order {
        let path = root.join(&f.rel);
        // Only a real folder: never follow a link put in its place.
        if !matches!(existing(&path), Ok(Existing::Folder)) {
            continue;
        }
        let set = platform::set_mode(&path, f.mode)
            .and_then(|()| filetime::set_file_mtime(&path, FileTime::from_unix_time(f.mtime, 0)));
        if let Err(e) = set {
            rep.warn(
                crate::fsutil::display(&f.rel),
                format!("its mode and time were not set: {e}"),
            );
        }
        rep.advance(1, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn blocks_of_zeros_become_holes_and_the_hash_is_of_every_byte() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().expect("tmp");
        let path = tmp.path().join("sparse");
        let mut data = vec![0u8; 8 << 20];
        data[..10].copy_from_slice(b"0123456789");
        let mid = 4 << 20;
        data[mid..mid + 5].copy_from_slice(b"hello");
        let mut out = File::create(&path).expect("create");
        let mut s = Sparse::new(&mut out);
        // In odd pieces, as a tar stream hands them over.
        for piece in data.chunks(10_001) {
            s.write(piece).expect("write");
        }
        let hash = s.finish().expect("finish");
        drop(out);
        assert_eq!(hash, blake3::hash(&data));
        assert_eq!(fs::read(&path).expect("read"), data);
        let m = fs::metadata(&path).expect("stat");
        assert!(
            m.blocks() * 512 <= 64 << 10,
            "{} blocks on disk",
            m.blocks()
        );
    }

    #[test]
    fn a_run_of_data_stops_at_the_next_block_of_zeros() {
        let mut d = vec![1u8; BLOCK * 2];
        d.extend(vec![0u8; BLOCK]);
        d.extend(vec![1u8; 10]);
        assert_eq!(data_run(&d), BLOCK * 2);
        assert_eq!(data_run(&[1u8; 10]), 10);
        assert_eq!(data_run(&[0u8; 10]), 10);
    }
}
