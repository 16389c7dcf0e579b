//! One real desktop app per test, isolated: its own history folder, its own D-Bus session
//! bus with a recording notification service and a tray watcher, its own tauri-driver.
//! The X display is shared (the suite runs under `xvfb-run`, see `make e2e-desktop`).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::webdriver::{Element, Session, wait_until, wait_until_or};

pub const SHORT: Duration = Duration::from_secs(20);
pub const LONG: Duration = Duration::from_secs(120);

/// `target/<profile>`, where cargo put this test and the binaries it drives.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

fn built(name: &str) -> PathBuf {
    let bin = profile_dir().join(name);
    assert!(
        bin.exists(),
        "{} missing: run the suite with `make e2e-desktop`, which builds it",
        bin.display()
    );
    bin
}

pub fn desktop_bin() -> PathBuf {
    built("tidemark-desktop")
}

pub fn cli_bin() -> PathBuf {
    built("tidemark")
}

/// Where the suite leaves screenshots for a person to look at.
pub fn shots_dir() -> PathBuf {
    let dir = profile_dir().parent().expect("target").join("e2e");
    std::fs::create_dir_all(&dir).expect("target/e2e");
    dir
}

/// A child process killed with the test, whatever the test's outcome.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A child in a process group of its own, killed with everything it started: tauri-driver
/// starts WebKitWebDriver, which starts the app, and neither dies with its parent.
#[derive(Debug)]
pub struct Group(pub Child);

impl Group {
    fn spawn(cmd: &mut Command) -> std::io::Result<Group> {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0).spawn().map(Group)
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .status();
        let _ = self.0.wait();
    }
}

/// The private session bus and the services on it.
#[derive(Debug)]
pub struct Bus {
    pub address: String,
    pub record: PathBuf,
    // Dropped in order: the services before their bus.
    _services: Proc,
    _daemon: Proc,
}

impl Bus {
    fn start(dir: &Path) -> Bus {
        assert!(
            std::env::var_os("DISPLAY").is_some(),
            "no X display: run the suite with `make e2e-desktop` (it starts Xvfb)"
        );
        let mut daemon = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}", dir.join("bus").display()))
            .stdout(Stdio::piped())
            // Its complaints about fd limits it may not raise are noise here.
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (package dbus)");
        let mut line = String::new();
        BufReader::new(daemon.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("bus address");
        let daemon = Proc(daemon);
        let address = line.trim().to_owned();
        let record = dir.join("bus-record.jsonl");
        let services = Proc(
            Command::new(PYTHON)
                .arg(script())
                .arg("serve")
                .arg(&record)
                .env("DBUS_SESSION_BUS_ADDRESS", &address)
                .spawn()
                .expect("/usr/bin/python3 (packages python3-dbus, python3-gi)"),
        );
        let mut bus = Bus {
            address,
            record,
            _services: services,
            _daemon: daemon,
        };
        wait_until("the test's D-Bus services", SHORT, || {
            if let Ok(Some(status)) = bus._services.0.try_wait() {
                panic!("{} serve exited: {status}", script().display());
            }
            bus.entries("ready").first().cloned()
        });
        bus
    }

    /// What the services recorded, of one kind, in order.
    pub fn entries(&self, kind: &str) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["kind"] == kind)
            .collect()
    }

    pub fn notifications(&self) -> Vec<(String, String)> {
        self.entries("notification")
            .iter()
            .map(|n| {
                (
                    n["summary"].as_str().unwrap_or_default().to_owned(),
                    n["body"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// Waits for a notification whose summary contains `summary`.
    pub fn wait_notification(&self, summary: &str) -> (String, String) {
        wait_until(&format!("a notification {summary:?}"), SHORT, || {
            self.notifications()
                .into_iter()
                .find(|(s, _)| s.contains(summary))
        })
    }

    /// The tray icon's properties and menu items, as a tray host sees them.
    pub fn tray_menu(&self) -> Result<Value, String> {
        let out = self.tray(&["menu"])?;
        serde_json::from_str(&out).map_err(|e| format!("{e}: {out}"))
    }

    /// The bytes of the image the tray icon shows now.
    pub fn tray_icon(&self) -> Option<Vec<u8>> {
        let menu = self.tray_menu().ok()?;
        let name = menu["IconName"].as_str().filter(|n| !n.is_empty())?;
        let path = if name.starts_with('/') {
            PathBuf::from(name)
        } else {
            Path::new(menu["IconThemePath"].as_str()?).join(format!("{name}.png"))
        };
        std::fs::read(path).ok()
    }

    pub fn tray_click(&self, label: &str) -> Result<(), String> {
        self.tray(&["click", label]).map(|_| ())
    }

    fn tray(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new(PYTHON)
            .arg(script())
            .arg("tray")
            .arg(&self.record)
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

/// tauri-driver on a free port, and a session on the app through it. The app inherits the
/// driver's environment: the test's history, bus, temporary and XDG folders.
fn launch(dir: &Path, db: &Path, bus: &Bus) -> (Session, Group) {
    // A driver that cannot bring its WebKitWebDriver up (a port taken meanwhile) drops the
    // session request; a fresh driver on fresh ports gets it.
    let mut last = String::new();
    for attempt in 1..=3 {
        let (port, native) = two_free_ports();
        let log = dir.join(format!("tauri-driver-{attempt}.log"));
        let driver = Group::spawn(
            Command::new(std::env::var_os("TAURI_DRIVER").unwrap_or("tauri-driver".into()))
                .args(["--port", &port.to_string()])
                .args(["--native-port", &native.to_string()])
                .args(["--native-driver", "/usr/bin/WebKitWebDriver"])
                .env("TIDEMARK_DB", db)
                .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
                // No accessibility bus: it would be activated on the test's bus for nothing.
                .env("NO_AT_BRIDGE", "1")
                // Staged archives, WebKit's caches and window state stay in the test's folder.
                .env("TMPDIR", tmp_dir(dir))
                .env("XDG_DATA_HOME", dir.join("xdg-data"))
                .env("XDG_CACHE_HOME", dir.join("xdg-cache"))
                .env("XDG_CONFIG_HOME", dir.join("xdg-config"))
                // Login items go under $HOME/.config/autostart whatever XDG says: the
                // test's own home, never the user's.
                .env("HOME", dir.join("home"))
                .stdout(std::fs::File::create(&log).expect("log file"))
                .stderr(std::fs::File::create(log.with_extension("err")).expect("log file")),
        )
        .expect("tauri-driver (make e2e-desktop installs it)");
        wait_until("tauri-driver to listen", SHORT, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        });
        match Session::new(&format!("http://127.0.0.1:{port}"), &desktop_bin()) {
            Ok(s) => {
                s.wait("[data-testid=tab-jobs]", LONG);
                return (s, driver);
            }
            Err(e) => {
                let said = std::fs::read_to_string(&log).unwrap_or_default()
                    + &std::fs::read_to_string(log.with_extension("err")).unwrap_or_default();
                last = format!("{e}\ntauri-driver said:\n{said}");
                eprintln!("attempt {attempt}: no WebDriver session: {last}");
            }
        }
    }
    panic!("no WebDriver session on the app: {last}")
}

/// The app's temporary folder (TMPDIR), where a snapshot to a URL stages its archive.
pub fn tmp_dir(dir: &Path) -> PathBuf {
    let tmp = dir.join("app-tmp");
    std::fs::create_dir_all(&tmp).expect("app tmp");
    tmp
}

/// Two distinct free ports, held together while chosen so they cannot be the same one.
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind");
    let ports = (
        a.local_addr().expect("addr").port(),
        b.local_addr().expect("addr").port(),
    );
    drop((a, b));
    ports
}

/// The system's Python, which python3-dbus and python3-gi belong to (a Python earlier on
/// PATH, e.g. a version manager's, lacks them).
const PYTHON: &str = "/usr/bin/python3";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("desktop_bus.py")
}

/// The main window's map state ("viewable", "unmapped"), as the X server has it.
pub fn window_state(title: &str) -> String {
    x_helper(&["state", title]).trim().to_owned()
}

/// Asks the window titled `title` to close, as a title bar's close button does.
pub fn close_window(title: &str) {
    x_helper(&["close", title]);
}

fn x_helper(args: &[&str]) -> String {
    let out = Command::new(PYTHON)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("desktop_x.py"))
        .args(args)
        .output()
        .expect("/usr/bin/python3 (package python3-xlib)");
    assert!(
        out.status.success(),
        "desktop_x.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The app under test, driven through its webview.
#[derive(Debug)]
pub struct Desktop {
    pub dir: PathBuf,
    pub db: PathBuf,
    pub bus: Bus,
    pub s: Session,
    name: String,
    driver: Option<Group>,
}

impl Desktop {
    /// Starts the app on a fresh history in `dir` (a test's temporary folder).
    pub fn start(dir: &Path, name: &str) -> Desktop {
        let bus = Bus::start(dir);
        let data = dir.join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let db = data.join("history.db");
        let (s, driver) = launch(dir, &db, &bus);
        let app = Desktop {
            dir: dir.to_path_buf(),
            db,
            bus,
            s,
            name: name.to_owned(),
            driver: Some(driver),
        };
        // The app opens on its Plans; most scenarios start a job by hand, on Jobs.
        app.tab("jobs");
        app
    }

    /// Starts the app as [`Desktop::start`] does, left on its first screen (Plans).
    pub fn start_on_plans(dir: &Path, name: &str) -> Desktop {
        let app = Desktop::start(dir, name);
        app.tab("plans");
        app
    }

    /// Starts the app again on the same history and bus (after it was killed).
    pub fn restart(&mut self) {
        self.s.quit();
        // The old driver and its WebKitWebDriver go first.
        self.driver = None;
        let (s, driver) = launch(&self.dir, &self.db, &self.bus);
        self.s = s;
        self.driver = Some(driver);
        self.tab("jobs");
    }

    pub fn el(&self, testid: &str) -> Element {
        self.s.wait(&format!("[data-testid={testid}]"), SHORT)
    }

    pub fn click(&self, testid: &str) {
        let e = self.el(testid);
        self.s
            .click(&e)
            .unwrap_or_else(|err| panic!("{testid}: {err}"));
    }

    pub fn fill(&self, testid: &str, text: &str) {
        let e = self.el(testid);
        let typed = self.s.clear(&e).and_then(|()| self.s.type_text(&e, text));
        typed.unwrap_or_else(|err| panic!("{testid}: {err}"));
    }

    pub fn text(&self, testid: &str) -> String {
        self.s
            .find(&format!("[data-testid={testid}]"))
            .map(|e| self.s.text(&e))
            .unwrap_or_default()
    }

    pub fn tab(&self, name: &str) {
        self.click(&format!("tab-{name}"));
    }

    pub fn modal_state(&self) -> Option<String> {
        self.s
            .find("[data-testid=modal]")
            .and_then(|m| self.s.attr(&m, "data-state"))
    }

    /// Waits until the modal has shown the job in `state`, by the observer's record (see
    /// [`Self::observe_modal`]), so a state shown only briefly is not missed between polls.
    pub fn wait_modal(&self, state: &str, timeout: Duration) {
        let what = format!("the modal in state {state}");
        let found = wait_until_or(timeout, || {
            self.observed()
                .iter()
                .any(|s| s["state"] == state)
                .then_some(())
        });
        if found.is_none() {
            panic!(
                "waited {timeout:?} for {what}; the modal showed: {}",
                serde_json::to_string_pretty(&self.observed()).unwrap_or_default()
            );
        }
    }

    pub fn wait_modal_gone(&self, timeout: Duration) {
        wait_until("the modal to close", timeout, || {
            self.s.find("[data-testid=modal]").is_none().then_some(())
        });
    }

    /// Starts recording every state the modal shows, as the DOM changes, so a test can
    /// check the whole sequence afterwards rather than what a poll happened to catch.
    pub fn observe_modal(&self) {
        self.s
            .script(OBSERVER, json!([]))
            .expect("install the modal observer");
    }

    pub fn observed(&self) -> Vec<Value> {
        self.s
            .script("return window.__tmSeen || [];", json!([]))
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits until the modal is laid out on screen in `state` and the webview has painted a
    /// frame since: the observer sees the DOM, but a screenshot shows what was painted, and
    /// under Xvfb the first paint of a just-opened modal can come well after its DOM.
    pub fn wait_modal_on_screen(&self, state: &str, timeout: Duration) {
        wait_until(
            &format!("the modal on screen in state {state}"),
            timeout,
            || {
                let shown = self.s.script(MODAL_ON_SCREEN, json!([state])).ok()?;
                (shown == json!(true)).then_some(())
            },
        );
        self.wait_painted(timeout);
    }

    /// Waits until the webview has painted a frame since now: what a screenshot shows is the
    /// last painted frame, which under Xvfb can lag the DOM that the tests read.
    fn wait_painted(&self, timeout: Duration) {
        self.s
            .script(
                "window.__tmPainted = false;\n\
                 requestAnimationFrame(() => requestAnimationFrame(() => { window.__tmPainted = true; }));\n\
                 return true;",
                json!([]),
            )
            .expect("ask for a frame");
        wait_until("a frame painted", timeout, || {
            let painted = self
                .s
                .script("return window.__tmPainted === true;", json!([]));
            (painted.ok()? == json!(true)).then_some(())
        });
    }

    /// Saves a screenshot as target/e2e/NAME.png, once what the page shows now is painted.
    pub fn screenshot(&self, name: &str) {
        self.wait_painted(SHORT);
        let png = self.s.screenshot().expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let path = shots_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
    }

    /// The app's own process (not the driver's), found by its binary and history.
    pub fn pid(&self) -> Option<u32> {
        let exe = std::fs::canonicalize(desktop_bin()).ok()?;
        let want = format!("TIDEMARK_DB={}", self.db.display());
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let p = e.path();
            if std::fs::read_link(p.join("exe")).ok()? != exe {
                return None;
            }
            let env = std::fs::read(p.join("environ")).ok()?;
            env.split(|b| *b == 0)
                .any(|kv| kv == want.as_bytes())
                .then_some(pid)
        })
    }

    /// kill -9 of the app, as a crash or a power cut would end it.
    pub fn kill(&self) {
        let pid = self.pid().expect("the app's process");
        let ok = Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -9 {pid}");
        wait_until("the app to die", SHORT, || {
            self.pid().is_none().then_some(())
        });
    }
}

impl Drop for Desktop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // What the window showed when the test failed.
            if let Ok(png) = self.s.screenshot() {
                let _ = std::fs::write(shots_dir().join(format!("FAILED-{}.png", self.name)), png);
            }
        }
        self.s.quit();
    }
}

/// Whether the modal is in the state asked (`arguments[0]`), laid out and visible.
const MODAL_ON_SCREEN: &str = r#"
const m = document.querySelector('[data-testid="modal"]');
if (!m || m.dataset.state !== arguments[0]) return false;
const r = m.getBoundingClientRect();
const style = getComputedStyle(m);
return r.width > 0 && r.height > 0 && style.visibility !== "hidden" && style.display !== "none";
"#;

/// Records the modal's visible state on every DOM change (deduplicated).
const OBSERVER: &str = r#"
if (!window.__tmSeen) {
  window.__tmSeen = [];
  let last = "";
  const q = (id) => document.querySelector(`[data-testid="${id}"]`);
  const snap = () => {
    const m = q("modal");
    const s = m ? {
      state: m.dataset.state,
      step: q("modal-step-label")?.textContent.trim() ?? null,
      percent: q("modal-percent")?.textContent.trim() ?? null,
      unknown: !!q("modal-percent-unknown"),
      connection: q("modal-connection")?.dataset.connection ?? null,
      connectionText: q("modal-connection")?.textContent.trim() ?? null,
      rows: [...document.querySelectorAll('[data-testid="source-row"]')].map((r) => r.dataset.state),
      dots: [...document.querySelectorAll('[data-testid="step-dot"]')].map((d) =>
        d.classList.contains("done") ? "done" : d.classList.contains("current") ? "current" : "todo"),
    } : null;
    const j = JSON.stringify(s);
    if (j !== last) { last = j; window.__tmSeen.push(s); }
  };
  new MutationObserver(snap).observe(document.body, {
    subtree: true, childList: true, characterData: true, attributes: true,
  });
  snap();
}
return true;
"#;
