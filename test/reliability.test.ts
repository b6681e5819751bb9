// Reliability under faults: a soak of the listeners through redeploys and a stop/start of the
// flows, and syncs under the same faults. Real runtime, real HTTP, the simulator injecting faults.
import assert from 'node:assert/strict';
import async_hooks from 'node:async_hooks';
import path from 'node:path';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Simulator } from '../lib/simulator';
import type { NodeMessage } from '../lib/red';
import {
  account,
  allNodes,
  errorCode,
  helper,
  sim,
  sleep,
  startHelper,
  stopHelper,
  until,
} from './support';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapMb = () => {
  // The test helper's sinon spies keep every msg and status a node ever sent: forget them.
  helper._sandbox.resetHistory();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
};
/** Timers created by this package's code that are still pending (fired or cleared ones go). */
function trackOurTimers(): { pending(): string[]; stop(): void } {
  const ours = `${path.sep}dist${path.sep}`;
  const live = new Map<number, string>();
  const hook = async_hooks.createHook({
    init(id, type) {
      if (type !== 'Timeout' && type !== 'Immediate') return;
      const stack = new Error().stack ?? '';
      // The package's own frames: not the tests', not the simulator's (it plays Jetstream).
      const frame = stack
        .split('\n')
        .find((l) => l.includes(ours) && !l.includes(`${ours}test`) && !l.includes('simulator'));
      if (frame) live.set(id, frame.trim());
    },
    destroy(id) {
      live.delete(id);
    },
  });
  hook.enable();
  return { pending: () => [...live.values()], stop: () => hook.disable() };
}
const socketsTo = (port: number) =>
  (process as unknown as { _getActiveHandles(): unknown[] })
    ._getActiveHandles()
    .filter((h) => h instanceof net.Socket && (h as net.Socket).remotePort === port).length;

const FAULTS = {
  errorRate: 0.3,
  resetRate: 0.1,
  deleteFailRate: 0.2,
  latencyMs: [0, 3] as [number, number],
  rateLimitRate: 0.03,
  retryAfter: '1',
};

describe('reliability under faults', function () {
  this.timeout(240_000);
  let s: Simulator;

  beforeEach(async () => {
    s = await sim({ devices: Array.from({ length: 50 }, (_, i) => `Cab-${i}`) });
    // Short backoff steps keep the soak quick; the logic is the same as with the 1 s default.
    helper.settings({ jetstreamConfigBackoffMs: 20 });
    await startHelper();
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    await s.close();
  });

  it('soak: 20,000 events, ten redeploys and a stop/start of the flows: none lost, none twice, nothing left behind, memory flat', async () => {
    const timers = trackOurTimers();
    const acct = account(s, 'acct', { retries: 4 });
    const nodes: Array<Record<string, unknown>> = [
      { id: 'f1', type: 'tab' },
      { ...acct.node, z: 'f1' },
      {
        id: 'all',
        type: 'jetstream-events',
        z: 'f1',
        account: 'acct',
        eventTypes: [],
        interval: 1,
        limit: 100,
        wires: [['allOut']],
      },
      { id: 'allOut', type: 'helper', z: 'f1' },
      {
        id: 'hb',
        type: 'jetstream-events',
        z: 'f1',
        account: 'acct',
        eventTypes: ['HeartbeatEvent'],
        device: 'Cab-1',
        interval: 1,
        limit: 100,
        wires: [['hbOut']],
      },
      { id: 'hbOut', type: 'helper', z: 'f1' },
    ];
    const all = new Map<string, number>();
    const hb = new Map<string, number>();
    // Count at the runtime's message hook: it sees every delivery, across redeploys and restarts
    // (a listener on a helper node would miss msgs sent before it was re-attached).
    helper._RED.hooks.add(
      'onReceive.soak',
      (evt: { msg: NodeMessage; destination: { id: string } }) => {
        const seen =
          evt.destination.id === 'allOut' ? all : evt.destination.id === 'hbOut' ? hb : null;
        seen?.set(String(evt.msg.eventId), (seen.get(String(evt.msg.eventId)) ?? 0) + 1);
      },
    );
    const sentIds = new Set<string>();
    helper._RED.hooks.add(
      'onSend.soak',
      (evts: Array<{ msg: NodeMessage; source: { id: string } }>) => {
        for (const e of evts) if (e.source.id === 'all') sentIds.add(String(e.msg.eventId));
      },
    );
    await helper.load(allNodes, nodes, acct.creds);
    s.setFaults(FAULTS);

    const TOTAL = Number(process.env.SOAK_EVENTS ?? 20_000);
    let published = 0;
    let expectedHb = 0;
    let heapMid = 0;
    for (let round = 0; round < 10; round++) {
      s.publishMany(TOTAL / 10, (i) => {
        const device = `Cab-${(published + i) % 50}`;
        if (device === 'Cab-1') expectedHb++;
        return { Type: 'HeartbeatEvent', Device: device, ReceivedTime: 'now' };
      });
      published += TOTAL / 10;
      await sleep(300);
      const changed = nodes.map((n) => (n.id === 'all' ? { ...n, name: `round ${round}` } : n));
      await helper.setFlows(changed, round % 2 ? 'full' : 'nodes', acct.creds);
      if (round === 5) {
        await helper._redNodes.stopFlows();
        await sleep(200);
        await helper._redNodes.startFlows();
        heapMid = heapMb();
      }
    }
    await until(
      () => s.queueLength() === 0 && all.size === TOTAL,
      Number(process.env.SOAK_MS ?? 180_000),
      'every event delivered',
    ).catch((err) => {
      const acctNode = helper.getNode('acct');
      console.log({
        queue: s.queueLength(),
        all: all.size,
        loops: acctNode?.hub.loopCount,
        sent: sentIds.size,
      });
      throw err;
    });
    await until(() => hb.size === expectedHb, 10_000, 'the filtered listener got its share');
    await sleep(300);
    assert.equal(all.size, TOTAL, 'none lost');
    assert.ok(
      [...all.values()].every((n) => n === 1),
      'none emitted twice',
    );
    assert.ok(
      [...hb.values()].every((n) => n === 1),
      'none emitted twice to the filtered listener',
    );
    assert.ok(s.stats().faults > TOTAL / 100, `faults were injected (${s.stats().faults})`);
    const heapEnd = heapMb();
    assert.ok(
      heapEnd - heapMid < 30,
      `heap flat: ${heapMid.toFixed(1)} MB mid-run, ${heapEnd.toFixed(1)} MB at the end`,
    );

    s.setFaults({});
    helper._RED.hooks.remove('*.soak');
    await helper.unload();
    await sleep(100);
    assert.equal(socketsTo(s.port), 0, 'no socket to Jetstream left open');
    timers.stop();
    assert.deepEqual(timers.pending(), [], 'no timer of the package left behind');
  });

  it('500 syncs under the same faults: every msg ends in exactly one output or one Catch', async () => {
    const acct = account(s, 'acct', { retries: 3 });
    await helper.load(
      allNodes,
      [
        { id: 'f1', type: 'tab' },
        { ...acct.node, z: 'f1' },
        {
          id: 'syncer',
          type: 'jetstream-sync-credentials',
          z: 'f1',
          account: 'acct',
          device: 'device',
          deviceType: 'msg',
          action: 'sync',
          wires: [['out']],
        },
        { id: 'out', type: 'helper', z: 'f1' },
        { id: 'catcher', type: 'catch', z: 'f1', scope: ['syncer'], wires: [['caught']] },
        { id: 'caught', type: 'helper', z: 'f1' },
      ],
      acct.creds,
    );
    const ends = new Map<number, string[]>();
    const end = (how: string) => (msg: NodeMessage) => {
      const n = msg.n as number;
      ends.set(n, [...(ends.get(n) ?? []), how === 'catch' ? `catch:${errorCode(msg)}` : how]);
    };
    helper.getNode('out').on('input', end('out'));
    helper.getNode('caught').on('input', end('catch'));
    s.setFaults(FAULTS);
    const sync = helper.getNode('syncer');
    for (let n = 0; n < 500; n++) sync.receive({ n, device: `Cab-${n % 50}` });
    await until(() => ends.size === 500, 120_000, 'every msg to end somewhere');
    await sleep(500);
    const multiple = [...ends.entries()].filter(([, e]) => e.length !== 1);
    assert.deepEqual(multiple, [], 'each msg ended exactly once');
    const outcomes = [...ends.values()].map((e) => e[0]);
    const ok = outcomes.filter((o) => o === 'out').length;
    assert.ok(ok > 400, `most syncs succeed through retries (${ok}/500)`);
    for (const o of outcomes) {
      assert.ok(
        o === 'out' || /^catch:JETSTREAM_(SERVER_ERROR|NETWORK|RATE_LIMITED)$/.test(o),
        `an unexpected outcome: ${o}`,
      );
    }
  });
});
