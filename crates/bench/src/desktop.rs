//! Row 8: the desktop app's memory when idle. The release `tidemark-desktop` under a virtual X
//! server (`xvfb-run -a dbus-run-session --`), its history in the temp folder; once it has
//! settled, `VmRSS` of the app's process and, separately, of the WebKit processes it started
//! (the page is rendered in those, not in the app's own process).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the app is given to start and show its window before it counts as idle.
pub const SETTLE: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct Desktop {
    /// `VmRSS` of the `tidemark-desktop` process, KiB.
    pub app_kib: u64,
    /// Its `RssAnon` (its own heap and stacks) and `RssFile` (pages of mapped files: its
    /// binary and the libraries, shared with other processes that map them), KiB.
    pub app_anon_kib: u64,
    pub app_file_kib: u64,
    /// The mapped files holding the most of its RSS (file name, KiB), largest first.
    pub app_top_files: Vec<(String, u64)>,
    /// `VmRSS` of each WebKit process under it (name, KiB).
    pub webkit: Vec<(String, u64)>,
    /// From the spawn to the reading.
    pub settled_secs: f64,
}

/// The desktop binary next to the tidemark one (same target folder).
pub fn binary(tidemark: &Path) -> PathBuf {
    tidemark.with_file_name("tidemark-desktop")
}

pub fn measure(tidemark: &Path, work: &Path) -> Result<Desktop, String> {
    let bin = binary(tidemark);
    if !bin.is_file() {
        return Err(format!(
            "{} is not built (`make ui-build`, then `cargo build --release -p tidemark-desktop`)",
            bin.display()
        ));
    }
    for tool in ["xvfb-run", "dbus-run-session"] {
        if !on_path(tool) {
            return Err(format!("{tool} is not installed"));
        }
    }
    eprintln!("[bench] desktop app idle RSS");
    let data = work.join("desktop");
    fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let log = fs::File::create(data.join("desktop.log")).map_err(|e| e.to_string())?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new("xvfb-run")
            .args(["-a", "dbus-run-session", "--"])
            .arg(&bin)
            .env("TIDEMARK_DB", data.join("history.db"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so the X server and the bus go with it at the end.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run xvfb-run: {e}"))?
    };
    let start = Instant::now();
    let root = child.id();
    let mut found = None;
    while start.elapsed() < SETTLE {
        std::thread::sleep(Duration::from_millis(500));
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the app exited ({status}) before it settled; see {}",
                data.join("desktop.log").display()
            ));
        }
        found = descendants(root)
            .into_iter()
            .find(|&p| comm(p).is_some_and(|c| c.starts_with("tidemark-deskto")));
    }
    let settled_secs = start.elapsed().as_secs_f64();
    let reading = found.and_then(|app| {
        let app_kib = status_kib(app, "VmRSS:")?;
        let webkit = descendants(app)
            .into_iter()
            .filter_map(|p| {
                let name = comm(p)?;
                name.starts_with("WebKit")
                    .then(|| Some((name, status_kib(p, "VmRSS:")?)))
                    .flatten()
            })
            .collect();
        Some(Desktop {
            app_kib,
            app_anon_kib: status_kib(app, "RssAnon:").unwrap_or(0),
            app_file_kib: status_kib(app, "RssFile:").unwrap_or(0),
            app_top_files: top_files(app, 4),
            webkit,
            settled_secs,
        })
    });
    let _best_effort = Command::new("kill")
        .args(["-TERM", "--", &format!("-{root}")])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _best_effort = Command::new("kill")
        .args(["-KILL", "--", &format!("-{root}")])
        .status();
    let _reaped = child.wait();
    reading.ok_or_else(|| "no tidemark-desktop process was found under xvfb-run".to_string())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()))
}

fn comm(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_owned())
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `n` mapped files with the most resident pages in `pid`, from /proc/PID/smaps.
fn top_files(pid: u32, n: usize) -> Vec<(String, u64)> {
    let Ok(smaps) = fs::read_to_string(format!("/proc/{pid}/smaps")) else {
        return Vec::new();
    };
    let mut by_file: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut current: Option<String> = None;
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: address range, perms, offset, device, inode, path.
            current = words
                .nth(4)
                .filter(|p| p.starts_with('/'))
                .map(|p| p.rsplit('/').next().unwrap_or(p).to_owned());
        } else if first == "Rss:"
            && let Some(file) = &current
            && let Some(kib) = words.next().and_then(|k| k.parse::<u64>().ok())
        {
            *by_file.entry(file.clone()).or_default() += kib;
        }
    }
    let mut files: Vec<(String, u64)> = by_file.into_iter().collect();
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    files.truncate(n);
    files
}

fn parent(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name may hold spaces and parentheses: the fields after it follow the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Every process under `root`, at any depth.
fn descendants(root: u32) -> Vec<u32> {
    let pids: Vec<(u32, u32)> = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, parent(p)?)))
        .collect();
    let mut out = Vec::new();
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(child, _) in pids.iter().filter(|(_, pp)| *pp == p) {
            out.push(child);
            frontier.push(child);
        }
    }
    out
}
