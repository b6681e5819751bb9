// The benchmark scenarios. Each runs in its own process (see run.ts): one simulator, one
// embedded Node-RED runtime, the compared variants alternating in order over `runs` rounds.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { PerformanceObserver, constants, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import { bareDrain, bareDrainDeliver, bareSync, readyMsgs, sendChunked } from './baselines';
import { armCounter, benchState, type SourceNode } from './counter';
import { ACCT, SOURCE, coreFlow, eventsFlow, sourceFlow, syncFlow } from './flows';
import { REPO, startRuntime, type Runtime } from './runtime';
import { startSim, type SimHandle } from './sim';
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

/** Queues `n` events, deploys the listener: ms from `flows:started` to the n-th counted msg. */
async function oursDrain(
  sim: SimHandle,
  rt: Runtime,
  flow: ReturnType<typeof eventsFlow>,
  n: number,
  notes: string[],
): Promise<number> {
  const state = benchState();
  await sim.clearEvents();
  await sim.publishMany(n);
  await sim.resetStats();
  const reached = armCounter(n);
  const { startedAt } = await deployWithAccount(rt, flow, notes);
  await within(reached, WAIT_MS, `jetstream-events to emit ${n} events`);
  const ms = state.lastAt - startedAt;
  const errors = state.counts.err ?? 0;
  await rt.clear();
  if (errors) notes.push(`ours: ${errors} errors reached Catch`);
  if (state.counts.out !== n) notes.push(`ours: counted ${state.counts.out} of ${n}`);
  return ms;
}

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
      const ms = await oursDrain(sim, rt, listener, n, notes);
      if (n === N) (requests.ours ??= []).push((await sim.stats()).requests);
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
  const row = (
    baseline: string,
    key: string,
    target: number | null,
    text = oursText,
    what = '',
  ): Row => {
    const r = pairedRatio(samples[key], samples.ours);
    return {
      scenario: label,
      ours: text,
      baseline,
      ratio: r,
      ratioMeaning: 'throughput',
      target: target === null ? 'info' : `>= ${target}${what}`,
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
  const dText = `(d) bare loop + the same msgs sent into the counter: ${evps(N, m('bareDeliver'))} (${msText(m('bareDeliver'))})`;
  if (zero) {
    // The design judges the 0 ms target on (c). (d) is shown against the same 0.8 as a second,
    // clearly labelled check: it isolates the package's own cost (see the note).
    rows.push(
      row(
        `(c) ready-made msgs into the same counter: ${evps(N, m('ready'))} (${msText(m('ready'))})`,
        'ready',
        0.8,
        oursText,
        ' (design target)',
      ),
      row(dText, 'bareDeliver', 0.8, oursText, ' (package overhead, secondary)'),
    );
    const c = pairedRatio(samples.ready, samples.ours);
    const httpOnly = pairedRatio(samples.ready, samples.bare);
    const zeroCost = pairedRatio(samples.ready, samples.bareDeliver);
    const d = pairedRatio(samples.bareDeliver, samples.ours);
    notes.push(
      `0 ms target: judged on (c), as designed: ours ÷ (c) = ${c.toFixed(2)} (${c >= 0.8 ? 'met' : 'MISSED'}). ` +
        `(c) does no HTTP. A package costing nothing is (d) (the same HTTP loop sending the same msgs into the same ` +
        `nodes), and (d) ÷ (c) = ${zeroCost.toFixed(2)} (the HTTP loop alone, (a) ÷ (c) = ${httpOnly.toFixed(2)}): ` +
        (zeroCost < 0.8
          ? 'the (c) target is out of reach of any HTTP client here, whatever the package does. '
          : 'a package costing nothing would meet it. ') +
        `The package's own overhead, ours ÷ (d) = ${d.toFixed(2)} (${d >= 0.8 ? 'meets' : 'misses'} 0.8).`,
    );
  } else {
    rows.push(row(dText, 'bareDeliver', null));
  }
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

/** Drain rate of a 10,000-event backlog through jetstream-events at 0 and 3 ms latency. */
export async function drain10kScenario(opts: Options): Promise<ScenarioResult> {
  const N = 10_000;
  const notes: string[] = [];
  const sim = await startSim(opts.sim);
  const rt = await startRuntime();
  const flow = eventsFlow(sim.url, sim.accessKey, { limit: 512, interval: 10 });
  const at = (latencyMs: number, n: number): Variant => ({
    name: `latency ${latencyMs} ms`,
    run: async () => {
      await sim.setFaults({ latencyMs });
      return oursDrain(sim, rt, flow, n, notes);
    },
  });
  let samples: Record<string, number[]>;
  try {
    samples = await alternate([at(0, N), at(3, N)], [at(0, 2_000), at(3, 2_000)], opts.runs);
  } finally {
    await sim.close();
  }
  const rows: Row[] = [0, 3].map((lat) => {
    const ms = median(samples[`latency ${lat} ms`]);
    return {
      scenario: `events drain 10k backlog, latency ${lat} ms`,
      ours: `${evps(N, ms)} (${msText(ms)})`,
      baseline: '(ours only, median of the runs)',
      ratio: null,
      ratioMeaning: '',
      target: 'info',
      pass: null,
    };
  });
  return { name: 'drain10k', rows, samples, notes, nodeRedVersion: rt.version };
}

// --- 2. sync ---------------------------------------------------------------------------------

export async function syncScenario(opts: Options, D = 2_000): Promise<ScenarioResult> {
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
      await deployWithAccount(rt, syncFlow(sim.url, sim.accessKey, CONC), notes);
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
    `ours: simulator saw at most ${Math.max(...maxInFlight)} requests in flight (concurrency ${CONC} expected)`,
  );
  const r = pairedRatio(samples.bare, samples.ours);
  const rate = (ms: number) => `${Math.round((D * 1000) / ms).toLocaleString('en-US')} dev/s`;
  // The design's target is for 2,000 devices; other sizes are reported for information.
  const target = D === 2_000 ? 0.9 : null;
  return {
    name: D === 2_000 ? 'sync' : `sync-${D}`,
    rows: [
      {
        scenario: `sync ${D.toLocaleString('en-US')} devices, latency 2 ms, concurrency ${CONC}`,
        ours: `${rate(median(samples.ours))} (${msText(median(samples.ours))})`,
        baseline: `bare axios, ${CONC} workers: ${rate(median(samples.bare))} (${msText(median(samples.bare))})`,
        ratio: r,
        ratioMeaning: 'throughput',
        target: target === null ? 'info' : `>= ${target}`,
        pass: target === null ? null : r >= target,
      },
    ],
    samples,
    notes,
    nodeRedVersion: rt.version,
  };
}

// --- 3. memory --------------------------------------------------------------------------------

/** One memory sample during the drain. */
interface MemPoint {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  /** memory outside the JS heap held by JS objects (Buffers: socket reads, response bodies) */
  external: number;
  newSpace: number;
  oldSpace: number;
}

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
  const idleHeapTotal = mem().heapTotal;
  const idleExternal = mem().external;

  // Drain: 200k events queued before the deploy. Sampled every 20 ms: where the memory is
  // (V8 young/old generation, Buffers). At each send: how many msgs wait in Node-RED's
  // delivery queue (sent, not yet received by the counter).
  await rt.clear();
  await sim.publishMany(N);
  let sent = 0;
  let maxLag = 0;
  const countSends = (id: string) => {
    const node = rt.RED.nodes.getNode(id) as SourceNode;
    const send = node.send.bind(node);
    node.send = (msg) => {
      sent += Array.isArray(msg) ? msg.length : 1;
      maxLag = Math.max(maxLag, sent - (state.counts.out ?? 0));
      send(msg);
    };
  };
  const point = (): MemPoint => {
    const m = mem();
    const space = (name: string) =>
      v8.getHeapSpaceStatistics().find((x) => x.space_name === name)?.space_used_size ?? 0;
    return {
      rss: m.rss,
      heapTotal: m.heapTotal,
      heapUsed: m.heapUsed,
      external: m.external,
      newSpace: space('new_space'),
      oldSpace: space('old_space'),
    };
  };
  let peak = point();
  let peakHeap = peak.heapUsed;
  const gcs = { minor: 0, major: 0, ms: 0 };
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) gcs.major++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MINOR) gcs.minor++;
      gcs.ms += e.duration;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const sampler = setInterval(() => {
    const p = point();
    if (p.rss > peak.rss) peak = p;
    if (p.heapUsed > peakHeap) peakHeap = p.heapUsed;
  }, 20);
  const reached = armCounter(N);
  let startedAt: number;
  try {
    if (what === 'ours') {
      ({ startedAt } = await deployIt());
      countSends('ev');
    } else {
      await deployIt();
      countSends(SOURCE);
      startedAt = performance.now();
      const src = rt.RED.nodes.getNode(SOURCE) as SourceNode;
      await bareDrainDeliver(sim.url, sim.accessKey, N, 512, src);
    }
    await within(reached, WAIT_MS * 2, `${N} events to be counted`);
  } finally {
    clearInterval(sampler);
    obs.disconnect();
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
  const growth = (peak.rss - idle) / MB;
  const f = (b: number) => (b / MB).toFixed(1);
  notes.push(
    `idle RSS ${f(idle)} MB (heap ${f(idleHeap)} MB); peak RSS ${f(peak.rss)} MB (peak heap ${f(peakHeap)} MB); RSS just after the drain ${f(after)} MB; heap after a forced GC ${f(retainedHeap)} MB`,
    `at the RSS peak: heap committed ${f(peak.heapTotal)} MB (idle ${f(idleHeapTotal)} MB), used ${f(peak.heapUsed)} MB (young generation ${f(peak.newSpace)} MB, old generation ${f(peak.oldSpace)} MB), Buffers (external) ${f(peak.external)} MB (idle ${f(idleExternal)} MB)`,
    `GC during the drain: ${gcs.minor} scavenges, ${gcs.major} mark-compacts, ${Math.round(gcs.ms)} ms in all`,
    `msgs waiting in Node-RED's delivery queue (sent, not yet received by the counter): at most ${maxLag.toLocaleString('en-US')} (${sent.toLocaleString('en-US')} sent)`,
    `drained ${N.toLocaleString('en-US')} events in ${msText(drainMs)} (${evps(N, drainMs)}); ${left} left in the queue after close`,
  );
  const samples = {
    growthMB: [growth],
    idleRssMB: [idle / MB],
    peakRssMB: [peak.rss / MB],
    idleHeapMB: [idleHeap / MB],
    peakHeapMB: [peakHeap / MB],
    idleHeapTotalMB: [idleHeapTotal / MB],
    peakHeapTotalMB: [peak.heapTotal / MB],
    peakOldSpaceMB: [peak.oldSpace / MB],
    peakNewSpaceMB: [peak.newSpace / MB],
    idleExternalMB: [idleExternal / MB],
    peakExternalMB: [peak.external / MB],
    retainedHeapMB: [retainedHeap / MB],
    maxQueuedMsgs: [maxLag],
    majorGCs: [gcs.major],
    drainMs: [drainMs],
  };
  const ours = `${growth.toFixed(1)} MB (idle ${(idle / MB).toFixed(0)} MB, peak ${(peak.rss / MB).toFixed(0)} MB)`;
  if (what === 'bare') {
    return {
      name: 'memory-baseline',
      rows: [
        {
          scenario: 'memory baseline: bare loop + msgs into Node-RED, 200k events',
          ours,
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
        ours,
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
