//! The desktop around the app: notifications, windows, opening and picking folders, and the
//! hooks through which `tidemark_app::App` reports to it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use tauri::{AppHandle, Emitter, Manager, Runtime, WebviewUrl, WebviewWindowBuilder};
use tidemark_app::{
    AppError, AppEvent, Fleet, Hooks, JobSummary, JobsChanged, Notification, Notifier, NotifyError,
    PauseState, PlanSummary, Visibility,
};
use tidemark_core::{ErrorCode, JobState};

pub const MAIN_WINDOW: &str = "main";

/// The argument the login item starts the app with: straight to the tray, no window.
pub const HIDDEN_ARG: &str = "--hidden";

/// Reports the app's changes to every window (`jobs-changed`, with only the jobs that
/// changed) and to the tray, as they happen: neither asks for the list again.
pub(crate) struct ShellHooks<R: Runtime> {
    pub handle: AppHandle<R>,
    pub tray: bool,
    /// Nothing reaches the webviews while every window is hidden (the tray still follows).
    pub visibility: Visibility,
}

impl<R: Runtime> Hooks for ShellHooks<R> {
    fn jobs_changed(&self, change: &JobsChanged) {
        if self.visibility.jobs_changed(change) {
            emit_jobs(&self.handle, change);
        }
        if self.tray {
            let change = change.clone();
            on_main_thread(&self.handle, move |h| crate::tray::apply(h, &change));
        }
    }

    fn fleet_changed(&self, fleet: &Fleet) {
        if self.visibility.fleet_changed(fleet) {
            emit_fleet(&self.handle, fleet);
        }
        if self.tray {
            let jobs = fleet.active_jobs();
            on_main_thread(&self.handle, move |h| crate::tray::apply_remote(h, jobs));
        }
    }

    fn pause_changed(&self, state: &PauseState) {
        if self.visibility.pause_changed(state) {
            emit_pause(&self.handle, state);
        }
        if self.tray {
            let state = state.clone();
            on_main_thread(&self.handle, move |h| crate::tray::apply_pause(h, &state));
        }
    }

    fn plans_changed(&self, plans: &[PlanSummary]) {
        if self.visibility.plans_changed(plans) {
            emit_plans(&self.handle, plans);
        }
        // A plan's failed run is a job of this app: `job_ended` marks the icon for it.
        if self.tray {
            let plans = plans.to_vec();
            on_main_thread(&self.handle, move |h| crate::tray::apply_plans(h, &plans));
        }
    }

    fn job_ended(&self, job: &JobSummary) {
        if self.tray && job.state == JobState::Failed {
            on_main_thread(&self.handle, |h| crate::tray::set_failed(h, true));
        }
        release_freed_memory();
    }
}

fn emit_jobs<R: Runtime>(handle: &AppHandle<R>, change: &JobsChanged) {
    if let Err(e) = handle.emit(AppEvent::JOBS_CHANGED, change) {
        tracing::error!("cannot tell the windows about jobs: {e}");
    }
}

fn emit_pause<R: Runtime>(handle: &AppHandle<R>, state: &PauseState) {
    if let Err(e) = handle.emit(AppEvent::PAUSE_CHANGED, state) {
        tracing::error!("cannot tell the windows about the pause: {e}");
    }
}

fn emit_plans<R: Runtime>(handle: &AppHandle<R>, plans: &[PlanSummary]) {
    if let Err(e) = handle.emit(AppEvent::PLANS_CHANGED, plans) {
        tracing::error!("cannot tell the windows about the plans: {e}");
    }
}

fn emit_fleet<R: Runtime>(handle: &AppHandle<R>, fleet: &Fleet) {
    if let Err(e) = handle.emit(AppEvent::FLEET_CHANGED, fleet) {
        tracing::error!("cannot tell the windows about the agents: {e}");
    }
}

/// What the shell just did to a window.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WindowChange<'a> {
    /// Showed or opened one: something shows now.
    Shown,
    /// Hid or lost the window with this label: something shows if another window does.
    Hidden(&'a str),
}

/// Tells the gate whether any window shows now; one that shows again gets what it missed
/// at once. Called after the shell hides, shows, opens or loses a window. What the shell
/// just did is said, not asked of the window system: a window shown a moment ago may not
/// be mapped yet.
pub(crate) fn windows_changed<R: Runtime>(handle: &AppHandle<R>, change: WindowChange<'_>) {
    let Some(visibility) = handle.try_state::<Visibility>() else {
        return;
    };
    let visible = match change {
        WindowChange::Shown => true,
        WindowChange::Hidden(label) => handle
            .webview_windows()
            .iter()
            .any(|(l, w)| l != label && w.is_visible().unwrap_or(true)),
    };
    let catchup = visibility.set_visible(visible);
    if let Some(change) = &catchup.jobs {
        emit_jobs(handle, change);
    }
    if let Some(fleet) = &catchup.fleet {
        emit_fleet(handle, fleet);
    }
    if let Some(pause) = &catchup.pause {
        emit_pause(handle, pause);
    }
    if let Some(plans) = &catchup.plans {
        emit_plans(handle, plans);
    }
}

/// Adds the app to the user's login items or takes it out (Tauri's autostart plugin: an
/// XDG autostart entry, a LaunchAgent, the Run key). Without the plugin (headless) there is
/// nothing to change.
pub(crate) fn set_launch_at_login<R: Runtime>(
    handle: &AppHandle<R>,
    on: bool,
) -> Result<(), AppError> {
    let Some(manager) = handle.try_state::<tauri_plugin_autostart::AutoLaunchManager>() else {
        return Ok(());
    };
    let done = if on {
        manager.enable()
    } else {
        manager.disable()
    };
    done.map_err(|e| {
        let what = if on { "turn on" } else { "turn off" };
        AppError::new(
            ErrorCode::Io,
            format!("cannot {what} starting at login: {e}"),
        )
    })
}

/// Hands back to the system what a finished job freed. glibc keeps freed memory in each
/// thread's arena for reuse, so the compressor's and the readers' buffers stayed resident
/// after the job, in an app that may then sit in the tray for days. After a snapshot of
/// 2 GB the app's process kept about 80 MiB more than before it; with this, about 50.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_freed_memory() {
    // SAFETY: malloc_trim takes no pointers; it only returns the allocator's free pages.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_freed_memory() {}

/// Runs `f` on the UI thread without waiting for it. Tray and menu calls made from another
/// thread wait for the UI thread, which made a command take seconds while a job ran.
pub(crate) fn on_main_thread<R: Runtime>(
    handle: &AppHandle<R>,
    f: impl FnOnce(&AppHandle<R>) + Send + 'static,
) {
    let h = handle.clone();
    if let Err(e) = handle.run_on_main_thread(move || f(&h)) {
        tracing::error!("cannot reach the UI thread: {e}");
    }
}

/// Desktop notifications through the session's notification service (notify-rust).
#[derive(Debug, Default)]
pub struct DesktopNotifier;

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &Notification) -> Result<(), NotifyError> {
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
                    tracing::warn!(%title, "notification not shown: {e}");
                }
            })
            .map(|_| ())
            .map_err(NotifyError)
    }
}

/// macOS files a notification under the bundle identifier of the app that sends it, which
/// notify-rust takes from `set_application` (as Tauri's own notifications do); a build run
/// outside its app bundle has no identifier of its own and borrows Terminal's. Checked only
/// on a Mac (CI's macOS job): Linux cannot compile notify-rust's Cocoa backend.
#[cfg(target_os = "macos")]
pub(crate) fn register_notifications<R: Runtime>(handle: &AppHandle<R>) {
    let id = if tauri::is_dev() {
        "com.apple.Terminal".to_owned()
    } else {
        handle.config().identifier.clone()
    };
    if let Err(e) = notify_rust::set_application(&id) {
        tracing::warn!("notifications are not sent as {id}: {e}");
    }
}

/// Opening and picking folders: the plugins in the real app, refusals in tests (which have
/// neither a file manager nor a dialog).
pub(crate) struct FolderOps {
    open: Box<OpenFolder>,
    pick: Box<PickFolder>,
}

type OpenFolder = dyn Fn(&Path) -> Result<(), FolderError> + Send + Sync;

/// Why a folder was not opened or picked.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        // Boxed: the plugin's error is large, and this travels by value through every `?`.
        source: Box<tauri_plugin_opener::Error>,
    },
    #[error("cannot open {}: no desktop here", .0.display())]
    NoDesktop(PathBuf),
    #[error("the folder dialog went away")]
    DialogGone,
}

impl FolderError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Open { .. } | Self::NoDesktop(_) => ErrorCode::Io,
            Self::DialogGone => ErrorCode::Internal,
        }
    }
}

impl From<FolderError> for AppError {
    fn from(e: FolderError) -> Self {
        AppError::new(e.code(), e.to_string())
    }
}
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
                    .map_err(|source| FolderError::Open {
                        path: p.to_owned(),
                        source: Box::new(source),
                    })
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
            open: Box::new(|p| Err(FolderError::NoDesktop(p.to_owned()))),
            pick: Box::new(|tx| {
                let _closed = tx.send(None);
            }),
        }
    }
}

pub fn open_folder<R: Runtime>(handle: &AppHandle<R>, folder: &Path) -> Result<(), FolderError> {
    (handle.state::<FolderOps>().open)(folder)
}

pub async fn pick_folder<R: Runtime>(handle: &AppHandle<R>) -> Result<Option<String>, FolderError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    (handle.state::<FolderOps>().pick)(tx);
    let picked = rx.await.map_err(|_| FolderError::DialogGone)?;
    Ok(picked.map(|p| p.display().to_string()))
}

/// Brings the main window back (re-creating it if it was closed).
pub fn show_main<R: Runtime>(handle: &AppHandle<R>) {
    crate::tray::set_failed(handle, false);
    if let Some(w) = handle.get_webview_window(MAIN_WINDOW) {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        windows_changed(handle, WindowChange::Shown);
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
        tracing::error!("cannot open the main window: {e}");
    }
    windows_changed(handle, WindowChange::Shown);
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
        tracing::error!("cannot open a new window: {e}");
    }
    windows_changed(handle, WindowChange::Shown);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Mode, install, with_app};
    use tauri::ipc::{CallbackFn, InvokeBody};
    use tauri::test::{INVOKE_KEY, mock_builder};
    use tauri::webview::InvokeRequest;

    /// A new window is allowed the same commands as the first and sees the same jobs.
    #[test]
    fn a_new_window_may_call_the_commands_too() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = with_app(mock_builder(), Mode::Headless)
            .build(tauri::generate_context!())
            .expect("app");
        install(
            &app,
            &tidemark_store::Places::beside(&dir.path().join("history.db")),
            Mode::Headless,
        );
        new_window(app.handle());
        let label = app
            .webview_windows()
            .into_keys()
            .find(|l| l.starts_with("window-"))
            .expect("a second window");
        let window = app.get_webview_window(&label).expect("window");
        let answer = tauri::test::get_ipc_response(
            &window,
            InvokeRequest {
                cmd: "active_jobs".into(),
                callback: CallbackFn(0),
                error: CallbackFn(1),
                url: "tauri://localhost".parse().expect("url"),
                body: InvokeBody::Json(serde_json::json!({})),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        )
        .map(|b| b.deserialize::<serde_json::Value>().expect("json"));
        assert_eq!(answer, Ok(serde_json::json!([])));
    }
}
