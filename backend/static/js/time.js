// @ts-check
// Relative times, worded as the server words them (backend/web/filters.py).

/** @type {Array<[string, number]>} */
const UNITS = [
  ["year", 365 * 86400],
  ["month", 30 * 86400],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export function relativeTime(ts, now = Date.now() / 1000) {
  const seconds = Math.floor(now - ts);
  if (seconds < 60) return "just now";
  for (const [name, size] of UNITS) {
    if (seconds >= size) {
      const count = Math.floor(seconds / size);
      return `${count} ${name}${count === 1 ? "" : "s"} ago`;
    }
  }
  return "just now";
}
