// jetstream-config + jetstream-events in a real Node-RED runtime, against the simulator over HTTP.
import assert from 'node:assert/strict';
import type { Simulator } from '../lib/simulator';
import type { ConfigNode } from '../lib/account';
import type { NodeMessage } from '../lib/red';
import {
  account,
  collect,
  errorCode,
  helper,
  KEY,
  logText,
  sim,
  sleep,
  startHelper,
  statuses,
  stopHelper,
  until,
  allNodes,
} from './support';

function flow(
  s: Simulator,
  listeners: Array<Record<string, unknown>>,
  extra: Record<string, unknown> = {},
) {
  const acct = account(s, 'acct', extra);
  const nodes: Array<Record<string, unknown>> = [
    { id: 'f1', type: 'tab' },
    { ...acct.node, z: 'f1' },
  ];
  for (const l of listeners) {
    const out = `${l.id}-out`;
    nodes.push({
      type: 'jetstream-events',
      z: 'f1',
      account: 'acct',
      interval: 10,
      limit: 100,
      eventTypes: [],
      device: '',
      wires: [[out]],
      ...l,
    });
    nodes.push({ id: out, type: 'helper', z: 'f1' });
  }
  nodes.push(
    { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  );
  return { nodes, creds: acct.creds };
}

const heartbeat = (device: string, i: number) => ({
  Type: 'HeartbeatEvent',
  Device: device,
  ReceivedTime: 'x',
  Seq: i,
});

describe('jetstream-events', function () {
  let s: Simulator;
  beforeEach(async () => {
    s = await sim({ devices: ['Cab-1', 'Cab-2'] });
    await startHelper();
  });
  afterEach(async () => {
    await stopHelper();
    await s.close();
  });

  it('delivers every event once, in order, with payload/topic/device/eventId, and empties the queue', async () => {
    for (let i = 0; i < 250; i++) s.publish(heartbeat('Cab-1', i));
    s.publish({ Type: 'DeviceRemovedEvent', Id: 7 }); // no Device: msg.device stays unset
    const f = flow(s, [{ id: 'ev', limit: 100 }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const got = collect('ev-out');
    await until(() => got.length === 251, 10_000, '251 events');
    await until(() => s.queueLength() === 0, 5000, 'queue emptied');
    assert.deepEqual(
      got.slice(0, 250).map((m) => (m.payload as { Seq: number }).Seq),
      Array.from({ length: 250 }, (_, i) => i),
    );
    const first = got[0];
    const ev = first.payload as Record<string, unknown>;
    assert.equal(first.topic, 'HeartbeatEvent');
    assert.equal(first.device, 'Cab-1');
    assert.equal(first.eventId, ev.EventId);
    assert.equal(ev.ReceivedTime, 'x', 'the event is passed as received');
    assert.equal(got[250].topic, 'DeviceRemovedEvent');
    assert.equal('device' in got[250], false);
    assert.equal(new Set(got.map((m) => m.eventId)).size, 251);
    await sleep(100);
    assert.equal(got.length, 251, 'nothing more arrives');
  });

  it('sorts each batch by EventTime (stable) and skips EventIds already emitted', async () => {
    s.publish({
      Type: 'HeartbeatEvent',
      Device: 'Cab-1',
      EventTime: '2026-01-01T00:00:03Z',
      EventId: 'c',
    });
    s.publish({
      Type: 'HeartbeatEvent',
      Device: 'Cab-1',
      EventTime: '2026-01-01T00:00:01Z',
      EventId: 'a',
    });
    s.publish({
      Type: 'HeartbeatEvent',
      Device: 'Cab-1',
      EventTime: '2026-01-01T00:00:03Z',
      EventId: 'd',
    });
    s.publish({
      Type: 'HeartbeatEvent',
      Device: 'Cab-1',
      EventTime: '2026-01-01T00:00:02Z',
      EventId: 'b',
    });
    // The same EventId again (Jetstream does not promise uniqueness).
    s.publish({
      Type: 'HeartbeatEvent',
      Device: 'Cab-1',
      EventTime: '2026-01-01T00:00:00Z',
      EventId: 'a',
    });
    const f = flow(s, [{ id: 'ev' }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const got = collect('ev-out');
    await until(() => s.queueLength() === 0, 5000, 'queue emptied');
    await sleep(50);
    assert.deepEqual(
      got.map((m) => m.eventId),
      ['a', 'b', 'c', 'd'],
    );
  });

  it('drains 2,500 queued events at once, without waiting for the interval', async () => {
    s.publishMany(2500, (i) => heartbeat('Cab-1', i));
    const f = flow(s, [{ id: 'ev', interval: 3600, limit: 512 }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const got = collect('ev-out');
    await until(
      () => got.length === 2500,
      10_000,
      '2500 events (interval is an hour: only drain can do it)',
    );
    await until(() => s.queueLength() === 0, 2000, 'last batch deleted');
    const gets = s.log.filter((r) => r.method === 'GET').length;
    assert.equal(gets, 5, '5 full-or-last batches of 512, then the interval');
  });

  it('two listeners with different filters share one account: each event fetched once, each gets what matches', async () => {
    for (let i = 0; i < 40; i++) {
      s.publish(heartbeat(i % 2 ? 'Cab-1' : 'Cab-2', i));
      s.publish({ Type: 'ObjectEvent', Device: 'Cab-1', Observe: [`E${i}`] });
    }
    const f = flow(s, [
      { id: 'all', eventTypes: [], limit: 512 },
      { id: 'hb1', eventTypes: ['HeartbeatEvent'], device: 'Cab-1' },
    ]);
    await helper.load(allNodes, f.nodes, f.creds);
    const all = collect('all-out');
    const hb1 = collect('hb1-out');
    await until(() => all.length === 80 && hb1.length === 20, 5000, 'both listeners');
    await until(() => s.queueLength() === 0, 5000, 'batch deleted');
    const acct = helper.getNode('acct') as ConfigNode;
    assert.equal(acct.hub.loopCount, 1, 'the all-types loop covers the narrower filter');
    const gets = s.log.filter((r) => r.method === 'GET');
    assert.ok(
      gets.every((r) => !r.query.type && !r.query.device),
      'no narrower loop runs',
    );
    assert.equal(s.log.filter((r) => r.method === 'DELETE').length, 1, 'one batch, deleted once');
    assert.ok(hb1.every((m) => m.topic === 'HeartbeatEvent' && m.device === 'Cab-1'));
    // Each node got its own copy of shared events.
    assert.notEqual(hb1[0].payload, all.find((m) => m.eventId === hb1[0].eventId)?.payload);
  });

  it('disjoint filters run one server-side filtered loop each and deliver exactly the matches', async () => {
    for (let i = 0; i < 30; i++) {
      s.publish(heartbeat('Cab-1', i));
      s.publish({ Type: 'ObjectEvent', Device: 'Cab-2', Observe: [] });
      s.publish({ Type: 'AggregateEvent', Device: 'Cab-2', Adds: [], Removes: [] });
    }
    const f = flow(s, [
      { id: 'obj', eventTypes: ['ObjectEvent', 'AggregateEvent'] },
      { id: 'hb', eventTypes: ['HeartbeatEvent'] },
    ]);
    await helper.load(allNodes, f.nodes, f.creds);
    const obj = collect('obj-out');
    const hb = collect('hb-out');
    await until(() => obj.length === 60 && hb.length === 30, 5000, 'filtered events');
    await until(() => s.queueLength() === 0, 5000, 'queue emptied');
    assert.ok(obj.every((m) => m.topic === 'ObjectEvent' || m.topic === 'AggregateEvent'));
    assert.ok(hb.every((m) => m.topic === 'HeartbeatEvent'));
    const types = new Set(s.log.filter((r) => r.method === 'GET').map((r) => r.query.type));
    assert.deepEqual([...types].sort(), ['AggregateEvent', 'HeartbeatEvent', 'ObjectEvent']);
  });

  it('ten redeploys during a stream lose nothing and duplicate nothing; no request after the last listener goes', async () => {
    const f = flow(s, [{ id: 'ev', interval: 1, limit: 50 }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const seen: string[] = [];
    const hooked = new WeakSet<object>();
    const hook = () => {
      // A full deploy recreates the helper node; a 'nodes' deploy keeps it.
      const out = helper.getNode('ev-out');
      if (hooked.has(out)) return;
      hooked.add(out);
      out.on('input', (msg: NodeMessage) => seen.push(String(msg.eventId)));
    };
    hook();
    let published = 0;
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 100; i++) s.publish(heartbeat('Cab-1', published++));
      await sleep(30);
      // Alternate a listener-only redeploy with a full one (config node restarted too).
      const nodes = f.nodes.map((n) => (n.id === 'ev' ? { ...n, name: `round ${round}` } : n));
      await helper.setFlows(nodes, round % 2 ? 'full' : 'nodes', f.creds);
      hook();
    }
    await until(
      () => s.queueLength() === 0 && seen.length >= published,
      15_000,
      'all events after redeploys',
    );
    await sleep(200);
    assert.equal(seen.length, published, 'none emitted twice');
    assert.equal(new Set(seen).size, published, 'none lost');
    // Remove the listener: polling stops.
    await helper.setFlows(
      f.nodes.filter((n) => n.id !== 'ev'),
      'full',
      f.creds,
    );
    const before = s.log.length;
    await sleep(1500);
    assert.equal(s.log.length, before, 'no request after the last listener left');
  });

  it('loses nothing under 5xx, resets, failed deletes and 429 with Retry-After', async () => {
    s.publishMany(600, (i) => heartbeat('Cab-1', i));
    s.setFaults({
      errorRate: 0.2,
      resetRate: 0.1,
      deleteFailRate: 0.2,
      rateLimitRate: 0.1,
      retryAfter: '0',
    });
    const f = flow(s, [{ id: 'ev', interval: 1, limit: 100 }], { retries: 5 });
    await helper.load(allNodes, f.nodes, f.creds);
    const acct = helper.getNode('acct') as ConfigNode;
    (acct.hub.options as { backoffBaseMs: number }).backoffBaseMs = 20;
    const got = collect('ev-out');
    await until(() => s.queueLength() === 0, 30_000, 'queue drained under faults');
    await sleep(100);
    assert.equal(got.length, 600);
    assert.equal(new Set(got.map((m) => m.eventId)).size, 600);
    assert.ok(s.stats().faults > 0, 'faults were injected');
  });

  it('a wrong key: red status, one catchable error, and no request storm', async () => {
    const f = flow(s, [{ id: 'ev', interval: 1 }]);
    f.creds.acct.accessKey = 'not-the-key';
    await helper.load(allNodes, f.nodes, f.creds);
    const caught = collect('caught');
    await until(() => caught.length === 1, 5000, 'error reaches Catch');
    assert.equal(errorCode(caught[0]), 'JETSTREAM_UNAUTHORIZED');
    await sleep(2500);
    assert.equal(s.log.length, 1, 'one request, then a minute of quiet');
    assert.equal(caught.length, 1, 'reported once per outage');
    assert.deepEqual(statuses('ev').at(-1), {
      fill: 'red',
      shape: 'ring',
      text: 'access key refused',
    });
    assert.ok(!JSON.stringify(caught).includes('not-the-key'));
  });

  it('a missing key or a plain-http remote URL: red status, catchable error, zero requests', async () => {
    const f = flow(s, [{ id: 'ev' }], { url: 'http://jetstream.example.com' });
    await helper.load(allNodes, f.nodes, f.creds);
    const caught = collect('caught');
    await until(() => caught.length === 1, 5000, 'config error reaches Catch');
    assert.equal(errorCode(caught[0]), 'JETSTREAM_INVALID_INPUT');
    assert.match(String((caught[0].error as { message: string }).message), /unencrypted/);
    assert.equal(statuses('ev').at(-1)?.fill, 'red');

    await helper.unload();
    const g = flow(s, [{ id: 'ev' }]);
    await helper.load(allNodes, g.nodes, { acct: {} });
    const caught2 = collect('caught');
    await until(() => caught2.length === 1, 5000, 'missing key reaches Catch');
    assert.match(String((caught2[0].error as { message: string }).message), /No access key/);
    await sleep(200);
    assert.equal(s.log.length, 0, 'no request was made');
  });

  it('refuses invalid settings at run time with no request (limit 0 / 9999, interval 0, unknown account)', async () => {
    const f = flow(s, [
      { id: 'l0', limit: 0 },
      { id: 'l9', limit: 9999 },
      { id: 'i0', interval: 0 },
      { id: 'na', account: 'missing' },
    ]);
    await helper.load(allNodes, f.nodes, f.creds);
    const caught = collect('caught');
    await until(() => caught.length === 4, 5000, 'four errors');
    for (const id of ['l0', 'l9', 'i0', 'na']) {
      assert.equal(statuses(id).at(-1)?.fill, 'red', id);
    }
    assert.ok(caught.every((m) => errorCode(m) === 'JETSTREAM_INVALID_INPUT'));
    await sleep(100);
    assert.equal(s.log.length, 0);
  });

  it('shows the last event time and count, yellow while retrying; the key is in no msg, status or log', async () => {
    s.setFaults({ errorRate: 1 });
    const f = flow(s, [{ id: 'ev', interval: 1 }], { retries: 0 });
    await helper.load(allNodes, f.nodes, f.creds);
    await until(
      () => statuses('ev').some((st) => /retrying in \d+s/.test(st.text ?? '')),
      5000,
      'retrying status',
    );
    assert.equal(statuses('ev').find((st) => /retrying/.test(st.text ?? ''))?.fill, 'yellow');
    s.setFaults({});
    s.publish(heartbeat('Cab-1', 1));
    const got = collect('ev-out');
    await until(() => got.length === 1, 5000, 'event after recovery');
    await until(
      () => /1 events, last \d\d:\d\d:\d\d/.test(statuses('ev').at(-1)?.text ?? ''),
      3000,
      'count status',
    );
    const everything =
      JSON.stringify({ got, st: statuses('ev'), caught: collect('caught') }) + logText();
    assert.ok(!everything.includes(KEY), 'the access key leaked');
  });

  // (Timers left behind by the package are tracked in the reliability soak.)
  it('uses the handler arities Node-RED relies on; close is quick, stops the poller, and no poll follows', async () => {
    s.publish(heartbeat('Cab-1', 1));
    const f = flow(s, [{ id: 'ev', interval: 1 }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const got = collect('ev-out');
    for (const id of ['ev', 'acct']) {
      const closers = helper.getNode(id)._closeCallbacks as Array<(...a: unknown[]) => void>;
      assert.ok(
        closers.length > 0 && closers.every((fn) => fn.length === 2),
        `${id}: close(removed, done)`,
      );
    }
    const acct = helper.getNode('acct') as ConfigNode;
    await until(() => got.length === 1 && s.queueLength() === 0, 5000, 'delivered and deleted');
    const t0 = Date.now();
    await helper.unload();
    assert.ok(Date.now() - t0 < 1000, 'close is quick');
    assert.equal(acct.hub.loopCount, 0);
    const before = s.log.length;
    await sleep(1200);
    assert.equal(s.log.length, before, 'no poll after close');
  });
});
