//! Linux and macOS: `openat`/`fstatat` relative to a folder's descriptor, modes and owners as
//! the kernel keeps them.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata, Permissions};
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use filetime::FileTime;
use rustix::fs::{AtFlags, CWD, FileType, Mode, OFlags};

use super::{Kind, Stat};
use crate::fsutil::Meta;

/// A folder open for listing; its names are looked up relative to its descriptor.
#[derive(Debug)]
pub(crate) struct Dir {
    dir: rustix::fs::Dir,
}

impl Dir {
    /// Opens `path`; with `follow` false a link there is refused rather than followed (a
    /// folder replaced by a link since it was listed must not lead a walk out of its tree).
    pub(crate) fn open(path: &Path, follow: bool) -> io::Result<Dir> {
        let mut flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        let fd = rustix::fs::openat(CWD, path, flags, Mode::empty())?;
        Ok(Dir {
            dir: rustix::fs::Dir::new(fd)?,
        })
    }

    /// Its names, `.` and `..` left out, in no order; on an error, those read before it.
    pub(crate) fn names(&mut self) -> (Vec<OsString>, Option<io::Error>) {
        let mut names = Vec::new();
        while let Some(item) = self.dir.read() {
            match item {
                Ok(item) => {
                    let name = item.file_name().to_bytes();
                    if name != b"." && name != b".." {
                        names.push(OsStr::from_bytes(name).to_owned());
                    }
                }
                Err(e) => return (names, Some(e.into())),
            }
        }
        (names, None)
    }

    pub(crate) fn lstat(&self, name: &OsStr) -> io::Result<Stat> {
        let st = rustix::fs::statat(self.dir.fd()?, name, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(stat_of(&st))
    }

    pub(crate) fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        let target = rustix::fs::readlinkat(self.dir.fd()?, name, Vec::new())?;
        Ok(OsString::from_vec(target.into_bytes()).into())
    }
}

/// `lstat` of a whole path.
pub(crate) fn lstat_path(path: &Path) -> io::Result<Stat> {
    let st = rustix::fs::statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(stat_of(&st))
}

/// The fields' integer types differ between Linux and macOS, hence the casts.
#[allow(clippy::unnecessary_cast)]
fn stat_of(st: &rustix::fs::Stat) -> Stat {
    let kind = match FileType::from_raw_mode(st.st_mode as rustix::fs::RawMode) {
        FileType::Directory => Kind::Dir,
        FileType::RegularFile => Kind::File,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    };
    Stat {
        kind,
        size: u64::try_from(st.st_size).unwrap_or(0),
        meta: Meta {
            mode: st.st_mode as u32 & 0o7777,
            uid: st.st_uid as u32,
            gid: st.st_gid as u32,
            mtime: st.st_mtime as i64,
            mtime_nsec: st.st_mtime_nsec as u32,
        },
    }
}

pub(crate) fn meta_of(m: &Metadata) -> Meta {
    let t = FileTime::from_last_modification_time(m);
    Meta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: t.unix_seconds(),
        mtime_nsec: t.nanoseconds(),
    }
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, Permissions::from_mode(mode))
}

pub(crate) fn set_file_mode(file: &File, mode: u32) -> io::Result<()> {
    file.set_permissions(Permissions::from_mode(mode))
}

pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    std::os::unix::fs::symlink(target, link)
}

/// Sets a link's own modification time (not its target's), as `rsync -a` keeps it; its
/// access time is left alone.
pub(crate) fn set_link_mtime(link: &Path, meta: &Meta) -> io::Result<()> {
    use rustix::fs::{Timespec, Timestamps, UTIME_OMIT};
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: 0,
            tv_nsec: UTIME_OMIT,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime,
            tv_nsec: meta.mtime_nsec.into(),
        },
    };
    Ok(rustix::fs::utimensat(
        CWD,
        link,
        &times,
        AtFlags::SYMLINK_NOFOLLOW,
    )?)
}

/// Creating a link failed for want of a right the user may not have, not for a fault of the
/// destination: a file system without links (FAT, exFAT) answers `EPERM`.
pub(crate) fn link_needs_privilege(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::PermissionDenied || e.kind() == io::ErrorKind::Unsupported
}

/// Moves `from` to `to` unless something is there already (`AlreadyExists` then). A hard
/// link is the portable no-clobber rename on Unix; the old name is then removed.
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    fs::hard_link(from, to)?;
    let _ignored = fs::remove_file(from);
    Ok(())
}
