import { describe, expect, it } from "vitest";
import {
  formatBytes,
  formatCounts,
  formatDuration,
  formatEta,
  formatPercent,
  formatRate,
  isUrl,
} from "../src/lib/format";
import { errorHint } from "../src/lib/errors";
import type { ErrorCode } from "../src/lib/types";

describe("format", () => {
  it("groups digits and shows an unknown total as unknown", () => {
    expect(formatCounts(450, 1000)).toBe("450/1,000");
    expect(formatCounts(1234567, null)).toBe("1,234,567");
  });

  it("bytes in binary units, as the CLI", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(95 * 1024 * 1024)).toBe("95.0 MiB");
    expect(formatBytes(2.4 * 1024 ** 3)).toBe("2.40 GiB");
    expect(formatRate(1024 * 1024, true)).toBe("1.00 MiB/s");
    expect(formatRate(1500, false)).toBe("1,500 files/s");
  });

  it("remaining time as people say it, never 0 s", () => {
    expect(formatEta(0)).toBe("a few seconds");
    expect(formatEta(0.4)).toBe("a few seconds");
    expect(formatEta(42)).toBe("~40 s");
    expect(formatEta(120)).toBe("~2 min");
    expect(formatEta(3900)).toBe("~1 h 5 min");
    expect(formatEta(7200)).toBe("~2 h");
  });

  it("percent floors: 99.9 is not 100", () => {
    expect(formatPercent(99.9)).toBe("99 %");
    expect(formatPercent(100)).toBe("100 %");
    expect(formatPercent(-1)).toBe("0 %");
  });

  it("durations and URLs", () => {
    expect(formatDuration(850)).toBe("850 ms");
    expect(formatDuration(12_300)).toBe("12.3 s");
    expect(formatDuration(242_000)).toBe("4 min 2 s");
    expect(isUrl("https://x.example/a")).toBe(true);
    expect(isUrl("/mnt/backup")).toBe(false);
  });

  it("every error code has a hint; disk full names the place", () => {
    expect(errorHint({ code: "disk_full", message: "" }, "/mnt/usb")).toBe("Free some space on /mnt/usb and retry.");
    expect(errorHint({ code: "disk_full", message: "" })).toBe("Free some space on the destination and retry.");
    expect(errorHint({ code: "something_new" as ErrorCode, message: "" })).toContain("Retry");
  });
});
