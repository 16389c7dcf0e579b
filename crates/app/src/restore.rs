//! A snapshot brought back, checked or compared, from the history or a plan's page: restore
//! (all of it, or the folders and files chosen in a tree read from its manifest) and verify
//! run as jobs like the others, with the progress modal; compare answers at once.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tidemark_core::compare::{DiffReport, compare, load_snapshot};
use tidemark_core::snapshot::is_url;
use tidemark_core::{JobKind, JobSpec, JobState, Manifest, RestoreSpec, TreeEntry, VerifySpec};
use tidemark_store::JobFilter;

use crate::app::{App, lock, non_empty};
use crate::error::{Error, Result};
use crate::summary;
use crate::types::JobSummary;

/// What the Restore dialog asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct StartRestore {
    /// The archive: a path, or the http(s) URL it was uploaded to.
    pub archive: String,
    /// The folder to restore into (made when missing).
    pub to: String,
    /// Only these paths of the snapshot's tree (as `snapshot_tree` gives them); all when empty.
    #[serde(default)]
    pub only: Vec<String>,
    /// Replace files already there; without it they are kept, each named in a warning.
    #[serde(default)]
    pub overwrite: bool,
}

impl App {
    pub fn start_restore(&self, req: StartRestore) -> Result<JobSummary> {
        let archive = non_empty(&req.archive, "archive")?;
        let to = non_empty(&req.to, "folder to restore into")?;
        if !Path::new(to).is_absolute() {
            return Err(Error::InvalidInput(format!(
                "the folder to restore into ({to:?}) must be an absolute path"
            )));
        }
        self.start_job(JobSpec::Restore(RestoreSpec {
            archive: archive_location(archive)?,
            to: to.into(),
            only: req.only,
            overwrite: req.overwrite,
            manifest: None,
        }))
    }

    pub fn start_verify(&self, archive: &str) -> Result<JobSummary> {
        let archive = archive_location(non_empty(archive, "archive")?)?;
        self.start_job(JobSpec::Verify(VerifySpec {
            archive,
            manifest: None,
        }))
    }

    /// The names directly in `folder` of the snapshot's tree (`""`: its top), from its
    /// manifest, for choosing what to restore.
    pub fn snapshot_tree(&self, archive: &str, folder: &str) -> Result<Vec<TreeEntry>> {
        let archive = archive_location(non_empty(archive, "archive")?)?;
        Ok(self.manifest_of(&archive)?.list_folder(folder))
    }

    /// The snapshot's manifest, read once for all the folders a window opens in its tree
    /// (over the network, or by reading a whole archive that has none beside it); the last
    /// one read is kept. An archive never changes under its name once published.
    fn manifest_of(&self, archive: &str) -> Result<Arc<Manifest>> {
        if let Some((at, m)) = lock(&self.inner.last_manifest).as_ref()
            && at == archive
        {
            return Ok(m.clone());
        }
        let manifest = Arc::new(load_snapshot(archive)?);
        *lock(&self.inner.last_manifest) = Some((archive.to_owned(), manifest.clone()));
        Ok(manifest)
    }

    /// What changed from `old` to `new` (two archives or manifests).
    pub fn compare_snapshots(&self, old: &str, new: &str) -> Result<DiffReport> {
        let old = self.manifest_of(&archive_location(non_empty(old, "older snapshot")?)?)?;
        let new = self.manifest_of(&archive_location(non_empty(new, "newer snapshot")?)?)?;
        Ok(compare(&old, &new))
    }

    /// The snapshot of the same folder that completed before `job_id`'s, if the history has
    /// one: what "Compare with the previous" compares with.
    pub fn previous_snapshot(&self, job_id: &str) -> Result<Option<JobSummary>> {
        let store = self.store()?;
        let Some(this) = store.job(job_id)? else {
            return Err(Error::NotFound(format!("no job {job_id} in the history")));
        };
        let JobSpec::Snapshot(spec) = &this.spec else {
            return Err(Error::InvalidInput(format!(
                "{} is not a snapshot",
                summary::title(&this.spec)
            )));
        };
        let earlier = store.list_jobs(&JobFilter {
            limit: Some(10_000),
            state: Some(JobState::Completed),
            kind: Some(JobKind::Snapshot),
            owner: None,
            plan_id: None,
        })?;
        Ok(earlier
            .into_iter()
            .filter(|r| r.id != this.id && r.created_at < this.created_at)
            .filter(|r| r.result_url.is_some() && r.remote.is_none())
            .filter(|r| matches!(&r.spec, JobSpec::Snapshot(s) if s.source == spec.source))
            .max_by(|a, b| a.created_at.cmp(&b.created_at))
            .map(|r| summary::from_record(&r)))
    }
}

/// A snapshot's result as the history keeps it (a path, a `file://` URL or an http(s) URL)
/// as the restore engine takes it.
fn archive_location(archive: &str) -> Result<String> {
    if is_url(archive) {
        return Ok(archive.to_owned());
    }
    let path = archive.strip_prefix("file://").unwrap_or(archive);
    if !Path::new(path).is_absolute() {
        return Err(Error::InvalidInput(format!(
            "the archive ({archive:?}) must be an absolute path or an http(s) URL"
        )));
    }
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::types::{HistoryFilter, StartSnapshot};

    async fn until_done(app: &App, id: &str) -> JobSummary {
        for _ in 0..600 {
            if app.active_jobs().iter().all(|j| j.id != id) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        app.job_detail(id).expect("detail").job
    }

    /// Two snapshots of a folder changed between them: the second is compared with the
    /// first, restored (one file of it), and verified, through the app's commands.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_is_compared_restored_and_verified() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = crate::tests::app_in(dir.path());
        let src = dir.path().join("photos");
        tidemark_tests::write(src.join("a.txt"), b"first");
        tidemark_tests::write(src.join("sub/b.txt"), b"second");
        let dest = dir.path().join("archives");
        std::fs::create_dir_all(&dest).expect("dest");
        let snap = |app: &App| {
            app.start_snapshot(StartSnapshot {
                source: src.display().to_string(),
                destination: dest.display().to_string(),
                name: None,
            })
            .expect("snapshot")
        };
        let first = until_done(&app, &snap(&app).id).await;
        assert_eq!(first.state, JobState::Completed);
        assert!(
            app.previous_snapshot(&first.id)
                .expect("previous")
                .is_none()
        );
        tidemark_tests::write(src.join("c.txt"), b"third");
        let second = until_done(&app, &snap(&app).id).await;
        let previous = app
            .previous_snapshot(&second.id)
            .expect("previous")
            .expect("the first");
        assert_eq!(previous.id, first.id);
        let archive = second.result_url.clone().expect("archive");
        let diff = app
            .compare_snapshots(&previous.result_url.expect("first's archive"), &archive)
            .expect("compared");
        let added: Vec<&str> = diff.added.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(added, ["c.txt"]);
        assert!(diff.removed.is_empty() && diff.changed.is_empty());

        let top = app.snapshot_tree(&archive, "").expect("tree");
        assert!(top.iter().any(|e| e.folder && e.path == "sub"), "{top:?}");
        let back = dir.path().join("back");
        let restore = app
            .start_restore(StartRestore {
                archive: archive.clone(),
                to: back.display().to_string(),
                only: vec!["sub/b.txt".into()],
                overwrite: false,
            })
            .expect("restore");
        assert_eq!(
            until_done(&app, &restore.id).await.state,
            JobState::Completed
        );
        let restored: Vec<_> = walk(&back);
        assert_eq!(restored.len(), 1, "only the chosen file: {restored:?}");
        assert_eq!(std::fs::read(&restored[0]).expect("read"), b"second");

        let verify = app.start_verify(&archive).expect("verify");
        assert_eq!(
            until_done(&app, &verify.id).await.state,
            JobState::Completed
        );
        let kinds: Vec<JobKind> = app
            .list_history(HistoryFilter::default())
            .expect("history")
            .iter()
            .map(|j| j.kind)
            .collect();
        assert!(kinds.contains(&JobKind::Restore) && kinds.contains(&JobKind::Verify));
        assert!(
            app.start_restore(StartRestore {
                archive,
                to: "relative/path".into(),
                only: vec![],
                overwrite: false,
            })
            .is_err()
        );
    }

    fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
