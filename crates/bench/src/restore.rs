//! Rows 9 and 10: restoring an archive of the tree, every file checked against its manifest
//! as it is written, against `tar --zstd -xf`; and verify (the archive read once, every file
//! hashed and compared with its manifest) against `zstd -t` (decompression alone).

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use crate::data::count_tree;
use crate::measure::{Pair, compare, flush_disks};
use crate::rows::Ctx;

#[derive(Debug)]
pub struct Restore {
    pub restore: Pair,
    pub verify: Pair,
    /// The archive's size.
    pub archive_bytes: u64,
}

fn fresh(dir: &Path) {
    if dir.exists() {
        fs::remove_dir_all(dir).unwrap_or_else(|e| panic!("cannot remove {}: {e}", dir.display()));
    }
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
}

fn os(parts: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    parts.iter().map(|p| p.as_ref().to_owned()).collect()
}

/// The restored tree holds every file of the data set, with its bytes.
fn check(ctx: &Ctx, restored: &Path, who: &str) {
    let (files, _, bytes) = count_tree(&restored.join("tree"))
        .unwrap_or_else(|e| panic!("{who}: cannot read the restored tree: {e}"));
    assert_eq!(
        (files, bytes),
        (ctx.data.files, ctx.data.bytes),
        "{who} restored another tree"
    );
}

pub fn run(ctx: &Ctx) -> Restore {
    let dir = ctx.work.join("restore");
    fresh(&dir);
    let db = dir.join("restore.db");
    let env = [("TIDEMARK_DB", db.as_path())];
    eprintln!("[bench] restore: making the archive (untimed)");
    let made = os(&[&"snapshot", &ctx.data.root, &"--to", &dir, &"--name", &"r"]);
    ctx.runner.run(&ctx.tidemark, &made, &env);
    let archive = dir.join("r.tar.zst");
    let archive_bytes = fs::metadata(&archive)
        .unwrap_or_else(|e| panic!("no archive to restore: {e}"))
        .len();
    let (ours_out, peer_out) = (dir.join("ours"), dir.join("peer"));
    let restore = compare(
        "restore (process)",
        ctx.runs,
        |_| {
            fresh(&ours_out);
            flush_disks();
            let args = os(&[&"restore", &archive, &"--to", &ours_out]);
            let s = ctx.runner.run(&ctx.tidemark, &args, &env);
            check(ctx, &ours_out, "tidemark restore");
            s
        },
        |_| {
            fresh(&peer_out);
            flush_disks();
            let args = os(&[&"--zstd", &"-xf", &archive, &"-C", &peer_out]);
            let s = ctx.runner.run(Path::new("tar"), &args, &[]);
            check(ctx, &peer_out, "tar");
            s
        },
    );
    for d in [&ours_out, &peer_out] {
        let _ = fs::remove_dir_all(d);
    }
    let verify = compare(
        "verify (process)",
        ctx.runs,
        |_| {
            let args = os(&[&"verify", &archive]);
            ctx.runner.run(&ctx.tidemark, &args, &env)
        },
        |_| {
            let args = os(&[&"-t", &"-q", &archive]);
            ctx.runner.run(Path::new("zstd"), &args, &[])
        },
    );
    let _ = fs::remove_dir_all(&dir);
    Restore {
        restore,
        verify,
        archive_bytes,
    }
}
