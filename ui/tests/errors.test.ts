import { describe, expect, it } from "vitest";
import { ERROR_CODES } from "../src/lib/bindings/errorCodes";
import { ERROR_HINTS, errorHint, toAppError } from "../src/lib/errors";
import type { ErrorCode } from "../src/lib/types";

describe("error hints", () => {
  it("describe exactly the codes Rust generates, each with a sentence", () => {
    expect(Object.keys(ERROR_HINTS).sort()).toEqual([...ERROR_CODES].sort());
    for (const code of ERROR_CODES) {
      const hint = errorHint({ code, message: "" }, "/mnt/usb");
      expect(hint, code).toMatch(/^[A-Z].*\.$/);
    }
  });

  it("name the place when it matters", () => {
    expect(errorHint({ code: "disk_full", message: "" }, "/mnt/usb")).toBe("Free some space on /mnt/usb and retry.");
    expect(errorHint({ code: "dest_missing", message: "" }, null)).toContain("Create the destination");
  });

  it("say a panic is Tidemark's fault, not the disk's", () => {
    expect(errorHint({ code: "internal", message: "" })).toContain("inside Tidemark");
    expect(errorHint({ code: "internal", message: "" })).not.toBe(errorHint({ code: "io", message: "" }));
  });

  it("fall back to a generic hint for a code from a newer agent", () => {
    const newer = { code: "quota_exceeded" as ErrorCode, message: "over quota" };
    expect(errorHint(newer)).toBe("Retry; if it fails again, the events in History say more.");
    expect(errorHint({ code: "constructor" as ErrorCode, message: "" })).toContain("Retry");
    expect(toAppError({ code: "quota_exceeded", message: "over quota" })).toEqual(newer);
  });
});
