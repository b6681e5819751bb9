// The benchmark scenarios. Each runs in its own process (see run.ts): one simulator, one
// embedded Node-RED runtime, the compared variants alternating in order over `runs` rounds.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { bareDrain, bareDrainDeliver, bareSync, readyMsgs, sendChunked } from './baselines';
import { armCounter, benchState, type SourceNode } from './counter';
import { ACCT, SOURCE, coreFlow, eventsFlow, sourceFlow, syncFlow } from './flows';
import { REPO, startRuntime, type Runtime } from './runtime';
import { startSim } from './sim';
import { median, sleep } from './stats';

export interface Options {
  runs: number;
  quick: boolean;
  sim: 'child' | 'inproc';
}

export interface Row {
  scenario: string;
  ours: string;
  baseline: string;
  /** ours / baseline, see `ratioMeaning` */
  ratio: number | null;
  ratioMeaning: 'throughput' | 'cost' | '';
  target: string;
  pass: boolean | null;
}

export interface ScenarioResult {
  name: string;
  rows: Row[];
  /** every sample, for RESULTS.md */
  samples: Record<string, number[]>;
  notes: string[];
  nodeRedVersion?: string;
}

interface AccountNode {
  client: unknown;
  configError: Error | null;
  hub: { seenCount: number; loopCount: number };
}

const gc = () => (globalThis as { gc?: () => void }).gc?.();
const WAIT_MS = 180_000;

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Deploys a flow with the account; verifies the config node got its access key (nrg reports
 * that the first setFlows after start may drop inline credentials: credentials are passed
 * apart here, and a missing client is reported and worked around by deploying again).
 */
async function deployWithAccount(
  rt: Runtime,
  flow: {
    flows: ReturnType<typeof eventsFlow>['flows'];
    credentials: Record<string, Record<string, string>>;
  },
  notes: string[],
) {
  let r = await rt.deploy(flow.flows, flow.credentials);
  const acct = rt.RED.nodes.getNode(ACCT) as AccountNode | null;
  if (!acct || !acct.client) {
    const why = acct?.configError?.message ?? 'config node missing';
    const note = `setFlows: the account had no client after deploy (${why}); redeployed`;
    if (!notes.includes(note)) notes.push(note);
    await rt.clear();
    r = await rt.deploy(flow.flows, flow.credentials);
    const again = rt.RED.nodes.getNode(ACCT) as AccountNode | null;
    if (!again?.client) throw new Error(`account still has no client: ${why}`);
  }
  return r;
}

type Variant = { name: string; run(): Promise<number> };

/** Runs the variants `runs` times, order alternating, after one warm-up round each. */
async function alternate(variants: Variant[], warmups: Variant[], runs: number) {
  const samples: Record<string, number[]> = {};
  for (const v of warmups) {
    gc();
    await v.run();
  }
  for (let i = 0; i < runs; i++) {
    const order = i % 2 === 0 ? variants : [...variants].reverse();
    for (const v of order) {
      gc();
      await sleep(50);
      (samples[v.name] ??= []).push(await v.run());
    }
  }
  return samples;
}

/** Median of the per-round ratios a/b (paired: measured side by side in the same round). */
function pairedRatio(a: number[], b: number[]): number {
  return median(a.map((x, i) => x / b[i]));
}

const evps = (n: number, ms: number) =>
  `${Math.round((n * 1000) / ms).toLocaleString('en-US')} ev/s`;
const msText = (ms: number) => `${Math.round(ms).toLocaleString('en-US')} ms`;

// --- 1. events drain ------------------------------------------------------------------------

export interface EventsSetup {
  latencyMs: number;
  /** msgs pass a core function node before the counter */
  viaFunction?: boolean;
  /** include the core-node flows (b) and (b') */
  core?: boolean;
}

export async function eventsScenario(opts: Options, setup: EventsSetup): Promise<ScenarioResult> {
  const { latencyMs, viaFunction = false, core: withCore = true } = setup;
  const N = 50_000;
  const LIMIT = 512;
  const CORE_CAP_MS = opts.quick ? 4_000 : 10_000;
  const notes: string[] = [];
  const sim = await startSim(opts.sim);
  const rt = await startRuntime();
  await sim.setFaults({ latencyMs });
  const state = benchState();
  const requests: Record<string, number[]> = {};
  const listener = eventsFlow(sim.url, sim.accessKey, { limit: LIMIT, interval: 10, viaFunction });

  const ours = (n: number): Variant => ({
    name: 'ours',
    run: async () => {
      await sim.clearEvents();
      await sim.publishMany(n);
      await sim.resetStats();
      const reached = armCounter(n);
      const { startedAt } = await deployWithAccount(rt, listener, notes);
      await within(reached, WAIT_MS, `jetstream-events to emit ${n} events`);
      const ms = state.lastAt - startedAt;
      const errors = state.counts.err ?? 0;
      await rt.clear();
      if (errors) notes.push(`ours: ${errors} errors reached Catch`);
      const st = await sim.stats();
      if (n === N) (requests.ours ??= []).push(st.requests);
      if (state.counts.out !== n) notes.push(`ours: counted ${state.counts.out} of ${n}`);
      return ms;
    },
  });

  const bare = (n: number): Variant => ({
    name: 'bare',
    run: async () => {
      await sim.clearEvents();
      await sim.publishMany(n);
      await sim.resetStats();
      const ms = await bareDrain(sim.url, sim.accessKey, n, LIMIT);
      if (n === N) (requests.bare ??= []).push((await sim.stats()).requests);
      return ms;
    },
  });

  const bareDeliver = (n: number): Variant => ({
    name: 'bareDeliver',
    run: async () => {
      await sim.clearEvents();
      await sim.publishMany(n);
      await rt.deploy(sourceFlow(viaFunction).flows);
      const src = rt.RED.nodes.getNode(SOURCE) as SourceNode;
      const reached = armCounter(n);
      const t0 = performance.now();
      await bareDrainDeliver(sim.url, sim.accessKey, n, LIMIT, src);
      await within(reached, WAIT_MS, `bare loop + delivery of ${n} msgs`);
      const ms = state.lastAt - t0;
      await rt.clear();
      return ms;
    },
  });

  const ready = (n: number): Variant => ({
    name: 'ready',
    run: async () => {
      const msgs = readyMsgs(n);
      await rt.deploy(sourceFlow(viaFunction).flows);
      const src = rt.RED.nodes.getNode(SOURCE) as SourceNode;
      const reached = armCounter(n);
      gc();
      const t0 = performance.now();
      await sendChunked(src, msgs, LIMIT);
      await within(reached, WAIT_MS, `bench-source to deliver ${n} msgs`);
      const ms = state.lastAt - t0;
      await rt.clear();
      return ms;
    },
  });

  // Core nodes, inject every 1 s: capped, its time for n events extrapolated from its rate.
  const core = (n: number, capMs: number): Variant => ({
    name: 'core',
    run: async () => {
      await sim.clearEvents();
      await sim.publishMany(n);
      armCounter(n);
      const { startedAt } = await rt.deploy(
        coreFlow(sim.url, sim.accessKey, { limit: LIMIT, drain: false }).flows,
      );
      await sleep(Math.max(0, capMs - (performance.now() - startedAt)));
      const got = state.counts.out ?? 0;
      const elapsed = performance.now() - startedAt;
      await rt.clear();
      if (state.counts.err) notes.push(`core: ${state.counts.err} errors reached Catch`);
      if (got === 0) throw new Error('core flow delivered nothing');
      return (elapsed * n) / got;
    },
  });

  // Core nodes with a drain loop (DELETE answer -> GET again while the batch was full).
  const coreDrain = (n: number): Variant => ({
    name: 'coreDrain',
    run: async () => {
      await sim.clearEvents();
      await sim.publishMany(n);
      const reached = armCounter(n);
      const { startedAt } = await rt.deploy(
        coreFlow(sim.url, sim.accessKey, { limit: LIMIT, drain: true }).flows,
      );
      await within(reached, WAIT_MS, `core drain flow to emit ${n} events`);
      const ms = state.lastAt - startedAt;
      await rt.clear();
      if (state.counts.err) notes.push(`coreDrain: ${state.counts.err} errors reached Catch`);
      return ms;
    },
  });

  const zero = latencyMs === 0;
  const variants = [
    ours(N),
    bare(N),
    bareDeliver(N),
    ...(zero ? [ready(N)] : []),
    ...(withCore ? [coreDrain(N), core(N, CORE_CAP_MS)] : []),
  ];
  const W = 5_000;
  const warm = [
    ours(W),
    bare(W),
    bareDeliver(W),
    ...(zero ? [ready(W)] : []),
    ...(withCore ? [coreDrain(W)] : []),
  ];
  let samples: Record<string, number[]>;
  try {
    samples = await alternate(variants, warm, opts.runs);
  } finally {
    await sim.close();
  }
  const m = (k: string) => median(samples[k]);
  const oursText = `${evps(N, m('ours'))} (${msText(m('ours'))})`;
  const label = `events drain 50k, latency ${latencyMs} ms${viaFunction ? ', via a function node' : ''}`;
  const row = (baseline: string, key: string, target: number | null, text = oursText): Row => {
    const r = pairedRatio(samples[key], samples.ours);
    return {
      scenario: label,
      ours: text,
      baseline,
      ratio: r,
      ratioMeaning: 'throughput',
      target: target === null ? 'info' : `>= ${target}`,
      pass: target === null ? null : r >= target,
    };
  };
  const rows: Row[] = [
    row(
      `(a) bare axios loop: ${evps(N, m('bare'))} (${msText(m('bare'))})`,
      'bare',
      zero ? null : 0.8,
    ),
  ];
  if (zero) {
    rows.push(
      row(
        `(c) ready-made msgs into the same counter: ${evps(N, m('ready'))} (${msText(m('ready'))})`,
        'ready',
        0.8,
      ),
    );
  }
  rows.push(
    row(
      `(d) bare loop + the same msgs sent into the counter: ${evps(N, m('bareDeliver'))} (${msText(m('bareDeliver'))})`,
      'bareDeliver',
      null,
    ),
  );
  if (withCore) {
    rows.push(
      row(
        `(b) core nodes, inject every 1 s: ${evps(N, m('core'))} (50k in ~${Math.round(m('core') / 1000)} s, extrapolated from ${CORE_CAP_MS / 1000} s)`,
        'core',
        null,
        evps(N, m('ours')),
      ),
      row(
        `(b') core nodes + drain loop: ${evps(N, m('coreDrain'))} (${msText(m('coreDrain'))})`,
        'coreDrain',
        null,
        evps(N, m('ours')),
      ),
    );
  }
  if (requests.ours) {
    notes.push(
      `requests per 50k drain (median): ours ${median(requests.ours)}, bare ${median(requests.bare ?? [])}`,
    );
  }
  return {
    name: `events-lat${latencyMs}${viaFunction ? '-fn' : ''}`,
    rows,
    samples,
    notes,
    nodeRedVersion: rt.version,
  };
}

// --- 2. sync ---------------------------------------------------------------------------------

export async function syncScenario(opts: Options): Promise<ScenarioResult> {
  const D = 2_000;
  const CONC = 8;
  const notes: string[] = [];
  const names = Array.from({ length: D }, (_, i) => `Cab-${String(i + 1).padStart(4, '0')}`);
  const sim = await startSim(opts.sim);
  const rt = await startRuntime();
  await sim.addDevices(names);
  await sim.setFaults({ latencyMs: 2 });
  const state = benchState();
  let maxInFlight: number[] = [];

  const ours = (list: string[]): Variant => ({
    name: 'ours',
    run: async () => {
      await deployWithAccount(rt, syncFlow(sim.url, sim.accessKey), notes);
      await sim.resetStats();
      const src = rt.RED.nodes.getNode(SOURCE) as SourceNode;
      const reached = armCounter(list.length);
      const msg = { payload: 'sync', device: [...list] };
      const t0 = performance.now();
      src.send(msg);
      await within(reached, WAIT_MS, `sync node to answer ${list.length} devices`);
      const ms = state.lastAt - t0;
      if (state.counts.err) notes.push(`ours: ${state.counts.err} errors reached Catch`);
      maxInFlight.push((await sim.stats()).maxInFlight);
      await rt.clear();
      await sim.clearEvents();
      return ms;
    },
  });
  const bare = (list: string[]): Variant => ({
    name: 'bare',
    run: async () => {
      const ms = await bareSync(sim.url, sim.accessKey, list, CONC);
      await sim.clearEvents();
      return ms;
    },
  });
  let samples: Record<string, number[]>;
  try {
    samples = await alternate(
      [ours(names), bare(names)],
      [ours(names.slice(0, 200)), bare(names.slice(0, 200))],
      opts.runs,
    );
  } finally {
    await sim.close();
  }
  maxInFlight = maxInFlight.slice(-opts.runs);
  notes.push(
    `ours: simulator saw at most ${Math.max(...maxInFlight)} requests in flight (concurrency 8 expected)`,
  );
  const r = pairedRatio(samples.bare, samples.ours);
  const rate = (ms: number) => `${Math.round((D * 1000) / ms).toLocaleString('en-US')} dev/s`;
  return {
    name: 'sync',
    rows: [
      {
        scenario: 'sync 2,000 devices, latency 2 ms, concurrency 8',
        ours: `${rate(median(samples.ours))} (${msText(median(samples.ours))})`,
        baseline: `bare axios, 8 workers: ${rate(median(samples.bare))} (${msText(median(samples.bare))})`,
        ratio: r,
        ratioMeaning: 'throughput',
        target: '>= 0.9',
        pass: r >= 0.9,
      },
    ],
    samples,
    notes,
    nodeRedVersion: rt.version,
  };
}

// --- 3. memory --------------------------------------------------------------------------------

export async function memoryScenario(
  opts: Options,
  what: 'ours' | 'bare' = 'ours',
): Promise<ScenarioResult> {
  const N = 200_000;
  const notes: string[] = [];
  // Always a separate simulator process: its queue of 200k events must not count here.
  const sim = await startSim('child');
  const rt = await startRuntime();
  const state = benchState();
  const flow =
    what === 'ours'
      ? eventsFlow(sim.url, sim.accessKey, { limit: 512, interval: 10 })
      : sourceFlow();
  const deployIt = () =>
    what === 'ours' ? deployWithAccount(rt, flow, notes) : rt.deploy(flow.flows);
  const mem = () => process.memoryUsage();
  const MB = 1024 * 1024;

  // Idle: the listener (or the bare loop's source node) deployed on an empty queue.
  await deployIt();
  await sleep(2000);
  gc();
  await sleep(500);
  const idleSamples: number[] = [];
  for (let i = 0; i < 20; i++) {
    idleSamples.push(mem().rss);
    await sleep(50);
  }
  const idle = median(idleSamples);
  const idleHeap = mem().heapUsed;

  // Drain: 200k events queued before the deploy.
  await rt.clear();
  await sim.publishMany(N);
  let peak = mem().rss;
  let peakHeap = mem().heapUsed;
  const sampler = setInterval(() => {
    const m = mem();
    if (m.rss > peak) peak = m.rss;
    if (m.heapUsed > peakHeap) peakHeap = m.heapUsed;
  }, 50);
  const reached = armCounter(N);
  let startedAt: number;
  try {
    if (what === 'ours') {
      ({ startedAt } = await deployIt());
    } else {
      await deployIt();
      startedAt = performance.now();
      const src = rt.RED.nodes.getNode(SOURCE) as SourceNode;
      await bareDrainDeliver(sim.url, sim.accessKey, N, 512, src);
    }
    await within(reached, WAIT_MS * 2, `${N} events to be counted`);
  } finally {
    clearInterval(sampler);
  }
  const drainMs = state.lastAt - startedAt;
  const acct = rt.RED.nodes.getNode(ACCT) as AccountNode | null;
  const seen = acct?.hub.seenCount ?? 0;
  await sleep(200);
  const after = mem().rss;
  gc();
  const retainedHeap = mem().heapUsed;
  await rt.clear();
  const left = await sim.queueLength();
  await sim.close();
  const growth = (peak - idle) / MB;
  const f = (b: number) => (b / MB).toFixed(1);
  notes.push(
    `idle RSS ${f(idle)} MB (heap ${f(idleHeap)} MB); peak RSS ${f(peak)} MB (peak heap ${f(peakHeap)} MB); RSS just after the drain ${f(after)} MB; heap after a forced GC ${f(retainedHeap)} MB`,
    `drained ${N.toLocaleString('en-US')} events in ${msText(drainMs)} (${evps(N, drainMs)}); ${left} left in the queue after close`,
  );
  const samples = {
    idleRssMB: [idle / MB],
    peakRssMB: [peak / MB],
    idleHeapMB: [idleHeap / MB],
    peakHeapMB: [peakHeap / MB],
    retainedHeapMB: [retainedHeap / MB],
    drainMs: [drainMs],
  };
  if (what === 'bare') {
    return {
      name: 'memory-baseline',
      rows: [
        {
          scenario: 'memory baseline: bare loop + msgs into Node-RED, 200k events',
          ours: `${growth.toFixed(1)} MB (idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB)`,
          baseline: '(reference for the row above; no package code)',
          ratio: null,
          ratioMeaning: '',
          target: 'info',
          pass: null,
        },
      ],
      samples,
      notes,
      nodeRedVersion: rt.version,
    };
  }
  return {
    name: 'memory',
    rows: [
      {
        scenario: 'memory: peak RSS - idle, draining 200k events',
        ours: `${growth.toFixed(1)} MB (idle ${(idle / MB).toFixed(0)} MB, peak ${(peak / MB).toFixed(0)} MB)`,
        baseline: 'idle runtime + listener, empty queue',
        ratio: null,
        ratioMeaning: '',
        target: '< 60 MB',
        pass: growth < 60,
      },
      {
        scenario: 'memory: de-duplication window after the drain',
        ours: `${seen.toLocaleString('en-US')} ids`,
        baseline: 'bound 20,000',
        ratio: null,
        ratioMeaning: '',
        target: '<= 20,000',
        pass: seen <= 20_000,
      },
    ],
    samples: { ...samples, seenCount: [seen] },
    notes,
    nodeRedVersion: rt.version,
  };
}

// --- 4. load ---------------------------------------------------------------------------------

/** ms to require `mods` in a fresh `node -e` process. */
function requireTime(mods: string[]): number {
  const code =
    `const t=process.hrtime.bigint();` +
    mods.map((m) => `require(${JSON.stringify(m)});`).join('') +
    `process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6));`;
  const out = execFileSync(process.execPath, ['-e', code], { cwd: REPO, encoding: 'utf8' });
  return Number(out.trim());
}

export async function loadScenario(opts: Options): Promise<ScenarioResult> {
  const notes: string[] = [];
  const samples: Record<string, number[]> = {};
  const dist = (type: string) => path.join(REPO, 'dist', 'nodes', type, `${type}.js`);
  const sets: Record<string, string[]> = {
    'jetstream-config': [dist('jetstream-config')],
    'jetstream-events': [dist('jetstream-events')],
    'jetstream-sync-credentials': [dist('jetstream-sync-credentials')],
    'all three': ['jetstream-config', 'jetstream-events', 'jetstream-sync-credentials'].map(dist),
    axios: ['axios'],
    'http request (core)': [
      path.join(REPO, 'node_modules/@node-red/nodes/core/network/21-httprequest.js'),
    ],
  };
  const REQ_RUNS = 5;
  for (let i = 0; i < REQ_RUNS; i++) {
    const keys = Object.keys(sets);
    for (const k of i % 2 === 0 ? keys : keys.reverse())
      (samples[`require ${k}`] ??= []).push(requireTime(sets[k]));
  }

  // Idle CPU: one listener polling an empty queue every 1 s vs nothing deployed.
  const WINDOW_MS = opts.quick ? 5_000 : 10_000;
  const CPU_RUNS = opts.quick ? 1 : 3;
  const sim = await startSim('child');
  const rt = await startRuntime();
  const flow = eventsFlow(sim.url, sim.accessKey, { limit: 100, interval: 1 });
  const gets: number[] = [];
  const measure = async (withListener: boolean) => {
    if (withListener) await deployWithAccount(rt, flow, notes);
    else await rt.clear();
    await sleep(1500);
    await sim.resetStats();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await sleep(WINDOW_MS);
    const c = process.cpuUsage(c0);
    const wall = performance.now() - t0;
    if (withListener) gets.push((await sim.stats()).requests);
    return ((c.user + c.system) / 1000 / wall) * 100;
  };
  for (let i = 0; i < CPU_RUNS; i++) {
    const order = i % 2 === 0 ? [true, false] : [false, true];
    for (const w of order)
      (samples[w ? 'cpu listener %' : 'cpu no listener %'] ??= []).push(await measure(w));
  }
  await rt.clear();
  await sim.close();
  notes.push(
    `listener made ${median(gets)} requests per ${WINDOW_MS / 1000} s window (1 s interval, empty queue)`,
    `require times: fresh \`node -e\` child per sample, median of ${REQ_RUNS}; the node modules load axios, https-proxy-agent and proxy-from-env`,
  );
  const med = (k: string) => median(samples[k]);
  const rows: Row[] = [
    'jetstream-config',
    'jetstream-events',
    'jetstream-sync-credentials',
    'all three',
  ].map((k) => ({
    scenario: `load: require ${k}`,
    ours: `${med(`require ${k}`).toFixed(1)} ms`,
    baseline: `require axios: ${med('require axios').toFixed(1)} ms; core http request node: ${med('require http request (core)').toFixed(1)} ms`,
    ratio: med(`require ${k}`) / med('require axios'),
    ratioMeaning: 'cost',
    target: 'info',
    pass: null,
  }));
  const on = med('cpu listener %');
  const off = med('cpu no listener %');
  rows.push({
    scenario: `load: idle CPU, listener polling an empty queue every 1 s (${WINDOW_MS / 1000} s window)`,
    ours: `${on.toFixed(2)} % of a core`,
    baseline: `no listener: ${off.toFixed(2)} % (listener adds ${(on - off).toFixed(2)} points)`,
    ratio: off > 0 ? on / off : null,
    ratioMeaning: 'cost',
    target: 'info',
    pass: null,
  });
  return { name: 'load', rows, samples, notes, nodeRedVersion: rt.version };
}
