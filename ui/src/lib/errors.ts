import type { AppError, ErrorInfo } from "./types";

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

/**
 * What the user can do about an error, by its code. `where` names the place it concerns
 * (the destination, usually) when the caller knows it.
 */
export function errorHint(error: ErrorInfo | AppError, where?: string | null): string {
  const place = where && where.length > 0 ? where : "the destination";
  switch (error.code) {
    case "disk_full":
      return `Free some space on ${place} and retry.`;
    case "source_missing":
      return "Check that the source folder still exists (it may have been moved or renamed), then retry.";
    case "source_not_directory":
      return "Choose a folder, not a file, as the source.";
    case "source_unreadable":
      return "Check that you may read the source folder and its files, then retry.";
    case "source_changed":
      return "A file changed while it was being read: retry when the source is quiet.";
    case "dest_inside_source":
      return "Choose a destination outside the source folder.";
    case "dest_missing":
      return `Create ${place} or choose another destination, then retry.`;
    case "dest_unwritable":
      return `Check that you may write to ${place}, then retry.`;
    case "dest_exists":
      return "Something with that name is already at the destination: choose another name or destination.";
    case "invalid_url":
      return "Check the destination URL: it must start with http:// or https://.";
    case "network_unreachable":
      return `Check the network connection to ${place}, then retry.`;
    case "upload_rejected":
      return "The server refused the upload: check the URL and that you may upload there.";
    case "sources_failed":
      return "Some sources failed: see their rows, fix what they say and retry.";
    case "invalid_input":
      return "Check the fields and try again.";
    case "not_found":
      return "This job is no longer known; it may have been removed from the history.";
    case "not_resumable":
      return "This run cannot be resumed; retry it from the start instead.";
    case "agent_unreachable":
      return "Check that the agent is running and reachable at its URL.";
    case "agent_auth_failed":
      return "Check the agent's token (Agents tab).";
    case "db_locked":
      return "Another program holds the history database; close it and retry.";
    case "db_read_only":
      return "The history database is read-only: check its permissions.";
    case "db_not_a_database":
    case "db_too_new":
      return "The history database cannot be used by this version of Tidemark.";
    case "db_io":
    case "io":
      return "A disk error occurred: check the disk and retry.";
    case "still_running":
      return "The job is still running: wait for it to end, or cancel it first.";
    case "cancelled":
      return "The job was cancelled.";
    default:
      return "Retry; if it fails again, the events in History say more.";
  }
}
