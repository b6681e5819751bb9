// Small numeric helpers for the benchmark: medians, formatting.

export function median(values: number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return 'n/a';
  return n.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** "51,234 ev/s (976 ms)" */
export function rate(count: number, ms: number, unit = 'ev/s'): string {
  return `${fmt((count * 1000) / ms)} ${unit} (${fmt(ms)} ms)`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Resolves when `check` is true (polled every `everyMs`), or with false after `timeoutMs`. */
export async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  everyMs = 5,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await sleep(everyMs);
  }
  return true;
}
