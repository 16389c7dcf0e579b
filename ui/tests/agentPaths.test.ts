import { describe, expect, it } from "vitest";
import { joinAgentPath, separatorOf } from "../src/lib/agentPaths";

describe("agent paths", () => {
  it("joins a root and a folder under it in the root's own style", () => {
    expect(joinAgentPath("/srv/data", "photos/2026/")).toBe("/srv/data/photos/2026");
    expect(joinAgentPath("/srv/data/", "/photos")).toBe("/srv/data/photos");
    expect(joinAgentPath("/srv/data", "  ")).toBe("/srv/data");
    expect(joinAgentPath("/srv/data", "./a//b")).toBe("/srv/data/a/b");
    expect(joinAgentPath("/", "home")).toBe("/home");
    expect(joinAgentPath("C:\\Data", "photos/2026")).toBe("C:\\Data\\photos\\2026");
    expect(joinAgentPath("D:\\", "x")).toBe("D:\\x");
    expect(joinAgentPath("\\\\nas\\share", "a\\b")).toBe("\\\\nas\\share\\a\\b");
  });

  it("tells a Windows root from a Unix one", () => {
    expect(separatorOf("/srv")).toBe("/");
    expect(separatorOf("C:\\")).toBe("\\");
    expect(separatorOf("c:/x")).toBe("\\");
    expect(separatorOf("/weird\\name")).toBe("/");
  });
});
