//! The desktop around the app: notifications, windows, opening and picking folders, and the
//! hooks through which `tidemark_app::App` reports to it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tidemark_app::{AppEvent, Hooks, JobSummary, Notification, Notifier};
use tidemark_core::JobState;

pub const MAIN_WINDOW: &str = "main";

/// Reports the app's changes to every window (`jobs-changed`) and to the tray.
pub(crate) struct ShellHooks<R: Runtime> {
    pub handle: AppHandle<R>,
    pub tray: bool,
}

impl<R: Runtime> Hooks for ShellHooks<R> {
    fn jobs_changed(&self, active: &[JobSummary]) {
        if let Err(e) = self.handle.emit(AppEvent::JOBS_CHANGED, active) {
            eprintln!("tidemark: cannot tell the windows about jobs: {e}");
        }
        if self.tray {
            crate::tray::refresh(&self.handle, active);
        }
    }

    fn job_ended(&self, job: &JobSummary) {
        if self.tray && job.state == JobState::Failed {
            crate::tray::set_failed(&self.handle, true);
        }
    }
}

/// Desktop notifications through the session's notification service (notify-rust).
#[derive(Debug, Default)]
pub struct DesktopNotifier;

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &Notification) -> Result<(), String> {
        let (title, body) = (n.title.clone(), n.body.clone());
        // D-Bus can block for its whole timeout when the service is stuck: never on the
        // caller's thread (a job's waiter or the async runtime).
        std::thread::Builder::new()
            .name("tidemark-notify".into())
            .spawn(move || {
                let shown = notify_rust::Notification::new()
                    .appname("Tidemark")
                    .summary(&title)
                    .body(&body)
                    .show();
                if let Err(e) = shown {
                    eprintln!("tidemark: notification not shown ({e}): {title}");
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// Opening and picking folders: the plugins in the real app, refusals in tests (which have
/// neither a file manager nor a dialog).
pub(crate) struct FolderOps {
    open: Box<OpenFolder>,
    pick: Box<PickFolder>,
}

type OpenFolder = dyn Fn(&Path) -> Result<(), String> + Send + Sync;
type PickFolder = dyn Fn(tokio::sync::oneshot::Sender<Option<PathBuf>>) + Send + Sync;

impl FolderOps {
    pub fn desktop<R: Runtime>(handle: &AppHandle<R>) -> FolderOps {
        use tauri_plugin_dialog::DialogExt;
        use tauri_plugin_opener::OpenerExt;
        let (h1, h2) = (handle.clone(), handle.clone());
        FolderOps {
            open: Box::new(move |p| {
                h1.opener()
                    .open_path(p.to_string_lossy(), None::<&str>)
                    .map_err(|e| format!("cannot open {}: {e}", p.display()))
            }),
            pick: Box::new(move |tx| {
                h2.dialog().file().pick_folder(move |picked| {
                    let _closed = tx.send(picked.and_then(|p| p.into_path().ok()));
                });
            }),
        }
    }

    pub fn headless() -> FolderOps {
        FolderOps {
            open: Box::new(|p| Err(format!("cannot open {}: no desktop here", p.display()))),
            pick: Box::new(|tx| {
                let _closed = tx.send(None);
            }),
        }
    }
}

pub fn open_folder<R: Runtime>(handle: &AppHandle<R>, folder: &Path) -> Result<(), String> {
    (handle.state::<FolderOps>().open)(folder)
}

pub async fn pick_folder<R: Runtime>(handle: &AppHandle<R>) -> Result<Option<String>, String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    (handle.state::<FolderOps>().pick)(tx);
    let picked = rx
        .await
        .map_err(|_| "the folder dialog went away".to_owned())?;
    Ok(picked.map(|p| p.display().to_string()))
}

/// Brings the main window back (re-creating it if it was closed).
pub fn show_main<R: Runtime>(handle: &AppHandle<R>) {
    crate::tray::set_failed(handle, false);
    if let Some(w) = handle.get_webview_window(MAIN_WINDOW) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        return;
    }
    let built = handle
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .map(|cfg| WebviewWindowBuilder::from_config(handle, cfg).and_then(|b| b.build()));
    if let Some(Err(e)) = built {
        eprintln!("tidemark: cannot open the main window: {e}");
    }
}

/// Another window on the same app: it subscribes like the first and shows the same jobs.
pub fn new_window<R: Runtime>(handle: &AppHandle<R>) {
    static NEXT: AtomicU32 = AtomicU32::new(2);
    let label = format!("window-{}", NEXT.fetch_add(1, Ordering::Relaxed));
    let built = WebviewWindowBuilder::new(handle, &label, WebviewUrl::App("index.html".into()))
        .title("Tidemark")
        .inner_size(1100.0, 760.0)
        .min_inner_size(720.0, 520.0)
        .build();
    if let Err(e) = built {
        eprintln!("tidemark: cannot open a new window: {e}");
    }
}
