import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import App from "../src/App.svelte";
import { formatAgo } from "../src/lib/format";
import type { PlanSummary } from "../src/lib/types";
import { fakeApi, jobSummary, planSummary, settle } from "./fakes";

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

const HOUR = 3600_000;

describe("Plans view", () => {
  it("is the first screen and shows each plan's last outcome, staleness and next run", async () => {
    const now = Date.now();
    const api = fakeApi({
      listPlans: vi.fn(async () => [
        planSummary({
          name: "Photos",
          lastRun: { jobId: "j1", state: "completed", finishedAt: new Date(now - 3 * HOUR).toISOString(), error: null },
          nextRunAt: new Date(now + 2 * HOUR).toISOString(),
        }),
        planSummary({
          name: "Music",
          lastRun: {
            jobId: "j2",
            state: "failed",
            finishedAt: new Date(now - 26 * HOUR).toISOString(),
            error: { code: "disk_full", message: "no space left" },
          },
          stale: true,
        }),
      ]),
    });
    render(App, { props: { api } });
    await settle();
    expect(screen.getByTestId("tab-plans").getAttribute("aria-selected")).toBe("true");
    const rows = screen.getAllByTestId("plan-row");
    expect(rows.map((r) => r.dataset.plan)).toEqual(["Photos", "Music"]);
    expect(within(rows[0]).getByTestId("plan-outcome").textContent).toBe("Completed 3 hours ago");
    expect(within(rows[0]).getByTestId("plan-next").textContent).toBe("Next in 2 hours");
    expect(within(rows[0]).queryByTestId("plan-stale")).toBeNull();
    expect(within(rows[1]).getByTestId("plan-outcome").textContent).toBe("Failed 26 hours ago");
    expect(within(rows[1]).getByTestId("plan-stale")).toBeTruthy();
  });

  it("runs a plan now and opens its progress", async () => {
    const api = fakeApi({
      listPlans: vi.fn(async () => [planSummary({ name: "Photos" })]),
      runPlan: vi.fn(async () => jobSummary({ id: "run-7", title: "Snapshot of photos" })),
    });
    render(App, { props: { api } });
    await settle();
    await fireEvent.click(screen.getByTestId("plan-run-now"));
    await settle();
    expect(api.runPlan).toHaveBeenCalledWith("Photos");
    expect(api.subscribeJob).toHaveBeenCalledWith("run-7", expect.any(Function));
    expect(screen.getByTestId("modal-title").textContent).toBe("Photos");
  });

  it("adds a plan from the form, and shows why one is refused", async () => {
    const api = fakeApi({
      addPlan: vi
        .fn()
        .mockRejectedValueOnce({ code: "bad_schedule", message: "\"dialy 02:00\" is not a schedule" })
        .mockImplementationOnce(async (input) => planSummary({ name: input.name, spec: input.spec })),
    });
    render(App, { props: { api } });
    await settle();
    expect(screen.getByTestId("no-plans")).toBeTruthy();
    await fireEvent.click(screen.getByTestId("new-plan"));
    await fireEvent.input(screen.getByTestId("plan-name"), { target: { value: "Photos" } });
    await fireEvent.input(screen.getByTestId("plan-source"), { target: { value: "/home/me/photos" } });
    await fireEvent.input(screen.getByTestId("plan-destination"), { target: { value: "/backup" } });
    await fireEvent.input(screen.getByTestId("plan-schedule"), { target: { value: "dialy 02:00" } });
    await fireEvent.input(screen.getByTestId("plan-keep"), { target: { value: "5" } });
    await fireEvent.click(screen.getByTestId("plan-save"));
    await settle();
    expect(screen.getByTestId("plan-error").textContent).toContain("is not a schedule");
    expect(api.addPlan).toHaveBeenLastCalledWith({
      name: "Photos",
      spec: { kind: "snapshot", source: "/home/me/photos", destination: "/backup", name: null },
      schedule: "dialy 02:00",
      keep: 5,
      staleAfter: 3 * 86400,
    });
    await fireEvent.input(screen.getByTestId("plan-schedule"), { target: { value: "daily 02:00" } });
    await fireEvent.click(screen.getByTestId("plan-save"));
    await settle();
    expect(screen.queryByTestId("plan-form")).toBeNull();
    expect(screen.getAllByTestId("plan-row").map((r) => r.dataset.plan)).toEqual(["Photos"]);
  });

  it("follows plans-changed without asking again", async () => {
    let changed: (plans: PlanSummary[]) => void = () => {};
    const api = fakeApi({
      onPlansChanged: vi.fn(async (h: (plans: PlanSummary[]) => void) => {
        changed = h;
        return async () => {};
      }),
    });
    render(App, { props: { api } });
    await settle();
    changed([planSummary({ name: "Docs", paused: true, pausedUntil: "2026-12-02T18:00:00Z" })]);
    await settle();
    const row = screen.getByTestId("plan-row");
    expect(within(row).getByTestId("plan-next").textContent).toContain("Paused until");
    expect(within(row).getByTestId("plan-resume")).toBeTruthy();
    expect(api.listPlans).toHaveBeenCalledTimes(1);
  });

  it("shows a plan's runs as charts and exports them", async () => {
    const api = fakeApi({
      listPlans: vi.fn(async () => [planSummary({ name: "Photos" })]),
      planRuns: vi.fn(async () => [
        run("r3", "failed", null, 0),
        run("r2", "completed", 40, 2 << 20),
        run("r1", "completed", 20, 1 << 20),
      ]),
    });
    render(App, { props: { api } });
    await settle();
    await fireEvent.click(screen.getByTestId("plan-open"));
    await settle();
    expect(api.planRuns).toHaveBeenCalledWith("Photos");
    expect(screen.getAllByTestId("plan-run")).toHaveLength(3);
    // Completed runs only, oldest first: the last point is the newest run's.
    expect(screen.getByTestId("chart-duration").textContent).toContain("40.0 s");
    expect(screen.getByTestId("chart-size").textContent).toContain("2.00 MiB");
    expect(screen.getByTestId("chart-duration").querySelectorAll("circle")).toHaveLength(2);
    await fireEvent.click(screen.getByTestId("plan-export-csv"));
    await settle();
    expect(api.exportPlanRuns).toHaveBeenCalledWith("Photos", "csv");
    expect(screen.getByTestId("plan-exported").textContent).toContain("photos-runs.csv");
  });
});

function run(jobId: string, state: "completed" | "failed", secs: number | null, bytes: number) {
  return {
    jobId,
    state,
    createdAt: "2026-12-01T02:00:00Z",
    startedAt: "2026-12-01T02:00:01Z",
    finishedAt: "2026-12-01T02:01:00Z",
    durationSecs: secs,
    bytes,
    files: 10,
    bytesPerSec: secs ? bytes / secs : null,
    resultUrl: null,
    error: null,
  };
}

describe("formatAgo", () => {
  it("says past and future times as people do", () => {
    const now = Date.parse("2026-12-02T12:00:00Z");
    const at = (ms: number) => new Date(now + ms).toISOString();
    expect(formatAgo(at(-10_000), now)).toBe("just now");
    expect(formatAgo(at(-5 * 60_000), now)).toBe("5 min ago");
    expect(formatAgo(at(-HOUR), now)).toBe("1 hour ago");
    expect(formatAgo(at(-3 * HOUR), now)).toBe("3 hours ago");
    expect(formatAgo(at(-40 * HOUR), now)).toBe("2 days ago");
    expect(formatAgo(at(2 * HOUR), now)).toBe("in 2 hours");
    expect(formatAgo(at(30 * HOUR), now)).toBe("in 30 hours");
    expect(formatAgo(null, now)).toBe("");
  });
});
