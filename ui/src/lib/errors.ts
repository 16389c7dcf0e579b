import type { AppError, ErrorCode } from "./types";

function isAppError(value: unknown): value is AppError {
  // The codes are a closed set on the Rust side; a code this build does not know is still
  // shown (the hint falls back to a generic one).
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    typeof (value as { message?: unknown }).message === "string"
  );
}

/** Whatever a command rejected with, as `{code, message}`. */
export function toAppError(reason: unknown): AppError {
  if (isAppError(reason)) return { code: reason.code, message: reason.message };
  if (typeof reason === "string") return { code: "internal", message: reason };
  if (reason instanceof Error) return { code: "internal", message: reason.message };
  return { code: "internal", message: "unknown error" };
}

type Hint = (place: string) => string;

const DISK = "A disk error occurred: check the disk and retry.";
const DB_UNUSABLE = "The history database cannot be used by this version of Tidemark.";
const GENERIC = "Retry; if it fails again, the events in History say more.";
const BUG = "Something went wrong inside Tidemark: retry; if it fails again, the events in History say more.";
// Codes of the agent itself and of the command line: the app does not show them as its own,
// but an agent's job or a newer agent may still carry one.
const AGENT_SETUP = "The agent could not start: see its own output.";
const AGENT_REFUSED = "The agent refused the request: check the agent's token and folders.";

/**
 * What the user can do about each error code. A `Record` over the generated `ErrorCode`, so a
 * code added in Rust and not described here fails `npm run check`.
 */
export const ERROR_HINTS: Readonly<Record<ErrorCode, Hint>> = {
  source_missing: () =>
    "Check that the source folder still exists (it may have been moved or renamed), then retry.",
  source_not_directory: () => "Choose a folder, not a file, as the source.",
  source_unreadable: () => "Check that you may read the source folder and its files, then retry.",
  source_changed: () => "A file changed while it was being read: retry when the source is quiet.",
  dest_inside_source: () => "Choose a destination outside the source folder.",
  dest_missing: (place) => `Create ${place} or choose another destination, then retry.`,
  dest_unwritable: (place) => `Check that you may write to ${place}, then retry.`,
  dest_exists: () =>
    "Something with that name is already at the destination: choose another name or destination.",
  disk_full: (place) => `Free some space on ${place} and retry.`,
  invalid_url: () => "Check the destination URL: it must start with http:// or https://.",
  network_unreachable: (place) => `Check the network connection to ${place}, then retry.`,
  upload_rejected: () => "The server refused the upload: check the URL and that you may upload there.",
  download_rejected: () =>
    "The server refused the download: check the archive's URL (a presigned link may have expired).",
  connection_refused: (place) =>
    `Nothing answers at ${place}: check that the server is running and the port is right.`,
  host_not_found: () => "The server's name does not resolve: check the URL's spelling and the network.",
  tls_failed: () => "The secure connection failed: check the server's certificate and that the URL is https only where it should be.",
  timed_out: (place) => `The server at ${place} did not answer in time: check it and the network, then retry.`,
  connection_lost: () => "The connection broke during the transfer: retry; if it happens again, check the server's limits.",
  unsafe_archive_entry: () =>
    "The archive holds an entry that would write outside the target or a device file: it was refused, and nothing was written outside the folder. Do not trust this archive.",
  checksum_mismatch: () =>
    "A file does not match its manifest: the archive is damaged, or the manifest belongs to another archive.",
  archive_mismatch: () => "The archive does not hold what its manifest lists: it may be incomplete or another archive.",
  archive_corrupt: () => "The archive cannot be read: it is damaged, cut short or not a .tar.zst.",
  manifest_invalid: () => "The manifest cannot be read: check that it is the .manifest.json Tidemark wrote beside the archive.",
  invalid_input: () => "Check the fields and try again.",
  sources_failed: () => "Some sources failed: see their rows, fix what they say and retry.",
  cancelled: () => "The job was cancelled.",
  io: () => DISK,
  internal: () => BUG,
  db_not_a_database: () => DB_UNUSABLE,
  db_read_only: () => "The history database is read-only: check its permissions.",
  db_locked: () => "Another program holds the history database; close it and retry.",
  db_too_new: () => DB_UNUSABLE,
  db_io: () => DISK,
  job_not_found: () => "This job is no longer known; it may have been removed from the history.",
  job_not_resumable: () => "This run cannot be resumed; retry it from the start instead.",
  job_still_running: () => "The job is still running: wait for it to end, or cancel it first.",
  not_found: () => "This job is no longer known; it may have been removed from the history.",
  not_resumable: () => "This run cannot be resumed; retry it from the start instead.",
  still_running: () => "The job is still running: wait for it to end, or cancel it first.",
  agent_unreachable: () => "Check that the agent is running and reachable at its URL.",
  agent_auth_failed: () => "Check the agent's token (Agents tab).",
  unauthorized: () => "Check the agent's token (Agents tab).",
  forbidden_path: () => "The agent may not use that folder: choose one under the folders it serves.",
  bad_request: () => AGENT_REFUSED,
  payload_too_large: () => AGENT_REFUSED,
  too_many_streams: () => "Too many windows follow this agent's jobs: close some and retry.",
  conflict: () => "The job is not in a state that allows this: refresh and retry.",
  read_only: () => "This agent was paired read-only: pair it again with a full token to start or change jobs.",
  insecure_listen: () => AGENT_SETUP,
  no_root: () => AGENT_SETUP,
  tokens: () => AGENT_SETUP,
  certificate: () => "Add the agent by its pairing link (tidemark agent pair, on the agent), which carries the certificate to trust.",
  setup: () => AGENT_SETUP,
  bind: () => AGENT_SETUP,
  auth_failed: () => "Check the agent's token (Agents tab).",
  no_content: () => GENERIC,
  bad_pairing_link: () =>
    "Check the pairing link: copy it again, whole, from the agent (it starts with tidemark://).",
  fingerprint_mismatch: () =>
    "The agent did not present the certificate it was paired with. If its certificate was replaced on purpose, pair again with its new link; otherwise do not connect.",
  bad_schedule: () =>
    "Write the schedule as hourly, daily 02:00, weekly mon 09:00, every 6h, or a 5-field cron expression.",
  plan_exists: () => "Another plan has this name: choose another one.",
  plan_not_found: () => "This plan is no longer known; it may have been removed.",
  plan_busy: () => "This plan is already running: wait for its run to end, or cancel it first.",
};

/**
 * What the user can do about an error, by its code. `where` names the place it concerns
 * (the destination, usually) when the caller knows it. A code this build does not know
 * (from a newer agent) gets a generic hint.
 */
export function errorHint(error: AppError, where?: string | null): string {
  const place = where && where.length > 0 ? where : "the destination";
  // Own keys only: a code like "constructor" from elsewhere is not a hint.
  const known = Object.prototype.hasOwnProperty.call(ERROR_HINTS, error.code);
  const hint: Hint | undefined = known ? ERROR_HINTS[error.code] : undefined;
  return hint ? hint(place) : GENERIC;
}
