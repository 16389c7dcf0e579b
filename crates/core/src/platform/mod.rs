//! What differs between the operating systems Tidemark runs on, each concern behind one small
//! interface; the engines are written once, against it. `unix.rs` serves Linux and macOS,
//! `windows.rs` Windows; [`names`] is plain logic, compiled and tested everywhere.
//!
//! - [`Dir`]: a folder opened to list its names and `lstat` each one. On Unix each name is
//!   looked up relative to the folder's descriptor, which a re-scan's speed rests on
//!   (ARCHITECTURE.md, "The walk"); Windows has no such call and joins paths.
//! - [`meta_of`], [`set_mode`], [`set_file_mode`]: what a file's metadata keeps. Unix mode,
//!   owner and group are kept where they exist; on Windows a mode is derived from the
//!   read-only flag for archives and nothing is applied.
//! - [`symlink`], [`set_link_mtime`], [`link_needs_privilege`]: links, which Windows creates
//!   only with a privilege.
//! - [`rename_no_replace`]: publishing a file without overwriting one (an archive).
//! - [`priority`]: background jobs.

use std::ffi::OsStr;
use std::io;

use crate::fsutil::Meta;

pub mod names;
pub(crate) mod priority;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::{
    Dir, link_needs_privilege, lstat_path, meta_of, rename_no_replace, set_file_mode,
    set_link_mtime, set_mode, symlink,
};

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::{
    Dir, link_needs_privilege, lstat_path, meta_of, rename_no_replace, set_file_mode,
    set_link_mtime, set_mode, symlink,
};

/// What an `lstat` found: links are never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Dir,
    File,
    Symlink,
    /// A FIFO, socket or device: never read (a FIFO would block forever).
    Other,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub kind: Kind,
    pub size: u64,
    pub meta: Meta,
}

/// Why a file of this name cannot be written or read back faithfully here, if it cannot:
/// Windows reserves device names (`CON`, `aux.txt`) and drops trailing dots and spaces, so a
/// tree made elsewhere may hold names that Windows would turn into another file or a device.
pub(crate) fn name_problem(name: &OsStr) -> Option<&'static str> {
    if cfg!(windows) {
        names::windows_problem(&name.to_string_lossy())
    } else {
        None
    }
}

/// An error that means the file system is full or over quota, on every platform.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// An error that means the destination refuses writes (permissions, a read-only mount).
pub(crate) fn is_unwritable(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
    )
}
