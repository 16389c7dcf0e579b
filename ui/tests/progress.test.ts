// The progress modal's pieces on their own: the step dots and bar, the counts, the source
// rows and the connection line (the modal's own tests cover them assembled).
import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/svelte";
import StepsAndBar from "../src/components/progress/StepsAndBar.svelte";
import Counts from "../src/components/progress/Counts.svelte";
import SourceRows from "../src/components/progress/SourceRows.svelte";
import ConnectionLine from "../src/components/progress/ConnectionLine.svelte";
import { connectionText } from "../src/components/progress/connection";
import { itemPercent } from "../src/components/progress/items";
import type { ItemProgress } from "../src/lib/types";
import { progressEvent } from "./fakes";

afterEach(() => cleanup());

const dots = () =>
  screen
    .getAllByTestId("step-dot")
    .map((d) => (d.classList.contains("done") ? "done" : d.classList.contains("current") ? "current" : "todo"));

function item(overrides: Partial<ItemProgress>): ItemProgress {
  return {
    name: "photos",
    state: "running",
    processed: 0,
    total: null,
    bytesDone: 0,
    bytesTotal: null,
    error: null,
    ...overrides,
  } as ItemProgress;
}

describe("StepsAndBar", () => {
  it("marks the steps before the current one done, and the failed one bad", () => {
    render(StepsAndBar, { props: { event: progressEvent({ stepNumber: 3, totalSteps: 6, step: "manifest", percent: 20 }) } });
    expect(dots()).toEqual(["done", "done", "current", "todo", "todo", "todo"]);
    expect(screen.getByTestId("modal-step-label").textContent).toBe("Step 3 of 6 · Building manifest");
    expect(screen.queryByTestId("modal-state")).toBeNull();
    expect(screen.getByRole("progressbar").getAttribute("aria-valuenow")).toBe("20");
    cleanup();
    render(StepsAndBar, { props: { event: progressEvent({ stepNumber: 2, totalSteps: 4, state: "failed", percent: null }) } });
    expect(screen.getAllByTestId("step-dot")[1].classList.contains("bad")).toBe(true);
    expect(screen.getByTestId("modal-state").textContent).toBe("Failed");
    expect(screen.getByTestId("modal-percent-unknown")).toBeTruthy();
  });

  it("a completed job has every step done and a full bar", () => {
    render(StepsAndBar, { props: { event: progressEvent({ stepNumber: 6, state: "completed", percent: 100 }) } });
    expect(dots()).toEqual(Array(6).fill("done"));
    expect(screen.getByTestId("modal-percent").textContent).toBe("100 %");
  });
});

describe("Counts", () => {
  it("shows data and speed only when they mean something", () => {
    render(Counts, { props: { event: progressEvent({ state: "paused", bytesDone: 0, bytesTotal: null }) } });
    expect(screen.getByTestId("modal-counts").textContent).toBe("450/1,000");
    expect(screen.queryByTestId("modal-bytes")).toBeNull();
    expect(screen.queryByTestId("modal-speed")).toBeNull();
    expect(screen.queryByTestId("modal-eta")).toBeNull();
  });
});

describe("SourceRows", () => {
  it("a row per source, with its state and its error's hint", () => {
    render(SourceRows, {
      props: {
        items: [
          item({ name: "a", state: "done", processed: 3, total: 3 }),
          item({ name: "b", state: "failed", error: { code: "source_missing", message: "b is gone" } }),
        ],
        destination: "/mirror",
      },
    });
    const rows = screen.getAllByTestId("source-row");
    expect(rows.map((r) => r.dataset.state)).toEqual(["done", "failed"]);
    expect(screen.getAllByTestId("source-icon").map((i) => i.textContent)).toEqual(["✓", "✗"]);
    expect(screen.getByTestId("source-error").textContent).toContain("b is gone");
  });

  it("a row's percent: by bytes, else by files, unknown when neither is known", () => {
    expect(itemPercent(item({ bytesDone: 25, bytesTotal: 100, processed: 9, total: 10 }))).toBe(25);
    expect(itemPercent(item({ processed: 1, total: 4 }))).toBe(25);
    expect(itemPercent(item({}))).toBeNull();
    expect(itemPercent(item({ state: "done" }))).toBe(100);
    expect(itemPercent(item({ state: "pending", total: 0 }))).toBe(0);
  });
});

describe("ConnectionLine", () => {
  it("says how the remote job is followed, with the countdown and the update's age", () => {
    const clock = { connectionAt: 10_000, lastEventAt: 9_000, now: 12_500 };
    expect(connectionText(null, clock)).toBe("connecting…");
    expect(connectionText({ state: "live" }, clock)).toBe("live · last update 3 s ago");
    expect(connectionText({ state: "reconnecting", attempt: 2, of: 5, delayMs: 4000 }, clock)).toBe(
      "reconnecting in 2 s (attempt 2/5) · last update 3 s ago",
    );
    expect(connectionText({ state: "offline", reason: "refused" }, { ...clock, lastEventAt: 0 })).toBe(
      "polling every 1 s · agent unreachable (refused)",
    );
    render(ConnectionLine, { props: { connection: { state: "polling" }, clock: { ...clock, now: 9_500 } } });
    const line = screen.getByTestId("modal-connection");
    expect(line.dataset.connection).toBe("polling");
    expect(line.textContent).toContain("polling every 1 s");
  });
});

describe("A time from past runs", () => {
  it("is said to be an estimate from past runs, even before a percent", () => {
    render(Counts, {
      props: { event: progressEvent({ state: "running", percent: null, etaSeconds: 300, etaSource: "history" }) },
    });
    expect(screen.getByTestId("modal-eta").textContent).toBe("Time remaining: about 5 min (from past runs)");
  });

  it("is this run's own once it has settled", () => {
    render(Counts, { props: { event: progressEvent({ state: "running", percent: 40, etaSeconds: 300 }) } });
    expect(screen.getByTestId("modal-eta").textContent).toBe("Time remaining: ~5 min");
  });
});
