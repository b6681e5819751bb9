// jetstream-sync-credentials in a real Node-RED runtime, against the simulator over HTTP.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import axios from 'axios';
import type { Simulator } from '../lib/simulator';
import type { ConfigNode } from '../lib/account';
import type { NodeMessage } from '../lib/red';
import {
  account,
  allNodes,
  collect,
  configNode,
  helper,
  KEY,
  logText,
  sim,
  sleep,
  startHelper,
  statuses,
  stopHelper,
  until,
  errorCode,
} from './support';

type Flow = Array<Record<string, unknown>>;
type Caught = NodeMessage & { error: { code?: string; message: string } };

// Node ids must differ from every property value ('sync', 'msg', 'str', 'env', 'catch'...): the
// runtime takes a property equal to a node id for a config-node reference.
/** A tab with the account, the given sync nodes (each wired to `<id>-out` / `<id>-done`), a Catch. */
function flow(
  s: Pick<Simulator, 'url' | 'accessKey'>,
  syncs: Array<Record<string, unknown>>,
  acctExtra: Record<string, unknown> = {},
  extra: Flow = [],
) {
  const acct = account(s as Simulator, 'acct', acctExtra);
  const nodes: Flow = [
    { id: 'f1', type: 'tab' },
    { ...acct.node, z: 'f1' },
  ];
  for (const def of syncs) {
    const id = String(def.id);
    const wait = def.waitForCompletion === true;
    nodes.push({
      type: 'jetstream-sync-credentials',
      z: 'f1',
      name: '',
      account: 'acct',
      device: 'device',
      deviceType: 'msg',
      action: 'sync',
      waitForCompletion: false,
      completionTimeout: 3600,
      outputs: wait ? 2 : 1,
      wires: wait ? [[`${id}-out`], [`${id}-done`]] : [[`${id}-out`]],
      ...def,
    });
    nodes.push({ id: `${id}-out`, type: 'helper', z: 'f1' });
    nodes.push({ id: `${id}-done`, type: 'helper', z: 'f1' });
  }
  nodes.push(
    { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
    ...extra,
  );
  return { nodes, creds: acct.creds };
}

/** Every runtime log line with error messages and stacks spelled out (JSON drops them). */
function fullLog(): string {
  return helper
    .log()
    .args.map((a: Array<{ msg?: unknown }>) => {
      const m = a[0]?.msg;
      const extra = m instanceof Error ? ` ${m.message} ${m.stack}` : '';
      return JSON.stringify(a[0]) + extra;
    })
    .join('\n');
}

// msg.error.code on Node-RED 4+, the message's first word on 3.x (see support.ts).
const code = (m: NodeMessage) => errorCode(m);
const text = (m: NodeMessage) => (m as Caught).error.message;
const posts = (s: Simulator) => s.log.filter((r) => r.method === 'POST');

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe('jetstream-sync-credentials', function () {
  let s: Simulator;
  beforeEach(async () => {
    s = await sim({
      devices: [
        'Cab-1',
        'Cab-2',
        { name: 'Off-1', online: false },
        { name: 'Off-2', online: false },
      ],
    });
    await startHelper();
  });
  afterEach(async () => {
    await stopHelper();
    await s.close();
  });

  describe('the device typedInput', () => {
    it('reads the device from str, msg (default msg.device), flow, global, env and jsonata', async () => {
      process.env.JETSTREAM_TEST_DEVICE = 'Off-1';
      try {
        const f = flow(s, [
          { id: 'jsStr', deviceType: 'str', device: 'Cab-1' },
          { id: 'jsMsg' },
          { id: 'fl', deviceType: 'flow', device: 'dev' },
          { id: 'gl', deviceType: 'global', device: 'gdev' },
          { id: 'jsEnv', deviceType: 'env', device: 'JETSTREAM_TEST_DEVICE' },
          { id: 'jn', deviceType: 'jsonata', device: "'Cab-' & payload" },
        ]);
        // The msg node as an old flow may hold it: no device/deviceType at all.
        const msgNode = f.nodes.find((n) => n.id === 'jsMsg')!;
        delete msgNode.device;
        delete msgNode.deviceType;
        await helper.load(allNodes, f.nodes, f.creds);
        helper.getNode('fl').context().flow.set('dev', 'Cab-2');
        helper.getNode('gl').context().global.set('gdev', 'Off-2');
        const outs = Object.fromEntries(
          ['jsStr', 'jsMsg', 'fl', 'gl', 'jsEnv', 'jn'].map((id) => [id, collect(`${id}-out`)]),
        );
        const caught = collect('caught');
        helper.getNode('jsStr').receive({ payload: 'x', device: 'ignored' });
        helper.getNode('jsMsg').receive({ payload: 'x', device: 'Cab-2' });
        helper.getNode('fl').receive({ payload: 'x' });
        helper.getNode('gl').receive({ payload: 'x' });
        helper.getNode('jsEnv').receive({ payload: 'x' });
        helper.getNode('jn').receive({ payload: '1' });
        await until(() => Object.values(outs).every((o) => o.length === 1), 5000, 'six outputs');
        assert.equal(caught.length, 0);
        const expected: Record<string, string> = {
          jsStr: 'Cab-1',
          jsMsg: 'Cab-2',
          fl: 'Cab-2',
          gl: 'Off-2',
          jsEnv: 'Off-1',
          jn: 'Cab-1',
        };
        for (const [id, device] of Object.entries(expected)) {
          assert.equal(outs[id][0].device, device, id);
        }
        assert.deepEqual(
          posts(s)
            .map((r) => r.path)
            .sort(),
          Object.values(expected)
            .map((d) => `/3/devices/${d}/credentials/sync`)
            .sort(),
        );
      } finally {
        delete process.env.JETSTREAM_TEST_DEVICE;
      }
    });

    it('a missing msg.device or a JSONata result that is not a name is refused with no request', async () => {
      const f = flow(s, [
        { id: 'jsMsg' },
        { id: 'jn', deviceType: 'jsonata', device: 'payload.n' },
      ]);
      await helper.load(allNodes, f.nodes, f.creds);
      const caught = collect('caught');
      helper.getNode('jsMsg').receive({ payload: 'x' });
      helper.getNode('jn').receive({ payload: { n: 42 } });
      await until(() => caught.length === 2, 3000, 'two refusals');
      assert.ok(caught.every((m) => code(m) === 'JETSTREAM_INVALID_INPUT'));
      const bySource = (id: string) =>
        text(
          caught.find(
            (m) => (m as Caught & { error: { source: { id: string } } }).error.source.id === id,
          )!,
        );
      assert.match(bySource('jsMsg'), /No device given/);
      assert.match(bySource('jn'), /must be a string, got number 42/);
      await sleep(50);
      assert.equal(s.log.length, 0);
    });
  });

  describe('output 1', () => {
    it('carries the response body as received, device, commandId, statusCode 200, and keeps the other msg properties', async () => {
      const f = flow(s, [{ id: 'js1' }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const out = collect('js1-out');
      helper
        .getNode('js1')
        .receive({ _msgid: 'm-1', payload: 'in', topic: 'hr-change', device: 'Cab-1', extra: 7 });
      await until(() => out.length === 1, 5000, 'output');
      const msg = out[0];
      const body = msg.payload as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), [
        'CommandId',
        'ExceptionList',
        'OutputParameterList',
        'Status',
      ]);
      assert.equal(body.Status, 'Completed');
      assert.deepEqual(body.ExceptionList, []);
      assert.deepEqual(body.OutputParameterList, []);
      assert.equal(msg.device, 'Cab-1');
      assert.equal(msg.commandId, body.CommandId);
      assert.equal(msg.statusCode, 200);
      assert.equal(msg.topic, 'hr-change');
      assert.equal(msg.extra, 7);
      assert.equal(msg._msgid, 'm-1');
      // The same command the simulator queued.
      const queued = s.queuedEvents().find((e) => e.Type === 'CommandQueuedEvent');
      assert.equal(queued?.CommandId, body.CommandId);
      await until(() => statuses('js1').at(-1)?.fill === 'green', 2000, 'green status');
      assert.match(statuses('js1').at(-1)?.text ?? '', /^synced Cab-1 \d\d:\d\d:\d\d$/);
      assert.equal(s.device('Cab-1')?.lastSync !== null, true);
    });
  });

  describe('arrays of devices', () => {
    it('sends one msg per device, at most 8 requests at a time (concurrency 3 when set)', async () => {
      const names = Array.from({ length: 20 }, (_, i) => `Many-${i}`);
      for (const n of names) s.addDevice(n);
      s.setFaults({ latencyMs: 50 });
      const f = flow(s, [{ id: 'dflt' }, { id: 'three', concurrency: 3 }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const dflt = collect('dflt-out');
      const three = collect('three-out');

      s.resetStats();
      helper.getNode('dflt').receive({ _msgid: 'arr', payload: 1, device: names });
      await until(() => dflt.length === 20, 10_000, '20 msgs');
      const maxDefault = s.stats().maxInFlight;
      assert.ok(maxDefault <= 8, `default concurrency exceeded: ${maxDefault}`);
      assert.ok(maxDefault >= 2, `requests were not concurrent: ${maxDefault}`);
      assert.deepEqual(dflt.map((m) => m.device).sort(), [...names].sort());
      assert.ok(dflt.every((m) => m._msgid === 'arr' && m.statusCode === 200));
      assert.equal(new Set(dflt.map((m) => m.commandId)).size, 20, 'one command each');
      assert.notEqual(dflt[0], dflt[1], 'separate msg objects');

      s.resetStats();
      helper.getNode('three').receive({ payload: 1, device: names });
      await until(() => three.length === 20, 10_000, '20 msgs');
      const maxThree = s.stats().maxInFlight;
      assert.ok(maxThree <= 3 && maxThree >= 2, `concurrency 3 not honoured: ${maxThree}`);
      console.log(`      max in flight: default ${maxDefault}, concurrency 3 -> ${maxThree}`);
    });

    it('refuses a mixed array whole, an empty array and non-strings, with no request', async () => {
      const f = flow(s, [{ id: 'js1' }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const out = collect('js1-out');
      const caught = collect('caught');
      const bad: unknown[] = [['Cab-1', '../events', 'Cab-2'], [], [1, 2], ['Cab-1', null], 42, {}];
      for (const device of bad) helper.getNode('js1').receive({ payload: 1, device });
      await until(() => caught.length === bad.length, 3000, 'refusals');
      assert.ok(caught.every((m) => code(m) === 'JETSTREAM_INVALID_INPUT'));
      assert.match(text(caught[0]), /entry 1/);
      assert.match(text(caught[1]), /empty/);
      await sleep(100);
      assert.equal(out.length, 0);
      assert.equal(s.log.length, 0, 'no request at all');
    });
  });

  it('URL-encodes names with spaces, commas and dots, and they succeed', async () => {
    const names = ['Dock door 1', 'Lab,North', 'Cab.3', 'A b,c.d-e_f'];
    for (const n of names) s.addDevice(n);
    const f = flow(s, [{ id: 'js1' }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const out = collect('js1-out');
    helper.getNode('js1').receive({ payload: 1, device: names });
    await until(() => out.length === 4, 5000, 'four syncs');
    assert.deepEqual(out.map((m) => m.device).sort(), [...names].sort());
    assert.ok(out.every((m) => (m.payload as { Status: string }).Status === 'Completed'));
    assert.deepEqual(s.log.map((r) => r.path).sort(), [
      '/3/devices/A%20b%2Cc.d-e_f/credentials/sync',
      '/3/devices/Cab.3/credentials/sync',
      '/3/devices/Dock%20door%201/credentials/sync',
      '/3/devices/Lab%2CNorth/credentials/sync',
    ]);
    assert.ok(names.every((n) => s.device(n)?.lastSync));
  });

  it('refuses bad names (path tricks, too long, unicode) before any request', async () => {
    const f = flow(s, [{ id: 'js1' }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const caught = collect('caught');
    const bad = [
      '../events',
      'a/b',
      '.',
      '..',
      'x'.repeat(129),
      'Cäb-1',
      'Cab-1\n',
      'a?b',
      'a%2Fb',
    ];
    for (const device of bad) helper.getNode('js1').receive({ payload: 1, device });
    await until(() => caught.length === bad.length, 3000, 'refusals');
    assert.ok(caught.every((m) => code(m) === 'JETSTREAM_INVALID_INPUT'));
    assert.ok(caught.every((m) => /Invalid device name/.test(text(m))));
    await until(() => statuses('js1').at(-1)?.text === 'invalid input', 1000, 'status');
    assert.equal(statuses('js1').at(-1)?.fill, 'red');
    await sleep(100);
    assert.equal(s.log.length, 0);
    // 128 characters is still fine.
    s.addDevice('y'.repeat(128));
    const out = collect('js1-out');
    helper.getNode('js1').receive({ payload: 1, device: 'y'.repeat(128) });
    await until(() => out.length === 1, 3000, '128-char name');
  });

  describe('errors reach Catch with msg.error.code and msg.statusCode', () => {
    async function one(device: string, acctExtra: Record<string, unknown> = {}, creds?: object) {
      const f = flow(s, [{ id: 'js1' }], acctExtra);
      await helper.load(allNodes, f.nodes, creds ?? f.creds);
      const out = collect('js1-out');
      const caught = collect('caught');
      helper.getNode('js1').receive({ payload: 1, topic: 't', device });
      await until(() => caught.length === 1, 10_000, 'error to Catch');
      await sleep(50);
      assert.equal(out.length, 0, 'nothing on the output');
      assert.equal(caught.length, 1, 'one error');
      return caught[0];
    }

    it('unknown device: 404 JETSTREAM_NOT_FOUND naming the device and the server message', async () => {
      const m = await one('Nope-9');
      assert.equal(code(m), 'JETSTREAM_NOT_FOUND');
      assert.equal(m.statusCode, 404);
      assert.equal(m.device, 'Nope-9');
      assert.equal(m.topic, 't');
      assert.match(text(m), /"Nope-9"/);
      assert.match(text(m), /Device 'Nope-9' was not found\./);
      assert.equal(s.log.length, 1, '404 is not retried');
      assert.match(statuses('js1').at(-1)?.text ?? '', /JETSTREAM_NOT_FOUND Nope-9/);
    });

    it('wrong key: 401 JETSTREAM_UNAUTHORIZED, not retried', async () => {
      const m = await one('Cab-1', {}, { acct: { accessKey: 'wrong-key-0000' } });
      assert.equal(code(m), 'JETSTREAM_UNAUTHORIZED');
      assert.equal(m.statusCode, 401);
      assert.match(text(m), /Authorization has been denied/);
      assert.ok(!JSON.stringify(m).includes('wrong-key-0000'));
      assert.equal(s.log.length, 1);
    });

    it('429 after retries: JETSTREAM_RATE_LIMITED', async () => {
      s.setFaults({ rateLimitRate: 1, retryAfter: '0' });
      const m = await one('Cab-1', { retries: 1 });
      assert.equal(code(m), 'JETSTREAM_RATE_LIMITED');
      assert.equal(m.statusCode, 429);
      assert.deepEqual(
        s.log.map((r) => r.status),
        [429, 429],
        'one try and one retry',
      );
    });

    it('5xx after retries: JETSTREAM_SERVER_ERROR', async () => {
      s.setFaults({ errorRate: 1 });
      const m = await one('Cab-1', { retries: 1 });
      assert.equal(code(m), 'JETSTREAM_SERVER_ERROR');
      assert.ok([500, 502, 503].includes(m.statusCode as number));
      assert.equal(s.log.length, 2);
    });

    it('network: a closed loopback port and an answer slower than the timeout give JETSTREAM_NETWORK', async () => {
      const port = await closedPort();
      const m = await one('Cab-1', { url: `http://127.0.0.1:${port}`, retries: 0 });
      assert.equal(code(m), 'JETSTREAM_NETWORK');
      assert.equal(m.statusCode, undefined, 'no HTTP answer, no statusCode');
      assert.match(text(m), /connection refused/);
      await helper.unload();

      s.setFaults({ latencyMs: 1000 });
      const m2 = await one('Cab-1', { timeout: 200, retries: 0 });
      assert.equal(code(m2), 'JETSTREAM_NETWORK');
      assert.match(text(m2), /no answer within 200 ms/);
    });

    it('failNextCommand on an online device: JETSTREAM_COMMAND_FAILED with the response as msg.payload', async () => {
      s.failNextCommand('Cab-1', { Key: 'DeviceBusy', Value: 'The device is busy.' });
      const m = await one('Cab-1');
      assert.equal(code(m), 'JETSTREAM_COMMAND_FAILED');
      assert.equal(m.statusCode, 200);
      const body = m.payload as Record<string, unknown>;
      assert.equal(typeof body.CommandId, 'string');
      assert.deepEqual(body.ExceptionList, [{ Key: 'DeviceBusy', Value: 'The device is busy.' }]);
      assert.equal(m.commandId, body.CommandId);
      assert.match(text(m), /"Cab-1".*DeviceBusy: The device is busy\./);
    });
  });

  it('retries a 5xx and a 429 and then succeeds', async () => {
    const f = flow(s, [{ id: 'js1' }], { retries: 2 });
    await helper.load(allNodes, f.nodes, f.creds);
    const out = collect('js1-out');
    const caught = collect('caught');
    // The fault hits the first request only: it is lifted as soon as the simulator logged it
    // (the client then waits at least 250 ms before its retry).
    for (const fault of [{ errorRate: 1 }, { rateLimitRate: 1, retryAfter: '0' }]) {
      s.clearLog();
      s.setFaults(fault);
      helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
      await until(() => s.log.length === 1, 5000, 'first try');
      s.setFaults({});
      await until(() => out.length === (fault.errorRate ? 1 : 2), 5000, 'success after retry');
      const st = s.log.map((r) => r.status);
      assert.equal(st.length, 2);
      assert.ok(fault.errorRate ? st[0] >= 500 : st[0] === 429, `first try: ${st[0]}`);
      assert.equal(st[1], 200);
    }
    assert.equal(caught.length, 0);
    assert.ok(out.every((m) => m.statusCode === 200));
  });

  describe('waitForCompletion', () => {
    it('online device: output 1, then output 2 with the matching CommandCompletionEvent', async () => {
      const f = flow(s, [{ id: 'w', waitForCompletion: true }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const order: string[] = [];
      helper.getNode('w-out').on('input', () => order.push('out1'));
      helper.getNode('w-done').on('input', () => order.push('out2'));
      const out = collect('w-out');
      const done = collect('w-done');
      helper.getNode('w').receive({ payload: 1, topic: 'keep', device: 'Cab-1' });
      await until(() => done.length === 1, 8000, 'completion');
      assert.deepEqual(order, ['out1', 'out2']);
      const ev = done[0].payload as Record<string, unknown>;
      assert.equal(ev.Type, 'CommandCompletionEvent');
      assert.equal(ev.CommandId, out[0].commandId);
      assert.equal(ev.CommandName, 'SyncCredentials');
      assert.deepEqual(ev.ExceptionList, []);
      assert.equal(done[0].device, 'Cab-1');
      assert.equal(done[0].commandId, out[0].commandId);
      assert.equal(done[0].topic, 'keep');
      assert.notEqual(done[0], out[0], 'two msgs');
      assert.equal((out[0].payload as { Status: string }).Status, 'Completed');
      await until(() => statuses('w').at(-1)?.fill === 'green', 1000, 'green');
      await sleep(100);
      assert.equal(order.length, 2);
      const acct = helper.getNode('acct') as ConfigNode;
      await until(() => acct.hub.loopCount === 0, 2000, 'polling stops when nobody waits');
    });

    it('offline device: Queued on output 1, nothing on output 2 until it comes online (polled within 5 s)', async () => {
      const f = flow(s, [{ id: 'w', waitForCompletion: true }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const out = collect('w-out');
      const done = collect('w-done');
      helper.getNode('w').receive({ payload: 1, device: ['Off-1', 'Off-2'] });
      await until(() => out.length === 2, 5000, 'output 1 twice');
      assert.ok(out.every((m) => (m.payload as { Status: string }).Status === 'Queued'));
      await until(
        () => statuses('w').at(-1)?.text === 'waiting for 2',
        2000,
        'status waiting for 2',
      );
      assert.deepEqual(statuses('w').at(-1), {
        fill: 'yellow',
        shape: 'ring',
        text: 'waiting for 2',
      });
      await sleep(600);
      assert.equal(done.length, 0, 'nothing while offline');

      const t0 = Date.now();
      s.setOnline('Off-1', true);
      await until(() => done.length === 1, 7000, 'completion after coming online');
      const took = Date.now() - t0;
      assert.ok(took < 6000, `completion took ${took} ms`);
      assert.equal(done[0].device, 'Off-1');
      assert.equal(
        (done[0].payload as { CommandId: string }).CommandId,
        out.find((m) => m.device === 'Off-1')?.commandId,
      );
      await until(() => statuses('w').at(-1)?.text === 'queued Off-2', 1000, 'queued Off-2');

      s.setOnline('Off-2', true);
      await until(() => done.length === 2, 7000, 'second completion');
      await until(() => statuses('w').at(-1)?.fill === 'green', 1000, 'green when all done');
      console.log(`      offline -> online completion delivered after ${took} ms`);
    });

    it('a completion with an exception (offline device, failNextCommand) goes to Catch as JETSTREAM_COMMAND_FAILED', async () => {
      s.failNextCommand('Off-1', { Key: 'CommandTimedOut', Value: 'The device did not answer.' });
      const f = flow(s, [{ id: 'w', waitForCompletion: true }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const out = collect('w-out');
      const done = collect('w-done');
      const caught = collect('caught');
      helper.getNode('w').receive({ payload: 1, device: 'Off-1' });
      await until(() => out.length === 1, 5000, 'queued');
      assert.equal((out[0].payload as { Status: string }).Status, 'Queued');
      s.setOnline('Off-1', true);
      await until(() => caught.length === 1, 8000, 'failure to Catch');
      const m = caught[0];
      assert.equal(code(m), 'JETSTREAM_COMMAND_FAILED');
      assert.match(text(m), /CommandTimedOut: The device did not answer\./);
      const ev = m.payload as Record<string, unknown>;
      assert.equal(ev.Type, 'CommandCompletionEvent');
      assert.equal(ev.CommandId, out[0].commandId);
      assert.equal(m.device, 'Off-1');
      assert.equal(done.length, 0);
      assert.equal(statuses('w').at(-1)?.fill, 'red');
    });

    it('completionTimeout 1: JETSTREAM_COMPLETION_TIMEOUT after about a second', async () => {
      const f = flow(s, [{ id: 'w', waitForCompletion: true, completionTimeout: 1 }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const out = collect('w-out');
      const caught = collect('caught');
      helper.getNode('w').receive({ payload: 1, device: 'Off-1' });
      await until(() => out.length === 1, 5000, 'queued');
      const t0 = Date.now();
      await until(() => caught.length === 1, 4000, 'timeout');
      const took = Date.now() - t0;
      assert.ok(took > 800 && took < 2000, `timeout after ${took} ms`);
      assert.equal(code(caught[0]), 'JETSTREAM_COMPLETION_TIMEOUT');
      assert.equal(caught[0].device, 'Off-1');
      assert.match(text(caught[0]), /"Off-1" within 1 s/);
      assert.deepEqual(statuses('w').at(-1), {
        fill: 'red',
        shape: 'ring',
        text: 'timeout Off-1',
      });
      // A completion arriving later goes nowhere.
      s.setOnline('Off-1', true);
      await sleep(300);
      assert.equal(collect('w-done').length, 0);
      const acct = helper.getNode('acct') as ConfigNode;
      await until(() => acct.hub.loopCount === 0, 2000, 'polling stopped after the timeout');
    });

    it('shares one unfiltered poll with a jetstream-events listener; the listener still gets the Command* events', async () => {
      const f = flow(
        s,
        [
          { id: 'w1', waitForCompletion: true },
          { id: 'w2', waitForCompletion: true },
        ],
        {},
        [
          {
            id: 'ev',
            type: 'jetstream-events',
            z: 'f1',
            account: 'acct',
            eventTypes: [],
            device: '',
            interval: 10,
            limit: 100,
            wires: [['ev-out']],
          },
          { id: 'ev-out', type: 'helper', z: 'f1' },
        ],
      );
      await helper.load(allNodes, f.nodes, f.creds);
      const events = collect('ev-out');
      const done1 = collect('w1-done');
      const done2 = collect('w2-done');
      helper.getNode('w1').receive({ payload: 1, device: 'Off-1' });
      helper.getNode('w2').receive({ payload: 1, device: 'Off-2' });
      await until(
        () =>
          statuses('w1').at(-1)?.text === 'queued Off-1' &&
          statuses('w2').at(-1)?.text === 'queued Off-2',
        5000,
        'both waiting',
      );
      const acct = helper.getNode('acct') as ConfigNode;
      assert.equal(acct.hub.loopCount, 1);
      s.setOnline('Off-1', true);
      s.setOnline('Off-2', true);
      await until(() => done1.length === 1 && done2.length === 1, 8000, 'both completions');
      assert.equal(acct.hub.loopCount, 1);
      await until(
        () => events.filter((m) => m.topic === 'CommandCompletionEvent').length === 2,
        3000,
        'listener gets the completions',
      );
      assert.equal(events.filter((m) => m.topic === 'CommandQueuedEvent').length, 2);
      const gets = s.log.filter((r) => r.method === 'GET');
      assert.ok(gets.length > 0);
      assert.ok(
        gets.every((r) => r.path === '/3/events/100' && !r.query.type && !r.query.device),
        `every GET unfiltered: ${JSON.stringify(gets.map((r) => [r.path, r.query]))}`,
      );
      assert.equal(
        new Set(events.map((m) => m.eventId)).size,
        events.length,
        'each event delivered once to the listener',
      );
    });
  });

  it('close cancels pending waits: no timer fires and no request follows', async () => {
    const f = flow(s, [{ id: 'w', waitForCompletion: true, completionTimeout: 1 }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const out = collect('w-out');
    helper.getNode('w').receive({ payload: 1, device: 'Off-1' });
    await until(() => out.length === 1, 5000, 'queued');
    const node = helper.getNode('w');
    const acct = helper.getNode('acct') as ConfigNode;
    let after = 0;
    // Instance methods shadow the runtime's (restored on unload), so any late call is counted.
    node.error = () => after++;
    node.send = () => after++;
    node.status = () => after++;
    await helper.unload();
    after = 0; // close itself clears the status
    const requests = s.log.length;
    s.setOnline('Off-1', true); // a completion now waits in the queue: nobody may fetch it
    await sleep(1500);
    assert.equal(after, 0, 'no error, send or status after close');
    assert.equal(s.log.length, requests, 'no request after close');
    assert.equal(acct.hub.loopCount, 0);
  });

  it('lastSync: null before any sync, then the time string; statusCode 200', async () => {
    const f = flow(s, [
      { id: 'last', action: 'lastSync', deviceType: 'str', device: 'Cab-1' },
      { id: 'js1', deviceType: 'str', device: 'Cab-1' },
    ]);
    await helper.load(allNodes, f.nodes, f.creds);
    const last = collect('last-out');
    const synced = collect('js1-out');
    helper.getNode('last').receive({ payload: 'x' });
    await until(() => last.length === 1, 3000, 'first read');
    assert.equal(last[0].payload, null);
    assert.equal(last[0].statusCode, 200);
    assert.equal(last[0].device, 'Cab-1');
    assert.equal(statuses('last').at(-1)?.text, 'Cab-1: never synced');
    helper.getNode('js1').receive({ payload: 'x' });
    await until(() => synced.length === 1, 3000, 'sync');
    helper.getNode('last').receive({ payload: 'x' });
    await until(() => last.length === 2, 3000, 'second read');
    assert.match(String(last[1].payload), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(last[1].payload, s.device('Cab-1')?.lastSync);
    assert.equal(last[1].statusCode, 200);
    assert.deepEqual(
      s.log.map((r) => r.method),
      ['GET', 'POST', 'GET'],
    );
  });

  describe('admin endpoint POST /jetstream-rfid/devices', () => {
    const devices = ['Cab-1', 'Cab-2', 'Off-1', 'Off-2'];

    it('lists devices with the stored key of a deployed account, or a typed key for an undeployed one', async () => {
      const f = flow(s, [{ id: 'js1' }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const bodies: unknown[] = [];
      const ask = async (body: object) => {
        const res = await helper.request().post('/jetstream-rfid/devices').send(body).expect(200);
        bodies.push(res.body, res.text);
        return res.body;
      };
      // Deployed: the stored key is used (nothing typed, or the editor's placeholder).
      assert.deepEqual(await ask({ id: 'acct', url: s.url }), { ok: true, devices });
      assert.deepEqual(await ask({ id: 'acct', url: s.url, accessKey: '__PWRD__' }), {
        ok: true,
        devices,
      });
      // Undeployed: a typed key and URL.
      assert.deepEqual(await ask({ id: 'new-acct', url: s.url, accessKey: KEY }), {
        ok: true,
        devices,
      });
      // A wrong key.
      const wrong = await ask({ id: 'new-acct', url: s.url, accessKey: 'wrong-key-1234' });
      assert.equal(wrong.ok, false);
      assert.equal(wrong.code, 'JETSTREAM_UNAUTHORIZED');
      assert.match(wrong.message, /access key is wrong/);
      // An undeployed account with no key at all.
      const none = await ask({ id: 'new-acct', url: s.url });
      assert.equal(none.ok, false);
      assert.equal(none.code, 'JETSTREAM_UNAUTHORIZED');
      const all = JSON.stringify(bodies);
      assert.ok(!all.includes(KEY), 'the key is never in the answer');
      assert.ok(!all.includes('wrong-key-1234'), 'nor the typed one');
      assert.deepEqual(
        s.log.map((r) => `${r.method} ${r.path} ${r.status}`),
        ['GET /3/devices 200', 'GET /3/devices 200', 'GET /3/devices 200', 'GET /3/devices 401'],
      );
    });

    it("uses the deployed account's URL when the body is just {id} (never silently the cloud)", async () => {
      const f = flow(s, [{ id: 'js1' }]);
      await helper.load(allNodes, f.nodes, f.creds);
      const res = await helper.request().post('/jetstream-rfid/devices').send({ id: 'acct' });
      assert.deepEqual(res.body, { ok: true, devices });
      assert.equal(s.log.length, 1, 'the simulator was asked');
    });

    it("is guarded by Node-RED's adminAuth (real editor-api auth middleware): 401 without a token", async () => {
      // node-red-node-test-helper cannot enable adminAuth: its admin app is a bare express app
      // and its RED.auth.needsPermission is a pass-through. So the route is registered here on
      // an app guarded by Node-RED's own editor-api auth, initialised with adminAuth.
      /* eslint-disable @typescript-eslint/no-require-imports */
      const editorApi = path.dirname(require.resolve('@node-red/editor-api/package.json'));
      const auth = require(path.join(editorApi, 'lib/auth'));
      const passport = require(require.resolve('passport', { paths: [editorApi] }));
      const express = require(require.resolve('express', { paths: [editorApi] }));
      const bcrypt = require(require.resolve('bcryptjs', { paths: [editorApi] }));
      const supertest = require('supertest');
      /* eslint-enable @typescript-eslint/no-require-imports */
      const hash = bcrypt.hashSync('pa55-word', 8);
      const settings = {
        adminAuth: {
          type: 'credentials',
          users: [
            { username: 'admin', password: hash, permissions: '*' },
            { username: 'viewer', password: hash, permissions: 'read' },
          ],
        },
      };
      let sessions: Record<string, unknown> = {};
      auth.init(settings, {
        getSessions: async () => sessions,
        saveSessions: async (v: Record<string, unknown>) => {
          sessions = v;
        },
      });
      try {
        const app = express();
        app.use(express.json());
        app.use(express.urlencoded({ extended: true }));
        app.use(passport.initialize());
        app.post(
          '/auth/token',
          auth.ensureClientSecret,
          auth.authenticateClient,
          auth.getToken,
          auth.errorHandler,
        );
        const deployed = {
          type: 'jetstream-config',
          def: { url: s.url },
          credentials: { accessKey: KEY },
        };
        configNode({
          nodes: {
            registerType: () => undefined,
            getNode: (id: string) => (id === 'acct' ? deployed : null),
            getCredentials: () => undefined,
          },
          httpAdmin: app,
          auth: { needsPermission: auth.needsPermission },
        });
        const token = async (username: string, scope: string) => {
          const res = await supertest(app).post('/auth/token').type('form').send({
            client_id: 'node-red-editor',
            grant_type: 'password',
            scope,
            username,
            password: 'pa55-word',
          });
          assert.equal(res.status, 200, res.text);
          return res.body.access_token as string;
        };
        const body = { id: 'acct', url: s.url };
        const anon = await supertest(app).post('/jetstream-rfid/devices').send(body);
        assert.equal(anon.status, 401, 'no token');
        const bogus = await supertest(app)
          .post('/jetstream-rfid/devices')
          .set('Authorization', 'Bearer not-a-token')
          .send(body);
        assert.equal(bogus.status, 401, 'bad token');
        const viewer = await supertest(app)
          .post('/jetstream-rfid/devices')
          .set('Authorization', `Bearer ${await token('viewer', 'read')}`)
          .send(body);
        assert.equal(viewer.status, 401, 'read-only user');
        assert.equal(s.log.length, 0, 'no request for a refused caller');
        const admin = await supertest(app)
          .post('/jetstream-rfid/devices')
          .set('Authorization', `Bearer ${await token('admin', '*')}`)
          .send(body);
        assert.equal(admin.status, 200, admin.text);
        assert.deepEqual(admin.body, { ok: true, devices });
        assert.ok(!admin.text.includes(KEY));
      } finally {
        auth.init({}, { getSessions: async () => ({}), saveSessions: async () => undefined });
      }
    });
  });

  it('the key appears in no msg, status, log line or error', async () => {
    // The simulator even echoes the request headers (AccessKey included) in its error bodies.
    s.setFaults({ errorRate: 1, echoRequest: true, match: 'Cab-2' });
    const f = flow(s, [{ id: 'js1' }, { id: 'js2' }, { id: 'w', waitForCompletion: true }], {
      retries: 0,
    });
    // The Catch covers js1 only: errors of js2 nobody catches, so the runtime logs them.
    f.nodes.find((n) => n.id === 'catcher')!.scope = ['js1'];
    await helper.load(allNodes, f.nodes, f.creds);
    const out = collect('js1-out');
    const done = collect('w-done');
    const caught = collect('caught');
    helper.getNode('js1').receive({ payload: 1, device: ['Cab-1', 'Cab-2', 'Nope'] });
    helper.getNode('js2').receive({ payload: 1, device: ['Cab-2', 'Nope'] });
    helper.getNode('w').receive({ payload: 1, device: 'Cab-1' });
    await until(
      () => out.length === 1 && caught.length === 2 && done.length === 1,
      8000,
      'results',
    );
    assert.deepEqual(caught.map(code).sort(), ['JETSTREAM_NOT_FOUND', 'JETSTREAM_SERVER_ERROR']);
    await until(() => /was not found/.test(fullLog()), 2000, 'uncaught errors logged');
    const log = fullLog() + logText();
    assert.match(log, /Service Unavailable|Bad Gateway|An error has occurred/, '5xx logged');
    const everything = JSON.stringify({
      out,
      done,
      caught,
      a: statuses('js1'),
      b: statuses('js2'),
      c: statuses('w'),
    });
    assert.ok(!log.includes(KEY), 'the access key is in a log line');
    assert.ok(!everything.includes(KEY), 'the access key leaked');
  });

  it('uses the handler arities Node-RED relies on: input(msg, send, done), close(removed, done)', async () => {
    const f = flow(s, [{ id: 'js1' }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const node = helper.getNode('js1');
    assert.equal(typeof node._inputCallback, 'function', 'one input handler');
    assert.equal(node._inputCallbacks, null);
    assert.equal(node._inputCallback.length, 3);
    const closers = node._closeCallbacks as Array<(...a: unknown[]) => void>;
    assert.equal(closers.length, 1);
    assert.equal(closers[0].length, 2);
  });

  it('throughput: 1,000 devices through the node vs a bare axios loop (latency 2 ms)', async function () {
    this.timeout(60_000);
    const names = Array.from({ length: 1000 }, (_, i) => `Bench-${i}`);
    for (const n of names) s.addDevice(n);
    s.setFaults({ latencyMs: 2 });
    const f = flow(s, [{ id: 'js1' }]);
    await helper.load(allNodes, f.nodes, f.creds);
    const out = collect('js1-out');
    const viaNode = async () => {
      out.length = 0;
      const t0 = performance.now();
      helper.getNode('js1').receive({ payload: 1, device: names });
      await until(() => out.length === 1000, 30_000, '1000 msgs');
      return performance.now() - t0;
    };

    const agent = new http.Agent({ keepAlive: true });
    const client = axios.create({
      baseURL: `${s.url}/3`,
      httpAgent: agent,
      headers: { AccessKey: s.accessKey, Accept: 'application/json' },
    });
    const bare = async () => {
      let next = 0;
      let ok = 0;
      const worker = async () => {
        while (next < names.length) {
          const name = names[next++];
          const res = await client.post(`/devices/${encodeURIComponent(name)}/credentials/sync`);
          if (res.status === 200) ok++;
        }
      };
      const t0 = performance.now();
      await Promise.all(Array.from({ length: 8 }, worker));
      assert.equal(ok, 1000);
      return performance.now() - t0;
    };

    // One untimed round each first (sockets, JIT), then three timed rounds, alternating.
    await viaNode();
    await bare();
    const nodeMs: number[] = [];
    const bareMs: number[] = [];
    for (let round = 0; round < 3; round++) {
      nodeMs.push(await viaNode());
      bareMs.push(await bare());
    }
    agent.destroy();
    const best = (a: number[]) => Math.min(...a);
    const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
    const rate = (ms: number) => (1000 / ms) * 1000;
    const fmt = (a: number[]) => a.map((ms) => ms.toFixed(0)).join('/');
    console.log(
      `      1,000 syncs, latency 2 ms: node ${fmt(nodeMs)} ms (best ${rate(best(nodeMs)).toFixed(0)}/s), ` +
        `bare axios x8 ${fmt(bareMs)} ms (best ${rate(best(bareMs)).toFixed(0)}/s); ` +
        `ratio best ${(best(bareMs) / best(nodeMs)).toFixed(2)}, median ${(median(bareMs) / median(nodeMs)).toFixed(2)}`,
    );
  });
});
