import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, within } from "@testing-library/svelte";
import App from "../src/App.svelte";
import { fakeApi, jobSummary, settle, type FakeApi } from "./fakes";

afterEach(() => cleanup());

const snapshot = jobSummary({
  id: "s2",
  state: "completed",
  title: "Snapshot of photos",
  resultUrl: "/backup/photos-2.tar.zst",
});

async function openSnapshot(api: FakeApi) {
  render(App, { props: { api } });
  await fireEvent.click(screen.getByTestId("tab-history"));
  await settle();
  await fireEvent.click(screen.getAllByTestId("history-row")[0]);
  await settle();
}

function withSnapshot(overrides: Partial<FakeApi> = {}) {
  return fakeApi({
    listHistory: vi.fn(async () => [snapshot]),
    jobDetail: vi.fn(async () => ({ job: snapshot, steps: [], last: null })),
    ...overrides,
  });
}

describe("A completed snapshot", () => {
  it("restores what is chosen in its tree, with the progress modal", async () => {
    const api = withSnapshot();
    await openSnapshot(api);
    await fireEvent.click(screen.getByTestId("restore-open"));
    await settle();
    expect(api.snapshotTree).toHaveBeenCalledWith("/backup/photos-2.tar.zst", "");
    const top = screen.getAllByTestId("tree-entry");
    expect(top.map((e) => e.dataset.path)).toEqual(["2026", "notes.txt"]);
    // A folder opens on demand; its files can be chosen one by one.
    await fireEvent.click(within(top[0]).getByTestId("tree-open"));
    await settle();
    expect(api.snapshotTree).toHaveBeenCalledWith("/backup/photos-2.tar.zst", "2026");
    const inner = screen.getAllByTestId("tree-entry").find((e) => e.dataset.path === "2026/b.raw");
    await fireEvent.click(within(inner!).getByTestId("tree-choose"));
    await fireEvent.input(screen.getByTestId("restore-to"), { target: { value: "/home/me/back" } });
    expect(screen.getByTestId("restore-start").textContent).toBe("Restore the chosen");
    await fireEvent.click(screen.getByTestId("restore-start"));
    await settle();
    expect(api.startRestore).toHaveBeenCalledWith({
      archive: "/backup/photos-2.tar.zst",
      to: "/home/me/back",
      only: ["2026/b.raw"],
      overwrite: false,
    });
    expect(api.subscribeJob).toHaveBeenCalledWith("restore-1", expect.any(Function));
    expect(screen.getByTestId("modal")).toBeTruthy();
  });

  it("is verified as a job", async () => {
    const api = withSnapshot();
    await openSnapshot(api);
    await fireEvent.click(screen.getByTestId("verify-button"));
    await settle();
    expect(api.startVerify).toHaveBeenCalledWith("/backup/photos-2.tar.zst");
    expect(api.subscribeJob).toHaveBeenCalledWith("verify-1", expect.any(Function));
  });

  it("is compared with the previous snapshot of its folder", async () => {
    const api = withSnapshot({
      previousSnapshot: vi.fn(async () =>
        jobSummary({ id: "s1", state: "completed", resultUrl: "/backup/photos-1.tar.zst" }),
      ),
    });
    await openSnapshot(api);
    await fireEvent.click(screen.getByTestId("compare-button"));
    await settle();
    expect(api.compareSnapshots).toHaveBeenCalledWith("/backup/photos-1.tar.zst", "/backup/photos-2.tar.zst");
    expect(screen.getByTestId("diff-totals").textContent).toContain("1 added");
    expect(screen.getByTestId("diff-changed").textContent).toContain("notes.txt");
  });

  it("says when there is nothing to compare with", async () => {
    const api = withSnapshot();
    await openSnapshot(api);
    await fireEvent.click(screen.getByTestId("compare-button"));
    await settle();
    expect(screen.getByTestId("no-previous")).toBeTruthy();
    expect(api.compareSnapshots).not.toHaveBeenCalled();
  });
});
