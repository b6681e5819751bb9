// The simulator the benchmark talks to, either in this process or (default) in a child process
// driven over IPC, so that the measured process holds only Node-RED, the package and the
// baselines (as against a real cloud API, whose work is done elsewhere). Loopback only.
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { startSimulator, type Faults, type Simulator, type SimulatorStats } from '../lib/simulator';

export const BENCH_KEY = '7b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';

export interface SimHandle {
  readonly url: string;
  readonly accessKey: string;
  readonly where: 'child' | 'inproc';
  publishMany(count: number): Promise<void>;
  setFaults(f: Faults): Promise<void>;
  queueLength(): Promise<number>;
  clearEvents(): Promise<void>;
  addDevices(names: string[]): Promise<void>;
  stats(): Promise<SimulatorStats>;
  resetStats(): Promise<void>;
  /** RSS of the process holding the simulator, bytes. */
  rss(): Promise<number>;
  close(): Promise<void>;
}

type Op = 'publishMany' | 'setFaults' | 'queueLength' | 'clearEvents' | 'addDevices' | 'stats';
type Req = { id: number; op: Op | 'resetStats' | 'rss' | 'close'; arg?: unknown };

/** Runs the operation against a simulator (shared by both modes). */
async function apply(sim: Simulator, op: Req['op'], arg: unknown): Promise<unknown> {
  switch (op) {
    case 'publishMany':
      return sim.publishMany(arg as number);
    case 'setFaults':
      return sim.setFaults(arg as Faults);
    case 'queueLength':
      return sim.queueLength();
    case 'clearEvents':
      return sim.clearEvents();
    case 'addDevices':
      for (const n of arg as string[]) sim.addDevice(n, { online: true });
      return undefined;
    case 'stats':
      return sim.stats();
    case 'resetStats':
      return sim.resetStats();
    case 'rss':
      return process.memoryUsage().rss;
    case 'close':
      return sim.close();
  }
}

function options() {
  // logLimit 0: no request log ring, the benchmark reads stats() instead.
  return { host: '127.0.0.1', accessKey: BENCH_KEY, logLimit: 0 };
}

export async function startSim(where: 'child' | 'inproc' = 'child'): Promise<SimHandle> {
  if (where === 'inproc') {
    const sim = await startSimulator(options());
    const call = (op: Req['op'], arg?: unknown) => apply(sim, op, arg);
    return handle(sim.url, 'inproc', call);
  }
  const child = fork(path.join(__dirname, 'sim-child.js'), [], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [],
  });
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let seq = 0;
  child.on('message', (m: { id: number; ok: boolean; value?: unknown; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (m.ok) p.resolve(m.value);
    else p.reject(new Error(m.error));
  });
  child.on('exit', () => {
    for (const p of pending.values()) p.reject(new Error('simulator process exited'));
    pending.clear();
  });
  const call = (op: Req['op'], arg?: unknown) =>
    new Promise<unknown>((resolve, reject) => {
      const id = ++seq;
      pending.set(id, { resolve, reject });
      child.send({ id, op, arg } satisfies Req);
    });
  const url = await new Promise<string>((resolve, reject) => {
    child.once('message', (m: { ready?: string }) =>
      m.ready ? resolve(m.ready) : reject(new Error('simulator did not start')),
    );
    child.once('error', reject);
  });
  return handle(url, 'child', call, child);
}

function handle(
  url: string,
  where: 'child' | 'inproc',
  call: (op: Req['op'], arg?: unknown) => Promise<unknown>,
  child?: ChildProcess,
): SimHandle {
  return {
    url,
    accessKey: BENCH_KEY,
    where,
    publishMany: async (n) => void (await call('publishMany', n)),
    setFaults: async (f) => void (await call('setFaults', f)),
    queueLength: async () => (await call('queueLength')) as number,
    clearEvents: async () => void (await call('clearEvents')),
    addDevices: async (names) => void (await call('addDevices', names)),
    stats: async () => (await call('stats')) as SimulatorStats,
    resetStats: async () => void (await call('resetStats')),
    rss: async () => (await call('rss')) as number,
    close: async () => {
      await call('close').catch(() => undefined);
      if (child && child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.disconnect();
        await gone;
      }
    },
  };
}

/** Body of the child process (bench/sim-child.ts). */
export async function serveOverIpc(): Promise<void> {
  const sim = await startSimulator(options());
  process.on('message', (m: Req) => {
    apply(sim, m.op, m.arg).then(
      (value) => process.send?.({ id: m.id, ok: true, value }),
      (err: Error) => process.send?.({ id: m.id, ok: false, error: err.message }),
    );
  });
  process.on('disconnect', () => {
    void sim.close().then(() => process.exit(0));
  });
  process.send?.({ ready: sim.url });
}
