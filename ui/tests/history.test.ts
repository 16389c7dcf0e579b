import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import App from "../src/App.svelte";
import type { JobsChanged } from "../src/lib/types";
import { fakeApi, jobSummary, settle } from "./fakes";

afterEach(() => cleanup());

describe("History view", () => {
  it("loads a run's detail and events once per selection, whatever other jobs do", async () => {
    let changed: (change: JobsChanged) => void = () => {};
    const run = jobSummary({ id: "h1", state: "running" });
    const api = fakeApi({
      listHistory: vi.fn(async () => [run, jobSummary({ id: "h2", state: "running" })]),
      jobDetail: vi.fn(async () => ({ job: run, steps: [], last: null })),
      onJobsChanged: vi.fn(async (h: (change: JobsChanged) => void) => {
        changed = h;
        return async () => {};
      }),
    });
    render(App, { props: { api } });
    await fireEvent.click(screen.getByTestId("tab-history"));
    await settle();
    await fireEvent.click(screen.getAllByTestId("history-row")[0]);
    await settle();
    expect(api.jobDetail).toHaveBeenCalledTimes(1);
    expect(api.jobEvents).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId("history-detail")).toBeTruthy();

    // Runs moving (the shown one too, in the same state) load nothing again.
    changed({ active: [jobSummary({ id: "h2", percent: 80 }), jobSummary({ id: "h1", percent: 50 })], ended: [] });
    await settle();
    expect(api.jobDetail).toHaveBeenCalledTimes(1);
    expect(api.jobEvents).toHaveBeenCalledTimes(1);
    expect(api.listHistory).toHaveBeenCalledTimes(1);

    // Another run's end reloads the list, not the shown run.
    changed({ active: [], ended: [jobSummary({ id: "h2", state: "completed" })] });
    await settle();
    expect(api.listHistory).toHaveBeenCalledTimes(2);
    expect(api.jobEvents).toHaveBeenCalledTimes(1);

    // The shown run's end reloads it once: its history is complete now.
    changed({ active: [], ended: [jobSummary({ id: "h1", state: "completed" })] });
    await settle();
    expect(api.jobDetail).toHaveBeenCalledTimes(2);
    expect(api.jobEvents).toHaveBeenCalledTimes(2);
  });
});
