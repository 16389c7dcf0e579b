//! `tidemark diff OLD NEW`: what changed between two snapshots, from their manifests (or
//! their archives), as lines (`+` added, `-` removed, `~` changed) and totals, or as JSON.

use std::process::ExitCode;

use tidemark_core::compare::{self, load_snapshot};
use tidemark_core::progress::group_digits;

use crate::{fail, ui};

pub fn run(old: &str, new: &str, json: bool) -> ExitCode {
    let loaded = load_snapshot(old).and_then(|o| Ok((o, load_snapshot(new)?)));
    let (old_m, new_m) = match loaded {
        Ok(pair) => pair,
        Err(e) => return fail(e.code(), e),
    };
    let report = compare::compare(&old_m, &new_m);
    ui::output(|out| {
        if json {
            return writeln!(
                out,
                "{}",
                serde_json::to_string(&report).unwrap_or_default()
            );
        }
        for c in &report.added {
            writeln!(out, "+ {}  ({})", c.path, bytes(c.new_size))?;
        }
        for c in &report.removed {
            writeln!(out, "- {}  ({})", c.path, bytes(c.old_size))?;
        }
        for c in &report.changed {
            writeln!(
                out,
                "~ {}  ({} → {})",
                c.path,
                bytes(c.old_size),
                bytes(c.new_size)
            )?;
        }
        let t = &report.totals;
        writeln!(
            out,
            "{} added ({}), {} removed ({}), {} changed ({} → {}), {} unchanged",
            t.added,
            bytes(Some(t.added_bytes)),
            t.removed,
            bytes(Some(t.removed_bytes)),
            t.changed,
            bytes(Some(t.changed_old_bytes)),
            bytes(Some(t.changed_new_bytes)),
            t.unchanged
        )
    })
}

fn bytes(n: Option<u64>) -> String {
    match n {
        Some(n) => format!("{} bytes", group_digits(n)),
        None => "-".into(),
    }
}
