/**
 * How sizes are worded, wherever a checkpoint's size is told to the user: in the worker's
 * messages (a model over the budget) and on the page (download progress, memory).
 */

/** `1.50 GB`, `548.1 MB`, `12 kB`: decimal units, as download sizes are usually given. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(0)} kB`;
  return `${bytes} B`;
}
