//! Verify: the archive read once, each file hashed and compared with its manifest: every
//! file present with its hash, nothing extra. Also a manifest made from an archive that has
//! none (to compare it).

use std::collections::HashMap;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tar::EntryType;

use crate::error::JobError;
use crate::event::Step;
use crate::fsutil;
use crate::progress::Reporter;
use crate::restore::extract::manifest_key;
use crate::restore::manifest::{Manifest, ManifestFile};
use crate::restore::safety;
use crate::restore::source::{self, InputFailure, Location, read_error};
use crate::restore::{VerifySpec, listing, plural};

/// One regular file of the archive as read: its path under the top folder, size, time, hash.
struct Read1 {
    key: String,
    size: u64,
    mtime: i64,
    hash: blake3::Hash,
}

/// Reads every entry of the archive at `loc`, handing each regular file, hashed, to `each`.
/// Device files and names that leave the archive are refused as a restore refuses them.
fn each_file(
    loc: &Location,
    rep: Option<&mut Reporter>,
    each: &mut dyn FnMut(Read1, Option<&mut Reporter>),
) -> Result<(), JobError> {
    let (input, _) = loc.open()?;
    let read = Arc::new(AtomicU64::new(0));
    let failure = InputFailure::default();
    let stream = source::decompress(input, read.clone(), failure.clone())?;
    let mut rep = rep;
    let mut shown_bytes = 0;
    let mut archive = tar::Archive::new(stream);
    let mut buf = vec![0u8; 256 * 1024];
    let mut at: Option<String> = None;
    let err = |at: Option<&str>, e: io::Error| read_error(loc, &failure, at, e);
    for entry in archive.entries().map_err(|e| err(None, e))? {
        if let Some(r) = rep.as_deref_mut() {
            r.checkpoint()?;
        }
        let mut entry = entry.map_err(|e| err(at.as_deref(), e))?;
        let raw = entry
            .path()
            .map_err(|e| err(at.as_deref(), e))?
            .into_owned();
        let shown = raw.to_string_lossy().into_owned();
        at = Some(shown.clone());
        let kind = entry.header().entry_type();
        let Some(rel) = safety::entry_path(&raw, &shown, kind)? else {
            continue;
        };
        if !matches!(
            kind,
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
        ) {
            continue;
        }
        let mtime = entry.header().mtime().unwrap_or(0) as i64;
        let size = entry.size();
        let mut hasher = blake3::Hasher::new();
        loop {
            let n = match entry.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(err(Some(&shown), e)),
            };
            hasher.update(&buf[..n]);
            if let Some(r) = rep.as_deref_mut() {
                let now = read.load(Ordering::Relaxed);
                r.advance(0, now.saturating_sub(shown_bytes));
                shown_bytes = shown_bytes.max(now);
                r.checkpoint()?;
            }
        }
        let key = manifest_key(&rel);
        let key = if key.is_empty() {
            fsutil::display(&rel)
        } else {
            key
        };
        each(
            Read1 {
                key,
                size,
                mtime,
                hash: hasher.finalize(),
            },
            rep.as_deref_mut(),
        );
    }
    if let Some(r) = rep {
        let now = read.load(Ordering::Relaxed);
        r.advance(0, now.saturating_sub(shown_bytes));
    }
    Ok(())
}

/// The manifest of the archive at `location` made by reading it (its files' paths under
/// the top folder, sizes, times and hashes), for an archive that has none beside it.
pub fn archive_manifest(location: &str) -> Result<Manifest, JobError> {
    let loc = Location::parse(location)?;
    let mut files = Vec::new();
    each_file(&loc, None, &mut |f, _| {
        files.push(ManifestFile {
            path: f.key,
            size: f.size,
            mtime: f.mtime,
            blake3: f.hash.to_hex().to_string(),
        });
    })?;
    let archive = location
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(location)
        .to_owned();
    Ok(Manifest {
        version: 1,
        source: String::new(),
        archive,
        files,
    })
}

/// How many differences are kept as warnings: the first ones are what a user reads.
const KEPT: usize = 100;

/// Runs a verify; returns the archive's location.
pub fn run(spec: &VerifySpec, rep: &mut Reporter) -> Result<String, JobError> {
    rep.begin(Step::Checking, None, None, "Checking the archive");
    let loc = Location::parse(&spec.archive)?;
    // Opened once here so that a missing archive fails before its manifest is looked for.
    let (_probe, len) = loc.open()?;
    drop(_probe);
    rep.begin(Step::Reading, None, None, "Reading the manifest");
    let manifest =
        loc.manifest(spec.manifest.as_deref())?
            .ok_or_else(|| JobError::ManifestInvalid {
                manifest: super::manifest::beside(&loc.shown()),
                reason: "there is none beside the archive, and a verify needs one (give it \
                     with --manifest)"
                    .into(),
            })?;
    let expected: HashMap<&str, &ManifestFile> = manifest.by_path();
    rep.advance(expected.len() as u64, 0);
    rep.begin(
        Step::Verifying,
        Some(expected.len() as u64),
        len,
        format!("Verifying {}", loc.shown()),
    );
    let mut seen = std::collections::HashSet::new();
    let mut changed: Vec<String> = Vec::new();
    let mut extra: Vec<String> = Vec::new();
    let mut first_change: Option<(String, String, String)> = None;
    each_file(&loc, Some(rep), &mut |f, rep| {
        let Some(rep) = rep else { return };
        match expected.get(f.key.as_str()) {
            None => {
                if extra.len() + changed.len() < KEPT {
                    rep.warn(&f.key, "in the archive, not in the manifest");
                }
                extra.push(f.key);
            }
            Some(want) => {
                seen.insert(f.key.clone());
                rep.advance(1, 0);
                let hex = f.hash.to_hex().to_string();
                if hex != want.blake3 || f.size != want.size {
                    let what = if f.size != want.size {
                        format!(
                            "size {} in the archive, {} in the manifest",
                            f.size, want.size
                        )
                    } else {
                        "its BLAKE3 differs from the manifest's".into()
                    };
                    if extra.len() + changed.len() < KEPT {
                        rep.warn(&f.key, what);
                    }
                    if first_change.is_none() {
                        first_change = Some((f.key.clone(), want.blake3.clone(), hex));
                    }
                    changed.push(f.key);
                }
            }
        }
    })?;
    let missing: Vec<String> = manifest
        .files
        .iter()
        .filter(|f| !seen.contains(f.path.as_str()))
        .map(|f| f.path.clone())
        .collect();
    for m in missing
        .iter()
        .take(KEPT.saturating_sub(extra.len() + changed.len()))
    {
        rep.warn(m, "in the manifest, not in the archive");
    }
    if let Some((path, expected, actual)) = first_change {
        let others = changed.len() + extra.len() + missing.len() - 1;
        let path = if others > 0 {
            format!("{path} (and {} more)", plural(others, "difference"))
        } else {
            path
        };
        return Err(JobError::ChecksumMismatch {
            path,
            expected,
            actual,
        });
    }
    if !missing.is_empty() || !extra.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing {}", listing(&missing)));
        }
        if !extra.is_empty() {
            parts.push(format!("not in the manifest {}", listing(&extra)));
        }
        return Err(JobError::ArchiveMismatch(parts.join("; ")));
    }
    rep.set_message(format!(
        "Verified {}: every one present with its hash, nothing extra",
        plural(seen.len(), "file")
    ));
    Ok(loc.shown())
}
