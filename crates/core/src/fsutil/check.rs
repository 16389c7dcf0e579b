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
