// `npm run bench` entry: runs each scenario in its own Node.js process (a fresh embedded
// Node-RED runtime and simulator each), prints the table and writes bench/RESULTS.md.
//
//   node dist/bench/run.js [--quick] [--runs N] [--only events3,events0,events0fn,sync,memory,memorybase,load]
//                          [--sim child|inproc] [--no-write] [--cpu-prof NAME] [--experiment X]
//
// --quick      2 runs, shorter caps (~1-2 min)        --runs N   rounds per compared pair
// --sim        where the simulator runs (default: its own process, like a remote API)
// --cpu-prof   run scenario NAME with `node --cpu-prof` (profile in <tmpdir>/jetstream-bench-profiles/)
// --experiment patch the package in the benchmark processes to measure a proposed fix
//              (see bench/experiments.ts); such a run says so at the top of RESULTS.md
import { fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  eventsScenario,
  loadScenario,
  memoryScenario,
  syncScenario,
  type Options,
  type Row,
  type ScenarioResult,
} from './scenarios';
import { EXPERIMENTS, applyExperiment } from './experiments';
import { REPO, stopRuntime } from './runtime';

const SCENARIOS: Record<string, (o: Options) => Promise<ScenarioResult>> = {
  events3: (o) => eventsScenario(o, { latencyMs: 3 }),
  events0: (o) => eventsScenario(o, { latencyMs: 0 }),
  events0fn: (o) => eventsScenario(o, { latencyMs: 0, viaFunction: true, core: false }),
  sync: syncScenario,
  memory: (o) => memoryScenario(o, 'ours'),
  memorybase: (o) => memoryScenario(o, 'bare'),
  load: loadScenario,
};

interface Args extends Options {
  only: string[];
  child: string | null;
  write: boolean;
  cpuProf: string | null;
  experiments: string[];
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
    experiments: [],
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
    else if (k === '--experiment') a.experiments.push(...v().split(','));
    else throw new Error(`unknown option ${k}`);
  }
  if (a.quick && !runsSet) a.runs = 2;
  for (const s of a.only) if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}`);
  return a;
}

async function child(args: Args): Promise<void> {
  for (const e of args.experiments) applyExperiment(e);
  const result = await SCENARIOS[args.child as string](args);
  await stopRuntime();
  await new Promise<void>((resolve) => process.send!({ result }, () => resolve()));
  process.exit(0);
}

function runChild(name: string, args: Args): Promise<ScenarioResult> {
  const argv = ['--child', name, '--runs', String(args.runs), '--sim', args.sim];
  if (args.quick) argv.push('--quick');
  for (const e of args.experiments) argv.push('--experiment', e);
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

function markdown(results: ScenarioResult[], args: Args, startedAt: Date, totalS: number): string {
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
  for (const e of args.experiments) {
    out.push(
      `**EXPERIMENT \`${e}\` applied (not the package as committed):** ${EXPERIMENTS[e]}`,
      '',
    );
  }
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
  );
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
      const r = await runChild(name, args);
      results.push(r);
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
  if (args.write) {
    const file = path.join(REPO, 'bench', 'RESULTS.md');
    fs.writeFileSync(file, markdown(results, args, startedAt, (Date.now() - t0) / 1000) + '\n');
    console.log(`\nwrote ${path.relative(process.cwd(), file)}`);
  }
  // A missed target is a finding to read in the table, not a crash: only an error fails the run.
  if (results.some((r) => r.rows.some((x) => x.ours.startsWith('error:')))) process.exitCode = 1;
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
