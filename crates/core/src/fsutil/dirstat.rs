//! `lstat` relative to the parent folder's open descriptor.

use std::io;
use std::path::{Path, PathBuf};

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
