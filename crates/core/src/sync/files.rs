//! Writing one entry of a mirror: a folder, a link, a file through a temporary name.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::error::JobError;
use crate::fsutil::{ExactReader, Meta, Partial};
use crate::platform;
use crate::progress::{Reporter, group_digits};

pub(super) fn ensure_dir(dest: &Path) -> Result<(), JobError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => fs::remove_file(dest).map_err(|e| JobError::writing(dest, e))?,
        Err(_) => {}
    }
    fs::create_dir_all(dest).map_err(|e| JobError::writing(dest, e))
}

/// `Ok(Some(note))`: the link could not be made for want of a right (Windows without the
/// privilege, a file system without links), which concerns this link only.
pub(super) fn ensure_symlink(dest: &Path, target: &Path, meta: &Meta) -> Result<Option<String>, JobError> {
    if fs::read_link(dest).is_ok_and(|existing| existing == target) {
        let now = fs::symlink_metadata(dest).ok().map(|m| Meta::of(&m));
        if now.is_none_or(|m| m.filetime() != meta.filetime()) {
            platform::set_link_mtime(dest, meta).map_err(|e| JobError::writing(dest, e))?;
        }
        return Ok(None);
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    // Build the link under a temporary name and rename it over, like a file.
    let tmp = dir.join(format!(".link.tidemark-partial-{}", std::process::id()));
    let _stale = fs::remove_file(&tmp);
    match platform::symlink(target, &tmp) {
        Ok(()) => {}
        Err(e) if platform::link_needs_privilege(&e) => {
            return Ok(Some(format!("link not created: {e}")));
        }
        Err(e) => return Err(JobError::writing(dest, e)),
    }
    if fs::symlink_metadata(dest).is_ok_and(|m| m.is_dir()) {
        let _cleanup = fs::remove_file(&tmp);
        return Err(JobError::Io {
            context: format!("replacing the folder {} with a link", dest.display()),
            source: io::Error::other("a folder is in the way (use --delete to replace it)"),
        });
    }
    let placed = platform::set_link_mtime(&tmp, meta).and_then(|()| fs::rename(&tmp, dest));
    placed.map(|()| None).map_err(|e| {
        let _cleanup = fs::remove_file(&tmp);
        JobError::writing(dest, e)
    })
}

/// Copies one file through a temporary name. `Ok(Some(note))`: copied, with something to
/// say (it grew as it was read: the mirror holds the bytes the scan listed, and the next
/// sync copies it again, its size differing). On a failure, whatever the file's copy had
/// become is removed, and the mirror's former copy, if any, stays.
pub(super) fn copy_file(
    src: &Path,
    dest: &Path,
    size: u64,
    meta: &Meta,
    item: usize,
    buf: &mut [u8],
    rep: &mut Reporter,
) -> Result<Option<String>, JobError> {
    let mut counted = 0;
    let copied = copy_counted(src, dest, size, meta, item, buf, rep, &mut counted);
    if copied.is_err() {
        // The whole file counts as done, so the totals are reached all the same.
        rep.item(item).counters.bytes_done += size - counted;
        rep.advance(0, size - counted);
    }
    copied
}

#[allow(clippy::too_many_arguments)]
fn copy_counted(
    src: &Path,
    dest: &Path,
    size: u64,
    meta: &Meta,
    item: usize,
    buf: &mut [u8],
    rep: &mut Reporter,
    counted: &mut u64,
) -> Result<Option<String>, JobError> {
    let input = File::open(src).map_err(|e| JobError::reading(src, e))?;
    let dir = dest.parent().unwrap_or(Path::new("."));
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (partial, mut out) = Partial::create(dir, &name)?;
    let werr = |e: io::Error| JobError::writing(dest, e);
    let mut reader = ExactReader::new(input, src.to_owned(), size, |n| {
        *counted += n;
        rep.item(item).counters.bytes_done += n;
        rep.advance(0, n);
        rep.checkpoint().map_err(JobError::from)
    });
    loop {
        match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => out.write_all(&buf[..n]).map_err(werr)?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(reader.blame(e, |e| JobError::reading(src, e))),
        }
    }
    let note = reader.grew().then(|| {
        format!(
            "it changed as it was read (it grew); copied as listed, its first {} bytes",
            group_digits(size)
        )
    });
    platform::set_file_mode(&out, meta.mode).map_err(werr)?;
    drop(out);
    filetime::set_file_mtime(partial.path(), meta.filetime()).map_err(werr)?;
    partial.persist_replace(dest)?;
    Ok(note)
}
