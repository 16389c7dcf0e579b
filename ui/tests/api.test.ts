import { beforeEach, describe, expect, it, vi } from "vitest";

const invoke = vi.fn();
const listen = vi.fn();

vi.mock("@tauri-apps/api/core", () => ({
  invoke: (...args: unknown[]) => invoke(...args),
  Channel: class<T> {
    onmessage: (message: T) => void = () => {};
  },
}));
vi.mock("@tauri-apps/api/event", () => ({
  listen: (...args: unknown[]) => listen(...args),
}));

const { tauriApi, toAppError } = await import("../src/lib/api");
import type { JobUpdate, RemoteJobRequest } from "../src/lib/types";
import { progressEvent } from "./fakes";

beforeEach(() => {
  invoke.mockReset();
  listen.mockReset();
});

describe("api", () => {
  it("maps a rejected invoke into AppError", async () => {
    invoke.mockRejectedValueOnce({ code: "disk_full", message: "no space left on /backup", extra: 1 });
    await expect(tauriApi.startSnapshot({ source: "/a", destination: "/backup", name: null })).rejects.toEqual({
      code: "disk_full",
      message: "no space left on /backup",
    });
  });

  it("maps a string or an Error rejection into an internal AppError", async () => {
    invoke.mockRejectedValueOnce("Command start_sync not allowed by ACL");
    await expect(tauriApi.startSync({ sources: ["/a"], destination: "/b", delete: false })).rejects.toEqual({
      code: "internal",
      message: "Command start_sync not allowed by ACL",
    });
    expect(toAppError(new Error("boom"))).toEqual({ code: "internal", message: "boom" });
    expect(toAppError(undefined)).toEqual({ code: "internal", message: "unknown error" });
  });

  it("calls the commands with the contract's argument names", async () => {
    invoke.mockResolvedValue(null);
    const request = { source: "/a", destination: "/b", name: null };
    await tauriApi.startSnapshot(request);
    expect(invoke).toHaveBeenLastCalledWith("start_snapshot", { request });
    await tauriApi.cancelJob("j1");
    expect(invoke).toHaveBeenLastCalledWith("cancel_job", { id: "j1" });
    await tauriApi.listHistory({ state: "failed", kind: null, limit: 50 });
    expect(invoke).toHaveBeenLastCalledWith("list_history", { filter: { state: "failed", kind: null, limit: 50 } });
    await tauriApi.jobEvents("j1", 7);
    expect(invoke).toHaveBeenLastCalledWith("job_events", { id: "j1", since: 7 });
    await tauriApi.listRemoteJobs("nas");
    expect(invoke).toHaveBeenLastCalledWith("list_remote_jobs", { agentId: "nas" });
    await tauriApi.fleet();
    expect(invoke).toHaveBeenLastCalledWith("fleet", undefined);
    const spec: RemoteJobRequest = { kind: "sync", sources: ["/srv/a"], destination: "/srv/m", delete: false };
    await tauriApi.startRemoteJob("nas", spec);
    expect(invoke).toHaveBeenLastCalledWith("start_remote_job", { agentId: "nas", spec });
    await tauriApi.pauseRemoteJob("nas", "r1");
    expect(invoke).toHaveBeenLastCalledWith("pause_remote_job", { agentId: "nas", jobId: "r1" });
    await tauriApi.resumeRemoteJob("nas", "r1");
    expect(invoke).toHaveBeenLastCalledWith("resume_remote_job", { agentId: "nas", jobId: "r1" });
    await tauriApi.cancelRemoteJob("nas", "r1");
    expect(invoke).toHaveBeenLastCalledWith("cancel_remote_job", { agentId: "nas", jobId: "r1" });
    await tauriApi.openPath("/b/x.tar.zst");
    expect(invoke).toHaveBeenLastCalledWith("open_path", { path: "/b/x.tar.zst" });
    await tauriApi.pickFolder();
    expect(invoke).toHaveBeenLastCalledWith("pick_folder", undefined);
  });

  it("subscribes through a Channel, delivers updates, unsubscribes once", async () => {
    invoke.mockResolvedValueOnce(42);
    const seen: JobUpdate[] = [];
    const unsubscribe = await tauriApi.subscribeJob("j1", (u) => seen.push(u));
    const [command, args] = invoke.mock.calls[0] as [string, { id: string; channel: { onmessage: (u: JobUpdate) => void } }];
    expect(command).toBe("subscribe_job");
    expect(args.id).toBe("j1");
    // The first message is the job's current state.
    const first: JobUpdate = { type: "event", event: progressEvent({ jobId: "j1" }) };
    args.channel.onmessage(first);
    expect(seen).toEqual([first]);

    invoke.mockResolvedValueOnce(null);
    await unsubscribe();
    await unsubscribe();
    expect(invoke).toHaveBeenCalledTimes(2);
    expect(invoke).toHaveBeenLastCalledWith("unsubscribe", { subscription: 42 });
    // Nothing is delivered after unsubscribing.
    args.channel.onmessage({ type: "closed" });
    expect(seen).toHaveLength(1);
  });

  it("watch_remote_job passes agentId and jobId", async () => {
    invoke.mockResolvedValueOnce(3);
    await tauriApi.watchRemoteJob("nas", "r1", () => {});
    expect(invoke.mock.calls[0][0]).toBe("watch_remote_job");
    expect(invoke.mock.calls[0][1]).toMatchObject({ agentId: "nas", jobId: "r1" });
  });

  it("listens to jobs-changed", async () => {
    const unlisten = vi.fn();
    listen.mockResolvedValueOnce(unlisten);
    const handler = vi.fn();
    const stop = await tauriApi.onJobsChanged(handler);
    expect(listen.mock.calls[0][0]).toBe("jobs-changed");
    const change = { active: [], ended: [] };
    (listen.mock.calls[0][1] as (e: { payload: unknown }) => void)({ payload: change });
    expect(handler).toHaveBeenCalledWith(change);
    await stop();
    expect(unlisten).toHaveBeenCalled();
  });

  it("listens to fleet-changed", async () => {
    listen.mockResolvedValueOnce(vi.fn());
    const handler = vi.fn();
    await tauriApi.onFleetChanged(handler);
    expect(listen.mock.calls[0][0]).toBe("fleet-changed");
    const fleet = { revision: 3, agents: [] };
    (listen.mock.calls[0][1] as (e: { payload: unknown }) => void)({ payload: fleet });
    expect(handler).toHaveBeenCalledWith(fleet);
  });
});
