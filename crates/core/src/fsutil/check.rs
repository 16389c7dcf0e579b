//! Validating a job's folders before anything is read or written.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::JobError;

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
    dunce::canonicalize(path).map_err(|e| JobError::SourceUnreadable {
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
    dunce::canonicalize(path).map_err(|e| JobError::writing(path, e))
}

/// A canonical path as people read and paste it. Windows' canonical paths are verbatim
/// (`\\?\C:\Users\…`), a form Explorer's address bar and many programs do not take; the
/// engines work with the canonical path and show this one.
pub fn shown(path: &Path) -> String {
    let text = path.to_string_lossy();
    match without_verbatim_prefix(&text) {
        Some(plain) if cfg!(windows) => plain,
        _ => text.into_owned(),
    }
}

/// `\\?\C:\x` as `C:\x`, `\\?\UNC\server\share` as `\\server\share`: the same file, as the
/// standard library makes a long plain path verbatim again for its own calls. Plain string
/// logic, so it is tested on every machine.
fn without_verbatim_prefix(text: &str) -> Option<String> {
    if let Some(share) = text.strip_prefix(r"\\?\UNC\") {
        return Some(format!(r"\\{share}"));
    }
    let plain = text.strip_prefix(r"\\?\")?;
    let drive = plain.as_bytes();
    (drive.len() >= 3 && drive[0].is_ascii_alphabetic() && drive[1..3] == *b":\\")
        .then(|| plain.to_owned())
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

/// Whether the file system of the folder `dir` files names without regard to case (Windows'
/// and macOS's by default, but either kind can be mounted anywhere, hence the probe). When
/// the probe cannot be written, the platform's default is assumed.
pub fn case_insensitive(dir: &Path) -> bool {
    let probe = format!(".tidemark-case-probe-{}", std::process::id());
    if fs::File::create_new(dir.join(&probe)).is_err() {
        return cfg!(any(windows, target_os = "macos"));
    }
    let insensitive = dir.join(probe.to_uppercase()).symlink_metadata().is_ok();
    let _cleanup = fs::remove_file(dir.join(&probe));
    insensitive
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbatim_paths_are_shown_plain() {
        assert_eq!(
            without_verbatim_prefix(r"\\?\C:\Users\me\backups").as_deref(),
            Some(r"C:\Users\me\backups")
        );
        assert_eq!(
            without_verbatim_prefix(r"\\?\UNC\nas\share\x").as_deref(),
            Some(r"\\nas\share\x")
        );
        // A volume by its GUID has no plain form; plain paths are plain already.
        for kept in [r"\\?\Volume{0b1c}\x", r"C:\x", "/home/me", r"\\?\C:"] {
            assert_eq!(without_verbatim_prefix(kept), None, "{kept}");
        }
    }
}
