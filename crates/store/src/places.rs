//! Where Tidemark keeps its things unless told otherwise, by each platform's conventions:
//!
//! | | Linux (XDG) | macOS | Windows |
//! |---|---|---|---|
//! | history | `$XDG_DATA_HOME/tidemark` (`~/.local/share`) | `~/Library/Application Support/tidemark` | `%APPDATA%\tidemark` |
//! | settings, agents, tokens | `$XDG_CONFIG_HOME/tidemark` (`~/.config`) | the same as the history | `%APPDATA%\tidemark` |
//! | logs | `$XDG_STATE_HOME/tidemark/logs` (`~/.local/state`) | `~/Library/Logs/tidemark` | `%LOCALAPPDATA%\tidemark\logs` |
//!
//! A history given by path (`--db`, `TIDEMARK_DB`) takes everything with it into its folder,
//! so a test or a portable setup never touches the user's own.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

const APP: &str = "tidemark";
const DB_FILE: &str = "history.db";

/// The three folders, and the history's file in the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Places {
    /// The history database.
    pub db: PathBuf,
    /// Settings, known agents, an agent's tokens.
    pub config: PathBuf,
    /// Log files.
    pub logs: PathBuf,
}

impl Places {
    /// The platform's own folders; `None` where it has no home folder to put them in.
    pub fn standard() -> Option<Places> {
        let data = dirs::data_dir()?.join(APP);
        let config = if cfg!(target_os = "linux") {
            dirs::config_dir()?.join(APP)
        } else {
            data.clone()
        };
        let logs = if cfg!(target_os = "macos") {
            dirs::home_dir()?.join("Library/Logs").join(APP)
        } else if cfg!(windows) {
            dirs::data_local_dir()?.join(APP).join("logs")
        } else {
            dirs::state_dir()
                .unwrap_or_else(|| data.clone())
                .join(APP)
                .join("logs")
        };
        Some(Places {
            db: data.join(DB_FILE),
            config,
            logs,
        })
    }

    /// Everything in the folder of the history at `db`.
    pub fn beside(db: &Path) -> Places {
        let dir = db.parent().unwrap_or(Path::new(".")).to_path_buf();
        Places {
            db: db.to_path_buf(),
            logs: dir.join("logs"),
            config: dir,
        }
    }

    /// The history at `db` when given, else the platform's folders.
    pub fn for_db(db: Option<PathBuf>) -> Option<Places> {
        match db {
            Some(db) => Some(Places::beside(&db)),
            None => Places::standard(),
        }
    }

    /// Moves the config files `names` that an older Tidemark kept beside the history into
    /// the config folder, where that differs and holds none of its own yet. Best effort: a
    /// file that cannot be moved stays readable where it is, only not read.
    pub fn adopt_config_kept_beside_the_history(&self, names: &[&str]) {
        let Some(old) = self.db.parent() else { return };
        if old == self.config {
            return;
        }
        for name in names {
            let (from, to) = (old.join(name), self.config.join(name));
            if from.exists() && !to.exists() {
                let moved = fs::create_dir_all(&self.config).and_then(|()| fs::rename(&from, &to));
                match moved {
                    Ok(()) => tracing::info!("moved {} to {}", from.display(), to.display()),
                    Err(e) => {
                        tracing::warn!("could not move {} to {}: {e}", from.display(), to.display())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_history_takes_config_and_logs_into_its_folder() {
        let p = Places::beside(Path::new("/x/y/h.db"));
        assert_eq!(p.config, Path::new("/x/y"));
        assert_eq!(p.logs, Path::new("/x/y/logs"));
    }

    /// Each platform's own conventions, checked where the test runs (the Windows build's
    /// under Wine by `make test`, macOS on its CI job).
    #[test]
    fn the_standard_folders_follow_the_platform() {
        let Some(p) = Places::standard() else { return };
        let home = dirs::home_dir().expect("home");
        let under = |path: &Path, what: &str| {
            assert!(
                path.starts_with(&home),
                "{what} {} under {}",
                path.display(),
                home.display()
            );
        };
        under(&p.db, "history");
        assert!(p.db.ends_with("tidemark/history.db"), "{}", p.db.display());
        if cfg!(target_os = "linux") {
            assert_eq!(
                p.db.parent(),
                dirs::data_dir().map(|d| d.join("tidemark")).as_deref()
            );
            assert!(p.config.ends_with("tidemark") && p.config != p.db.parent().expect("dir"));
            assert!(p.logs.ends_with("tidemark/logs"));
        } else if cfg!(target_os = "macos") {
            assert!(p.db.starts_with(home.join("Library/Application Support")));
            assert_eq!(p.logs, home.join("Library/Logs/tidemark"));
        } else if cfg!(windows) {
            let appdata = std::env::var_os("APPDATA")
                .map(PathBuf::from)
                .expect("%APPDATA%");
            let local = std::env::var_os("LOCALAPPDATA")
                .map(PathBuf::from)
                .expect("%LOCALAPPDATA%");
            assert_eq!(p.db, appdata.join("tidemark").join("history.db"));
            assert_eq!(p.config, appdata.join("tidemark"));
            assert_eq!(p.logs, local.join("tidemark").join("logs"));
        }
    }

    #[test]
    fn config_kept_beside_an_old_history_moves_once() {
        let tmp = tempfile::tempdir().expect("tmp");
        let p = Places {
            db: tmp.path().join("data/history.db"),
            config: tmp.path().join("config"),
            logs: tmp.path().join("logs"),
        };
        fs::create_dir_all(tmp.path().join("data")).expect("dir");
        fs::write(tmp.path().join("data/settings.json"), "old").expect("write");
        fs::write(tmp.path().join("data/agents.json"), "old agents").expect("write");
        fs::create_dir_all(&p.config).expect("dir");
        fs::write(p.config.join("agents.json"), "new agents").expect("write");
        p.adopt_config_kept_beside_the_history(&["settings.json", "agents.json", "none.json"]);
        assert_eq!(
            fs::read_to_string(p.config.join("settings.json")).expect("moved"),
            "old"
        );
        assert!(!tmp.path().join("data/settings.json").exists());
        assert_eq!(
            fs::read_to_string(p.config.join("agents.json")).expect("kept"),
            "new agents"
        );
    }
}
