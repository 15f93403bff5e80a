/** Small, pure statistics helpers shared by the load generator and the reports. */

/** The nearest-rank percentile `p` (0-100) of an ascending array; NaN when empty. */
function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

/** Count, mean, p50, p90, p99 and max of a list of numbers (ms). */
export function summarize(values) {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1] : Number.NaN,
  };
}

/** The median of several runs' figures, ignoring missing ones; NaN when none. */
export function median(values) {
  const present = values.filter((value) => typeof value === 'number' && Number.isFinite(value));
  if (present.length === 0) return Number.NaN;
  present.sort((a, b) => a - b);
  const middle = Math.floor(present.length / 2);
  return present.length % 2 ? present[middle] : (present[middle - 1] + present[middle]) / 2;
}

/** A number of ms for a table: two decimals under 10, one under 100, none above; "–" when missing. */
export function formatMs(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  const digits = Math.abs(value) < 10 ? 2 : Math.abs(value) < 100 ? 1 : 0;
  return value.toFixed(digits);
}

/** A signed difference in ms ("+0.42"). */
export function formatDeltaMs(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  return `${value >= 0 ? '+' : '−'}${formatMs(Math.abs(value))}`;
}

/** A ratio for a table ("1.07×"); "–" when missing. */
export function formatRatio(value) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  return `${value.toFixed(2)}×`;
}

/** A Markdown table from a header row and body rows. */
export function markdownTable(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
