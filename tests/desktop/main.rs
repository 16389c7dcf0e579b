//! The real `tidemark-desktop` in its real webview (WebKitWebDriver through tauri-driver,
//! under Xvfb), each test on its own history and private D-Bus session. Run it with
//! `make e2e-desktop`, which installs and starts what it needs; screenshots land in
//! target/e2e/.

mod harness;
use tidemark_webdriver as webdriver;

mod jobs;
mod remote;
mod settings;
mod snapshot;
mod tray;
