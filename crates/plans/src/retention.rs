//! Retention: a snapshot plan with `keep N` and a folder destination keeps its N newest
//! archives there.
//!
//! Only the plan's own archives are ever deleted: the ones its completed runs published,
//! as the history records them (`resultUrl`), each with its manifest beside it. Nothing
//! else in the folder is looked at, so another snapshot of the same source, or a file the
//! user put there, stays. Retention runs after a run has completed, so the new archive is
//! published before any old one goes; a process killed between the two loses nothing, and
//! the next completed run's retention deletes what this one did not.
//!
//! An http(s) destination is not a folder Tidemark can list or delete from: retention is
//! not applied there (a warning says so once per plan and process).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tidemark_core::JobState;
use tidemark_core::snapshot::is_url;
use tidemark_store::Store;

use crate::model::{Plan, PlanError};
use crate::ops::{plan_jobs, retained_folder};

/// Deletes the plan's archives (and their manifests) beyond its `keep` newest; returns the
/// archives deleted. Does nothing for a plan without `keep` or whose destination is a URL.
pub fn apply(store: &Store, plan: &Plan) -> Result<Vec<PathBuf>, PlanError> {
    let Some((folder, keep)) = retained_folder(plan) else {
        warn_url_once(plan);
        return Ok(Vec::new());
    };
    let mut kept = 0;
    let mut deleted = Vec::new();
    for job in plan_jobs(store, &plan.id, Some(JobState::Completed))? {
        let Some(archive) = job
            .result_url
            .as_deref()
            .and_then(|u| own_archive(folder, u))
        else {
            continue;
        };
        if archive.symlink_metadata().is_err() {
            // Gone already (deleted by an earlier retention or by hand): not counted.
            continue;
        }
        kept += 1;
        if kept <= keep {
            continue;
        }
        match std::fs::remove_file(&archive) {
            Ok(()) => {
                tracing::info!(plan = %plan.name, archive = %archive.display(), "retention: deleted an old archive");
                deleted.push(archive.clone());
            }
            Err(e) => {
                tracing::warn!(plan = %plan.name, archive = %archive.display(), error = %e, "retention: cannot delete an old archive");
                continue;
            }
        }
        if let Some(manifest) = manifest_of(&archive) {
            // A manifest may be missing (a resumed run that never wrote it): nothing to do.
            let _absent = std::fs::remove_file(manifest);
        }
    }
    Ok(deleted)
}

/// The archive a run published, if it is a `.tar.zst` directly in the plan's folder.
fn own_archive(folder: &Path, result: &str) -> Option<PathBuf> {
    let path = Path::new(result);
    let name = path.file_name()?.to_str()?;
    if !name.ends_with(".tar.zst") || name.starts_with('.') {
        return None;
    }
    let same_folder = match (
        path.parent().and_then(dunce_canonical),
        dunce_canonical(folder),
    ) {
        (Some(a), Some(b)) => a == b,
        _ => path.parent() == Some(folder),
    };
    same_folder.then(|| folder.join(name))
}

fn dunce_canonical(p: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(p).ok()
}

fn manifest_of(archive: &Path) -> Option<PathBuf> {
    let name = archive.file_name()?.to_str()?;
    let base = name.strip_suffix(".tar.zst")?;
    Some(archive.with_file_name(format!("{base}.manifest.json")))
}

fn warn_url_once(plan: &Plan) {
    let url = match &plan.spec {
        tidemark_core::JobSpec::Snapshot(s) if plan.keep.is_some() && is_url(&s.destination) => {
            &s.destination
        }
        _ => return,
    };
    static WARNED: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let mut warned = WARNED
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if warned.insert(plan.id.clone()) {
        tracing::warn!(plan = %plan.name, destination = %url, "retention is not applied to an http(s) destination: old archives stay on the server");
    }
}
