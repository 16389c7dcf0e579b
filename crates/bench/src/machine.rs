//! What the figures were measured on, read from the machine itself.

use std::fs;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: String,
    pub cpu_model: String,
    pub memory: String,
    /// `df -h` of the data folder: header and row.
    pub disk: Vec<String>,
    pub kernel: String,
    pub tools: Vec<String>,
    /// `/proc/loadavg`'s 1, 5 and 15 minute figures when the harness started.
    pub load_at_start: String,
}

/// The 1, 5 and 15 minute load averages, now.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" / "))
        .unwrap_or_else(|| "unknown".into())
}

/// The first line a command prints on stdout, if it runs.
fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .map(|l| l.trim().to_owned())
}

fn all_lines(program: &str, args: &[&str]) -> Vec<String> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub fn describe(data_dir: &Path) -> Machine {
    let cores = first_line("nproc", &[]).unwrap_or_else(|| "unknown".into());
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let kib: u64 = s
                .lines()
                .find(|l| l.starts_with("MemTotal:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(format!(
                "{:.1} GiB (MemTotal {kib} kB)",
                kib as f64 / 1024.0 / 1024.0
            ))
        })
        .unwrap_or_else(|| "unknown".into());
    let disk = all_lines("df", &["-h", &data_dir.to_string_lossy()]);
    let kernel = first_line("uname", &["-srm"]).unwrap_or_else(|| "unknown".into());
    let mut tools = Vec::new();
    for (program, args) in [
        ("tar", &["--version"][..]),
        ("zstd", &["--version"][..]),
        ("rsync", &["--version"][..]),
        ("rustc", &["--version"][..]),
    ] {
        if let Some(v) = first_line(program, args) {
            // "*** Zstandard CLI (64-bit) v1.5.4, by Yann Collet ***" and the like.
            let v = v.trim_matches(|c: char| c == '*' || c.is_whitespace());
            tools.push(v.split_whitespace().collect::<Vec<_>>().join(" "));
        }
    }
    Machine {
        load_at_start: load_average(),
        cores,
        cpu_model,
        memory,
        disk,
        kernel,
        tools,
    }
}
