//! The page's section for rows 9 and 10: restore and verify.

use std::fmt::Write as _;

use super::*;

/// Row 9's goal: a restore that checks every file is no slower than `tar --zstd -xf`.
pub const RESTORE_GOAL_RATIO: f64 = 1.0;

impl Report {
    pub(super) fn restore(&self, p: &mut String) {
        let _ = writeln!(p, "## 9–10. Restore and verify\n");
        let r = match &self.restore {
            Ok(r) => r,
            Err(why) => {
                let _ = writeln!(p, "Not measured: {why}.\n");
                return;
            }
        };
        let d = &self.data;
        let _ = writeln!(
            p,
            "The tree's archive ({}, made by `tidemark snapshot`, untimed) restored into an \
             empty folder, and verified. Goal for row 9: at most {RESTORE_GOAL_RATIO:.1}× \
             `tar`.\n",
            mib(r.archive_bytes as f64)
        );
        let _ = writeln!(
            p,
            "| # | what | Tidemark | peer | peer's figure | ratio | notes |\n|---|---|---|---|---|---|---|"
        );
        let _ = writeln!(
            p,
            "| 9 | restore (decompress, BLAKE3 of every file checked against the manifest \
             before it takes its name, write): `tidemark restore A --to DIR` | {} | `tar --zstd \
             -xf A -C DIR` (no check) | {} | {} | {} vs {}; peak RSS {} vs {} |",
            time_stats(r.restore.ours.time()),
            time_stats(r.restore.peer.time()),
            ratio(&r.restore),
            throughput(d.bytes, &r.restore.ours),
            throughput(d.bytes, &r.restore.peer),
            rss_stats(&r.restore.ours),
            rss_stats(&r.restore.peer),
        );
        let _ = writeln!(
            p,
            "| 10 | verify (decompress, BLAKE3 of every file, compared with the manifest): \
             `tidemark verify A` | {} | `zstd -t A` (decompression alone) | {} | {} | {} of \
             the tree's bytes vs {} |\n",
            time_stats(r.verify.ours.time()),
            time_stats(r.verify.peer.time()),
            ratio(&r.verify),
            throughput(d.bytes, &r.verify.ours),
            throughput(d.bytes, &r.verify.peer),
        );
    }
}
