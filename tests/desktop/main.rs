//! The real `tidemark-desktop` in its real webview (WebKitWebDriver through tauri-driver,
//! under Xvfb), each test on its own history and private D-Bus session. Run it with
//! `make e2e-desktop`, which installs and starts what it needs; screenshots land in
//! target/e2e/.

// These suites drive the programs from a Linux host with its tools (GNU tar, diff, setpriv,
// Xvfb; Wine for the Windows build): they are built for Unix hosts only.
#![cfg(unix)]

mod harness;
use tidemark_webdriver as webdriver;

mod fleet;
mod jobs;
mod plans;
mod remote;
mod settings;
mod snapshot;
mod tray;
