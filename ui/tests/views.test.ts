import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import App from "../src/App.svelte";
import type { Fleet, JobDetail, JobsChanged } from "../src/lib/types";
import {
  defaultSettings,
  fakeApi,
  fleetAgent,
  jobSummary,
  progressEvent,
  remoteJob,
  settle,
  type FakeApi,
} from "./fakes";

const XSS = "<img src=x onerror=alert(1)>.txt";

function renderApp(api: FakeApi) {
  return render(App, { props: { api } });
}

/** The app on its Jobs view (it opens on Plans). */
async function renderJobs(api: FakeApi) {
  const r = renderApp(api);
  await settle();
  await fireEvent.click(screen.getByTestId("tab-jobs"));
  await settle();
  return r;
}

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("Jobs view", () => {
  it("starts a snapshot from the fields and opens the modal on it", async () => {
    const api = fakeApi({
      pickFolder: vi.fn(async () => "/home/me/photos"),
      startSnapshot: vi.fn(async () => jobSummary({ id: "snap-9", title: "Snapshot of photos" })),
    });
    await renderJobs(api);
    await settle();
    const start = screen.getByTestId("start-snapshot") as HTMLButtonElement;
    expect(start.disabled).toBe(true);
    await fireEvent.click(screen.getByTestId("snapshot-source-browse"));
    await settle();
    expect((screen.getByTestId("snapshot-source") as HTMLInputElement).value).toBe("/home/me/photos");
    await fireEvent.input(screen.getByTestId("snapshot-destination"), { target: { value: "https://put.example/x" } });
    await fireEvent.click(start);
    await settle();
    expect(api.startSnapshot).toHaveBeenCalledWith({
      source: "/home/me/photos",
      destination: "https://put.example/x",
      name: null,
    });
    expect(screen.getByTestId("modal")).toBeTruthy();
    expect(api.subscribeJob).toHaveBeenCalledWith("snap-9", expect.any(Function));
    expect(screen.getByTestId("modal-title").textContent).toBe("Snapshot of photos");
  });

  it("shows why a start failed, with a hint", async () => {
    const api = fakeApi({
      startSnapshot: vi.fn(async () => Promise.reject({ code: "source_missing", message: "source folder /x does not exist" })),
    });
    await renderJobs(api);
    await settle();
    await fireEvent.input(screen.getByTestId("snapshot-source"), { target: { value: "/x" } });
    await fireEvent.input(screen.getByTestId("snapshot-destination"), { target: { value: "/b" } });
    await fireEvent.click(screen.getByTestId("start-snapshot"));
    await settle();
    const error = screen.getByTestId("snapshot-error");
    expect(error.textContent).toContain("source folder /x does not exist");
    expect(error.textContent).toContain("Check that the source folder still exists");
    expect(screen.queryByTestId("modal")).toBeNull();
  });

  it("starts a sync of several sources with mirror deletions", async () => {
    const api = fakeApi();
    await renderJobs(api);
    await settle();
    await fireEvent.click(screen.getByTestId("sync-add-source"));
    await fireEvent.click(screen.getByTestId("sync-add-source"));
    let sources = screen.getAllByTestId("sync-source");
    expect(sources).toHaveLength(3);
    await fireEvent.input(sources[0], { target: { value: "/a" } });
    await fireEvent.input(sources[1], { target: { value: "/b" } });
    await fireEvent.input(sources[2], { target: { value: "/c" } });
    await fireEvent.click(screen.getAllByTestId("sync-source-remove")[1]);
    sources = screen.getAllByTestId("sync-source");
    expect(sources.map((s) => (s as HTMLInputElement).value)).toEqual(["/a", "/c"]);
    await fireEvent.input(screen.getByTestId("sync-destination"), { target: { value: "/mirror" } });
    await fireEvent.click(screen.getByTestId("sync-delete"));
    await fireEvent.click(screen.getByTestId("start-sync"));
    await settle();
    expect(api.startSync).toHaveBeenCalledWith({ sources: ["/a", "/c"], destination: "/mirror", delete: true });
    expect(screen.getByTestId("modal")).toBeTruthy();
  });

  it("lists active jobs, follows jobs-changed, and opens the modal on a click", async () => {
    let changed: (change: JobsChanged) => void = () => {};
    const api = fakeApi({
      activeJobs: vi.fn(async () => [jobSummary({ id: "j1", title: XSS, percent: null })]),
      onJobsChanged: vi.fn(async (h: (change: JobsChanged) => void) => {
        changed = h;
        return async () => {};
      }),
    });
    const { container } = await renderJobs(api);
    await settle();
    let rows = screen.getAllByTestId("active-job");
    expect(rows).toHaveLength(1);
    expect(rows[0].textContent).toContain(XSS);
    expect(container.querySelector("img")).toBeNull();
    expect(within(rows[0]).getByRole("progressbar").hasAttribute("aria-valuenow")).toBe(false);

    changed({
      active: [jobSummary({ id: "j1", percent: 10 }), jobSummary({ id: "j2", kind: "sync", title: "Sync of 2 sources" })],
      ended: [],
    });
    await settle();
    rows = screen.getAllByTestId("active-job");
    expect(rows).toHaveLength(2);
    expect(within(rows[0]).getByRole("progressbar").getAttribute("aria-valuenow")).toBe("10");
    await fireEvent.click(rows[1]);
    await settle();
    expect(api.subscribeJob).toHaveBeenCalledWith("j2", expect.any(Function));
    await api.push({ type: "event", event: progressEvent({ jobId: "j2", kind: "sync", totalSteps: 4, stepNumber: 2, step: "scanning" }) });
    expect(screen.getByTestId("modal-step-label").textContent).toContain("Scanning");
    await fireEvent.click(screen.getByTestId("hide-button"));
    expect(screen.queryByTestId("modal")).toBeNull();
  });
});

describe("Jobs view, pushed", () => {
  it("asks for the list once, then only merges what jobs-changed says", async () => {
    vi.useFakeTimers();
    let changed: (change: JobsChanged) => void = () => {};
    const api = fakeApi({
      activeJobs: vi.fn(async () => [jobSummary({ id: "j1", percent: 5 })]),
      onJobsChanged: vi.fn(async (h: (change: JobsChanged) => void) => {
        changed = h;
        return async () => {};
      }),
    });
    await renderJobs(api);
    await settle();
    expect(api.onJobsChanged).toHaveBeenCalledTimes(1);
    expect(screen.getAllByTestId("active-job")).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(api.activeJobs).toHaveBeenCalledTimes(1);

    changed({ active: [jobSummary({ id: "j1", state: "paused", percent: 60 })], ended: [] });
    await settle();
    const row = screen.getByTestId("active-job");
    expect(row.dataset.state).toBe("paused");
    expect(row.textContent).toContain("60");
    changed({ active: [], ended: [jobSummary({ id: "j1", state: "completed", percent: 100 })] });
    await settle();
    expect(screen.queryByTestId("active-job")).toBeNull();
    expect(screen.getByTestId("no-active-jobs")).toBeTruthy();
    expect(api.activeJobs).toHaveBeenCalledTimes(1);
  });
});

describe("History view", () => {
  it("filters, shows a run's steps and events, resumes an interrupted run", async () => {
    const interrupted = jobSummary({ id: "h1", state: "interrupted", resumable: true, title: "Snapshot of docs" });
    const api = fakeApi({
      listHistory: vi.fn(async () => [interrupted, jobSummary({ id: "h2", state: "failed", title: "Sync" })]),
      jobDetail: vi.fn(async (): Promise<JobDetail> => ({
        job: interrupted,
        steps: [
          { step: "waiting", stepNumber: 1, label: "Waiting", startedAt: "2026-11-23T02:27:00Z", finishedAt: "2026-11-23T02:27:00Z", durationMs: 120 },
          { step: "browsing", stepNumber: 2, label: "Browsing", startedAt: "2026-11-23T02:27:00Z", finishedAt: "2026-11-23T02:27:12Z", durationMs: 12300 },
          { step: "manifest", stepNumber: 3, label: "Building manifest", startedAt: "2026-11-23T02:27:12Z", finishedAt: null, durationMs: null },
        ],
        last: null,
      })),
      jobEvents: vi.fn(async () => [
        progressEvent({ jobId: "h1", seq: 1, message: "Waiting" }),
        progressEvent({ jobId: "h1", seq: 2, message: `Browsing ${XSS}` }),
      ]),
      resumeJob: vi.fn(async () => jobSummary({ id: "h1", state: "running" })),
    });
    const { container } = renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-history"));
    await settle();
    expect(api.listHistory).toHaveBeenLastCalledWith({ state: null, kind: null, limit: 200 });
    await fireEvent.change(screen.getByTestId("history-filter-state"), { target: { value: "failed" } });
    await settle();
    expect(api.listHistory).toHaveBeenLastCalledWith({ state: "failed", kind: null, limit: 200 });
    await fireEvent.change(screen.getByTestId("history-filter-kind"), { target: { value: "sync" } });
    await settle();
    expect(api.listHistory).toHaveBeenLastCalledWith({ state: "failed", kind: "sync", limit: 200 });

    await fireEvent.click(screen.getAllByTestId("history-row")[0]);
    await settle();
    expect(api.jobDetail).toHaveBeenCalledWith("h1");
    expect(api.jobEvents).toHaveBeenCalledWith("h1", 0);
    const steps = screen.getAllByTestId("timeline-step");
    expect(steps).toHaveLength(3);
    expect(screen.getAllByTestId("timeline-duration").map((d) => d.textContent)).toEqual(["120 ms", "12.3 s", "—"]);
    const events = screen.getAllByTestId("event-row");
    expect(events[1].textContent).toContain(XSS);
    expect(container.querySelector("img")).toBeNull();
    expect(screen.queryByTestId("retry-button")).toBeNull();

    await fireEvent.click(screen.getByTestId("resume-button"));
    await settle();
    expect(api.resumeJob).toHaveBeenCalledWith("h1");
    expect(screen.getByTestId("modal")).toBeTruthy();
  });

  it("marks a remote run, offers no local Resume or Retry, and follows it on its agent", async () => {
    const remote = { agentId: "a1", agentName: "nas", jobId: "r-7" };
    const interrupted = jobSummary({ id: "remote-a1-r-7", state: "interrupted", remote });
    const running = jobSummary({ id: "remote-a1-r-8", state: "running", remote: { ...remote, jobId: "r-8" } });
    let shown = interrupted;
    const api = fakeApi({
      listHistory: vi.fn(async () => [interrupted, running, jobSummary({ id: "local-1", state: "failed" })]),
      jobDetail: vi.fn(async () => ({ job: shown, steps: [], last: null })),
    });
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-history"));
    await settle();
    const badges = screen.getAllByTestId("remote-badge");
    expect(badges.map((b) => b.textContent?.trim())).toEqual(["on nas", "on nas"]);
    await fireEvent.click(screen.getAllByTestId("history-row")[0]);
    await settle();
    expect(screen.getByTestId("history-remote").textContent).toContain("r-7");
    expect(screen.queryByTestId("resume-button")).toBeNull();
    expect(screen.queryByTestId("retry-button")).toBeNull();

    shown = running;
    await fireEvent.click(screen.getAllByTestId("history-row")[1]);
    await settle();
    await fireEvent.click(screen.getByTestId("show-progress"));
    await settle();
    expect(api.watchRemoteJob).toHaveBeenCalledWith("a1", "r-8", expect.any(Function));
    expect(api.subscribeJob).not.toHaveBeenCalled();
  });

  it("offers Retry on a failed run, with its error", async () => {
    const failed = jobSummary({
      id: "h2",
      state: "failed",
      destination: "/mnt/usb",
      error: { code: "disk_full", message: "no space left on device" },
    });
    const api = fakeApi({
      listHistory: vi.fn(async () => [failed]),
      jobDetail: vi.fn(async () => ({ job: failed, steps: [], last: null })),
    });
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-history"));
    await settle();
    await fireEvent.click(screen.getByTestId("history-row"));
    await settle();
    expect(screen.getByTestId("history-job-error").textContent).toContain("Free some space on /mnt/usb and retry.");
    expect(screen.queryByTestId("resume-button")).toBeNull();
    await fireEvent.click(screen.getByTestId("retry-button"));
    await settle();
    expect(api.retryJob).toHaveBeenCalledWith("h2");
    expect(api.subscribeJob).toHaveBeenCalledWith("job-2", expect.any(Function));
  });
});

describe("Agents view", () => {
  it("adds an agent and shows what its check finds: online, version, jobs to watch", async () => {
    const api = fakeApi();
    api.addAgent = vi.fn(async (r: { name: string; url: string }) => {
      api.fleetNow = {
        ...api.fleetNow,
        revision: api.fleetNow.revision + 1,
        agents: [fleetAgent({ reachability: { state: "checking" }, version: null, roots: [] })],
      };
      return { id: "a1", name: r.name, url: r.url };
    });
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-agents"));
    await settle();
    expect(screen.getByTestId("no-agents")).toBeTruthy();
    await fireEvent.input(screen.getByTestId("agent-name"), { target: { value: "NAS" } });
    await fireEvent.input(screen.getByTestId("agent-url"), { target: { value: "http://127.0.0.1:7420" } });
    await fireEvent.input(screen.getByTestId("agent-token"), { target: { value: "secret" } });
    await fireEvent.click(screen.getByTestId("add-agent"));
    await settle();
    expect(api.addAgent).toHaveBeenCalledWith({ name: "NAS", url: "http://127.0.0.1:7420", token: "secret" });
    expect(screen.getAllByTestId("agent-row")).toHaveLength(1);
    expect(screen.getByTestId("agent-status").textContent).toBe("checking…");
    expect(screen.queryByTestId("new-remote-job")).toBeNull();

    await api.pushFleet([
      fleetAgent({
        running: [remoteJob({ percent: 42.4 })],
        recent: [remoteJob({ id: "r0", state: "failed", error: { code: "disk_full", message: "disk full" } })],
      }),
    ]);
    expect(screen.getByTestId("agent-status").textContent).toBe("online");
    expect(screen.getByTestId("agent-version").textContent).toContain("0.1.0");
    const running = within(screen.getByTestId("agent-running")).getByTestId("remote-job-row");
    expect(running.textContent).toContain("Snapshot on NAS");
    expect(within(running).getByTestId("remote-job-percent").textContent).toBe("42 %");
    const recent = within(screen.getByTestId("agent-recent")).getByTestId("remote-job-row");
    expect(recent.dataset.state).toBe("failed");
    expect(recent.textContent).toContain("disk full");
    await fireEvent.click(within(running).getByTestId("watch-button"));
    await settle();
    expect(api.watchRemoteJob).toHaveBeenCalledWith("a1", "r1", expect.any(Function));
    expect(screen.getByTestId("modal-connection").textContent).toContain("connecting");
  });

  it("says why an agent is unreachable, and never goes back to an older state", async () => {
    const api = fakeApi();
    api.fleetNow = {
      ...api.fleetNow,
      revision: 5,
      agents: [
        fleetAgent({
          reachability: {
            state: "unreachable",
            reason: "cannot connect: connection refused",
            code: "agent_unreachable",
            since: "2026-11-23T02:00:00.000Z",
          },
        }),
      ],
    };
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-agents"));
    await settle();
    const status = screen.getByTestId("agent-status");
    expect(status.textContent).toBe("unreachable: cannot connect: connection refused");
    expect(status.dataset.state).toBe("unreachable");
    await api.pushFleet([fleetAgent()]);
    expect(screen.getByTestId("agent-status").textContent).toBe("online");
  });

  it("keeps an event newer than the answer that arrives after it", async () => {
    const api = fakeApi();
    let answer: (fleet: Fleet) => void = () => {};
    api.fleet = vi.fn(() => new Promise<Fleet>((resolve) => (answer = resolve)));
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-agents"));
    await settle();
    await api.pushFleet([fleetAgent()]);
    answer({ revision: 1, agents: [], tokens: { kind: "keychain" } });
    await settle();
    expect(screen.getByTestId("agent-status").textContent).toBe("online");
  });

  it("pauses, resumes and cancels an agent's jobs, and offers nothing to a read-only token", async () => {
    const api = fakeApi();
    api.fleetNow = {
      ...api.fleetNow,
      agents: [fleetAgent({ running: [remoteJob({ id: "r1" }), remoteJob({ id: "r2", state: "paused" })] })],
    };
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-agents"));
    await settle();
    const [r1, r2] = screen.getAllByTestId("remote-job-row");
    await fireEvent.click(within(r1).getByTestId("remote-pause"));
    await settle();
    expect(api.pauseRemoteJob).toHaveBeenCalledWith("a1", "r1");
    await fireEvent.click(within(r2).getByTestId("remote-resume"));
    await settle();
    expect(api.resumeRemoteJob).toHaveBeenCalledWith("a1", "r2");
    api.cancelRemoteJob = vi.fn(async () =>
      Promise.reject({ code: "conflict", message: "job r2 is completed: it is not running" }),
    );
    await fireEvent.click(within(r2).getByTestId("remote-cancel"));
    await settle();
    expect(screen.getByTestId("remote-action-error").textContent).toContain("it is not running");

    await api.pushFleet([fleetAgent({ readOnly: true, running: [remoteJob()] })]);
    const row = screen.getByTestId("remote-job-row");
    expect(within(row).queryByTestId("remote-pause")).toBeNull();
    expect(within(row).queryByTestId("remote-cancel")).toBeNull();
    expect(within(row).getByTestId("watch-button")).toBeTruthy();
    expect(screen.queryByTestId("new-remote-job")).toBeNull();
    expect(screen.getByTestId("agent-read-only")).toBeTruthy();
  });

  it("says where tokens are kept when no keychain answers, and nothing when one does", async () => {
    const api = fakeApi();
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-agents"));
    await settle();
    expect(screen.queryByTestId("keychain-warning")).toBeNull();
    api.fleetNow = {
      ...api.fleetNow,
      tokens: {
        kind: "file",
        path: "/home/me/.config/tidemark/desktop-agent-tokens.json",
        reason: "no secret service provider or dbus session found",
      },
    };
    await api.pushFleet([]);
    const warning = screen.getByTestId("keychain-warning");
    expect(warning.textContent).toContain("/home/me/.config/tidemark/desktop-agent-tokens.json");
    expect(warning.textContent).toContain("no secret service provider");
  });

  it("starts a snapshot and a sync on an agent from its roots and a folder under one", async () => {
    const api = fakeApi();
    api.fleetNow = { ...api.fleetNow, agents: [fleetAgent({ roots: ["/srv/data", "/mnt/backup"] })] };
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-agents"));
    await settle();
    await fireEvent.click(screen.getByTestId("new-remote-job"));
    await fireEvent.input(screen.getByTestId("remote-source-path"), { target: { value: "photos/2026/" } });
    await fireEvent.change(screen.getByTestId("remote-destination-root"), { target: { value: "/mnt/backup" } });
    await fireEvent.input(screen.getByTestId("remote-destination-path"), { target: { value: "archives" } });
    expect(screen.getByTestId("remote-destination-full").textContent).toBe("/mnt/backup/archives");
    await fireEvent.click(screen.getByTestId("start-remote-job"));
    await settle();
    expect(api.startRemoteJob).toHaveBeenCalledWith("a1", {
      kind: "snapshot",
      source: "/srv/data/photos/2026",
      destination: "/mnt/backup/archives",
      name: null,
    });
    expect(screen.queryByTestId("remote-job-form")).toBeNull();

    // A snapshot may upload its archive instead.
    await fireEvent.click(screen.getByTestId("new-remote-job"));
    await fireEvent.input(screen.getByTestId("remote-source-path"), { target: { value: "photos" } });
    await fireEvent.click(screen.getByTestId("remote-destination-is-url"));
    expect(screen.queryByTestId("remote-destination-path")).toBeNull();
    await fireEvent.input(screen.getByTestId("remote-destination-url"), {
      target: { value: " https://backup.example/in/ " },
    });
    await fireEvent.input(screen.getByTestId("remote-snapshot-name"), { target: { value: "weekly" } });
    await fireEvent.click(screen.getByTestId("start-remote-job"));
    await settle();
    expect(api.startRemoteJob).toHaveBeenLastCalledWith("a1", {
      kind: "snapshot",
      source: "/srv/data/photos",
      destination: "https://backup.example/in/",
      name: "weekly",
    });

    api.startRemoteJob = vi.fn(async () =>
      Promise.reject({ code: "forbidden_path", message: "/etc is outside the folders this agent may use" }),
    );
    await fireEvent.click(screen.getByTestId("new-remote-job"));
    await fireEvent.change(screen.getByTestId("remote-job-kind"), { target: { value: "sync" } });
    await fireEvent.input(screen.getByTestId("remote-source-path"), { target: { value: "photos" } });
    await fireEvent.click(screen.getByTestId("remote-add-source"));
    await fireEvent.input(screen.getAllByTestId("remote-source-path")[1], { target: { value: "music" } });
    await fireEvent.input(screen.getByTestId("remote-destination-path"), { target: { value: "mirror" } });
    await fireEvent.click(screen.getByTestId("remote-sync-delete"));
    await fireEvent.click(screen.getByTestId("start-remote-job"));
    await settle();
    expect(api.startRemoteJob).toHaveBeenCalledWith("a1", {
      kind: "sync",
      sources: ["/srv/data/photos", "/srv/data/music"],
      destination: "/srv/data/mirror",
      delete: true,
    });
    expect(screen.getByTestId("remote-job-error").textContent).toContain("outside the folders");
    expect(screen.getByTestId("remote-job-form")).toBeTruthy();
  });
});

describe("Settings view", () => {
  it("loads and saves notifications, quiet hours and close-to-tray", async () => {
    const api = fakeApi();
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-settings"));
    await settle();
    expect((screen.getByTestId("setting-notify-completed") as HTMLInputElement).checked).toBe(true);
    await fireEvent.click(screen.getByTestId("setting-notify-completed"));
    await fireEvent.click(screen.getByTestId("setting-quiet-enabled"));
    await fireEvent.input(screen.getByTestId("setting-quiet-start"), { target: { value: "23:30" } });
    await fireEvent.click(screen.getByTestId("setting-close-to-tray"));
    await fireEvent.click(screen.getByTestId("save-settings"));
    await settle();
    expect(api.setSettings).toHaveBeenCalledWith({
      ...defaultSettings,
      notifyCompleted: false,
      quietHours: { start: "23:30", end: "07:00" },
      closeToTray: false,
      launchAtLogin: false,
      maxJobs: 2,
    });
    expect(screen.getByTestId("settings-saved")).toBeTruthy();
  });

  it("opens the log folder and shows where it is", async () => {
    const api = fakeApi();
    renderApp(api);
    await fireEvent.click(screen.getByTestId("tab-settings"));
    await settle();
    expect(screen.queryByTestId("log-folder")).toBeNull();
    await fireEvent.click(screen.getByTestId("open-log"));
    await settle();
    expect(api.openLog).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("log-folder").textContent).toBe("/data/tidemark/logs");
    expect(api.setSettings).not.toHaveBeenCalled();
  });
});
