// "After a hard kill (SIGKILL) of the runtime, no event is lost and the duplicates are only those
// of the batch in flight": a real Node-RED child process (test/e2e/nodered.ts) drains the
// simulator's queue through a jetstream-events node, is killed mid-drain, and a new process on
// the same user dir (same flows and credentials) finishes the job.
//
// What the node emitted is recorded twice:
// - a journal: a function node appends each msg.eventId to a file with fs.appendFileSync, which
//   runs synchronously when the msg arrives (before the hub's DELETE of its batch: the hub lets
//   Node-RED hand the batch on first). The write is in the kernel the moment it returns, so a
//   SIGKILL cannot lose it: this measures exactly what the node's contract promises.
// - the loopback collector (collectorNodes: function + http request): end to end, as a user's
//   flow would forward the events.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator } from '../lib/simulator';
import {
  collectorNodes,
  startCollector,
  startNodeRed,
  type Collector,
  type FlowNode,
  type NodeRed,
} from './e2e/nodered';

const KEY = randomUUID();
const TOTAL = 5000;
const LIMIT = 100;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The event ids in the journal file, in order (a missing file is an empty journal). */
function readJournal(file: string): string[] {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((l) => l !== '');
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** How many ids occur more than once, counting each extra occurrence. */
function duplicates(ids: string[]): number {
  return ids.length - new Set(ids).size;
}

async function exited(red: NodeRed): Promise<void> {
  const p = red.proc;
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => p.once('exit', () => resolve()));
}

describe('hard kill: a real Node-RED killed mid-drain loses no event', function () {
  this.timeout(60_000);
  let sim: Simulator;
  let col: Collector;
  let dir: string;
  const procs: NodeRed[] = [];

  before(async () => {
    sim = await startSimulator({ accessKey: KEY });
    col = await startCollector();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-hardkill-'));
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      for (const red of procs) {
        console.log(`--- Node-RED ${red.port} output (last 3000 chars) ---`);
        console.log(red.output().slice(-3000));
      }
    }
  });

  after(async function () {
    this.timeout(20_000);
    for (const red of procs) red.kill();
    await Promise.all(procs.map(exited));
    await col?.close();
    await sim?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function start(userDir: string): Promise<NodeRed> {
    const red = await startNodeRed({
      userDir,
      logLevel: 'warn',
      // the journal's function node loads the built-in fs module
      settings: { functionExternalModules: true },
    });
    procs.push(red);
    return red;
  }

  /** tab -> jetstream-events -> journal + collector; the account points at the simulator. */
  function theFlow(tag: string, journal: string): FlowNode[] {
    const z = `hk-tab-${tag}`;
    const ev: FlowNode = {
      id: `hk-ev-${tag}`,
      type: 'jetstream-events',
      z,
      name: '',
      account: `hk-acct-${tag}`,
      eventTypes: [],
      device: '',
      interval: 1,
      limit: LIMIT,
      wires: [[`hk-journal-${tag}`]],
    };
    return [
      { id: z, type: 'tab', label: `hard kill ${tag}`, disabled: false, info: '' },
      {
        id: `hk-acct-${tag}`,
        type: 'jetstream-config',
        name: 'sim',
        url: sim.url,
        timeout: 5000,
        retries: 3,
        credentials: { accessKey: KEY },
      },
      ev,
      {
        id: `hk-journal-${tag}`,
        type: 'function',
        z,
        name: 'journal',
        func: `fs.appendFileSync(${JSON.stringify(journal)}, msg.eventId + '\\n');\nreturn null;`,
        outputs: 1,
        timeout: 0,
        noerr: 0,
        initialize: '',
        finalize: '',
        libs: [{ var: 'fs', module: 'fs' }],
        wires: [[]],
      },
      ...collectorNodes(col, { z, label: tag, from: ev }),
    ];
  }

  /**
   * Publishes TOTAL events, deploys, and once at least 1,000 reached the journal and a batch is
   * delivered but not yet deleted, ends the process with `signal`; then starts a new process on
   * the same user dir and waits for the queue to drain. Returns the published ids, the journal
   * and the collected ids.
   */
  async function run(tag: string, signal: 'SIGKILL' | 'SIGTERM') {
    sim.clearEvents();
    sim.clearLog();
    // Round trips of a few ms (closer to a cloud API) keep the drain going for a few seconds.
    sim.setFaults({ latencyMs: 15, match: '/3/events' });
    const published = new Set<string>();
    sim.publishMany(TOTAL, (i) => ({ Type: 'HeartbeatEvent', Device: `Cab-${i % 7}`, Seq: i }));
    for (const e of sim.queuedEvents()) published.add(e.EventId);
    assert.equal(published.size, TOTAL);

    const userDir = path.join(dir, tag);
    const journal = path.join(dir, `${tag}.journal`);
    const first = await start(userDir);
    await first.deploy(theFlow(tag, journal));
    // Wait until at least 1,000 were emitted.
    const emitted = () => new Set(readJournal(journal)).size;
    const deleted = () => TOTAL - sim.queueLength();
    await until(() => emitted() >= 1000, 20_000, '1,000 events emitted');
    if (signal === 'SIGKILL') {
      // Make the next DELETE fail (the client retries it for a few seconds), so that the kill
      // lands on a batch handed on to the flow but not deleted: the batch in flight. Without
      // this the DELETE reaches the server within a millisecond of the hand-over and a kill
      // essentially never finds a batch in flight.
      const logged = sim.log.length;
      sim.setFaults({ latencyMs: 15, match: '/3/events', deleteFailRate: 1 });
      await until(
        () => sim.log.slice(logged).some((r) => r.method === 'DELETE' && r.status === 500),
        10_000,
        'a DELETE refused',
      );
      first.kill();
      await exited(first);
      sim.setFaults({ latencyMs: 15, match: '/3/events' });
    } else {
      const res = await first.stop('SIGTERM', 10_000);
      assert.equal(res.signal, null, 'Node-RED stopped by itself on SIGTERM (not SIGKILLed)');
    }
    const inFlight = emitted() - deleted();
    assert.ok(fs.existsSync(path.join(userDir, 'flows.json')), 'the user dir is kept');
    const atStop = readJournal(journal).length;
    const left = sim.queueLength();
    assert.ok(left > 0 && left < TOTAL, `the process ended mid-drain (${left} left)`);

    const second = await start(userDir);
    await until(() => sim.queueLength() === 0, 30_000, 'the queue drained by the new process');
    // The last batch's msgs were handed on before its DELETE; the collector POSTs may trail.
    await until(
      () => new Set(col.of(tag).map((r) => r.msg.eventId as string)).size >= published.size,
      5_000,
      'the collector',
    ).catch(() => undefined);
    await sleep(200);
    await second.stop('SIGTERM', 10_000);
    return {
      published,
      journal: readJournal(journal),
      collected: col.of(tag).map((r) => r.msg.eventId as string),
      atStop,
      inFlight,
    };
  }

  /** Ids published but never collected (end to end, through the http request node). */
  const lostAt = (r: { published: Set<string>; collected: string[] }) => {
    const got = new Set(r.collected);
    return [...r.published].filter((id) => !got.has(id));
  };

  it('SIGKILL with a batch in flight, then a new process on the same user dir: every event emitted, duplicates only from that batch', async () => {
    const r = await run('kill', 'SIGKILL');
    const seen = new Set(r.journal);
    const missing = [...r.published].filter((id) => !seen.has(id));
    const dups = duplicates(r.journal);
    console.log(
      `      (killed after ${r.atStop} emitted, ${r.inFlight} of them not deleted; journal: ` +
        `${r.journal.length} msgs, ${dups} duplicates; collector: ${new Set(r.collected).size}` +
        ` distinct of ${r.collected.length})`,
    );
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} events never emitted`);
    assert.ok(
      r.journal.every((id) => r.published.has(id)),
      'only published events',
    );
    assert.ok(r.inFlight > 0 && r.inFlight <= LIMIT, `a batch was in flight (${r.inFlight})`);
    // The duplicates are exactly the batch in flight: the last one emitted before the kill.
    const firstRun = r.journal.slice(0, r.atStop);
    const lastBatch = new Set(firstRun.slice(-r.inFlight));
    const repeated = new Set(r.journal.slice(r.atStop).filter((id) => firstRun.includes(id)));
    assert.ok(dups <= LIMIT, `${dups} duplicates: more than one batch of ${LIMIT}`);
    assert.equal(dups, r.inFlight, 'every event of the batch in flight came again, once');
    assert.equal(repeated.size, dups);
    assert.ok(
      [...repeated].every((id) => lastBatch.has(id)),
      'the repeated events are those of the batch in flight',
    );
    // End to end (function + http request to the collector): the batch in flight was not
    // deleted, so it came again; and the one before it had long reached the collector.
    const lost = lostAt(r);
    assert.deepEqual(lost.slice(0, 5), [], `${lost.length} events never reached the collector`);
    assert.ok(
      duplicates(r.collected) <= LIMIT,
      `${duplicates(r.collected)} duplicates at the collector`,
    );
  });

  it('SIGTERM (graceful stop) mid-drain, then a new process: every event emitted exactly once', async () => {
    const r = await run('term', 'SIGTERM');
    const seen = new Set(r.journal);
    const missing = [...r.published].filter((id) => !seen.has(id));
    const lost = lostAt(r);
    console.log(
      `      (stopped after ${r.atStop} emitted, ${r.inFlight} of them not deleted; journal: ` +
        `${r.journal.length} msgs, ${duplicates(r.journal)} duplicates; collector: ` +
        `${new Set(r.collected).size} distinct of ${r.collected.length}, ${lost.length} lost)`,
    );
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} events never emitted`);
    assert.equal(r.inFlight, 0, 'the stop let the delete of the delivered batch finish');
    assert.equal(duplicates(r.journal), 0, 'no event emitted twice across a graceful restart');
    assert.equal(r.journal.length, TOTAL);
    assert.equal(duplicates(r.collected), 0, 'no duplicate at the collector either');
    // Known limit, outside this package: msgs still travelling through asynchronous nodes
    // downstream (here the http request POSTs of the last batch handed on) when the runtime
    // stops are dropped by Node-RED; their batch was already deleted. At most that batch.
    const lastBatch = new Set(r.journal.slice(0, r.atStop).slice(-LIMIT));
    assert.ok(
      lost.every((id) => lastBatch.has(id)),
      `${lost.length} events lost downstream, not all from the last batch before the stop`,
    );
  });
});
