// The app-wide events the shell emits, by name, with their payload types: the one list. The
// names and payloads come from the generated `AppEvent` (crates/app/src/types.rs), so an
// event renamed or reshaped in Rust fails `npm run check` here, not at runtime.
import type { AppEvent } from "./types";

/** Every event's name. */
export type EventName = AppEvent["event"];

/** An event's payload, by its name. */
export type EventPayload<N extends EventName> = Extract<AppEvent, { event: N }>["payload"];

/** The names, for `listen`: nobody writes an event's name as a string anywhere else. */
export const EVENTS = {
  /** `JobsChanged`: the jobs that started, moved on or ended, only those. */
  jobsChanged: "jobs-changed",
  /** `Fleet`: every agent as its background check last found it (keep the highest revision). */
  fleetChanged: "fleet-changed",
  /** `PauseState`: "pause everything" began, moved or ended. */
  pauseChanged: "pause-changed",
  /** `PlanSummary[]`: every plan, whenever one is added, changed, run or ends a run. */
  plansChanged: "plans-changed",
} as const satisfies Record<string, EventName>;

// Fails the type check when `AppEvent` gains an event that EVENTS does not list.
type Unlisted = Exclude<EventName, (typeof EVENTS)[keyof typeof EVENTS]>;
export const EVERY_EVENT_LISTED: [Unlisted] extends [never] ? true : never = true;
