// A fake Api for component tests: every command a vi.fn, subscriptions captured so a test
// can push updates the way the Rust side's Channel would.
import { vi } from "vitest";
import { tick } from "svelte";
import type { Api } from "../src/lib/api";
import type {
  Fleet,
  FleetAgent,
  JobSummary,
  JobUpdate,
  PlanInput,
  PlanSummary,
  ProgressEvent,
  RemoteJobInfo,
  Settings,
} from "../src/lib/types";
import { API_KEY } from "../src/lib/context";

export type Handler = (update: JobUpdate) => void;

export interface FakeApi extends Api {
  handlers: Handler[];
  unsubscribed: number;
  /** Sends an update to the newest subscription, then lets Svelte render it. */
  push(update: JobUpdate): Promise<void>;
  pushEvent(event: Partial<ProgressEvent>): Promise<void>;
  /** What `fleet` answers now. */
  fleetNow: Fleet;
  /** Sends a fleet-changed with `agents` (a higher revision), then lets Svelte render it. */
  pushFleet(agents: FleetAgent[]): Promise<void>;
}

let seq = 0;

export function progressEvent(overrides: Partial<ProgressEvent> = {}): ProgressEvent {
  seq += 1;
  return {
    jobId: "job-1",
    seq,
    kind: "snapshot",
    state: "running",
    step: "compressing",
    stepNumber: 4,
    totalSteps: 6,
    percent: 45,
    processed: 450,
    total: 1000,
    bytesDone: 450 * 1024 * 1024,
    bytesTotal: 1000 * 1024 * 1024,
    ratePerSec: 95 * 1024 * 1024,
    etaSeconds: 120,
    message: "Compressing 450 of 1,000 files",
    items: [],
    warnings: [],
    error: null,
    resultUrl: null,
    timestamp: "2026-11-23T02:27:47.123Z",
    ...overrides,
  } as ProgressEvent;
}

export function jobSummary(overrides: Partial<JobSummary> = {}): JobSummary {
  return {
    id: "job-1",
    kind: "snapshot",
    state: "running",
    title: "Snapshot of photos",
    source: "/home/me/photos",
    destination: "/backup",
    createdAt: "2026-11-23T02:27:00.000Z",
    startedAt: "2026-11-23T02:27:01.000Z",
    finishedAt: null,
    percent: 45,
    processed: 450,
    total: 1000,
    bytesDone: 0,
    bytesTotal: null,
    resultUrl: null,
    error: null,
    resumable: false,
    remote: null,
    ...overrides,
  } as JobSummary;
}

export function remoteJob(overrides: Partial<RemoteJobInfo> = {}): RemoteJobInfo {
  return {
    agentId: "a1",
    id: "r1",
    kind: "snapshot",
    state: "running",
    percent: 42,
    title: "Snapshot on NAS",
    createdAt: "2026-11-23T02:27:00.000Z",
    finishedAt: null,
    error: null,
    ...overrides,
  };
}

export function fleetAgent(overrides: Partial<FleetAgent> = {}): FleetAgent {
  return {
    id: "a1",
    name: "NAS",
    url: "https://nas.local:7040",
    reachability: { state: "online", since: "2026-11-23T02:00:00.000Z" },
    version: "0.1.0",
    roots: ["/srv/data"],
    readOnly: false,
    running: [],
    recent: [],
    ...overrides,
  };
}

export function planSummary(overrides: Partial<PlanSummary> = {}): PlanSummary {
  return {
    id: `plan-${overrides.name ?? "Photos"}`,
    name: "Photos",
    kind: "snapshot",
    spec: { kind: "snapshot", source: "/home/me/photos", destination: "/backup", name: null },
    schedule: "daily 02:00",
    keep: null,
    staleAfter: 259200,
    pausedUntil: null,
    createdAt: "2026-11-20T10:00:00.000Z",
    updatedAt: "2026-11-20T10:00:00.000Z",
    lastRun: null,
    lastSuccessAt: null,
    nextRunAt: "2026-12-03T02:00:00.000Z",
    stale: false,
    paused: false,
    ...overrides,
  } as PlanSummary;
}

export const defaultSettings: Settings = {
  notifyCompleted: true,
  notifyFailed: true,
  notifyAgentUnreachable: true,
  quietHours: null,
  closeToTray: true,
  launchAtLogin: false,
  maxJobs: 2,
} as Settings;

export function fakeApi(overrides: Partial<Api> = {}): FakeApi {
  const fake = {
    handlers: [] as Handler[],
    unsubscribed: 0,
  } as FakeApi;
  const fleetHandlers: ((fleet: Fleet) => void)[] = [];
  const subscribe = async (handler: Handler) => {
    fake.handlers.push(handler);
    return async () => {
      fake.unsubscribed += 1;
    };
  };
  Object.assign(fake, {
    startSnapshot: vi.fn(async () => jobSummary()),
    startSync: vi.fn(async () => jobSummary({ kind: "sync", title: "Sync" })),
    cancelJob: vi.fn(async () => {}),
    pauseJob: vi.fn(async () => {}),
    resumeJob: vi.fn(async (id: string) => jobSummary({ id })),
    retryJob: vi.fn(async () => jobSummary({ id: "job-2" })),
    activeJobs: vi.fn(async () => []),
    listHistory: vi.fn(async () => []),
    jobDetail: vi.fn(async (id: string) => ({ job: jobSummary({ id }), steps: [], last: null })),
    jobEvents: vi.fn(async () => []),
    subscribeJob: vi.fn(async (_id: string, handler: Handler) => subscribe(handler)),
    listAgents: vi.fn(async () => []),
    addAgent: vi.fn(async (r: { name: string; url: string }) => ({ id: "a1", name: r.name, url: r.url })),
    removeAgent: vi.fn(async () => {}),
    listRemoteJobs: vi.fn(async () => []),
    watchRemoteJob: vi.fn(async (_a: string, _j: string, handler: Handler) => subscribe(handler)),
    getSettings: vi.fn(async () => ({ ...defaultSettings })),
    setSettings: vi.fn(async (s: Settings) => s),
    openPath: vi.fn(async () => {}),
    pickFolder: vi.fn(async () => null),
    openLog: vi.fn(async () => "/data/tidemark/logs"),
    onJobsChanged: vi.fn(async () => async () => {}),
    fleet: vi.fn(async () => fake.fleetNow),
    startRemoteJob: vi.fn(async (agentId: string) => remoteJob({ agentId, id: "r9", state: "queued" })),
    pauseRemoteJob: vi.fn(async (agentId: string, id: string) => remoteJob({ agentId, id, state: "paused" })),
    resumeRemoteJob: vi.fn(async (agentId: string, id: string) => remoteJob({ agentId, id })),
    cancelRemoteJob: vi.fn(async (agentId: string, id: string) => remoteJob({ agentId, id })),
    onFleetChanged: vi.fn(async (handler: (fleet: Fleet) => void) => {
      fleetHandlers.push(handler);
      return async () => {};
    }),
    pauseState: vi.fn(async () => ({ pausedUntil: null })),
    pauseEverything: vi.fn(async () => ({ pausedUntil: "2026-12-02T15:30:00+00:00" })),
    resumeEverything: vi.fn(async () => ({ pausedUntil: null })),
    onPauseChanged: vi.fn(async () => async () => {}),
    listPlans: vi.fn(async () => []),
    addPlan: vi.fn(async (input: PlanInput) => planSummary({ name: input.name, spec: input.spec, schedule: input.schedule })),
    editPlan: vi.fn(async (_name: string, input: PlanInput) => planSummary({ name: input.name, spec: input.spec })),
    removePlan: vi.fn(async () => {}),
    runPlan: vi.fn(async () => jobSummary({ id: "plan-job-1" })),
    runAllPlans: vi.fn(async () => []),
    pausePlan: vi.fn(async (name: string) => planSummary({ name, paused: true })),
    resumePlan: vi.fn(async (name: string) => planSummary({ name })),
    planRuns: vi.fn(async () => []),
    exportPlanRuns: vi.fn(async () => "/home/me/photos-runs.csv"),
    onPlansChanged: vi.fn(async () => async () => {}),
    startRestore: vi.fn(async () => jobSummary({ id: "restore-1", kind: "restore", title: "Restore of photos" })),
    startVerify: vi.fn(async () => jobSummary({ id: "verify-1", kind: "verify", title: "Verify of photos" })),
    snapshotTree: vi.fn(async (_archive: string, folder: string) =>
      folder === ""
        ? [
            { name: "2026", path: "2026", folder: true, size: 3072, files: 2 },
            { name: "notes.txt", path: "notes.txt", folder: false, size: 10, files: 1 },
          ]
        : [
            { name: "a.raw", path: "2026/a.raw", folder: false, size: 1024, files: 1 },
            { name: "b.raw", path: "2026/b.raw", folder: false, size: 2048, files: 1 },
          ],
    ),
    compareSnapshots: vi.fn(async () => ({
      added: [{ path: "new.txt", oldSize: null, newSize: 5 }],
      removed: [],
      changed: [{ path: "notes.txt", oldSize: 10, newSize: 12 }],
      totals: {
        added: 1, removed: 0, changed: 1, unchanged: 2, addedBytes: 5, removedBytes: 0,
        changedOldBytes: 10, changedNewBytes: 12, oldBytes: 3082, newBytes: 3089,
      },
    })),
    previousSnapshot: vi.fn(async () => null),
    ...overrides,
  });
  fake.fleetNow = { revision: 1, agents: [], tokens: { kind: "keychain" } };
  fake.pushFleet = async (agents: FleetAgent[]) => {
    fake.fleetNow = { ...fake.fleetNow, revision: fake.fleetNow.revision + 1, agents };
    for (const handler of fleetHandlers) handler(fake.fleetNow);
    await tick();
  };
  fake.push = async (update: JobUpdate) => {
    const handler = fake.handlers[fake.handlers.length - 1];
    if (!handler) throw new Error("nobody subscribed yet");
    handler(update);
    await tick();
  };
  fake.pushEvent = (event) => fake.push({ type: "event", event: progressEvent(event) });
  return fake;
}

export function withApi(api: Api): Map<unknown, unknown> {
  return new Map<unknown, unknown>([[API_KEY, api]]);
}

/** Lets pending promises (a subscription starting) settle. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await Promise.resolve();
    await tick();
  }
}
