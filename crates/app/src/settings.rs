//! Settings and the agents list: JSON files next to the history database, written whole
//! through a temporary file so a crash never leaves half a file.

use std::fs;
use std::path::Path;

use chrono::NaiveTime;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};
use crate::types::{QuietHours, Settings};

pub const SETTINGS_FILE: &str = "settings.json";
pub const AGENTS_FILE: &str = "agents.json";
/// Agents' tokens, where no keychain answers (see `tokens`). Not `agent-tokens.json`: that
/// is where `tidemark agent` keeps its own tokens, by default in this very folder.
pub const TOKENS_FILE: &str = "desktop-agent-tokens.json";
/// Every file the app keeps in its config folder.
pub const CONFIG_FILES: [&str; 3] = [SETTINGS_FILE, AGENTS_FILE, TOKENS_FILE];

/// Reads `path`, or gives the default when it is missing. A damaged file also gives the
/// default (and says so): settings must never keep the app from starting.
pub fn load_json<T: DeserializeOwned + Default>(path: &Path) -> T {
    match fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            tracing::warn!(
                "ignoring {} (not valid: {e}); using defaults",
                path.display()
            );
            T::default()
        }),
        Err(_) => T::default(),
    }
}

pub fn save_json<T: Serialize>(path: &Path, value: &T, private: bool) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| Error::Internal(format!("{} has no folder", path.display())))?;
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    let json = serde_json::to_vec_pretty(value).map_err(|e| Error::Internal(e.to_string()))?;
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, json).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    if private {
        restrict(&tmp)?;
    }
    fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

// The agents file holds tokens: only its owner may read it.
#[cfg(unix)]
fn restrict(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
        .map_err(|e| Error::io(format!("protecting {}", path.display()), e))
}

/// Windows keeps a user's profile folders (`%APPDATA%`) to that user already.
#[cfg(not(unix))]
fn restrict(_: &Path) -> Result<()> {
    Ok(())
}

/// Parses "HH:MM" (24-hour).
pub fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    NaiveTime::from_hms_opt(h.parse().ok()?, m.parse().ok()?, 0)
}

/// Refuses settings the policy could not apply.
/// The most jobs one process may run at once: more would only share the same disks.
pub const MAX_JOBS_LIMIT: u32 = 16;

pub fn validate(settings: &Settings) -> Result<()> {
    if !(1..=MAX_JOBS_LIMIT).contains(&settings.max_jobs) {
        return Err(Error::InvalidInput(format!(
            "jobs at once must be from 1 to {MAX_JOBS_LIMIT}, not {}",
            settings.max_jobs
        )));
    }
    if let Some(q) = &settings.quiet_hours {
        for (what, v) in [("start", &q.start), ("end", &q.end)] {
            if parse_hhmm(v).is_none() {
                return Err(Error::InvalidInput(format!(
                    "quiet hours {what} {v:?} is not a time like 22:00"
                )));
            }
        }
    }
    Ok(())
}

/// Whether `now` (local time) falls in the quiet hours: from `start` included to `end`
/// excluded, across midnight when `end` comes first. Equal ends mean no quiet time.
pub fn in_quiet_hours(quiet: &QuietHours, now: NaiveTime) -> bool {
    let (Some(start), Some(end)) = (parse_hhmm(&quiet.start), parse_hhmm(&quiet.end)) else {
        return false;
    };
    if start <= end {
        start <= now && now < end
    } else {
        now >= start || now < end
    }
}
