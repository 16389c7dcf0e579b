//! Tidemark's desktop shell: thin Tauri adapters over `tidemark_app::App` (commands,
//! channels), plus what only a desktop has: tray, notifications, windows, dialogs.

mod commands;
mod export;
pub use commands::ChannelSink;
mod logs;
mod shell;
mod tray;
mod tray_text;

use std::path::PathBuf;
use std::sync::Arc;

use tauri::{Builder, Manager, Runtime, WindowEvent};
use tidemark_app::{App, AppConfig, NoNotifier, Notifier, Visibility};
use tidemark_store::Places;

/// Whether the app runs on a real desktop or headless (tests with `mock_builder`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Desktop,
    Headless,
}

/// The commands and window behaviour on any runtime. `run` adds plugins around it; the
/// tests build it on `tauri::test::mock_builder()` with the real context. The app's state
/// comes from [`install`] once the app is built.
pub fn with_app<R: Runtime>(builder: Builder<R>, mode: Mode) -> Builder<R> {
    builder
        .invoke_handler(tauri::generate_handler![
            commands::start_snapshot,
            commands::start_sync,
            commands::cancel_job,
            commands::pause_job,
            commands::resume_job,
            commands::retry_job,
            commands::active_jobs,
            commands::list_history,
            commands::job_detail,
            commands::job_events,
            commands::subscribe_job,
            commands::unsubscribe,
            commands::list_agents,
            commands::add_agent,
            commands::remove_agent,
            commands::list_remote_jobs,
            commands::watch_remote_job,
            commands::fleet,
            commands::start_remote_job,
            commands::pause_remote_job,
            commands::resume_remote_job,
            commands::cancel_remote_job,
            commands::get_settings,
            commands::set_settings,
            commands::open_path,
            commands::pick_folder,
            commands::open_log,
            commands::list_plans,
            commands::add_plan,
            commands::edit_plan,
            commands::remove_plan,
            commands::run_plan,
            commands::run_all_plans,
            commands::pause_plan,
            commands::resume_plan,
            commands::plan_runs,
            commands::export_plan_runs,
            commands::start_restore,
            commands::start_verify,
            commands::snapshot_tree,
            commands::compare_snapshots,
            commands::previous_snapshot,
            commands::pause_state,
            commands::pause_everything,
            commands::resume_everything,
        ])
        .setup(move |app| {
            // The tray needs the event loop, which setup runs in.
            if mode == Mode::Desktop {
                tray::create(app.handle(), |h, asked| match asked {
                    tray::WindowRequest::ShowMain => shell::show_main(h),
                    tray::WindowRequest::NewWindow => shell::new_window(h),
                })?;
                // The main window is made hidden (tauri.conf.json), so a start at login
                // never flashes it; any other start shows it now.
                if !std::env::args().any(|a| a == shell::HIDDEN_ARG) {
                    shell::show_main(app.handle());
                } else {
                    shell::windows_changed(
                        app.handle(),
                        shell::WindowChange::Hidden(shell::MAIN_WINDOW),
                    );
                }
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event
                && window.label() == shell::MAIN_WINDOW
                && let Some(app) = window.try_state::<App>()
                && app.get_settings().close_to_tray
                && !app.active_jobs().is_empty()
            {
                // Jobs keep running; the tray brings the window back.
                api.prevent_close();
                let _ = window.hide();
                shell::windows_changed(
                    window.app_handle(),
                    shell::WindowChange::Hidden(window.label()),
                );
            }
            if let WindowEvent::Destroyed = event {
                shell::windows_changed(
                    window.app_handle(),
                    shell::WindowChange::Hidden(window.label()),
                );
            }
        })
}

/// Gives a built app its state: the `App` over the history and settings in `places`, and
/// the desktop services (or their headless stand-ins). Before `run`, so no command finds it
/// missing.
pub fn install<R: Runtime>(app: &tauri::App<R>, places: &Places, mode: Mode) {
    let handle = app.handle().clone();
    let desktop = mode == Mode::Desktop;
    let visibility = Visibility::default();
    app.manage(visibility.clone());
    let hooks = Arc::new(shell::ShellHooks {
        handle: handle.clone(),
        tray: desktop,
        visibility,
    });
    let notifier: Arc<dyn Notifier> = if desktop {
        #[cfg(target_os = "macos")]
        shell::register_notifications(&handle);
        Arc::new(shell::DesktopNotifier)
    } else {
        Arc::new(NoNotifier)
    };
    let runtime = tauri::async_runtime::handle().inner().clone();
    app.manage(logs::LogDir(places.logs.clone()));
    app.manage(App::new(AppConfig::from(places), runtime, hooks, notifier));
    app.manage(if desktop {
        shell::FolderOps::desktop(&handle)
    } else {
        shell::FolderOps::headless()
    });
}

/// Where the app keeps its things: beside `TIDEMARK_DB` when it is set (as for the CLI),
/// else in the platform's folders.
pub fn places() -> Option<Places> {
    let db = std::env::var_os("TIDEMARK_DB")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    Places::for_db(db)
}

pub fn run() {
    let places = places();
    let log = logs::init(places.as_ref().map(|p| p.logs.as_path()));
    let Some(places) = places else {
        tracing::error!("no data folder on this system; set TIDEMARK_DB");
        std::process::exit(2);
    };
    places.adopt_config_kept_beside_the_history(&tidemark_app::CONFIG_FILES);
    let db = &places.db;
    tracing::info!(version = env!("CARGO_PKG_VERSION"), db = %db.display(), "started");
    let builder = tauri::Builder::default()
        // First, so a second launch is stopped before it opens anything.
        .plugin(tauri_plugin_single_instance::init(|app, _argv, _cwd| {
            shell::show_main(app)
        }))
        .plugin(tauri_plugin_dialog::init())
        // Started at login, the app goes straight to the tray (`--hidden`): plans run, and
        // nobody is shown a window they did not open.
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            Some(vec![shell::HIDDEN_ARG]),
        ))
        .plugin(tauri_plugin_opener::init());
    let built = with_app(builder, Mode::Desktop).build(tauri::generate_context!());
    match built {
        Ok(app) => {
            install(&app, &places, Mode::Desktop);
            // Dropping the guard writes out what is still queued; `run` may exit the process
            // without returning, so it is dropped on the way out.
            let mut log = log;
            app.run(move |_, event| {
                if let tauri::RunEvent::Exit = event {
                    tracing::info!("exiting");
                    drop(log.take());
                }
            })
        }
        Err(e) => {
            tracing::error!("cannot start the desktop app: {e}");
            drop(log);
            std::process::exit(1);
        }
    }
}
