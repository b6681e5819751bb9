// The counting state shared by the bench-counter node (bench/nodes.ts) and the benchmark.
// It lives on globalThis so that both see the same object whichever path required the module.

export interface CounterState {
  counts: Record<string, number>;
  /** count of role 'out' that resolves `reached` */
  target: number;
  firstAt: number;
  lastAt: number;
  reached: (() => void) | null;
}

export type Msg = Record<string, unknown>;

export interface SourceNode {
  id: string;
  send(msg: Msg | Msg[]): void;
}

const KEY = '__jetstreamBench';

export function benchState(): CounterState {
  const g = globalThis as unknown as Record<string, CounterState | undefined>;
  let s = g[KEY];
  if (!s) {
    s = { counts: {}, target: Infinity, firstAt: 0, lastAt: 0, reached: null };
    g[KEY] = s;
  }
  return s;
}

/** Resets the counters; `reached` resolves when role 'out' has counted `target` msgs. */
export function armCounter(target: number): Promise<void> {
  const s = benchState();
  s.counts = {};
  s.target = target;
  s.firstAt = 0;
  s.lastAt = 0;
  return new Promise<void>((resolve) => {
    s.reached = resolve;
  });
}
