//! A snapshot's manifest as read back (the file `snapshot::manifest` writes), and the folders
//! of its tree, for choosing what to restore.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::error::JobError;

/// `{version, source, archive, files: [{path, size, mtime, blake3}]}`: every regular file the
/// archive holds, by its path under the snapshot's folder.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    /// The folder the snapshot was made of.
    pub source: String,
    /// The archive's file name.
    pub archive: String,
    pub files: Vec<ManifestFile>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestFile {
    /// `/`-separated, under the snapshot's folder.
    pub path: String,
    pub size: u64,
    pub mtime: i64,
    /// 64 lowercase hex digits.
    pub blake3: String,
}

/// One name in a folder of a manifest's tree: a file, or a folder with what it holds.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TreeEntry {
    pub name: String,
    /// The path to give `RestoreSpec::only` (and to list a folder's own names).
    pub path: String,
    pub folder: bool,
    /// The file's size, or the sum of the files under the folder.
    pub size: u64,
    /// 1 for a file; the files under a folder, at any depth.
    pub files: u64,
}

impl Manifest {
    pub(crate) fn parse(bytes: &[u8], shown: &str) -> Result<Manifest, JobError> {
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| JobError::ManifestInvalid {
            manifest: shown.to_owned(),
            reason: format!("not a Tidemark manifest ({e})"),
        })?;
        for f in &m.files {
            if blake3::Hash::from_hex(&f.blake3).is_err() {
                return Err(JobError::ManifestInvalid {
                    manifest: shown.to_owned(),
                    reason: format!("{}: {:?} is not a BLAKE3 hash", f.path, f.blake3),
                });
            }
        }
        Ok(m)
    }

    /// The files by path: what each should hash to.
    pub(crate) fn by_path(&self) -> HashMap<&str, &ManifestFile> {
        self.files.iter().map(|f| (f.path.as_str(), f)).collect()
    }

    /// The names directly in `folder` (`""` for the top), folders first, each sorted by name.
    /// The manifest lists files only: its folders are those their paths pass through.
    pub fn list_folder(&self, folder: &str) -> Vec<TreeEntry> {
        let folder = folder.trim_matches('/');
        let prefix = if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        };
        let mut folders: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut files = Vec::new();
        for f in &self.files {
            let Some(rest) = f.path.strip_prefix(prefix.as_str()) else {
                continue;
            };
            match rest.split_once('/') {
                Some((name, _)) => {
                    let slot = folders.entry(name).or_default();
                    slot.0 += f.size;
                    slot.1 += 1;
                }
                None if !rest.is_empty() => files.push(TreeEntry {
                    name: rest.to_owned(),
                    path: f.path.clone(),
                    folder: false,
                    size: f.size,
                    files: 1,
                }),
                None => {}
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out: Vec<TreeEntry> = folders
            .into_iter()
            .map(|(name, (size, n))| TreeEntry {
                name: name.to_owned(),
                path: format!("{prefix}{name}"),
                folder: true,
                size,
                files: n,
            })
            .collect();
        out.extend(files);
        out
    }
}

/// Where the manifest of the archive at `archive` is: `NAME.manifest.json` beside
/// `NAME.tar.zst`.
pub(crate) fn beside(archive: &str) -> String {
    let stem = [".tar.zst", ".tzst", ".tar.zstd"]
        .iter()
        .find_map(|ext| archive.strip_suffix(ext))
        .unwrap_or(archive);
    format!("{stem}.manifest.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> ManifestFile {
        ManifestFile {
            path: path.into(),
            size,
            mtime: 0,
            blake3: blake3::hash(path.as_bytes()).to_hex().to_string(),
        }
    }

    #[test]
    fn a_folder_lists_its_folders_with_their_totals_then_its_files() {
        let m = Manifest {
            version: 1,
            source: "/src".into(),
            archive: "a.tar.zst".into(),
            files: vec![
                file("z.txt", 1),
                file("docs/a.md", 10),
                file("docs/deep/b.md", 20),
                file("a.txt", 2),
            ],
        };
        let top = m.list_folder("");
        let names: Vec<(&str, bool, u64, u64)> = top
            .iter()
            .map(|e| (e.name.as_str(), e.folder, e.size, e.files))
            .collect();
        assert_eq!(
            names,
            [
                ("docs", true, 30, 2),
                ("a.txt", false, 2, 1),
                ("z.txt", false, 1, 1)
            ]
        );
        let docs = m.list_folder("docs/");
        let paths: Vec<&str> = docs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["docs/deep", "docs/a.md"]);
        assert!(m.list_folder("nothing").is_empty());
    }

    #[test]
    fn the_manifest_beside_an_archive_shares_its_name() {
        assert_eq!(beside("/b/snap.tar.zst"), "/b/snap.manifest.json");
        assert_eq!(
            beside("https://h/b/snap.tar.zst"),
            "https://h/b/snap.manifest.json"
        );
        assert_eq!(beside("/b/odd"), "/b/odd.manifest.json");
    }

    #[test]
    fn a_manifest_with_a_bad_hash_is_refused() {
        let text = br#"{"version":1,"source":"/s","archive":"a","files":[{"path":"a","size":1,"mtime":0,"blake3":"zz"}]}"#;
        let err = Manifest::parse(text, "m.json").expect_err("bad hash");
        assert_eq!(err.code(), crate::ErrorCode::ManifestInvalid);
        assert!(Manifest::parse(b"[]", "m.json").is_err());
    }
}
