import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/svelte";
import ProgressModal from "../src/components/ProgressModal.svelte";
import { fakeApi, progressEvent, settle, withApi, type FakeApi } from "./fakes";

const XSS = "<img src=x onerror=alert(1)>.txt";

function open(api: FakeApi, props: Record<string, unknown> = {}) {
  const onclose = vi.fn();
  const result = render(ProgressModal, {
    props: { target: { kind: "local", jobId: "job-1" }, onclose, ...props },
    context: withApi(api),
  });
  return { ...result, onclose };
}

const text = (id: string) => screen.getByTestId(id).textContent?.replace(/\s+/g, " ").trim();

afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("ProgressModal", () => {
  let api: FakeApi;
  beforeEach(() => {
    api = fakeApi();
  });

  it("is an accessible dialog that subscribes to its job", async () => {
    open(api);
    await settle();
    const modal = screen.getByTestId("modal");
    expect(modal.getAttribute("role")).toBe("dialog");
    expect(modal.getAttribute("aria-modal")).toBe("true");
    expect(api.subscribeJob).toHaveBeenCalledWith("job-1", expect.any(Function));
    expect(screen.getByTestId("modal-loading")).toBeTruthy();
  });

  it("shows the first (current-state) message of the subscription", async () => {
    open(api);
    await settle();
    // A window that subscribes late gets the job's newest event first.
    await api.pushEvent({ step: "uploading", stepNumber: 5, percent: 88, message: "Uploading the archive" });
    expect(text("modal-step-label")).toBe("Step 5 of 6 · Uploading");
    expect(text("modal-percent")).toBe("88 %");
    expect(text("modal-message")).toBe("Uploading the archive");
    expect(screen.queryByTestId("modal-loading")).toBeNull();
  });

  it("unknown total: indeterminate bar, no 0 %, no ETA", async () => {
    const { container } = open(api);
    await settle();
    await api.pushEvent({
      step: "browsing",
      stepNumber: 2,
      percent: null,
      processed: 1234,
      total: null,
      bytesDone: 0,
      bytesTotal: null,
      etaSeconds: null,
      ratePerSec: 500,
      message: "Browsing: 1,234 files found",
    });
    const bar = screen.getByRole("progressbar", { name: "Job progress" });
    expect(bar.classList.contains("indeterminate")).toBe(true);
    expect(bar.hasAttribute("aria-valuenow")).toBe(false);
    expect(bar.getAttribute("aria-valuetext")).toBe("unknown total");
    expect(screen.queryByTestId("modal-percent")).toBeNull();
    expect(screen.getByTestId("modal-percent-unknown").textContent).toContain("not known");
    expect(container.textContent).not.toMatch(/\b0 %/);
    expect(text("modal-counts")).toBe("1,234");
    expect(screen.queryByTestId("modal-eta")).toBeNull();
    expect(screen.getAllByTestId("step-dot")).toHaveLength(6);
  });

  it("running: percent, grouped counts, bytes, speed, ETA", async () => {
    open(api);
    await settle();
    await api.pushEvent({ percent: 61.5, processed: 450, total: 1000, etaSeconds: 120 });
    const bar = screen.getByRole("progressbar", { name: "Job progress" });
    expect(bar.getAttribute("aria-valuenow")).toBe("61");
    expect((bar.firstElementChild as HTMLElement).style.width).toBe("61.5%");
    expect(text("modal-percent")).toBe("61 %");
    expect(text("modal-counts")).toBe("450/1,000");
    expect(text("modal-bytes")).toBe("450 MiB of 1000 MiB");
    expect(text("modal-speed")).toBe("95.0 MiB/s");
    expect(text("modal-eta")).toBe("Time remaining: ~2 min");
    expect(text("modal-step-label")).toBe("Step 4 of 6 · Compressing");
    const dots = screen.getAllByTestId("step-dot");
    expect(dots.filter((d) => d.classList.contains("done"))).toHaveLength(3);
    expect(dots[3].classList.contains("current")).toBe(true);
    expect(screen.getByTestId("pause-button")).toBeTruthy();
    expect(screen.getByTestId("cancel-button")).toBeTruthy();
  });

  it("running without an ETA yet says estimating, never a number", async () => {
    open(api);
    await settle();
    await api.pushEvent({ percent: 3, etaSeconds: null });
    expect(text("modal-eta")).toBe("Time remaining: estimating…");
  });

  // The app delivers a subscription's events once and in order (deduplicated in one place,
  // the remote watcher): the modal shows each one, and only ignores a replaced subscription.
  it("shows every event of its subscription, and nothing from one it replaced", async () => {
    open(api);
    await settle();
    await api.pushEvent({ state: "interrupted", percent: 40, etaSeconds: null });
    await api.push({ type: "closed" });
    const replaced = api.handlers[0];
    await fireEvent.click(screen.getByTestId("resume-button"));
    await settle();
    expect(api.handlers).toHaveLength(2);
    await api.pushEvent({ percent: 50 });
    expect(text("modal-percent")).toBe("50 %");
    replaced({ type: "event", event: progressEvent({ percent: 45 }) });
    await settle();
    expect(text("modal-percent")).toBe("50 %");
    await api.pushEvent({ percent: 51 });
    expect(text("modal-percent")).toBe("51 %");
  });

  it("pause and cancel call the api", async () => {
    open(api);
    await settle();
    await api.pushEvent({});
    await fireEvent.click(screen.getByTestId("pause-button"));
    expect(api.pauseJob).toHaveBeenCalledWith("job-1");
    await fireEvent.click(screen.getByTestId("cancel-button"));
    expect(api.cancelJob).toHaveBeenCalledWith("job-1");
  });

  it("paused: Resume shown, no Pause, no ETA", async () => {
    open(api);
    await settle();
    await api.pushEvent({ state: "paused", etaSeconds: null, ratePerSec: null });
    expect(text("modal-state")).toBe("Paused");
    expect(screen.queryByTestId("pause-button")).toBeNull();
    expect(screen.queryByTestId("modal-eta")).toBeNull();
    await fireEvent.click(screen.getByTestId("resume-button"));
    expect(api.resumeJob).toHaveBeenCalledWith("job-1");
  });

  it("failed: specific message, actionable hint, Retry calls the api and follows the new run", async () => {
    open(api, { destination: "/mnt/backup" });
    await settle();
    await api.pushEvent({
      state: "failed",
      step: "failed",
      stepNumber: 6,
      etaSeconds: null,
      error: { code: "disk_full", message: "no space left on /mnt/backup while writing the archive" },
      message: "Failed: no space left",
    } as never);
    expect(text("modal-error-message")).toBe("no space left on /mnt/backup while writing the archive");
    expect(text("modal-error-hint")).toBe("Free some space on /mnt/backup and retry.");
    expect(screen.getByTestId("modal").getAttribute("data-state")).toBe("failed");
    expect(screen.queryByTestId("cancel-button")).toBeNull();
    await fireEvent.click(screen.getByTestId("retry-button"));
    await settle();
    expect(api.retryJob).toHaveBeenCalledWith("job-1");
    expect(api.subscribeJob).toHaveBeenLastCalledWith("job-2", expect.any(Function));
    expect(api.unsubscribed).toBe(1);
    await api.pushEvent({ jobId: "job-2", state: "running", percent: 5 });
    expect(text("modal-percent")).toBe("5 %");
    expect(screen.queryByTestId("modal-error")).toBeNull();
  });

  it("a failing command shows its error instead of throwing", async () => {
    api = fakeApi({
      retryJob: vi.fn(async () => Promise.reject({ code: "not_found", message: "no job job-1" })),
    });
    open(api);
    await settle();
    await api.pushEvent({ state: "cancelled", step: "cancelled", stepNumber: 6 });
    await fireEvent.click(screen.getByTestId("retry-button"));
    await settle();
    expect(screen.getByTestId("modal-action-error").textContent).toContain("no job job-1");
  });

  describe("completed", () => {
    const done = {
      state: "completed",
      step: "completed",
      stepNumber: 6,
      percent: 100,
      etaSeconds: null,
      ratePerSec: null,
      resultUrl: "/backup/photos-2026-11-23.tar.zst",
      message: "Completed",
    } as const;

    it("shows the result and Open folder, then closes itself after 2 s", async () => {
      vi.useFakeTimers();
      const { onclose } = open(api);
      await settle();
      await api.pushEvent(done);
      expect(text("modal-result")).toBe("Saved to /backup/photos-2026-11-23.tar.zst");
      await fireEvent.click(screen.getByTestId("open-folder"));
      expect(api.openPath).toHaveBeenCalledWith("/backup/photos-2026-11-23.tar.zst");
      vi.advanceTimersByTime(1900);
      expect(onclose).not.toHaveBeenCalled();
      vi.advanceTimersByTime(200);
      expect(onclose).toHaveBeenCalledTimes(1);
    });

    it("does not close while the pointer is over it, then 2 s after it leaves", async () => {
      vi.useFakeTimers();
      const { onclose } = open(api);
      await settle();
      await fireEvent.pointerEnter(screen.getByTestId("modal"));
      await api.pushEvent(done);
      vi.advanceTimersByTime(10_000);
      expect(onclose).not.toHaveBeenCalled();
      await fireEvent.pointerLeave(screen.getByTestId("modal"));
      vi.advanceTimersByTime(1999);
      expect(onclose).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(onclose).toHaveBeenCalledTimes(1);
    });

    it("does not close while pinned", async () => {
      vi.useFakeTimers();
      const { onclose } = open(api);
      await settle();
      await api.pushEvent({ percent: 99 });
      await fireEvent.click(screen.getByTestId("pin-button"));
      expect(screen.getByTestId("pin-button").getAttribute("aria-pressed")).toBe("true");
      await api.pushEvent(done);
      vi.advanceTimersByTime(60_000);
      expect(onclose).not.toHaveBeenCalled();
      await fireEvent.click(screen.getByTestId("close-button"));
      expect(onclose).toHaveBeenCalledTimes(1);
    });

    it("an uploaded result is a URL: shown, no Open folder", async () => {
      open(api);
      await settle();
      await api.pushEvent({ ...done, resultUrl: "https://backup.example/photos.tar.zst" });
      expect(text("modal-result")).toContain("https://backup.example/photos.tar.zst");
      expect(screen.queryByTestId("open-folder")).toBeNull();
    });
  });

  it("sync: a row per source with its icon, counts, bar and error", async () => {
    open(api);
    await settle();
    await api.pushEvent({
      kind: "sync",
      step: "copying",
      stepNumber: 3,
      totalSteps: 4,
      items: [
        { name: "BAC San José", processed: 150, total: 150, bytesDone: 2048, bytesTotal: 2048, state: "done", error: null },
        { name: "Docs", processed: 40, total: 1000, bytesDone: 0, bytesTotal: null, state: "running", error: null },
        { name: "Music", processed: 0, total: null, bytesDone: 0, bytesTotal: null, state: "pending", error: null },
        {
          name: "Old drive",
          processed: 0,
          total: null,
          bytesDone: 0,
          bytesTotal: null,
          state: "failed",
          error: { code: "source_missing", message: "source folder /mnt/old does not exist" },
        },
      ],
    });
    expect(screen.getAllByTestId("step-dot")).toHaveLength(4);
    const rows = screen.getAllByTestId("source-row");
    expect(rows.map((r) => r.getAttribute("data-state"))).toEqual(["done", "running", "pending", "failed"]);
    expect(screen.getAllByTestId("source-icon").map((i) => i.textContent)).toEqual(["✓", "⟳", "○", "✗"]);
    expect(rows[0].querySelector("[data-testid=source-counts]")?.textContent).toContain("150/150");
    expect(rows[1].querySelector("[data-testid=source-counts]")?.textContent).toContain("40/1,000");
    expect(rows[1].querySelector("[role=progressbar]")?.getAttribute("aria-valuenow")).toBe("4");
    expect(rows[2].querySelector("[role=progressbar]")?.hasAttribute("aria-valuenow")).toBe(false);
    expect(rows[3].querySelector("[data-testid=source-error]")?.textContent).toContain(
      "source folder /mnt/old does not exist",
    );
  });

  describe("remote jobs", () => {
    const remote = { target: { kind: "remote", agentId: "nas", jobId: "r-1" } };

    it("watches through watch_remote_job and shows live", async () => {
      open(api, remote);
      await settle();
      expect(api.watchRemoteJob).toHaveBeenCalledWith("nas", "r-1", expect.any(Function));
      expect(text("modal-connection")).toContain("connecting");
      await api.push({ type: "connection", state: { state: "live" } });
      await api.pushEvent({ jobId: "r-1" });
      expect(text("modal-connection")).toBe("● live");
      // Remote jobs are watched, not driven from here.
      expect(screen.queryByTestId("cancel-button")).toBeNull();
    });

    it("reconnecting: counts down, with the attempt", async () => {
      vi.useFakeTimers();
      open(api, remote);
      await settle();
      await api.pushEvent({ jobId: "r-1" });
      await api.push({ type: "connection", state: { state: "reconnecting", attempt: 3, of: 5, delayMs: 4000 } } as never);
      expect(text("modal-connection")).toBe("● reconnecting in 4 s (attempt 3/5)");
      await vi.advanceTimersByTimeAsync(1000);
      expect(text("modal-connection")).toContain("reconnecting in 3 s (attempt 3/5)");
      expect(screen.getByTestId("modal-connection").getAttribute("data-connection")).toBe("reconnecting");
    });

    it("says when the history could not record the job, and keeps showing progress", async () => {
      open(api, remote);
      await settle();
      await api.pushEvent({ jobId: "r-1", percent: 30 });
      expect(screen.queryByTestId("modal-not-recorded")).toBeNull();
      await api.push({ type: "notRecorded", error: { code: "db_locked", message: "the history is locked" } });
      expect(text("modal-not-recorded")).toContain("Not saved to the history: the history is locked.");
      await api.pushEvent({ jobId: "r-1", percent: 40 });
      expect(screen.getByTestId("modal-not-recorded")).toBeTruthy();
      expect(text("modal-percent")).toContain("40");
    });

    it("polling, and how old the last update is", async () => {
      vi.useFakeTimers();
      open(api, remote);
      await settle();
      await api.push({ type: "connection", state: { state: "polling" } });
      await api.pushEvent({ jobId: "r-1" });
      expect(text("modal-connection")).toBe("● polling every 1 s");
      await vi.advanceTimersByTimeAsync(8000);
      expect(text("modal-connection")).toBe("● polling every 1 s · last update 8 s ago");
      // A poll that gets no answer either: still polling, and why it fails.
      await api.push({ type: "connection", state: { state: "offline", reason: "cannot connect: Connection refused" } });
      expect(text("modal-connection")).toBe(
        "● polling every 1 s · agent unreachable (cannot connect: Connection refused) · last update 8 s ago",
      );
    });
  });

  it("renders an XSS file name as text, never as HTML", async () => {
    const { container } = open(api, { title: XSS });
    await settle();
    await api.pushEvent({
      kind: "sync",
      message: `Copying ${XSS}`,
      state: "failed",
      error: { code: "source_unreadable", message: `cannot read ${XSS}` },
      warnings: [{ path: XSS, message: "skipped" }],
      items: [
        { name: XSS, processed: 1, total: 2, bytesDone: 0, bytesTotal: null, state: "failed", error: { code: "io", message: XSS } },
      ],
    } as never);
    expect(container.querySelector("img")).toBeNull();
    expect(document.querySelector("img")).toBeNull();
    expect(text("modal-title")).toBe(XSS);
    expect(text("modal-message")).toBe(`Copying ${XSS}`);
    expect(text("source-name")).toBe(XSS);
    expect(text("modal-error-message")).toBe(`cannot read ${XSS}`);
  });

  it("unsubscribes when closed", async () => {
    const { unmount } = open(api);
    await settle();
    unmount();
    await settle();
    expect(api.unsubscribed).toBe(1);
  });
});

describe("ProgressModal keyboard and end of stream", () => {
  it("Escape closes (the job goes on)", async () => {
    const api = fakeApi();
    const { onclose } = open(api);
    await settle();
    await fireEvent.keyDown(screen.getByTestId("modal"), { key: "Escape" });
    expect(onclose).toHaveBeenCalledTimes(1);
    expect(api.cancelJob).not.toHaveBeenCalled();
  });

  it("an interrupted job offers Resume, which subscribes again", async () => {
    const api = fakeApi();
    open(api);
    await settle();
    await api.pushEvent({ state: "interrupted", etaSeconds: null });
    await api.push({ type: "closed" });
    await fireEvent.click(screen.getByTestId("resume-button"));
    await settle();
    expect(api.resumeJob).toHaveBeenCalledWith("job-1");
    expect(api.subscribeJob).toHaveBeenCalledTimes(2);
  });
});
