//! Comparing two snapshots by their manifests: files added, removed and changed (by hash or
//! size), with sizes and totals. A plain function over two manifests; `load_snapshot` reads
//! one from a manifest file, or from an archive (its manifest beside it, or made by reading
//! the archive).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::restore::{Location, Manifest, ManifestFile, archive_manifest};

/// One file that differs between the two snapshots.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    /// `/`-separated, under the snapshot's folder.
    pub path: String,
    /// `None` for an added file.
    pub old_size: Option<u64>,
    /// `None` for a removed file.
    pub new_size: Option<u64>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffTotals {
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    pub unchanged: u64,
    pub added_bytes: u64,
    pub removed_bytes: u64,
    /// The changed files' sizes in the old snapshot and in the new one.
    pub changed_old_bytes: u64,
    pub changed_new_bytes: u64,
    /// Every file's size in each snapshot.
    pub old_bytes: u64,
    pub new_bytes: u64,
}

/// What changed from `old` to `new`; each list sorted by path.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffReport {
    pub added: Vec<FileChange>,
    pub removed: Vec<FileChange>,
    pub changed: Vec<FileChange>,
    pub totals: DiffTotals,
}

/// Compares two manifests. A file is changed when its hash or its size differs; a new
/// modification time alone is not a change of content.
pub fn compare(old: &Manifest, new: &Manifest) -> DiffReport {
    let index = |m: &Manifest| -> BTreeMap<String, ManifestFile> {
        m.files
            .iter()
            .map(|f| (f.path.clone(), f.clone()))
            .collect()
    };
    let (old, new) = (index(old), index(new));
    let mut r = DiffReport::default();
    let t = &mut r.totals;
    t.old_bytes = old.values().map(|f| f.size).sum();
    t.new_bytes = new.values().map(|f| f.size).sum();
    for (path, o) in &old {
        match new.get(path) {
            None => {
                t.removed += 1;
                t.removed_bytes += o.size;
                r.removed.push(FileChange {
                    path: path.clone(),
                    old_size: Some(o.size),
                    new_size: None,
                });
            }
            Some(n) if n.blake3 != o.blake3 || n.size != o.size => {
                t.changed += 1;
                t.changed_old_bytes += o.size;
                t.changed_new_bytes += n.size;
                r.changed.push(FileChange {
                    path: path.clone(),
                    old_size: Some(o.size),
                    new_size: Some(n.size),
                });
            }
            Some(_) => t.unchanged += 1,
        }
    }
    for (path, n) in &new {
        if !old.contains_key(path) {
            t.added += 1;
            t.added_bytes += n.size;
            r.added.push(FileChange {
                path: path.clone(),
                old_size: None,
                new_size: Some(n.size),
            });
        }
    }
    r
}

/// A snapshot's manifest from `location` (a path or an http(s) URL): a manifest file
/// (`.json`), or an archive: the manifest beside it, else one made by reading the archive.
pub fn load_snapshot(location: &str) -> Result<Manifest, JobError> {
    if location.ends_with(".json") {
        return Manifest::read(location);
    }
    let loc = Location::parse(location)?;
    match loc.manifest(None)? {
        Some(m) => Ok(m),
        None => archive_manifest(location),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(files: &[(&str, u64, &str)]) -> Manifest {
        Manifest {
            version: 1,
            source: "/s".into(),
            archive: "a.tar.zst".into(),
            files: files
                .iter()
                .map(|(p, size, content)| ManifestFile {
                    path: (*p).into(),
                    size: *size,
                    mtime: 1,
                    blake3: blake3::hash(content.as_bytes()).to_hex().to_string(),
                })
                .collect(),
        }
    }

    #[test]
    fn added_removed_and_changed_files_with_their_sizes_and_totals() {
        let old = m(&[("same", 1, "a"), ("gone", 5, "b"), ("edited", 3, "c")]);
        let new = m(&[("same", 1, "a"), ("edited", 4, "d"), ("new/file", 7, "e")]);
        let r = compare(&old, &new);
        let paths = |v: &[FileChange]| v.iter().map(|c| c.path.clone()).collect::<Vec<_>>();
        assert_eq!(paths(&r.added), ["new/file"]);
        assert_eq!(paths(&r.removed), ["gone"]);
        assert_eq!(paths(&r.changed), ["edited"]);
        assert_eq!(
            (r.changed[0].old_size, r.changed[0].new_size),
            (Some(3), Some(4))
        );
        assert_eq!(
            r.totals,
            DiffTotals {
                added: 1,
                removed: 1,
                changed: 1,
                unchanged: 1,
                added_bytes: 7,
                removed_bytes: 5,
                changed_old_bytes: 3,
                changed_new_bytes: 4,
                old_bytes: 9,
                new_bytes: 12,
            }
        );
        let v = serde_json::to_value(&r).expect("json");
        assert_eq!(v["totals"]["addedBytes"], 7);
        assert_eq!(v["added"][0]["oldSize"], serde_json::Value::Null);
        assert!(compare(&old, &old).changed.is_empty());
    }
}
