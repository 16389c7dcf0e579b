// A plan's job in a sentence, for its row and its page.
import type { JobSpec } from "$lib/types";

export function describeSpec(spec: JobSpec): string {
  switch (spec.kind) {
    case "snapshot":
      return `Snapshot of ${spec.source} to ${spec.destination}`;
    case "sync":
      return `Mirror of ${spec.sources.join(", ")} to ${spec.destination}${spec.delete ? " (deletions too)" : ""}`;
    default:
      return "";
  }
}
