//! What the CLI writes where: results on stdout, messages for the user on stderr, logs on
//! stderr only when asked for.

use std::process::Output;

use crate::util::*;

fn history(db: &std::path::Path, extra: &[&str]) -> Output {
    let mut c = tidemark();
    c.env("TIDEMARK_DB", db).env_remove("RUST_LOG");
    c.arg("history")
        .args(extra)
        .output()
        .expect("tidemark history")
}

#[test]
fn logs_reach_stderr_only_with_verbose() {
    let tmp = tempfile::tempdir().expect("tmp");
    let db = tmp.path().join("h.db");

    let quiet = history(&db, &[]);
    assert!(quiet.status.success());
    let stderr = String::from_utf8_lossy(&quiet.stderr);
    assert_eq!(stderr.trim(), "no jobs yet", "only the user's message");

    let verbose = history(&db, &["-v"]);
    assert!(verbose.status.success());
    let stderr = String::from_utf8_lossy(&verbose.stderr);
    let log = stderr
        .lines()
        .find(|l| l.contains(" INFO tidemark"))
        .unwrap_or_else(|| panic!("no log line with -v:\n{stderr}"));
    assert!(log.contains(&db.display().to_string()), "{log}");
    assert!(stderr.contains("no jobs yet"), "{stderr}");
    assert!(
        !stderr.contains("DEBUG"),
        "-v is info, not debug:\n{stderr}"
    );
}

/// Without `--db`, the history, config and logs follow the XDG folders (each variable
/// pointed at a temporary folder); with it, all three are beside the given history.
#[test]
fn paths_follow_xdg_unless_a_history_is_given() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = |name: &str| tmp.path().join(name);
    let paths = |db: Option<&std::path::Path>| {
        let mut c = std::process::Command::new(bin());
        c.env_remove("TIDEMARK_DB")
            .env("HOME", dir("home"))
            .env("XDG_DATA_HOME", dir("data"))
            .env("XDG_CONFIG_HOME", dir("config"))
            .env("XDG_STATE_HOME", dir("state"))
            .args(["paths", "--json"]);
        if let Some(db) = db {
            c.arg("--db").arg(db);
        }
        let out = c.output().expect("tidemark paths");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let standard = paths(None);
    let at =
        |v: &serde_json::Value, key: &str| std::path::PathBuf::from(v[key].as_str().expect(key));
    assert_eq!(at(&standard, "db"), dir("data/tidemark/history.db"));
    assert_eq!(at(&standard, "config"), dir("config/tidemark"));
    assert_eq!(at(&standard, "logs"), dir("state/tidemark/logs"));
    assert!(!dir("data").exists(), "`paths` creates nothing");

    let given = paths(Some(&dir("elsewhere/h.db")));
    assert_eq!(at(&given, "db"), dir("elsewhere/h.db"));
    assert_eq!(at(&given, "config"), dir("elsewhere"));
    assert_eq!(at(&given, "logs"), dir("elsewhere/logs"));
}
