//! Row 8: the desktop app's memory, idle and during a job. The release `tidemark-desktop` under
//! a virtual X server (`xvfb-run -a dbus-run-session --`), its history in the temp folder:
//! `VmRSS` of the app's process and, separately, of the WebKit processes it started (the page
//! is rendered in those, not in the app's own process). Idle, the app is started on its own;
//! for the job, through WebDriver (tauri-driver), which fills in the Jobs view's snapshot form
//! and clicks Start as a person would, so the modal follows the job's progress events.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tidemark_webdriver::{Session, wait_until_or};

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
    check(&bin)?;
    eprintln!("[bench] desktop app idle RSS");
    let data = work.join("desktop");
    fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let log = fs::File::create(data.join("desktop.log")).map_err(|e| e.to_string())?;
    let mut child = {
        Command::new("xvfb-run")
            .args(["-a", "dbus-run-session", "--"])
            .arg(&bin)
            .env("TIDEMARK_DB", data.join("history.db"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group, so the X server and the bus go with it at the end.
            .own_group()
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
        found = app_pid(root);
    }
    let settled_secs = start.elapsed().as_secs_f64();
    let reading = found.and_then(|app| {
        let app_kib = status_kib(app, "VmRSS:")?;
        let webkit = webkit(app);
        Some(Desktop {
            app_kib,
            app_anon_kib: status_kib(app, "RssAnon:").unwrap_or(0),
            app_file_kib: status_kib(app, "RssFile:").unwrap_or(0),
            app_top_files: top_files(app, 4),
            webkit,
            settled_secs,
        })
    });
    stop_group(child);
    reading.ok_or_else(|| "no tidemark-desktop process was found under xvfb-run".to_string())
}

fn check(bin: &Path) -> Result<(), String> {
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
    Ok(())
}

/// Starts a command in a process group of its own (the benchmarks run on Linux; elsewhere
/// the harness only has to compile).
trait OwnGroup {
    fn own_group(&mut self) -> &mut Self;
}

impl OwnGroup for Command {
    #[cfg(unix)]
    fn own_group(&mut self) -> &mut Self {
        std::os::unix::process::CommandExt::process_group(self, 0)
    }

    #[cfg(not(unix))]
    fn own_group(&mut self) -> &mut Self {
        self
    }
}

/// Ends a process group started with `own_group`: TERM, then KILL what is left.
fn stop_group(mut child: Child) {
    let root = child.id();
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
}

/// The app during a job, from the click on Start to the end the modal shows.
#[derive(Debug, Clone)]
pub struct DuringJob {
    /// `VmRSS` of the app's process just before the click (idle, but under WebDriver), KiB.
    pub before_kib: u64,
    /// The largest `VmRSS` of the app's process sampled during the job, KiB.
    pub app_peak_kib: u64,
    /// The largest sum of the WebKit processes' `VmRSS` sampled during the job, KiB.
    pub webkit_peak_kib: u64,
    /// `VmRSS` of the app's process [`AFTER`] after the job ended, KiB.
    pub after_kib: u64,
    /// `RssAnon` (the process's own memory) before, at the largest `VmRSS`, and after, KiB.
    pub anon_kib: [u64; 3],
    /// The state the modal ended in (`completed`, `failed`, ...).
    pub end_state: String,
    pub samples: usize,
    pub job_secs: f64,
}

/// How often the processes are read during the job.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// How long after the job's end the last reading is taken.
pub const AFTER: Duration = Duration::from_secs(10);
/// A job that has not ended by then is reported as not measured.
const JOB_TIMEOUT: Duration = Duration::from_secs(900);

/// Runs a snapshot of `tree` in the app, started from its window, and reads its memory
/// before, during and after. tauri-driver is `$TAURI_DRIVER` or on PATH.
pub fn measure_job(tidemark: &Path, work: &Path, tree: &Path) -> Result<DuringJob, String> {
    let bin = binary(tidemark);
    check(&bin)?;
    let driver = std::env::var_os("TAURI_DRIVER")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| on_path("tauri-driver").then(|| PathBuf::from("tauri-driver")))
        .ok_or("tauri-driver is not installed (`make bench` installs it into target/tools)")?;
    let native = Path::new("/usr/bin/WebKitWebDriver");
    if !native.is_file() {
        return Err(format!("{} is not installed", native.display()));
    }
    eprintln!("[bench] desktop app RSS during a job");
    let data = work.join("desktop-job");
    let archives = data.join("archives");
    fs::create_dir_all(&archives)
        .map_err(|e| format!("cannot create {}: {e}", archives.display()))?;
    let log = data.join("tauri-driver.log");
    let [port, native_port] = free_ports()?;
    let child = {
        Command::new("xvfb-run")
            .args([
                "-a",
                "-s",
                "-screen 0 1280x800x24",
                "dbus-run-session",
                "--",
            ])
            .arg(&driver)
            .args(["--port", &port.to_string()])
            .args(["--native-port", &native_port.to_string()])
            .arg("--native-driver")
            .arg(native)
            .env("TIDEMARK_DB", data.join("history.db"))
            // No accessibility bus: it would only be activated for nothing.
            .env("NO_AT_BRIDGE", "1")
            .env("XDG_DATA_HOME", data.join("xdg-data"))
            .env("XDG_CACHE_HOME", data.join("xdg-cache"))
            .env("XDG_CONFIG_HOME", data.join("xdg-config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(fs::File::create(&log).map_err(|e| e.to_string())?)
            .own_group()
            .spawn()
            .map_err(|e| format!("cannot run xvfb-run: {e}"))?
    };
    let root = child.id();
    let result = drive_job(&bin, root, port, tree, &archives);
    stop_group(child);
    result.map_err(|why| format!("{why} (tauri-driver's log: {})", log.display()))
}

fn drive_job(
    bin: &Path,
    root: u32,
    port: u16,
    tree: &Path,
    archives: &Path,
) -> Result<DuringJob, String> {
    let listening = wait_until_or(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    });
    listening.ok_or("tauri-driver did not listen")?;
    let s = Session::new(&format!("http://127.0.0.1:{port}"), bin)?;
    let started = Instant::now();
    let by_id = |id: &str| s.find(&format!("[data-testid={id}]"));
    wait_until_or(Duration::from_secs(60), || by_id("tab-jobs"))
        .ok_or("the window never showed")?;
    let app = wait_until_or(Duration::from_secs(10), || app_pid(root)).ok_or("no app process")?;
    if let Some(rest) = SETTLE.checked_sub(started.elapsed()) {
        std::thread::sleep(rest);
    }
    let before_kib = status_kib(app, "VmRSS:").ok_or("the app has gone")?;
    let anon = || status_kib(app, "RssAnon:").unwrap_or(0);
    let mut anon_kib = [anon(), 0, 0];
    for (id, text) in [
        ("snapshot-source", tree.display().to_string()),
        ("snapshot-destination", archives.display().to_string()),
    ] {
        let field = by_id(id).ok_or(format!("no {id} field"))?;
        s.clear(&field)?;
        s.type_text(&field, &text)?;
    }
    s.click(&by_id("start-snapshot").ok_or("no Start button")?)?;
    let clicked = Instant::now();
    let (mut app_peak_kib, mut webkit_peak_kib, mut samples) = (0, 0, 0);
    let mut shown = false;
    let end_state = loop {
        let app_kib = status_kib(app, "VmRSS:").ok_or("the app has gone during the job")?;
        if app_kib > app_peak_kib {
            app_peak_kib = app_kib;
            anon_kib[1] = anon();
        }
        webkit_peak_kib = webkit_peak_kib.max(webkit(app).iter().map(|(_, k)| k).sum());
        samples += 1;
        let state = by_id("modal").and_then(|m| s.attr(&m, "data-state"));
        match state.as_deref() {
            Some(end @ ("completed" | "failed" | "cancelled")) => break end.to_owned(),
            Some(_) => shown = true,
            // The modal closes itself a while after a success: gone once it was seen.
            None if shown => break "closed".to_owned(),
            None => {}
        }
        if clicked.elapsed() > JOB_TIMEOUT {
            return Err(format!("the job had not ended after {JOB_TIMEOUT:?}"));
        }
        std::thread::sleep(SAMPLE_EVERY);
    };
    let job_secs = clicked.elapsed().as_secs_f64();
    std::thread::sleep(AFTER);
    let after_kib = status_kib(app, "VmRSS:").ok_or("the app has gone after the job")?;
    anon_kib[2] = anon();
    s.quit();
    Ok(DuringJob {
        before_kib,
        app_peak_kib,
        webkit_peak_kib,
        after_kib,
        anon_kib,
        end_state,
        samples,
        job_secs,
    })
}

fn app_pid(root: u32) -> Option<u32> {
    descendants(root)
        .into_iter()
        .find(|&p| comm(p).is_some_and(|c| c.starts_with("tidemark-deskto")))
}

/// The WebKit processes under the app (name, `VmRSS` KiB).
fn webkit(app: u32) -> Vec<(String, u64)> {
    descendants(app)
        .into_iter()
        .filter_map(|p| {
            let name = comm(p)?;
            name.starts_with("WebKit")
                .then(|| Some((name, status_kib(p, "VmRSS:")?)))
                .flatten()
        })
        .collect()
}

/// Two distinct free ports, held together while chosen so they cannot be the same one.
fn free_ports() -> Result<[u16; 2], String> {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string());
    let (a, b) = (bind()?, bind()?);
    let port =
        |l: &std::net::TcpListener| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string());
    Ok([port(&a)?, port(&b)?])
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
