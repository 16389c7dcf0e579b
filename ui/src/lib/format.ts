// Pure formatting of progress numbers. Deterministic (en-US grouping) so tests and
// screenshots agree.
import type { JobKind, Step } from "./types";

const grouping = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 1000 -> "1,000". */
export function formatCount(n: number): string {
  return grouping.format(n);
}

/** "450/1,000" when the total is known, "450" otherwise. */
export function formatCounts(processed: number, total: number | null): string {
  return total === null ? formatCount(processed) : `${formatCount(processed)}/${formatCount(total)}`;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Binary units, as the CLI shows them: 1536 -> "1.5 KiB". */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return "?";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  if (unit === 0) return `${value} B`;
  return `${value.toFixed(value < 10 ? 2 : value < 100 ? 1 : 0)} ${UNITS[unit]}`;
}

/** "1.5 GiB of 2.4 GiB", or what is done when the total is unknown. */
export function formatByteProgress(done: number, total: number | null): string {
  return total === null ? formatBytes(done) : `${formatBytes(done)} of ${formatBytes(total)}`;
}

/** Speed: bytes per second when the step moves bytes, else items per second. */
export function formatRate(rate: number, bytes: boolean): string {
  if (bytes) return `${formatBytes(rate)}/s`;
  return `${formatCount(rate)} files/s`;
}

/**
 * A remaining time as people say it: "~2 min", "~1 h 5 min", "~40 s". Never "0 s": anything
 * under ten seconds is "a few seconds".
 */
export function formatEta(seconds: number): string {
  if (seconds < 10) return "a few seconds";
  if (seconds < 60) return `~${Math.max(10, Math.round(seconds / 5) * 5)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `~${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `~${h} h` : `~${h} h ${m} min`;
}

/** A duration in ms, for the step timeline: "850 ms", "12.3 s", "4 min 2 s", "1 h 3 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const total = Math.round(s);
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes} min ${total % 60} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** The whole number of percent, floored: 99.9 is not yet 100. */
export function formatPercent(percent: number): string {
  return `${Math.floor(Math.min(100, Math.max(0, percent)))} %`;
}

const STEP_LABELS: Record<Step, string> = {
  waiting: "Waiting",
  browsing: "Browsing",
  manifest: "Building manifest",
  compressing: "Compressing",
  uploading: "Uploading",
  scanning: "Scanning",
  copying: "Copying",
  checking: "Checking",
  reading: "Reading the manifest",
  extracting: "Extracting",
  verifying: "Verifying",
  completed: "Completed",
  failed: "Failed",
  cancelled: "Cancelled",
};

/** A job's kind as its title says it. */
export const KIND_TITLES: Record<JobKind, string> = {
  snapshot: "Snapshot",
  sync: "Sync",
  restore: "Restore",
  verify: "Verify",
};

export function stepLabel(step: Step): string {
  return STEP_LABELS[step] ?? String(step);
}

/** A local date-time for lists: "2026-11-23 02:27". */
export function formatTime(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** True for an http(s) URL, false for a path. */
export function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

/**
 * How long ago (or how soon) a time is, as people say it: "just now", "3 min ago",
 * "3 hours ago", "yesterday", "in 2 hours". `now` is a parameter so lists and tests agree.
 */
export function formatAgo(iso: string | null, now: number): string {
  if (!iso) return "";
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return iso;
  const diff = now - t;
  const future = diff < 0;
  const s = Math.abs(diff) / 1000;
  let text: string;
  if (s < 45) return future ? "in a moment" : "just now";
  else if (s < 3600) text = `${Math.round(s / 60)} min`;
  else if (s < 36 * 3600) {
    const h = Math.round(s / 3600);
    text = h === 1 ? "1 hour" : `${h} hours`;
  } else {
    const d = Math.round(s / 86400);
    if (d === 1) return future ? "tomorrow" : "yesterday";
    text = `${d} days`;
  }
  return future ? `in ${text}` : `${text} ago`;
}
