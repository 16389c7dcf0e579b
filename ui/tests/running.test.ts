import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import App from "../src/App.svelte";
import type { PauseState } from "../src/lib/types";
import { fakeApi, fleetAgent, jobSummary, remoteJob, settle } from "./fakes";

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("Running panel", () => {
  it("lists local and remote jobs, and each opens a modal of its own, side by side", async () => {
    const api = fakeApi({
      activeJobs: vi.fn(async () => [jobSummary({ id: "l1", title: "Snapshot of photos", percent: 40 })]),
    });
    render(App, { props: { api } });
    await settle();
    await api.pushFleet([fleetAgent({ running: [remoteJob({ agentId: "a1", id: "r1", title: "Sync on NAS" })] })]);
    const panel = screen.getByTestId("running-panel");
    const rows = within(panel).getAllByTestId("running-row");
    expect(rows.map((r) => r.dataset.jobId)).toEqual(["l1", "r1"]);
    expect(screen.getByTestId("running-count").textContent).toBe("2");

    await fireEvent.click(within(rows[0]).getByRole("button"));
    await fireEvent.click(within(rows[1]).getByRole("button"));
    await settle();
    const modals = screen.getAllByTestId("modal");
    expect(modals).toHaveLength(2);
    expect(api.subscribeJob).toHaveBeenCalledWith("l1", expect.any(Function));
    expect(api.watchRemoteJob).toHaveBeenCalledWith("a1", "r1", expect.any(Function));
    // Each heading names its own dialog.
    const labels = modals.map((m) => m.getAttribute("aria-labelledby"));
    expect(new Set(labels).size).toBe(2);

    // The same job again brings its modal forward instead of opening a third.
    await fireEvent.click(within(rows[0]).getByRole("button"));
    await settle();
    expect(screen.getAllByTestId("modal")).toHaveLength(2);
    expect(api.subscribeJob).toHaveBeenCalledTimes(1);

    // Closing one leaves the other.
    await fireEvent.click(within(screen.getAllByTestId("modal")[0]).getByTestId("modal-close"));
    await settle();
    expect(screen.getAllByTestId("modal")).toHaveLength(1);
  });

  it("is not shown while nothing runs", async () => {
    render(App, { props: { api: fakeApi() } });
    await settle();
    expect(screen.queryByTestId("running-panel")).toBeNull();
  });

  it("says until when everything is paused, and resumes it", async () => {
    let changed: (p: PauseState) => void = () => {};
    const api = fakeApi({
      pauseState: vi.fn(async () => ({ pausedUntil: "2026-12-02T15:30:00Z" })),
      onPauseChanged: vi.fn(async (h: (p: PauseState) => void) => {
        changed = h;
        return async () => {};
      }),
    });
    render(App, { props: { api } });
    await settle();
    expect(screen.getByTestId("paused-everything").textContent).toContain("paused until");
    await fireEvent.click(screen.getByTestId("resume-everything"));
    await settle();
    expect(api.resumeEverything).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId("paused-everything")).toBeNull();
    changed({ pausedUntil: "2026-12-03T00:00:00Z" });
    await settle();
    expect(screen.getByTestId("paused-everything")).toBeTruthy();
  });
});
