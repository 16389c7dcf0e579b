//! The manifest file beside an archive: `{version, source, archive, files: [{path, size,
//! mtime, blake3}]}`.

use std::io::{self, BufWriter};
use std::path::Path;

use serde::Serialize;

use crate::error::JobError;
use crate::fsutil::{self, Entry, EntryKind, Partial};
use crate::progress::Reporter;

/// One hashed file: which walk entry, and its BLAKE3. The path, size and time stay in the
/// walk's entry rather than being copied for each of 100,000s of files.
#[derive(Debug, Clone, Copy)]
pub(super) struct ManifestEntry {
    pub(super) index: u32,
    pub(super) hash: [u8; 32],
}

/// The manifest file: `{version, source, archive, files: [{path, size, mtime, blake3}]}`.
#[derive(Serialize)]
pub(super) struct Manifest<'a> {
    pub(super) version: u32,
    pub(super) source: String,
    pub(super) archive: &'a str,
    pub(super) files: ManifestFiles<'a>,
}

pub(super) struct ManifestFiles<'a> {
    pub(super) entries: &'a [Entry],
    pub(super) files: &'a [ManifestEntry],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ManifestFile<'a> {
    pub(super) path: std::borrow::Cow<'a, str>,
    pub(super) size: u64,
    pub(super) mtime: i64,
    blake3: &'a str,
}

impl Serialize for ManifestFiles<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(self.files.len()))?;
        for f in self.files {
            let Some(e) = self.entries.get(f.index as usize) else {
                return Err(serde::ser::Error::custom(
                    "a manifest entry outside the walk",
                ));
            };
            let hex = blake3::Hash::from_bytes(f.hash).to_hex();
            seq.serialize_element(&ManifestFile {
                path: fsutil::portable(&e.rel),
                size: file_size(e),
                mtime: e.meta.mtime,
                blake3: hex.as_str(),
            })?;
        }
        seq.end()
    }
}

pub(super) fn manifest_name(base: &str) -> String {
    format!("{base}.manifest.json")
}

/// Writes the manifest under a temporary name, ready to be published next to the archive.
/// Streamed to the file: as one buffer it would be tens of MiB on a large tree.
pub(super) fn write_manifest(
    work_dir: &Path,
    base: &str,
    source: &Path,
    archive_name: &str,
    (entries, files): (&[Entry], &[ManifestEntry]),
    rep: &Reporter,
) -> Result<Partial, JobError> {
    let name = manifest_name(base);
    if rep.is_resumed() {
        fsutil::remove_stale_partials(work_dir, Some(&name));
    }
    let (partial, file) = Partial::create(work_dir, &name)?;
    let werr = |e: io::Error| JobError::writing(partial.path(), e);
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let manifest = Manifest {
        version: 1,
        source: source.to_string_lossy().into_owned(),
        archive: archive_name,
        files: ManifestFiles { entries, files },
    };
    serde_json::to_writer_pretty(&mut out, &manifest).map_err(|e| {
        if e.is_io() {
            werr(e.into())
        } else {
            JobError::Io {
                context: "encoding the manifest".into(),
                source: e.into(),
            }
        }
    })?;
    let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
    file.sync_all().map_err(werr)?;
    Ok(partial)
}

pub(super) fn publish_manifest(
    mut partial: Partial,
    work_dir: &Path,
    base: &str,
    rep: &mut Reporter,
) {
    let path = work_dir.join(manifest_name(base));
    if let Err(e) = partial.persist_new(&path) {
        // The archive alone is still a complete snapshot; say what is missing.
        rep.warn(path.to_string_lossy(), format!("manifest not saved: {e}"));
    }
}

pub(super) fn file_size(e: &Entry) -> u64 {
    match e.kind {
        EntryKind::File { size } => size,
        _ => 0,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::fsutil::Meta;
    use std::path::PathBuf;

    fn entry(rel: &str, kind: EntryKind) -> Entry {
        Entry {
            rel: PathBuf::from(rel),
            kind,
            meta: Meta {
                mode: 0o644,
                uid: 1000,
                gid: 100,
                mtime: 1_700_000_000,
                mtime_nsec: 42,
            },
        }
    }

    pub(in crate::snapshot) fn tree() -> Vec<Entry> {
        vec![
            entry("", EntryKind::Dir),
            entry("a.txt", EntryKind::File { size: 3 }),
            entry(
                "link",
                EntryKind::Symlink {
                    target: PathBuf::from("a.txt"),
                },
            ),
            entry("secret", EntryKind::File { size: 9 }),
            entry("b.bin", EntryKind::File { size: 0 }),
        ]
    }

    #[test]
    fn the_manifest_file_lists_path_size_time_and_hash() {
        let entries = tree();
        let files = [ManifestEntry {
            index: 1,
            hash: *blake3::hash(b"abc").as_bytes(),
        }];
        let v = serde_json::to_value(ManifestFiles {
            entries: &entries,
            files: &files,
        })
        .expect("encode");
        assert_eq!(
            v,
            serde_json::json!([{
                "path": "a.txt",
                "size": 3,
                "mtime": 1_700_000_000,
                "blake3": blake3::hash(b"abc").to_hex().as_str(),
            }])
        );
    }
}
