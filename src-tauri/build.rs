// Every command of the app is declared here, so each gets a permission (allow-<name>) and
// the capability in capabilities/ decides which ones a window may call.
const COMMANDS: &[&str] = &[
    "start_snapshot",
    "start_sync",
    "cancel_job",
    "pause_job",
    "resume_job",
    "retry_job",
    "active_jobs",
    "list_history",
    "job_detail",
    "job_events",
    "subscribe_job",
    "unsubscribe",
    "list_agents",
    "add_agent",
    "remove_agent",
    "list_remote_jobs",
    "watch_remote_job",
    "fleet",
    "start_remote_job",
    "pause_remote_job",
    "resume_remote_job",
    "cancel_remote_job",
    "get_settings",
    "set_settings",
    "open_path",
    "pick_folder",
    "open_log",
    "list_plans",
    "add_plan",
    "edit_plan",
    "remove_plan",
    "run_plan",
    "run_all_plans",
    "pause_plan",
    "resume_plan",
    "plan_runs",
    "export_plan_runs",
    "start_restore",
    "start_verify",
    "snapshot_tree",
    "compare_snapshots",
    "previous_snapshot",
    "pause_state",
    "pause_everything",
    "resume_everything",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(e) = tauri_build::try_build(attributes) {
        panic!("tauri-build: {e:#}");
    }
}
