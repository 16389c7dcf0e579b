//! What a snapshot saves for a resumed run: its walk after the walk, its archive's hashes
//! once the archive is complete.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::fsutil::{self, Entry, EntryKind};
use crate::snapshot::manifest::ManifestEntry;

/// Saved after the walk. Entries are saved as arrays, not objects: on a large tree the
/// checkpoint is held in memory by whoever keeps it, and field names would double its size.
#[derive(Debug, Deserialize)]
pub(super) struct Walked {
    pub(super) entries: Vec<CompactEntry>,
    pub(super) warnings: Vec<crate::event::Warning>,
}

/// What is saved: the same shapes, borrowed, serialized straight to text: going through a
/// `serde_json::Value` tree costs a few KiB per file, hundreds of MiB on a large tree.
#[derive(Serialize)]
pub(super) struct WalkedRef<'a> {
    pub(super) entries: CompactEntries<'a>,
    pub(super) warnings: &'a [crate::event::Warning],
}

/// `[rel, size, mode, uid, gid, mtime, mtime_nsec, kind, link target]`; kind 0 a file, 1 a
/// folder, 2 a link.
pub(super) type CompactEntry = (PathBuf, u64, u32, u32, u32, i64, u32, u8, Option<PathBuf>);

pub(super) struct CompactEntries<'a>(pub(super) &'a [Entry]);

impl Serialize for CompactEntries<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|e| {
            let m = &e.meta;
            let (size, kind, target) = match &e.kind {
                EntryKind::File { size } => (*size, 0u8, None),
                EntryKind::Dir => (0, 1, None),
                EntryKind::Symlink { target } => (0, 2, Some(target)),
            };
            (
                &e.rel,
                size,
                m.mode,
                m.uid,
                m.gid,
                m.mtime,
                m.mtime_nsec,
                kind,
                target,
            )
        }))
    }
}

/// The entries of a saved walk; `None` if it is not one this version wrote (the walk is
/// then redone).
pub(super) fn expand(compact: Vec<CompactEntry>) -> Option<Vec<Entry>> {
    compact
        .into_iter()
        .map(
            |(rel, size, mode, uid, gid, mtime, mtime_nsec, kind, target)| {
                let kind = match (kind, target) {
                    (0, None) => EntryKind::File { size },
                    (1, None) => EntryKind::Dir,
                    (2, Some(target)) => EntryKind::Symlink { target },
                    _ => return None,
                };
                let meta = fsutil::Meta {
                    mode,
                    uid,
                    gid,
                    mtime,
                    mtime_nsec,
                };
                Some(Entry { rel, kind, meta })
            },
        )
        .collect()
}

/// Saved once the archive is complete (still under its temporary name), with what the
/// manifest needs besides the walk: the BLAKE3 of each file archived, in walk order, as one
/// hex string, and the files left out.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Compressed {
    pub(super) path: PathBuf,
    pub(super) len: u64,
    pub(super) hashes: String,
    pub(super) excluded: Vec<usize>,
    pub(super) warnings: Vec<crate::event::Warning>,
}

impl Compressed {
    /// The manifest again, from the walk it was made of; `None` if they do not match.
    pub(super) fn files(&self, entries: &[Entry]) -> Option<Vec<ManifestEntry>> {
        let mut hashes = self.hashes.as_bytes().chunks(64);
        let mut files = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if !matches!(e.kind, EntryKind::File { .. }) || self.excluded.contains(&i) {
                continue;
            }
            let hex = std::str::from_utf8(hashes.next()?).ok()?;
            let hash = blake3::Hash::from_hex(hex).ok()?;
            files.push(ManifestEntry {
                index: u32::try_from(i).ok()?,
                hash: *hash.as_bytes(),
            });
        }
        hashes.next().is_none().then_some(files)
    }
}

pub(super) fn hashes_hex(files: &[ManifestEntry]) -> String {
    let mut out = String::with_capacity(files.len() * 64);
    for f in files {
        out.push_str(blake3::Hash::from_bytes(f.hash).to_hex().as_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::manifest::tests::tree;

    #[test]
    fn a_saved_walk_reads_back_whole() {
        let entries = tree();
        let text = serde_json::to_string(&WalkedRef {
            entries: CompactEntries(&entries),
            warnings: &[],
        })
        .expect("encode");
        let walked: Walked = serde_json::from_str(&text).expect("decode");
        let back = expand(walked.entries).expect("entries");
        assert_eq!(format!("{back:?}"), format!("{entries:?}"));
    }

    #[test]
    fn a_saved_manifest_reads_back_against_its_walk_and_not_another() {
        let entries = tree();
        let files = vec![
            ManifestEntry {
                index: 1,
                hash: *blake3::hash(b"abc").as_bytes(),
            },
            ManifestEntry {
                index: 4,
                hash: *blake3::hash(b"").as_bytes(),
            },
        ];
        let text = serde_json::to_string(&Compressed {
            path: PathBuf::from("a.tar.zst"),
            len: 1,
            hashes: hashes_hex(&files),
            excluded: vec![3],
            warnings: vec![],
        })
        .expect("encode");
        let m: Compressed = serde_json::from_str(&text).expect("decode");
        let back = m.files(&entries).expect("files");
        let pairs = |f: &[ManifestEntry]| f.iter().map(|f| (f.index, f.hash)).collect::<Vec<_>>();
        assert_eq!(pairs(&back), pairs(&files));
        // A walk with another number of files is not the one these hashes belong to.
        assert!(m.files(&entries[..2]).is_none());
    }
}
