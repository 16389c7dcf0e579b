// The one module that talks to Tauri. Components never import @tauri-apps/*: they get an
// `Api` (this one in the app, a fake in the tests) from the context (see context.ts).
import { Channel, invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type {
  AddAgent,
  DiffReport,
  AgentInfo,
  Fleet,
  HistoryFilter,
  JobDetail,
  JobSummary,
  JobsChanged,
  JobUpdate,
  PauseFor,
  PauseState,
  PlanInput,
  PlanRun,
  PlanSummary,
  ProgressEvent,
  RemoteJobInfo,
  RemoteJobRequest,
  Settings,
  StartRestore,
  StartSnapshot,
  StartSync,
  TreeEntry,
} from "./types";
import { toAppError } from "./errors";
import { EVENTS, type EventName, type EventPayload } from "./events";

export { toAppError };

/** Stops a subscription or a listener; safe to call more than once. */
export type Unsubscribe = () => Promise<void>;

export interface Api {
  startSnapshot(request: StartSnapshot): Promise<JobSummary>;
  startSync(request: StartSync): Promise<JobSummary>;
  cancelJob(id: string): Promise<void>;
  pauseJob(id: string): Promise<void>;
  resumeJob(id: string): Promise<JobSummary>;
  retryJob(id: string): Promise<JobSummary>;
  activeJobs(): Promise<JobSummary[]>;
  listHistory(filter: HistoryFilter): Promise<JobSummary[]>;
  jobDetail(id: string): Promise<JobDetail>;
  jobEvents(id: string, since: number): Promise<ProgressEvent[]>;
  /** Calls `onUpdate` with the job's current state first, then every (throttled) update. */
  subscribeJob(id: string, onUpdate: (update: JobUpdate) => void): Promise<Unsubscribe>;
  listAgents(): Promise<AgentInfo[]>;
  addAgent(request: AddAgent): Promise<AgentInfo>;
  removeAgent(id: string): Promise<void>;
  listRemoteJobs(agentId: string): Promise<RemoteJobInfo[]>;
  watchRemoteJob(
    agentId: string,
    jobId: string,
    onUpdate: (update: JobUpdate) => void,
  ): Promise<Unsubscribe>;
  /** Every agent as its background check last found it. */
  fleet(): Promise<Fleet>;
  /** Starts a job on an agent, with the agent's own paths. */
  startRemoteJob(agentId: string, spec: RemoteJobRequest): Promise<RemoteJobInfo>;
  pauseRemoteJob(agentId: string, jobId: string): Promise<RemoteJobInfo>;
  resumeRemoteJob(agentId: string, jobId: string): Promise<RemoteJobInfo>;
  cancelRemoteJob(agentId: string, jobId: string): Promise<RemoteJobInfo>;
  getSettings(): Promise<Settings>;
  setSettings(settings: Settings): Promise<Settings>;
  openPath(path: string): Promise<void>;
  pickFolder(): Promise<string | null>;
  /** Opens the folder of the app's log files; resolves to its path. */
  openLog(): Promise<string>;
  /**
   * `jobs-changed`: the jobs that started, moved on or ended, only those, as it happens
   * (merge them into one `activeJobs` answer; see activeJobs.ts).
   */
  onJobsChanged(handler: (change: JobsChanged) => void): Promise<Unsubscribe>;
  /** `fleet-changed`: the whole fleet, whenever an agent's check finds something new. */
  onFleetChanged(handler: (fleet: Fleet) => void): Promise<Unsubscribe>;
  /** "Pause everything": whether it lasts, and until when. */
  pauseState(): Promise<PauseState>;
  pauseEverything(how: PauseFor): Promise<PauseState>;
  resumeEverything(): Promise<PauseState>;
  /** `pause-changed`: "pause everything" began, moved or ended. */
  onPauseChanged(handler: (state: PauseState) => void): Promise<Unsubscribe>;
  /** Every plan with its last run, next run and staleness. */
  listPlans(): Promise<PlanSummary[]>;
  /** Checked before anything is saved (schedule, name, folders). */
  addPlan(input: PlanInput): Promise<PlanSummary>;
  editPlan(name: string, input: PlanInput): Promise<PlanSummary>;
  removePlan(name: string): Promise<void>;
  /** Runs a plan now; resolves to its job (follow it with `subscribeJob`). */
  runPlan(name: string): Promise<JobSummary>;
  runAllPlans(): Promise<JobSummary[]>;
  /** Pauses a plan (for `forSecs`, or until resumed). */
  pausePlan(name: string, forSecs: number | null): Promise<PlanSummary>;
  resumePlan(name: string): Promise<PlanSummary>;
  /** A plan's runs, newest first. */
  planRuns(name: string): Promise<PlanRun[]>;
  /** Saves a plan's runs to a file the user picks; resolves to its path (`null`: cancelled). */
  exportPlanRuns(name: string, format: "csv" | "json"): Promise<string | null>;
  /** `plans-changed`: every plan, whenever one is added, changed, run or ends a run. */
  onPlansChanged(handler: (plans: PlanSummary[]) => void): Promise<Unsubscribe>;
  /** Restores a snapshot (all, or the chosen paths of its tree); follow it with `subscribeJob`. */
  startRestore(request: StartRestore): Promise<JobSummary>;
  /** Checks a snapshot's archive against its manifest, as a job. */
  startVerify(archive: string): Promise<JobSummary>;
  /** The names directly in `folder` (`""`: the top) of a snapshot's tree, from its manifest. */
  snapshotTree(archive: string, folder: string): Promise<TreeEntry[]>;
  compareSnapshots(older: string, newer: string): Promise<DiffReport>;
  /** The completed snapshot of the same folder before this one, if any. */
  previousSnapshot(id: string): Promise<JobSummary | null>;
}

/** `invoke`, rejecting with an `AppError` only. */
export async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (reason) {
    throw toAppError(reason);
  }
}

async function subscribe(
  command: string,
  args: Record<string, unknown>,
  onUpdate: (update: JobUpdate) => void,
): Promise<Unsubscribe> {
  let open = true;
  const channel = new Channel<JobUpdate>();
  channel.onmessage = (update) => {
    if (open) onUpdate(update);
  };
  const subscription = await call<number>(command, { ...args, channel });
  return async () => {
    if (!open) return;
    open = false;
    await call<null>("unsubscribe", { subscription });
  };
}

/** Listens to one app event, its payload typed by its name. */
async function on<N extends EventName>(name: N, handler: (payload: EventPayload<N>) => void): Promise<Unsubscribe> {
  const unlisten = await listen<EventPayload<N>>(name, (e) => handler(e.payload));
  return async () => unlisten();
}

export const tauriApi: Api = {
  startSnapshot: (request) => call("start_snapshot", { request }),
  startSync: (request) => call("start_sync", { request }),
  cancelJob: async (id) => void (await call<null>("cancel_job", { id })),
  pauseJob: async (id) => void (await call<null>("pause_job", { id })),
  resumeJob: (id) => call("resume_job", { id }),
  retryJob: (id) => call("retry_job", { id }),
  activeJobs: () => call("active_jobs"),
  listHistory: (filter) => call("list_history", { filter }),
  jobDetail: (id) => call("job_detail", { id }),
  jobEvents: (id, since) => call("job_events", { id, since }),
  subscribeJob: (id, onUpdate) => subscribe("subscribe_job", { id }, onUpdate),
  listAgents: () => call("list_agents"),
  addAgent: (request) => call("add_agent", { request }),
  removeAgent: async (id) => void (await call<null>("remove_agent", { id })),
  listRemoteJobs: (agentId) => call("list_remote_jobs", { agentId }),
  watchRemoteJob: (agentId, jobId, onUpdate) =>
    subscribe("watch_remote_job", { agentId, jobId }, onUpdate),
  fleet: () => call("fleet"),
  startRemoteJob: (agentId, spec) => call("start_remote_job", { agentId, spec }),
  pauseRemoteJob: (agentId, jobId) => call("pause_remote_job", { agentId, jobId }),
  resumeRemoteJob: (agentId, jobId) => call("resume_remote_job", { agentId, jobId }),
  cancelRemoteJob: (agentId, jobId) => call("cancel_remote_job", { agentId, jobId }),
  getSettings: () => call("get_settings"),
  setSettings: (settings) => call("set_settings", { settings }),
  openPath: async (path) => void (await call<null>("open_path", { path })),
  pickFolder: () => call("pick_folder"),
  openLog: () => call("open_log"),
  onJobsChanged: (handler) => on(EVENTS.jobsChanged, handler),
  onFleetChanged: (handler) => on(EVENTS.fleetChanged, handler),
  pauseState: () => call("pause_state"),
  pauseEverything: (how) => call("pause_everything", { how }),
  resumeEverything: () => call("resume_everything"),
  onPauseChanged: (handler) => on(EVENTS.pauseChanged, handler),
  listPlans: () => call("list_plans"),
  addPlan: (input) => call("add_plan", { input }),
  editPlan: (name, input) => call("edit_plan", { name, input }),
  removePlan: async (name) => void (await call<null>("remove_plan", { name })),
  runPlan: (name) => call("run_plan", { name }),
  runAllPlans: () => call("run_all_plans"),
  pausePlan: (name, forSecs) => call("pause_plan", { name, forSecs }),
  resumePlan: (name) => call("resume_plan", { name }),
  planRuns: (name) => call("plan_runs", { name }),
  exportPlanRuns: (name, format) => call("export_plan_runs", { name, format }),
  onPlansChanged: (handler) => on(EVENTS.plansChanged, handler),
  startRestore: (request) => call("start_restore", { request }),
  startVerify: (archive) => call("start_verify", { archive }),
  snapshotTree: (archive, folder) => call("snapshot_tree", { archive, folder }),
  compareSnapshots: (older, newer) => call("compare_snapshots", { old: older, new: newer }),
  previousSnapshot: (id) => call("previous_snapshot", { id }),
};
