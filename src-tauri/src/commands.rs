//! The IPC commands: each one adapts one function of `tidemark_app::App` and nothing more.

use tauri::ipc::Channel;
use tauri::{AppHandle, Runtime, State};
use tidemark_app::{
    AddAgent, AgentInfo, App, AppError, DiffReport, ExportFormat, Fleet, HistoryFilter, JobDetail,
    JobSummary, JobUpdate, PauseFor, PauseState, PlanInput, PlanRun, PlanSummary, ProgressSink,
    RemoteJobInfo, RemoteJobRequest, Settings, SinkClosed, StartRestore, StartSnapshot, StartSync,
    TreeEntry, Visibility,
};
use tidemark_core::ProgressEvent;

type Res<T> = Result<T, AppError>;

/// A window's channel as a subscription's sink. Tauri serialises each message once, for
/// this window; the event inside is shared, not copied.
pub struct ChannelSink(pub Channel<JobUpdate>);

impl std::fmt::Debug for ChannelSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ChannelSink").field(&self.0.id()).finish()
    }
}

impl ProgressSink<JobUpdate> for ChannelSink {
    fn deliver(&mut self, update: &JobUpdate) -> Result<(), SinkClosed> {
        self.0.send(update.clone()).map_err(|_| SinkClosed)
    }
}

#[tauri::command]
pub async fn start_snapshot(app: State<'_, App>, request: StartSnapshot) -> Res<JobSummary> {
    Ok(app.start_snapshot(request)?)
}

#[tauri::command]
pub async fn start_sync(app: State<'_, App>, request: StartSync) -> Res<JobSummary> {
    Ok(app.start_sync(request)?)
}

#[tauri::command]
pub async fn cancel_job(app: State<'_, App>, id: String) -> Res<()> {
    Ok(app.cancel_job(&id)?)
}

#[tauri::command]
pub async fn pause_job(app: State<'_, App>, id: String) -> Res<()> {
    Ok(app.pause_job(&id)?)
}

#[tauri::command]
pub async fn resume_job(app: State<'_, App>, id: String) -> Res<JobSummary> {
    Ok(app.resume_job(&id)?)
}

#[tauri::command]
pub async fn retry_job(app: State<'_, App>, id: String) -> Res<JobSummary> {
    Ok(app.retry_job(&id)?)
}

#[tauri::command]
pub async fn active_jobs(app: State<'_, App>) -> Res<Vec<JobSummary>> {
    Ok(app.active_jobs())
}

#[tauri::command]
pub async fn list_history(app: State<'_, App>, filter: HistoryFilter) -> Res<Vec<JobSummary>> {
    Ok(app.list_history(filter)?)
}

#[tauri::command]
pub async fn job_detail(app: State<'_, App>, id: String) -> Res<JobDetail> {
    Ok(app.job_detail(&id)?)
}

#[tauri::command]
pub async fn job_events(app: State<'_, App>, id: String, since: u64) -> Res<Vec<ProgressEvent>> {
    Ok(app.job_events(&id, since)?)
}

#[tauri::command]
pub async fn subscribe_job(
    app: State<'_, App>,
    visibility: State<'_, Visibility>,
    id: String,
    channel: Channel<JobUpdate>,
) -> Res<u32> {
    Ok(app.subscribe_job(
        &id,
        Box::new(visibility.gate(Box::new(ChannelSink(channel)))),
    )?)
}

#[tauri::command]
pub async fn unsubscribe(app: State<'_, App>, subscription: u32) -> Res<()> {
    Ok(app.unsubscribe(subscription)?)
}

#[tauri::command]
pub async fn list_agents(app: State<'_, App>) -> Res<Vec<AgentInfo>> {
    Ok(app.list_agents())
}

#[tauri::command]
pub async fn add_agent(app: State<'_, App>, request: AddAgent) -> Res<AgentInfo> {
    Ok(app.add_agent(request).await?)
}

#[tauri::command]
pub async fn remove_agent(app: State<'_, App>, id: String) -> Res<()> {
    Ok(app.remove_agent(&id)?)
}

#[tauri::command]
pub async fn list_remote_jobs(app: State<'_, App>, agent_id: String) -> Res<Vec<RemoteJobInfo>> {
    Ok(app.list_remote_jobs(&agent_id).await?)
}

#[tauri::command]
pub async fn watch_remote_job(
    app: State<'_, App>,
    visibility: State<'_, Visibility>,
    agent_id: String,
    job_id: String,
    channel: Channel<JobUpdate>,
) -> Res<u32> {
    Ok(app.watch_remote_job(
        &agent_id,
        &job_id,
        Box::new(visibility.gate(Box::new(ChannelSink(channel)))),
    )?)
}

#[tauri::command]
pub async fn fleet(app: State<'_, App>) -> Res<Fleet> {
    Ok(app.fleet().await)
}

#[tauri::command]
pub async fn start_remote_job(
    app: State<'_, App>,
    agent_id: String,
    spec: RemoteJobRequest,
) -> Res<RemoteJobInfo> {
    Ok(app.start_remote_job(&agent_id, spec).await?)
}

#[tauri::command]
pub async fn pause_remote_job(
    app: State<'_, App>,
    agent_id: String,
    job_id: String,
) -> Res<RemoteJobInfo> {
    Ok(app.pause_remote_job(&agent_id, &job_id).await?)
}

#[tauri::command]
pub async fn resume_remote_job(
    app: State<'_, App>,
    agent_id: String,
    job_id: String,
) -> Res<RemoteJobInfo> {
    Ok(app.resume_remote_job(&agent_id, &job_id).await?)
}

#[tauri::command]
pub async fn cancel_remote_job(
    app: State<'_, App>,
    agent_id: String,
    job_id: String,
) -> Res<RemoteJobInfo> {
    Ok(app.cancel_remote_job(&agent_id, &job_id).await?)
}

#[tauri::command]
pub async fn get_settings(app: State<'_, App>) -> Res<Settings> {
    Ok(app.get_settings())
}

#[tauri::command]
pub async fn set_settings<R: Runtime>(
    handle: AppHandle<R>,
    app: State<'_, App>,
    settings: Settings,
) -> Res<Settings> {
    let before = app.get_settings();
    let saved = app.set_settings(settings)?;
    if saved.launch_at_login != before.launch_at_login
        && let Err(e) = crate::shell::set_launch_at_login(&handle, saved.launch_at_login)
    {
        // The switch must say what the system does: put the setting back.
        app.set_settings(before)?;
        return Err(e);
    }
    Ok(saved)
}

#[tauri::command]
pub async fn open_path<R: Runtime>(
    handle: AppHandle<R>,
    app: State<'_, App>,
    path: String,
) -> Res<()> {
    let folder = app.folder_to_open(&path)?;
    Ok(crate::shell::open_folder(&handle, &folder)?)
}

#[tauri::command]
pub async fn pick_folder<R: Runtime>(handle: AppHandle<R>) -> Res<Option<String>> {
    Ok(crate::shell::pick_folder(&handle).await?)
}

/// Opens the folder of the app's log files with the system's file manager; gives its path.
#[tauri::command]
pub async fn open_log<R: Runtime>(
    handle: AppHandle<R>,
    dir: State<'_, crate::logs::LogDir>,
) -> Res<String> {
    let folder = &dir.0;
    // Made here as well: the log may not have been written to yet (or not in this folder).
    std::fs::create_dir_all(folder).map_err(|e| {
        AppError::new(
            tidemark_core::ErrorCode::Io,
            format!("cannot create {}: {e}", folder.display()),
        )
    })?;
    crate::shell::open_folder(&handle, folder)?;
    Ok(folder.display().to_string())
}

#[tauri::command]
pub async fn list_plans(app: State<'_, App>) -> Res<Vec<PlanSummary>> {
    Ok(app.list_plans()?)
}

#[tauri::command]
pub async fn add_plan(app: State<'_, App>, input: PlanInput) -> Res<PlanSummary> {
    Ok(app.add_plan(input)?)
}

#[tauri::command]
pub async fn edit_plan(app: State<'_, App>, name: String, input: PlanInput) -> Res<PlanSummary> {
    Ok(app.edit_plan(&name, input)?)
}

#[tauri::command]
pub async fn remove_plan(app: State<'_, App>, name: String) -> Res<()> {
    Ok(app.remove_plan(&name)?)
}

#[tauri::command]
pub async fn run_plan(app: State<'_, App>, name: String) -> Res<JobSummary> {
    Ok(app.run_plan(&name).await?)
}

#[tauri::command]
pub async fn run_all_plans(app: State<'_, App>) -> Res<Vec<JobSummary>> {
    Ok(app.run_all_plans().await?)
}

#[tauri::command]
pub async fn pause_plan(
    app: State<'_, App>,
    name: String,
    for_secs: Option<u64>,
) -> Res<PlanSummary> {
    Ok(app.pause_plan(&name, for_secs)?)
}

#[tauri::command]
pub async fn resume_plan(app: State<'_, App>, name: String) -> Res<PlanSummary> {
    Ok(app.resume_plan(&name)?)
}

#[tauri::command]
pub async fn plan_runs(app: State<'_, App>, name: String) -> Res<Vec<PlanRun>> {
    Ok(app.plan_runs(&name)?)
}

/// Saves a plan's runs where the user says; `null` when they cancelled.
#[tauri::command]
pub async fn export_plan_runs<R: Runtime>(
    handle: AppHandle<R>,
    app: State<'_, App>,
    name: String,
    format: ExportFormat,
) -> Res<Option<String>> {
    let contents = app.export_plan_runs(&name, format)?;
    crate::export::save(&handle, &format!("{name}-runs"), format, contents).await
}

#[tauri::command]
pub async fn start_restore(app: State<'_, App>, request: StartRestore) -> Res<JobSummary> {
    Ok(app.start_restore(request)?)
}

#[tauri::command]
pub async fn start_verify(app: State<'_, App>, archive: String) -> Res<JobSummary> {
    Ok(app.start_verify(&archive)?)
}

/// Reading a manifest (maybe over the network, maybe a whole archive when it has none)
/// happens off the runtime's threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, tidemark_app::Error> + Send + 'static,
) -> Res<T> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| AppError::new(tidemark_core::ErrorCode::Internal, e.to_string()))?
        .map_err(AppError::from)
}

#[tauri::command]
pub async fn snapshot_tree(
    app: State<'_, App>,
    archive: String,
    folder: String,
) -> Res<Vec<TreeEntry>> {
    let app = app.inner().clone();
    blocking(move || app.snapshot_tree(&archive, &folder)).await
}

#[tauri::command]
pub async fn compare_snapshots(app: State<'_, App>, old: String, new: String) -> Res<DiffReport> {
    let app = app.inner().clone();
    blocking(move || app.compare_snapshots(&old, &new)).await
}

#[tauri::command]
pub async fn previous_snapshot(app: State<'_, App>, id: String) -> Res<Option<JobSummary>> {
    Ok(app.previous_snapshot(&id)?)
}

#[tauri::command]
pub async fn pause_state(app: State<'_, App>) -> Res<PauseState> {
    Ok(app.pause_state())
}

#[tauri::command]
pub async fn pause_everything(app: State<'_, App>, how: PauseFor) -> Res<PauseState> {
    Ok(app.pause_everything(how)?)
}

#[tauri::command]
pub async fn resume_everything(app: State<'_, App>) -> Res<PauseState> {
    Ok(app.resume_everything()?)
}
