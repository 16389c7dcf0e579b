//! Windows: folders listed and looked up by path; no Unix mode, owner or group (a mode is
//! derived for archives, nothing is applied); links need a privilege.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use filetime::FileTime;

use super::{Kind, Stat};
use crate::fsutil::Meta;

/// `ERROR_PRIVILEGE_NOT_HELD`: creating a link needs `SeCreateSymbolicLinkPrivilege`
/// (an administrator, or Developer Mode).
const ERROR_PRIVILEGE_NOT_HELD: i32 = 1314;

/// A folder open for listing; Windows has no lookup relative to a handle in its documented
/// API, so names are joined to its path.
#[derive(Debug)]
pub(crate) struct Dir {
    path: PathBuf,
}

impl Dir {
    /// Checks that `path` is a folder; with `follow` false, a link there is refused.
    pub(crate) fn open(path: &Path, follow: bool) -> io::Result<Dir> {
        let meta = if follow {
            fs::metadata(path)?
        } else {
            fs::symlink_metadata(path)?
        };
        if !meta.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
        }
        Ok(Dir {
            path: path.to_owned(),
        })
    }

    pub(crate) fn names(&mut self) -> (Vec<OsString>, Option<io::Error>) {
        let mut names = Vec::new();
        let listing = match fs::read_dir(&self.path) {
            Ok(l) => l,
            Err(e) => return (names, Some(e)),
        };
        for item in listing {
            match item {
                Ok(item) => names.push(item.file_name()),
                Err(e) => return (names, Some(e)),
            }
        }
        (names, None)
    }

    pub(crate) fn lstat(&self, name: &OsStr) -> io::Result<Stat> {
        lstat_path(&self.path.join(name))
    }

    pub(crate) fn read_link(&self, name: &OsStr) -> io::Result<PathBuf> {
        fs::read_link(self.path.join(name))
    }
}

pub(crate) fn lstat_path(path: &Path) -> io::Result<Stat> {
    let m = fs::symlink_metadata(path)?;
    let t = m.file_type();
    let kind = if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    };
    Ok(Stat {
        kind,
        size: if kind == Kind::File { m.len() } else { 0 },
        meta: meta_of(&m),
    })
}

/// The mode an archive records: what `tar` on Windows writes, read-only files without write
/// bits. Owner and group are 0: Windows' owners (SIDs) have no Unix number.
pub(crate) fn meta_of(m: &Metadata) -> Meta {
    let t = FileTime::from_last_modification_time(m);
    let mode = if m.is_dir() {
        0o755
    } else if m.permissions().readonly() {
        0o444
    } else {
        0o644
    };
    Meta {
        mode,
        uid: 0,
        gid: 0,
        mtime: t.unix_seconds(),
        mtime_nsec: t.nanoseconds(),
    }
}

/// Left alone: Windows has no mode, and its read-only flag would make the next sync's
/// replacement of the file fail.
pub(crate) fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

pub(crate) fn set_file_mode(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Windows has two kinds of links, to a file and to a folder: the kind follows what the
/// target is now (a dangling link is made a file link, as Git for Windows does).
pub(crate) fn symlink(target: &Path, link: &Path) -> io::Result<()> {
    let resolved = link.parent().unwrap_or(Path::new(".")).join(target);
    if resolved.is_dir() {
        std::os::windows::fs::symlink_dir(target, link)
    } else {
        std::os::windows::fs::symlink_file(target, link)
    }
}

/// Windows keeps a link's own times too; both are set, as there is no "leave it" value.
pub(crate) fn set_link_mtime(link: &Path, meta: &Meta) -> io::Result<()> {
    filetime::set_symlink_file_times(link, meta.filetime(), meta.filetime())
}

pub(crate) fn link_needs_privilege(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ERROR_PRIVILEGE_NOT_HELD)
        || e.kind() == io::ErrorKind::PermissionDenied
        || e.kind() == io::ErrorKind::Unsupported
}

/// Moves `from` to `to` unless something is there already (`AlreadyExists` then): Windows'
/// own rename does this atomically, on every file system (a hard link, the Unix way, is
/// refused by FAT and many network shares).
#[allow(unsafe_code)]
pub(crate) fn rename_no_replace(from: &Path, to: &Path) -> io::Result<()> {
    use windows_sys::Win32::Storage::FileSystem::MoveFileExW;
    let (from, to) = (wide(from)?, wide(to)?);
    // SAFETY: both are NUL-terminated UTF-16 strings that live across the call; flags 0 is
    // "fail if the target exists".
    let moved = unsafe { MoveFileExW(from.as_ptr(), to.as_ptr(), 0) };
    if moved == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `path` as the Windows API takes it, in its `\\?\` form so a path over 260 characters
/// works too (the standard library does the same for its own calls).
fn wide(path: &Path) -> io::Result<Vec<u16>> {
    use std::os::windows::ffi::OsStrExt;
    let full = std::path::absolute(path)?;
    let text = full.as_os_str().to_string_lossy();
    let verbatim: OsString = if text.starts_with(r"\\?\") {
        full.into_os_string()
    } else if let Some(share) = text.strip_prefix(r"\\") {
        format!(r"\\?\UNC\{share}").into()
    } else {
        format!(r"\\?\{text}").into()
    };
    Ok(verbatim.encode_wide().chain(Some(0)).collect())
}
