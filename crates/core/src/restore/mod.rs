//! Restoring and verifying an archive (any `.tar.zst`, Tidemark's or GNU tar's), read once,
//! as it arrives from a file or an http(s) URL. With the manifest beside it, each file is
//! checked against its BLAKE3 as it is written (restore) or read (verify).
//!
//! `source` opens the archive and decompresses it ahead; `safety` keeps entries inside the
//! target; `write` writes one entry; `extract` is the restore's loop; `verify` the verify's;
//! `manifest` reads a manifest back and lists its folders.

mod extract;
mod manifest;
mod safety;
mod source;
mod verify;
mod write;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};

use crate::error::JobError;
use crate::event::Step;
use crate::fsutil;
use crate::progress::{Reporter, StepPlan, group_digits};
pub use manifest::{Manifest, ManifestFile, TreeEntry};
pub(crate) use source::Location;
pub use verify::{archive_manifest, run as run_verify};

/// Restores an archive into a folder.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct RestoreSpec {
    /// A `.tar.zst` file, or an `http(s)://` URL to stream it from.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::archive))]
    pub archive: String,
    /// The folder to restore into; made when missing. The archive's top folder is made in it.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::restore_to))]
    pub to: PathBuf,
    /// Only these paths (files or folders, under the archive's top folder, `/`-separated);
    /// everything when empty.
    #[serde(default)]
    pub only: Vec<String>,
    /// Replace files already in the target; without it they are kept, with a warning each.
    #[serde(default)]
    pub overwrite: bool,
    /// The manifest to check against; by default `NAME.manifest.json` beside
    /// `NAME.tar.zst`, if there is one.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::manifest))]
    pub manifest: Option<String>,
}

/// Checks an archive against its manifest.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct VerifySpec {
    /// A `.tar.zst` file, or an `http(s)://` URL to stream it from.
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::archive))]
    pub archive: String,
    /// The manifest; by default the one beside the archive.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(schema_with = crate::openapi::manifest))]
    pub manifest: Option<String>,
}

/// Checking (the archive can be opened, the target made) · reading the manifest ·
/// extracting (every byte: decompress, hash, write) · verifying (nothing missing, folders'
/// modes and times).
pub fn restore_plan() -> StepPlan {
    StepPlan(vec![
        (Step::Checking, 0.0),
        (Step::Reading, 0.01),
        (Step::Extracting, 0.97),
        (Step::Verifying, 0.02),
    ])
}

/// Checking · reading the manifest · verifying (every byte: decompress, hash).
pub fn verify_plan() -> StepPlan {
    StepPlan(vec![
        (Step::Checking, 0.0),
        (Step::Reading, 0.01),
        (Step::Verifying, 0.99),
    ])
}

/// How many names a failure lists before "and N more".
const LISTED: usize = 10;

pub(crate) fn listing(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(LISTED)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED {
        s.push_str(&format!(" and {} more", names.len() - LISTED));
    }
    s
}

/// Runs a restore; returns the folder restored into.
pub fn run(spec: &RestoreSpec, rep: &mut Reporter) -> Result<String, JobError> {
    rep.begin(
        Step::Checking,
        None,
        None,
        "Checking the archive and the target",
    );
    let loc = Location::parse(&spec.archive)?;
    if spec.to.as_os_str().is_empty() {
        return Err(JobError::InvalidInput("the target folder is empty".into()));
    }
    std::fs::create_dir_all(&spec.to).map_err(|e| JobError::writing(&spec.to, e))?;
    // Entries are checked against the real folder: a link given as the target is the user's.
    let root = dunce::canonicalize(&spec.to).map_err(|e| JobError::writing(&spec.to, e))?;
    if !root.is_dir() {
        return Err(JobError::InvalidInput(format!(
            "{} is not a folder",
            spec.to.display()
        )));
    }
    let only = extract::normalize_only(&spec.only);
    let (input, len) = loc.open()?;

    rep.begin(Step::Reading, None, None, "Reading the manifest");
    let manifest = loc.manifest(spec.manifest.as_deref())?;
    let expected = manifest.as_ref().map(Manifest::by_path);
    let wanted_files: Vec<&ManifestFile> = manifest
        .iter()
        .flat_map(|m| &m.files)
        .filter(|f| {
            only.is_empty()
                || only
                    .iter()
                    .any(|p| f.path == *p || f.path.starts_with(&format!("{p}/")))
        })
        .collect();
    rep.advance(wanted_files.len() as u64, 0);

    let done = rep.saved::<extract::Done>(extract::KEY_DONE);
    let skip = match done {
        Some(d) => {
            for w in d.warnings.into_iter().skip(rep.warnings().len()) {
                rep.warn(w.path, w.message);
            }
            d.entries
        }
        None => 0,
    };
    if rep.is_resumed() {
        fsutil::remove_stale_partials(&root, None);
    }
    let total = manifest.as_ref().map(|_| wanted_files.len() as u64);
    rep.begin(
        Step::Extracting,
        total,
        len,
        format!("Restoring into {}", root.display()),
    );
    let read = Arc::new(AtomicU64::new(0));
    let failure = source::InputFailure::default();
    let stream = source::decompress(input, read.clone(), failure.clone())?;
    let job = extract::Job {
        loc: &loc,
        failure: &failure,
        root: &root,
        only: &only,
        overwrite: spec.overwrite,
        skip,
        resumed: rep.is_resumed(),
        expected,
        read,
    };
    let out = extract::extract(&job, stream, rep)?;

    rep.begin(
        Step::Verifying,
        Some(out.folders.len() as u64),
        None,
        "Checking that nothing is missing",
    );
    let missing: Vec<String> = wanted_files
        .iter()
        .filter(|f| !out.seen.contains(&f.path))
        .map(|f| f.path.clone())
        .collect();
    if !missing.is_empty() {
        return Err(JobError::ArchiveMismatch(format!(
            "{} listed in the manifest, not in the archive: {}",
            plural(missing.len(), "file"),
            listing(&missing)
        )));
    }
    if !only.is_empty() && out.seen.is_empty() && out.folders.is_empty() {
        return Err(JobError::InvalidInput(format!(
            "nothing in the archive matches {}",
            only.join(", ")
        )));
    }
    write::finish_folders(&root, &out.folders, rep);
    extract::save(rep, u64::MAX);
    rep.set_message(format!(
        "Restored {}{}{}",
        plural(out.files as usize, "file"),
        if manifest.is_some() {
            ", each checked against the manifest"
        } else {
            ""
        },
        if out.kept > 0 {
            format!("; {} already there kept", group_digits(out.kept))
        } else {
            String::new()
        }
    ));
    Ok(root.to_string_lossy().into_owned())
}

pub(crate) fn plural(n: usize, what: &str) -> String {
    format!(
        "{} {what}{}",
        group_digits(n as u64),
        if n == 1 { "" } else { "s" }
    )
}
