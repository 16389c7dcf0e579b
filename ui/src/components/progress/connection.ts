// What the connection line says about a remote job's stream, from the last connection
// state, when it came, when the last event came, and the time now (all ms since epoch).
import type { ConnectionState } from "$lib/types";

export interface ConnectionClock {
  /** When `connection` arrived. */
  connectionAt: number;
  /** When the last event arrived; 0 before the first. */
  lastEventAt: number;
  now: number;
}

export function connectionText(c: ConnectionState | null, clock: ConnectionClock): string | null {
  const ago = clock.lastEventAt > 0 ? Math.floor((clock.now - clock.lastEventAt) / 1000) : null;
  const stale = ago !== null && ago >= 3 ? ` · last update ${ago} s ago` : "";
  if (!c) return "connecting…";
  switch (c.state) {
    case "connecting":
      return "connecting…";
    case "live":
      return `live${stale}`;
    case "reconnecting": {
      const left = Math.max(0, Math.ceil((c.delayMs - (clock.now - clock.connectionAt)) / 1000));
      return `reconnecting in ${left} s (attempt ${c.attempt}/${c.of})${stale}`;
    }
    case "polling":
      return `polling every 1 s${stale}`;
    // The watcher says offline only while polling, when a poll gets no answer either.
    case "offline":
      return `polling every 1 s · agent unreachable (${c.reason})${stale}`;
    case "authFailed":
      return `authentication failed: ${c.message}`;
    default:
      return null;
  }
}
