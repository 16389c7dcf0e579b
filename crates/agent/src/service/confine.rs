//! A job's paths checked against the agent's roots before the job starts: each must be
//! absolute and lie under a root once links are resolved; a URL is left as it is.

use std::path::{Component, Path, PathBuf};

use tidemark_core::JobSpec;

use super::{Agent, ApiError};

impl Agent {
    pub(crate) fn confine_spec(&self, spec: JobSpec) -> Result<JobSpec, ApiError> {
        Ok(match spec {
            JobSpec::Snapshot(mut s) => {
                if let Some(name) = &s.name
                    && tidemark_core::snapshot::chosen_base_name(name).is_err()
                {
                    return Err(ApiError::BadRequest(format!(
                        "name {name:?} must be a file name: not empty, `.` or `..`, no `/`"
                    )));
                }
                s.source = self.confine(&s.source)?;
                if !tidemark_core::snapshot::is_url(&s.destination) {
                    s.destination = self
                        .confine(Path::new(&s.destination))?
                        .to_string_lossy()
                        .into_owned();
                }
                JobSpec::Snapshot(s)
            }
            JobSpec::Sync(mut s) => {
                if s.sources.is_empty() {
                    return Err(ApiError::BadRequest(
                        "a sync needs at least one source".into(),
                    ));
                }
                s.sources = s
                    .sources
                    .iter()
                    .map(|p| self.confine(p))
                    .collect::<Result<_, _>>()?;
                s.destination = self.confine(&s.destination)?;
                JobSpec::Sync(s)
            }
            JobSpec::Restore(mut s) => {
                s.archive = self.confine_location(&s.archive)?;
                s.manifest = s.manifest.map(|m| self.confine_location(&m)).transpose()?;
                s.to = self.confine(&s.to)?;
                JobSpec::Restore(s)
            }
            JobSpec::Verify(mut s) => {
                s.archive = self.confine_location(&s.archive)?;
                s.manifest = s.manifest.map(|m| self.confine_location(&m)).transpose()?;
                JobSpec::Verify(s)
            }
        })
    }

    /// An archive's or a manifest's location: a URL as it is, a path confined.
    fn confine_location(&self, location: &str) -> Result<String, ApiError> {
        if tidemark_core::snapshot::is_url(location) {
            return Ok(location.to_owned());
        }
        Ok(self
            .confine(Path::new(location))?
            .to_string_lossy()
            .into_owned())
    }

    /// Resolves `path` (following links as far as it exists) and checks it lies under a root.
    fn confine(&self, path: &Path) -> Result<PathBuf, ApiError> {
        let shown = path.display().to_string();
        if path.as_os_str().is_empty() {
            return Err(ApiError::BadRequest("a path is empty".into()));
        }
        // No file system takes one: the job would only fail later.
        if path.as_os_str().as_encoded_bytes().contains(&0) {
            return Err(ApiError::BadRequest(format!(
                "{shown:?}: a path cannot hold a NUL byte"
            )));
        }
        if !path.is_absolute() {
            return Err(ApiError::BadRequest(format!(
                "{shown}: paths must be absolute"
            )));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(ApiError::ForbiddenPath(shown));
        }
        let mut existing = path.to_path_buf();
        let mut rest = Vec::new();
        while std::fs::symlink_metadata(&existing).is_err() {
            match (
                existing.file_name().map(|n| n.to_owned()),
                existing.parent(),
            ) {
                (Some(name), Some(parent)) => {
                    rest.push(name);
                    existing = parent.to_path_buf();
                }
                _ => break,
            }
        }
        let mut resolved = dunce::canonicalize(&existing).unwrap_or(existing);
        for name in rest.into_iter().rev() {
            resolved.push(name);
        }
        if self.roots.iter().any(|r| resolved.starts_with(r)) {
            Ok(resolved)
        } else {
            Err(ApiError::ForbiddenPath(shown))
        }
    }
}
