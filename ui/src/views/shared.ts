import type { ModalTarget } from "../components/ProgressModal.svelte";
import type { JobState } from "$lib/types";

/** Opens the progress modal on a job (what every view can do). */
export type OpenModal = (target: ModalTarget, title?: string | null, destination?: string | null) => void;

export const STATE_LABELS: Record<JobState, string> = {
  queued: "Queued",
  running: "Running",
  paused: "Paused",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};
