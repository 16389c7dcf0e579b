//! The tray: an icon (a distinct one after a failure), a tooltip with the overall percent,
//! and a menu with the active jobs, the plans' last outcomes, Pause all / Resume all, Pause
//! everything, windows and Quit (what each line says is `tray_text`'s). It follows the
//! local jobs from the app's `jobs-changed` changes (see `apply`) and the agents' running
//! jobs from the fleet's (`apply_remote`); both are listed and counted alike. It opens
//! windows through the function it is given: the windows belong to the shell, which uses
//! the tray, not the reverse.

use std::sync::Mutex;

use tauri::image::Image;
use tauri::menu::{IsMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};
use tidemark_app::{App, JobSummary, JobsChanged, PauseFor, PauseState, PlanSummary};

use crate::tray_text::{job_text, panel_label, plan_text, tooltip, until_text};

const TRAY: &str = "tidemark";
/// How often the plans' "… ago" is brought up to date (the menu changes only if it reads
/// differently).
const AGO_REFRESH: std::time::Duration = std::time::Duration::from_secs(60);
const ICON: &[u8] = include_bytes!("../../icons/tray.png");
const ICON_FAILED: &[u8] = include_bytes!("../../icons/tray-failed.png");

/// What the tray shows now, so a refresh only touches what changed.
#[derive(Default)]
pub(crate) struct TrayState<R: Runtime> {
    /// The active jobs, oldest first, as the changes announced them.
    active: Mutex<Vec<JobSummary>>,
    /// The jobs running on reachable agents, as the fleet last found them.
    remote: Mutex<Vec<JobSummary>>,
    jobs: Mutex<Vec<(String, MenuItem<R>)>>,
    /// How many of the lines shown are local jobs (Pause all and Resume all act on them).
    local_shown: Mutex<usize>,
    /// "Pause everything": until when, as the menu says it ("15:30"), while it lasts.
    paused: Mutex<Option<String>>,
    /// What the menu was built with, beside the jobs' ids.
    paused_shown: Mutex<Option<String>>,
    /// Each plan's line ("Photos — failed"), as the menu shows them.
    plans: Mutex<Vec<PlanSummary>>,
    plans_shown: Mutex<Vec<String>>,
    failed: Mutex<bool>,
    /// The tooltip and label last set: changes come several times a second while jobs
    /// move, D-Bus updates only when the text does.
    hint: Mutex<Option<(String, Option<String>)>>,
}

/// A window the menu asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowRequest {
    /// Show Tidemark (and a click on a job's line).
    ShowMain,
    NewWindow,
}

/// Opens the window asked for: given by the shell, which owns the windows.
pub type OpenWindow<R> = fn(&AppHandle<R>, WindowRequest);

pub fn create<R: Runtime>(handle: &AppHandle<R>, open: OpenWindow<R>) -> tauri::Result<()> {
    handle.manage(TrayState::<R> {
        active: Mutex::new(Vec::new()),
        remote: Mutex::new(Vec::new()),
        jobs: Mutex::new(Vec::new()),
        local_shown: Mutex::new(0),
        paused: Mutex::new(None),
        paused_shown: Mutex::new(None),
        plans: Mutex::new(Vec::new()),
        plans_shown: Mutex::new(Vec::new()),
        failed: Mutex::new(false),
        hint: Mutex::new(None),
    });
    let (menu, items) = build_menu(handle, &[], 0, None, &[])?;
    // "completed 3 min ago" moves on with the clock, not only when a plan changes.
    let h = handle.clone();
    tauri::async_runtime::spawn(async move {
        let mut every = tokio::time::interval(AGO_REFRESH);
        loop {
            every.tick().await;
            let on_ui = h.clone();
            let _closing = h.run_on_main_thread(move || {
                if let Some(state) = on_ui.try_state::<TrayState<R>>() {
                    refresh_all(&on_ui, &state);
                }
            });
        }
    });
    *lock(&handle.state::<TrayState<R>>().jobs) = items;
    TrayIconBuilder::with_id(TRAY)
        .icon(Image::from_bytes(ICON)?)
        .tooltip("Tidemark — no active jobs")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(move |app, event| on_menu(app, event.id().as_ref(), open))
        .build(handle)?;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str, open: OpenWindow<R>) {
    match id {
        "show" => open(app, WindowRequest::ShowMain),
        "new-window" => open(app, WindowRequest::NewWindow),
        "pause-all" => app.state::<App>().pause_all(),
        "resume-all" => app.state::<App>().resume_all(),
        "pause-1h" => pause_everything(app, PauseFor::OneHour),
        "pause-4h" => pause_everything(app, PauseFor::FourHours),
        "pause-tomorrow" => pause_everything(app, PauseFor::UntilTomorrow),
        "run-all-plans" => {
            let app = app.state::<App>().inner().clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = app.run_all_plans().await {
                    tracing::warn!("run all plans: {e}");
                }
            });
        }
        _ if id.starts_with("plan:") => open(app, WindowRequest::ShowMain),
        "resume-everything" => {
            if let Err(e) = app.state::<App>().resume_everything() {
                tracing::warn!("resume everything: {e}");
            }
        }
        "quit" => app.exit(0),
        _ if id.starts_with("job:") => open(app, WindowRequest::ShowMain),
        _ => {}
    }
}

fn pause_everything<R: Runtime>(app: &AppHandle<R>, how: PauseFor) {
    if let Err(e) = app.state::<App>().pause_everything(how) {
        tracing::warn!("pause everything: {e}");
    }
}

/// Brings the tray up to date with the plans.
pub fn apply_plans<R: Runtime>(handle: &AppHandle<R>, plans: &[PlanSummary]) {
    let Some(state) = handle.try_state::<TrayState<R>>() else {
        return;
    };
    *lock(&state.plans) = plans.to_vec();
    refresh_all(handle, &state);
}

/// Brings the tray up to date with "Pause everything".
pub fn apply_pause<R: Runtime>(handle: &AppHandle<R>, state: &PauseState) {
    let Some(tray_state) = handle.try_state::<TrayState<R>>() else {
        return;
    };
    *lock(&tray_state.paused) = until_text(state, chrono::Local::now());
    refresh_all(handle, &tray_state);
}

/// Applies one `jobs-changed` to the active jobs: an ended job leaves, a moved one is
/// replaced where it is, a new one goes last (the list stays oldest first).
fn merge(active: &mut Vec<JobSummary>, change: &JobsChanged) {
    active.retain(|j| !change.ended.iter().any(|e| e.id == j.id));
    for job in &change.active {
        match active.iter_mut().find(|j| j.id == job.id) {
            Some(shown) => *shown = job.clone(),
            None => active.push(job.clone()),
        }
    }
}

/// Brings the tray up to date with a change announced by the app.
pub fn apply<R: Runtime>(handle: &AppHandle<R>, change: &JobsChanged) {
    let Some(state) = handle.try_state::<TrayState<R>>() else {
        return;
    };
    merge(&mut lock(&state.active), change);
    refresh_all(handle, &state);
}

/// Brings the tray up to date with the jobs running on the agents (`Fleet::active_jobs`).
pub fn apply_remote<R: Runtime>(handle: &AppHandle<R>, jobs: Vec<JobSummary>) {
    let Some(state) = handle.try_state::<TrayState<R>>() else {
        return;
    };
    *lock(&state.remote) = jobs;
    refresh_all(handle, &state);
}

/// The local jobs, then the remote ones.
fn refresh_all<R: Runtime>(handle: &AppHandle<R>, state: &TrayState<R>) {
    let mut jobs = lock(&state.active).clone();
    let local = jobs.len();
    jobs.extend(lock(&state.remote).iter().cloned());
    let paused = lock(&state.paused).clone();
    let now = chrono::Utc::now();
    let plans = lock(&state.plans)
        .iter()
        .map(|p| plan_text(p, now))
        .collect();
    refresh(handle, &jobs, local, paused, plans);
}

type Built<R> = (Menu<R>, Vec<(String, MenuItem<R>)>);

/// `jobs` are the local ones (the first `local`), then the agents'. Pause all and Resume
/// all act on this app's jobs, so they are offered only when it has some.
fn build_menu<R: Runtime>(
    handle: &AppHandle<R>,
    jobs: &[JobSummary],
    local: usize,
    paused_until: Option<&str>,
    plans: &[String],
) -> tauri::Result<Built<R>> {
    let show = MenuItem::with_id(handle, "show", "Show Tidemark", true, None::<&str>)?;
    let new_window = MenuItem::with_id(handle, "new-window", "New window", true, None::<&str>)?;
    let mut items = Vec::new();
    for job in jobs {
        let id = format!("job:{}", job.id);
        items.push((
            job.id.clone(),
            MenuItem::with_id(handle, id, job_text(job), true, None::<&str>)?,
        ));
    }
    let none = MenuItem::with_id(handle, "none", "No active jobs", false, None::<&str>)?;
    let pause = MenuItem::with_id(handle, "pause-all", "Pause all", local > 0, None::<&str>)?;
    let resume = MenuItem::with_id(handle, "resume-all", "Resume all", local > 0, None::<&str>)?;
    let everything = pause_everything_items(handle, paused_until)?;
    let mut plan_items = Vec::new();
    for (i, text) in plans.iter().enumerate() {
        plan_items.push(MenuItem::with_id(
            handle,
            format!("plan:{i}"),
            text,
            true,
            None::<&str>,
        )?);
    }
    let run_all = MenuItem::with_id(
        handle,
        "run-all-plans",
        "Run all plans now",
        true,
        None::<&str>,
    )?;
    let sep_plans = PredefinedMenuItem::separator(handle)?;
    let quit = MenuItem::with_id(handle, "quit", "Quit", true, None::<&str>)?;
    let (sep1, sep2, sep3) = (
        PredefinedMenuItem::separator(handle)?,
        PredefinedMenuItem::separator(handle)?,
        PredefinedMenuItem::separator(handle)?,
    );
    let mut all: Vec<&dyn IsMenuItem<R>> = vec![&show, &new_window, &sep1];
    if items.is_empty() {
        all.push(&none);
    }
    for (_, item) in &items {
        all.push(item);
    }
    // The plans' lines and "Run all plans now" only once there is a plan.
    if !plan_items.is_empty() {
        all.push(&sep_plans);
        for item in &plan_items {
            all.push(item);
        }
        all.push(&run_all);
    }
    all.extend([&sep2 as &dyn IsMenuItem<R>, &pause, &resume]);
    all.extend(everything.iter().map(|i| i.as_ref()));
    all.extend([&sep3 as &dyn IsMenuItem<R>, &quit]);
    Ok((Menu::with_items(handle, &all)?, items))
}

/// "Pause everything ▸ For 1 hour / For 4 hours / Until tomorrow", or while a pause lasts,
/// when it ends and "Resume everything".
fn pause_everything_items<R: Runtime>(
    handle: &AppHandle<R>,
    paused_until: Option<&str>,
) -> tauri::Result<Vec<Box<dyn IsMenuItem<R>>>> {
    Ok(match paused_until {
        Some(until) => vec![
            Box::new(MenuItem::with_id(
                handle,
                "paused-until",
                format!("Everything paused until {until}"),
                false,
                None::<&str>,
            )?),
            Box::new(MenuItem::with_id(
                handle,
                "resume-everything",
                "Resume everything now",
                true,
                None::<&str>,
            )?),
        ],
        None => {
            let one = MenuItem::with_id(handle, "pause-1h", "For 1 hour", true, None::<&str>)?;
            let four = MenuItem::with_id(handle, "pause-4h", "For 4 hours", true, None::<&str>)?;
            let tomorrow = MenuItem::with_id(
                handle,
                "pause-tomorrow",
                "Until tomorrow",
                true,
                None::<&str>,
            )?;
            vec![Box::new(Submenu::with_id_and_items(
                handle,
                "pause-everything",
                "Pause everything",
                true,
                &[&one, &four, &tomorrow],
            )?)]
        }
    })
}

/// Brings the tray up to date with the active jobs: the menu is rebuilt when the set of
/// jobs (or which of them are local) changes, otherwise only the texts move.
fn refresh<R: Runtime>(
    handle: &AppHandle<R>,
    jobs: &[JobSummary],
    local: usize,
    paused: Option<String>,
    plans: Vec<String>,
) {
    let (Some(tray), Some(state)) = (handle.tray_by_id(TRAY), handle.try_state::<TrayState<R>>())
    else {
        return;
    };
    let mut shown = lock(&state.jobs);
    let mut local_shown = lock(&state.local_shown);
    let mut paused_shown = lock(&state.paused_shown);
    let mut plans_shown = lock(&state.plans_shown);
    let same = *local_shown == local
        && *paused_shown == paused
        && *plans_shown == plans
        && shown.len() == jobs.len()
        && shown.iter().zip(jobs).all(|((id, _), j)| *id == j.id);
    if same {
        for ((_, item), job) in shown.iter().zip(jobs) {
            let text = job_text(job);
            if item.text().ok().as_ref() != Some(&text) {
                let _ = item.set_text(text);
            }
        }
    } else {
        match build_menu(handle, jobs, local, paused.as_deref(), &plans) {
            Ok((menu, items)) => {
                if let Err(e) = tray.set_menu(Some(menu)) {
                    tracing::warn!("tray menu: {e}");
                }
                *shown = items;
                *local_shown = local;
                *paused_shown = paused;
                *plans_shown = plans;
            }
            Err(e) => tracing::warn!("tray menu: {e}"),
        }
    }
    let hint = (tooltip(jobs), panel_label(jobs));
    let mut last = lock(&state.hint);
    if last.as_ref() == Some(&hint) {
        return;
    }
    let _ = tray.set_tooltip(Some(&hint.0));
    // StatusNotifierItem trays (Linux) show no tooltip: the overall percent goes in the label
    // beside the icon instead, and the label goes away when nothing runs.
    #[cfg(target_os = "linux")]
    let _ = tray.set_title(hint.1.clone());
    *last = Some(hint);
}

/// Switches between the normal icon and the one that says a job failed (until the window
/// is shown again).
pub fn set_failed<R: Runtime>(handle: &AppHandle<R>, failed: bool) {
    let (Some(tray), Some(state)) = (handle.tray_by_id(TRAY), handle.try_state::<TrayState<R>>())
    else {
        return;
    };
    let mut current = lock(&state.failed);
    if *current == failed {
        return;
    }
    *current = failed;
    match Image::from_bytes(if failed { ICON_FAILED } else { ICON }) {
        Ok(icon) => {
            let _ = tray.set_icon(Some(icon));
        }
        Err(e) => tracing::warn!("tray icon: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_core::{JobKind, JobState};

    fn job(id: &str, state: JobState, percent: Option<f64>) -> JobSummary {
        JobSummary {
            state,
            title: "Snapshot of photos".into(),
            percent,
            ..tidemark_app::summary::queued(id, JobKind::Snapshot, String::new())
        }
    }

    #[test]
    fn changes_keep_the_active_jobs_oldest_first_and_drop_ended_ones() {
        let mut active = Vec::new();
        let started = |jobs: Vec<JobSummary>| JobsChanged {
            active: jobs,
            ended: Vec::new(),
        };
        merge(
            &mut active,
            &started(vec![job("a", JobState::Running, None)]),
        );
        merge(
            &mut active,
            &started(vec![job("b", JobState::Running, Some(5.0))]),
        );
        merge(
            &mut active,
            &started(vec![job("a", JobState::Paused, Some(30.0))]),
        );
        let ids: Vec<(&str, JobState)> = active.iter().map(|j| (j.id.as_str(), j.state)).collect();
        assert_eq!(ids, [("a", JobState::Paused), ("b", JobState::Running)]);
        assert_eq!(active[0].percent, Some(30.0));
        merge(
            &mut active,
            &JobsChanged {
                active: Vec::new(),
                ended: vec![job("a", JobState::Completed, Some(100.0))],
            },
        );
        let ids: Vec<&str> = active.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, ["b"]);
    }
}
