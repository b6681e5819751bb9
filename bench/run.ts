// `npm run bench` entry: runs each scenario in its own Node.js process (a fresh embedded
// Node-RED runtime and simulator each), prints the table and writes bench/RESULTS.md.
//
//   node dist/bench/run.js [--quick] [--runs N]
//                          [--only events3,events0,events0fn,drain10k,sync,sync1k,memory,memorybase,load]
//                          [--sim child|inproc] [--no-write] [--cpu-prof NAME]
//
// --quick      2 runs, shorter caps (~1-2 min)        --runs N   rounds per compared pair
//              (memory scenarios: fresh processes, median of 3; --quick: 1)
// --sim        where the simulator runs (default: its own process, like a remote API)
// --cpu-prof   run scenario NAME with `node --cpu-prof` (profile in <tmpdir>/jetstream-bench-profiles/)
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  drain10kScenario,
  eventsScenario,
  loadScenario,
  memoryScenario,
  syncScenario,
  type Options,
  type Row,
  type ScenarioResult,
} from './scenarios';
import { REPO, stopRuntime } from './runtime';

const SCENARIOS: Record<string, (o: Options) => Promise<ScenarioResult>> = {
  events3: (o) => eventsScenario(o, { latencyMs: 3 }),
  events0: (o) => eventsScenario(o, { latencyMs: 0 }),
  events0fn: (o) => eventsScenario(o, { latencyMs: 0, viaFunction: true, core: false }),
  drain10k: drain10kScenario,
  sync: (o) => syncScenario(o),
  sync1k: (o) => syncScenario(o, 1_000),
  memory: (o) => memoryScenario(o, 'ours'),
  memorybase: (o) => memoryScenario(o, 'bare'),
  load: loadScenario,
};
/** Peak RSS needs a fresh process per sample: these run in 3 processes, the median one is shown. */
const REPEATED = new Set(['memory', 'memorybase']);

/** The run whose peak RSS growth is the median; samples gathered from every run. */
function medianRun(runs: ScenarioResult[]): ScenarioResult {
  const growth = (r: ScenarioResult) => r.samples.growthMB?.[0] ?? NaN;
  const mid = [...runs].sort((a, b) => growth(a) - growth(b))[Math.floor(runs.length / 2)];
  const samples: Record<string, number[]> = {};
  for (const r of runs)
    for (const [k, v] of Object.entries(r.samples)) (samples[k] ??= []).push(...v);
  const note = `median of ${runs.length} processes (fresh runtime each) by RSS growth: ${runs.map((r) => growth(r).toFixed(1)).join(', ')} MB; rows and other notes from the median one`;
  return { ...mid, samples, notes: [note, ...mid.notes] };
}

/** Why each missed target was missed, from this run's own numbers. */
function missNotes(results: ScenarioResult[]): string[] {
  const out: string[] = [];
  const by = (n: string) => results.find((r) => r.name === n);
  for (const r of results) {
    const zeroMs = r.notes.find((n) => n.startsWith('0 ms target'));
    for (const row of r.rows) {
      if (row.pass !== false || row.ratio === null) continue;
      if (zeroMs && row.baseline.startsWith('(c)')) {
        out.push(`**${row.scenario}, (c)**: ${zeroMs}`);
        continue;
      }
      const { ours, bare, bareDeliver } = r.samples;
      let text = `**${row.scenario}** vs ${row.baseline.split(':')[0]}: ratio ${ratioText(row)}, target ${row.target}.`;
      if (ours && bare) {
        const key = r.name === 'sync' ? 'bare' : row.baseline.startsWith('(a)') ? 'bare' : '';
        if (key) {
          const rounds = ours.map((t, i) => (bare[i] / t).toFixed(2)).join(', ');
          text += ` Per-round ratios: ${rounds}.`;
        }
      }
      if (ours && bare && bareDeliver && row.baseline.startsWith('(a)')) {
        const dr = (a: number[], b: number[]) =>
          [...a.map((x, i) => x / b[i])].sort((p, q) => p - q)[Math.floor(a.length / 2)];
        text +=
          ` The bare loop that also sends the msgs into Node-RED, (d), reaches ${dr(bare, bareDeliver).toFixed(2)} of (a)` +
          ` itself, and ours ÷ (d) = ${dr(bareDeliver, ours).toFixed(2)}: most of the gap to (a) is Node-RED's delivery of` +
          ` the msgs, which (a) does not do.`;
      }
      out.push(text);
    }
  }
  const mem = by('memory');
  const base = by('memorybase') ?? by('memory-baseline');
  if (mem && mem.rows[0]?.pass === false) {
    const med = (r: ScenarioResult, k: string) => {
      const v = [...(r.samples[k] ?? [])].sort((a, b) => a - b);
      return v[Math.floor(v.length / 2)] ?? NaN;
    };
    const f = (x: number) => x.toFixed(1);
    const g = med(mem, 'growthMB');
    let text = `**memory**: peak RSS growth ${f(g)} MB (median) vs < 60 MB.`;
    if (base) {
      const b = med(base, 'growthMB');
      text +=
        ` The bare loop delivering the same 200k msgs into Node-RED without the package grows ${f(b)} MB` +
        ` (samples ${base.samples.growthMB?.map(f).join(', ')}), so the package itself accounts for ${f(g - b)} MB of it.`;
    }
    text +=
      ` Nothing piles up: Node-RED's delivery queue held at most ${med(mem, 'maxQueuedMsgs')} msgs (one batch) and the heap` +
      ` after a forced GC is ${f(med(mem, 'retainedHeapMB') - med(mem, 'idleHeapMB'))} MB above idle.` +
      ` At the RSS peak the old generation holds ${f(med(mem, 'peakOldSpaceMB'))} MB, the young generation` +
      ` ${f(med(mem, 'peakNewSpaceMB'))} MB, Buffers (external) ${f(med(mem, 'peakExternalMB') - med(mem, 'idleExternalMB'))} MB above idle, and the committed heap is` +
      ` ${f(med(mem, 'peakHeapTotalMB') - med(mem, 'idleHeapTotalMB'))} MB above idle, with ${med(mem, 'majorGCs')} mark-compact(s)` +
      ` during the drain: short-lived objects promoted to the old generation wait there for a mark-compact` +
      ` that V8 runs rarely while the process allocates fast.`;
    out.push(text);
  }
  return out;
}

interface Args extends Options {
  only: string[];
  child: string | null;
  write: boolean;
  cpuProf: string | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    runs: 5,
    quick: false,
    sim: 'child',
    only: Object.keys(SCENARIOS),
    child: null,
    write: true,
    cpuProf: null,
  };
  let runsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    if (k === '--quick') a.quick = true;
    else if (k === '--runs') {
      a.runs = Math.max(1, Number(v()) | 0);
      runsSet = true;
    } else if (k === '--only') a.only = v().split(',');
    else if (k === '--sim') a.sim = v() === 'inproc' ? 'inproc' : 'child';
    else if (k === '--child') a.child = v();
    else if (k === '--no-write') a.write = false;
    else if (k === '--cpu-prof') a.cpuProf = v();
    else throw new Error(`unknown option ${k}`);
  }
  if (a.quick && !runsSet) a.runs = 2;
  for (const s of a.only) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}`);
  return a;
}

async function child(args: Args): Promise<void> {
  const result = await SCENARIOS[args.child as string](args);
  await stopRuntime();
  await new Promise<void>((resolve) => process.send!({ result }, () => resolve()));
  process.exit(0);
}

function runChild(name: string, args: Args): Promise<ScenarioResult> {
  const argv = ['--child', name, '--runs', String(args.runs), '--sim', args.sim];
  if (args.quick) argv.push('--quick');
  const execArgv = ['--expose-gc'];
  if (args.cpuProf === name) {
    const dir = path.join(os.tmpdir(), 'jetstream-bench-profiles');
    console.log(`[bench] CPU profile of ${name} goes to ${dir}`);
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    // Loopback only: no proxy may sit between the bench and the simulator.
    for (const k of [
      'HTTP_PROXY',
      'HTTPS_PROXY',
      'http_proxy',
      'https_proxy',
      'ALL_PROXY',
      'all_proxy',
    ])
      delete env[k];
    const p = fork(__filename, argv, {
      execArgv,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: ScenarioResult | null = null;
    p.on('message', (m: { result?: ScenarioResult }) => {
      if (m.result) result = m.result;
    });
    p.on('error', reject);
    p.on('exit', (code) =>
      result
        ? resolve(result)
        : reject(new Error(`scenario ${name} exited with ${code} without a result`)),
    );
  });
}

function ratioText(r: Row): string {
  if (r.ratio === null || !Number.isFinite(r.ratio)) return '—';
  return `${r.ratio.toFixed(r.ratio < 0.1 ? 3 : 2)}${r.ratioMeaning === 'cost' ? ' (cost)' : ''}`;
}
function passText(r: Row): string {
  return r.pass === null ? '—' : r.pass ? 'PASS' : 'FAIL';
}

function printTable(rows: Row[]): void {
  const cols = ['scenario', 'ours', 'baseline', 'ratio', 'target', 'result'];
  const data = rows.map((r) => [
    r.scenario,
    r.ours,
    r.baseline,
    ratioText(r),
    r.target,
    passText(r),
  ]);
  const width = cols.map((c, i) =>
    Math.min(70, Math.max(c.length, ...data.map((d) => d[i].length))),
  );
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(width[i])).join(' | ');
  console.log(line(cols));
  console.log(width.map((w) => '-'.repeat(w)).join('-+-'));
  for (const d of data) console.log(line(d));
}

function markdown(
  results: ScenarioResult[],
  args: Args,
  startedAt: Date,
  totalS: number,
  misses: string[],
): string {
  const rows = results.flatMap((r) => r.rows);
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const cpu = os.cpus();
  const nr = results.find((r) => r.nodeRedVersion)?.nodeRedVersion ?? '?';
  const out: string[] = [];
  out.push('# Benchmark results', '');
  out.push(
    `Generated by \`npm run bench${args.quick ? ' -- --quick' : ''}\` (bench/run.ts); do not edit by hand.`,
    '',
  );
  out.push(
    `- date: ${startedAt.toISOString()} (took ${Math.round(totalS)} s)`,
    `- machine: ${cpu[0]?.model ?? '?'}, ${cpu.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GB RAM, ${os.platform()} ${os.release()}`,
    `- Node.js ${process.version}, Node-RED ${nr}`,
    `- mode: ${args.quick ? 'quick' : 'full'}, ${args.runs} runs per compared pair (order alternating, after one warm-up round), medians; simulator: ${args.sim === 'child' ? 'its own process on 127.0.0.1 (like a remote API)' : 'in the benchmark process'}`,
    '',
  );
  out.push('| scenario | ours | baseline | ratio | target | result |', '|---|---|---|---|---|---|');
  for (const r of rows) {
    out.push(
      `| ${[r.scenario, r.ours, r.baseline, ratioText(r), r.target, passText(r)].map(esc).join(' | ')} |`,
    );
  }
  out.push(
    '',
    'ratio: for throughput rows, ours ÷ baseline in events (or devices) per second, as the median of',
    'the per-round ratios (each round runs both side by side); "(cost)" rows: ours ÷ baseline in',
    'time or CPU (lower is cheaper). Times run from the `flows:started` event (or the trigger) to the',
    'last msg counted by the same counting node. Absolute numbers depend on this shared, noisy',
    'machine; compare ratios.',
    '',
    'The 0 ms events target is judged on (c), as designed (ready-made msgs, no HTTP). (c) is bounded',
    'by HTTP, not by the package, so (d) (the same HTTP loop sending the same msgs into Node-RED) is',
    "shown against the same 0.8 as a secondary check of the package's own overhead; it does not",
    'replace the design target.',
    '',
  );
  if (misses.length) out.push('## Missed targets', '', ...misses.map((m) => `- ${m}`), '');
  out.push('## Samples and notes', '');
  for (const r of results) {
    out.push(`### ${r.name}`, '');
    for (const [k, v] of Object.entries(r.samples))
      out.push(`- ${k}: ${v.map((x) => Math.round(x * 100) / 100).join(', ')}`);
    for (const n of r.notes) out.push(`- note: ${n}`);
    out.push('');
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.child) return child(args);
  const startedAt = new Date();
  const t0 = Date.now();
  const results: ScenarioResult[] = [];
  for (const name of args.only) {
    const s = Date.now();
    console.log(`[bench] ${name} ...`);
    try {
      const reps = REPEATED.has(name) && !args.quick ? 3 : 1;
      const runs: ScenarioResult[] = [];
      for (let i = 0; i < reps; i++) runs.push(await runChild(name, args));
      results.push(reps > 1 ? medianRun(runs) : runs[0]);
      console.log(`[bench] ${name} done in ${Math.round((Date.now() - s) / 1000)} s`);
    } catch (err) {
      console.error(`[bench] ${name} failed: ${(err as Error).message}`);
      results.push({
        name,
        rows: [
          {
            scenario: name,
            ours: `error: ${(err as Error).message}`,
            baseline: '',
            ratio: null,
            ratioMeaning: '',
            target: '',
            pass: false,
          },
        ],
        samples: {},
        notes: [],
      });
    }
  }
  console.log('');
  printTable(results.flatMap((r) => r.rows));
  for (const r of results) for (const n of r.notes) console.log(`  ${r.name}: ${n}`);
  const misses = missNotes(results);
  if (misses.length) console.log(`\nmissed targets:\n${misses.map((m) => `- ${m}`).join('\n')}`);
  if (args.write) {
    const file = path.join(REPO, 'bench', 'RESULTS.md');
    fs.writeFileSync(
      file,
      markdown(results, args, startedAt, (Date.now() - t0) / 1000, misses) + '\n',
    );
    console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  }
  // A missed target is a finding to read in the table, not a crash: only an error fails the run.
  if (results.some((r) => r.rows.some((x) => x.ours.startsWith('error:')))) process.exitCode = 1;
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
