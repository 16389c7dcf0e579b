import type { ItemProgress } from "$lib/types";

/** A source row's percent: by bytes when known, else by files; null when neither is. */
export function itemPercent(item: ItemProgress): number | null {
  if (item.state === "done") return 100;
  if (item.bytesTotal !== null && item.bytesTotal > 0) return (100 * item.bytesDone) / item.bytesTotal;
  if (item.total !== null && item.total > 0) return (100 * item.processed) / item.total;
  if (item.total === 0 || item.bytesTotal === 0) return item.state === "pending" ? 0 : 100;
  return null;
}
