// Security and robustness at the runtime level: the nodes in a real Node-RED runtime (the test
// helper), against the simulator (or a hand-made loopback server) over HTTP. The client-level
// checks (redirects, proxies, path encoding, TLS options) live in client.test.ts.
import assert from 'node:assert/strict';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type { Simulator } from '../lib/simulator';
import type { NodeMessage } from '../lib/red';
import {
  account,
  allNodes,
  collect,
  errorCode,
  helper,
  KEY,
  logText,
  selfSignedCert,
  sim,
  sleep,
  startHelper,
  stopHelper,
  until,
} from './support';

type Flow = Array<Record<string, unknown>>;
type Caught = NodeMessage & { error: { code?: string; message: string; stack?: string } };

// Secrets that must go nowhere but the simulator: a User password and a PIN.
const PASSWORD = 'Pw-Alice-9q8r7s6t-secret';
const PASSWORD_2 = 'Pw-Bob-zz41yy52-secret';
const PIN = '8675309012345678';
const SECRETS = { key: KEY, password: PASSWORD, password2: PASSWORD_2, pin: PIN };

const message = (m: NodeMessage) => (m as Caught).error.message;

/**
 * A tab with the account, the given nodes (each wired to `<id>-out`, two outputs for sync nodes
 * waiting for completion), a Catch for all of them and its helper. Node ids are chosen so that
 * none equals a property value ('sync', 'msg', 'catch'...).
 */
function flow(acct: { node: Record<string, unknown> }, nodes: Flow): Flow {
  const out: Flow = [
    { id: 'f1', type: 'tab' },
    { ...acct.node, z: 'f1' },
  ];
  for (const n of nodes) {
    const id = String(n.id);
    if (n.type === 'jetstream-events') {
      out.push({
        z: 'f1',
        account: acct.node.id,
        interval: 1,
        limit: 100,
        eventTypes: [],
        device: '',
        wires: [[`${id}-out`]],
        ...n,
      });
    } else {
      out.push({
        z: 'f1',
        name: '',
        account: acct.node.id,
        device: 'device',
        deviceType: 'msg',
        action: 'sync',
        waitForCompletion: false,
        completionTimeout: 3600,
        outputs: 1,
        wires: [[`${id}-out`]],
        ...n,
      });
    }
    out.push({ id: `${id}-out`, type: 'helper', z: 'f1' });
  }
  out.push(
    { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
    { id: 'caught', type: 'helper', z: 'f1' },
  );
  return out;
}

const events = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'jetstream-events',
  ...extra,
});
const syncer = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: 'jetstream-sync-credentials',
  ...extra,
});

/** The spies the helper puts on Node.prototype (shared by every node): all calls so far. */
function protoCalls(method: 'error' | 'warn' | 'status' | 'send'): unknown[][] {
  return helper._NodePrototype[method].args as unknown[][];
}

/**
 * The statuses one node has shown. (support.ts's statuses() reads the helper's status spy,
 * which sits on Node.prototype and so holds every node's calls: filter by `this`.)
 */
function statuses(id: string): Array<{ fill?: string; shape?: string; text?: string }> {
  const node = helper.getNode(id);
  const spy = helper._NodePrototype.status;
  return (spy.args as unknown[][])
    .filter((_a, i) => spy.thisValues[i] === node)
    .map((a) => a[0] as { fill?: string; shape?: string; text?: string });
}

/** Everything an error object can show: String(err), err.stack, its enumerable fields. */
function errorTexts(value: unknown): string {
  if (value instanceof Error) {
    return [String(value), value.stack ?? '', value.message, safeJson({ ...value })].join('\n');
  }
  return safeJson(value);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Every log line, with the message, String() and stack of logged errors spelled out. */
function fullLog(): string {
  return helper
    .log()
    .args.map((a: Array<{ msg?: unknown }>) => `${safeJson(a[0])} ${errorTexts(a[0]?.msg)}`)
    .join('\n');
}

/** Fails naming the place and the secret if any secret appears in `text`. */
function assertClean(where: string, text: string): void {
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert.ok(!text.includes(secret), `the ${name} appears in ${where}`);
  }
}

/** A loopback HTTP(S) server answering with `handler`, counting requests. */
interface Fake {
  url: string;
  requests: Array<{ method: string; url: string }>;
  close(): Promise<void>;
}
async function fakeServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void,
  tls?: { key: string; cert: string },
): Promise<Fake> {
  const requests: Fake['requests'] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '' });
      handler(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  };
  const server = tls ? https.createServer(tls, listener) : http.createServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(text);
}

describe('security and robustness in the runtime', function () {
  this.timeout(30_000);
  let s: Simulator;

  beforeEach(async () => {
    s = await sim({ devices: ['Cab-1', 'Cab-2'] });
    // Short backoff steps (the default first step is 1 s); the logic is the same.
    helper.settings({ jetstreamConfigBackoffMs: 20 });
    await startHelper();
  });
  afterEach(async () => {
    await stopHelper();
    helper.settings({});
    await s.close();
  });

  it('secret hygiene: error bodies echoing the key and passwords/PINs leak into no msg, status, error, warn or log line', async () => {
    s.setFaults({ echoRequest: true, errorRate: 1 });
    const acct = account(s, 'acct', { retries: 1 });
    await helper.load(
      allNodes,
      flow(acct, [events('ev'), syncer('js1'), syncer('js2', { action: 'lastSync' })]),
      acct.creds,
    );
    const caught = collect('caught');
    const outs = ['ev', 'js1', 'js2'].map((id) => collect(`${id}-out`));
    // The log spy wraps RED.log.log itself: it sees trace and debug lines too, whatever the
    // console level, so "no log line" below covers every level.
    helper.getNode('ev').trace('jetstream-probe-trace');
    helper.getNode('ev').debug('jetstream-probe-debug');
    await until(() => /jetstream-probe-debug/.test(logText()), 2000, 'the debug probe');
    assert.match(logText(), /jetstream-probe-trace/);

    // The events poller fails (5xx with the request echoed, AccessKey header included).
    await until(() => caught.length >= 1, 5000, 'the poller error at Catch');
    const send = (msg: NodeMessage, id = 'js1') => helper.getNode(id).receive(msg);
    // User passwords (add), PINs (replace), a plain sync and a lastSync, all answered 5xx.
    send({ payload: 1, device: 'Cab-1', credentials: { type: 'User', add: { alice: PASSWORD } } });
    send({ payload: 2, device: 'Cab-2', credentials: { type: 'Pin', replace: { '1001': PIN } } });
    send({ payload: 3, device: ['Cab-1', 'Cab-2'] });
    send({ payload: 4, device: 'Cab-1' }, 'js2');
    await until(() => caught.length >= 6, 10_000, 'the poller error and five sync errors at Catch');
    // 4xx answers echo too: an unknown device (404) and a removal answered 404.
    s.setFaults({ echoRequest: true });
    send({
      payload: 5,
      device: 'Nope-1',
      credentials: { type: 'User', add: { bob: PASSWORD_2 }, remove: ['carol'] },
    });
    await until(() => caught.length >= 7, 5000, 'the 404 at Catch');
    s.setFaults({});
    await sleep(300);

    // The scenario did what it says: the key and the secrets were in the error bodies.
    s.setFaults({ echoRequest: true });
    const echoed = await (
      await fetch(`${s.url}/3/devices/Nope-2/credentials/User`, {
        method: 'POST',
        headers: { AccessKey: KEY, 'Content-Type': 'application/json' },
        body: JSON.stringify({ x: PASSWORD }),
      })
    ).text();
    s.setFaults({});
    assert.ok(echoed.includes(KEY) && echoed.includes(PASSWORD), 'echoRequest echoes the secrets');
    const failed = s.log.filter((r) => r.status >= 400);
    for (const route of [
      'GET /3/events/100',
      'POST /3/devices/Cab-1/credentials/User',
      'PUT /3/devices/Cab-2/credentials/Pin',
      'POST /3/devices/Cab-1/credentials/sync',
      'POST /3/devices/Cab-2/credentials/sync',
      'GET /3/devices/Cab-1/credentials/sync',
      'DELETE /3/devices/Nope-1/credentials/User',
    ]) {
      assert.ok(
        failed.some((r) => `${r.method} ${r.path}` === route),
        `${route} was answered with an error`,
      );
    }

    const codes = caught.map(errorCode).sort();
    assert.deepEqual(codes, [
      'JETSTREAM_NOT_FOUND',
      ...Array<string>(6).fill('JETSTREAM_SERVER_ERROR'),
    ]);
    assert.ok(
      caught.every((m) => !('credentials' in m)),
      'msg.credentials is gone at Catch',
    );
    assert.deepEqual(
      outs.map((o) => o.length),
      [0, 0, 0],
    );

    assertClean('a msg at Catch', caught.map(safeJson).join('\n'));
    assertClean(
      'a msg at Catch (error stack)',
      caught.map((m) => `${message(m)} ${(m as Caught).error.stack ?? ''}`).join('\n'),
    );
    assertClean('an output msg', outs.flat().map(safeJson).join('\n'));
    assertClean('a sent msg', protoCalls('send').map(safeJson).join('\n'));
    assertClean(
      'a status',
      [...statuses('ev'), ...statuses('js1'), ...statuses('js2')].map(safeJson).join('\n'),
    );
    assertClean('a status', protoCalls('status').map(safeJson).join('\n'));
    const errorArgs = protoCalls('error');
    assert.ok(errorArgs.length >= 7, 'node.error was called for each failure');
    assert.ok(
      errorArgs.some((a) => a[0] instanceof Error),
      'node.error received Error objects',
    );
    assertClean(
      'a node.error argument (String(err), err.stack, msg)',
      errorArgs.map((a) => a.map(errorTexts).join('\n')).join('\n'),
    );
    assertClean('a node.warn argument', protoCalls('warn').map(errorTexts).join('\n'));
    assertClean('a log line', logText());
    assertClean('a log line (errors spelled out)', fullLog());
  });

  it('device names trying path tricks: JETSTREAM_INVALID_INPUT at Catch and zero requests', async () => {
    const acct = account(s);
    await helper.load(allNodes, flow(acct, [syncer('js1')]), acct.creds);
    const caught = collect('caught');
    const out = collect('js1-out');
    const bad = [
      '../events',
      'a/b',
      '%2e%2e',
      'Cabiné',
      'x'.repeat(129),
      '..',
      '.',
      '',
      'Cab-1/../../events',
      'Cab-1?x=1',
      'Cab-1#frag',
      'Cab\\1',
      'Cab\n1',
      ['Cab-1', '../events'],
      [],
      42,
      { name: 'Cab-1' },
    ];
    for (const device of bad) {
      helper.getNode('js1').receive({
        payload: 1,
        device,
        credentials: { type: 'Pin', add: { '1': PIN } },
      });
    }
    await until(() => caught.length === bad.length, 5000, 'one error per bad name');
    for (const [i, m] of caught.entries()) {
      assert.equal(errorCode(m), 'JETSTREAM_INVALID_INPUT', `${JSON.stringify(bad[i])}`);
      assert.equal('credentials' in m, false);
    }
    assert.equal(out.length, 0);
    await sleep(100);
    assert.equal(s.log.length, 0, 'no request reached the simulator');
    assert.equal(s.stats().requests, 0);
    // A good name right after still works: the node is not stuck.
    helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
    await until(() => out.length === 1, 5000, 'a sync after the bad names');
    assert.deepEqual(
      s.log.map((r) => `${r.method} ${r.path}`),
      ['POST /3/devices/Cab-1/credentials/sync'],
    );
  });

  it('a plain-http URL to a remote host: both node types refuse, no DNS look-up, no request', async () => {
    const lookups: string[] = [];
    const realLookup = dns.lookup;
    // net resolves host names through dns.lookup at call time: count what it is asked.
    (dns as { lookup: unknown }).lookup = function (
      this: unknown,
      host: string,
      ...rest: unknown[]
    ) {
      lookups.push(host);
      return (realLookup as (...a: unknown[]) => unknown).call(this, host, ...rest);
    };
    try {
      const acct = account(s, 'acct', { url: 'http://api.jetstreamrfid.com' });
      await helper.load(allNodes, flow(acct, [events('ev'), syncer('js1')]), acct.creds);
      const caught = collect('caught');
      await until(() => caught.length === 1, 5000, 'the events node error at Catch');
      helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
      await until(() => caught.length === 2, 5000, 'the sync node error at Catch');
      await sleep(300);
      for (const m of caught) {
        assert.equal(errorCode(m), 'JETSTREAM_INVALID_INPUT');
        assert.match(message(m), /api\.jetstreamrfid\.com/);
        assert.match(message(m), /unencrypted/);
        assert.match(message(m), /https:\/\//);
        assertClean('the error', safeJson(m));
      }
      assert.deepEqual(
        caught.map((m) => (m.error as { source?: { id?: string } }).source?.id).sort(),
        ['ev', 'js1'],
      );
      assert.equal(statuses('ev').at(-1)?.fill, 'red');
      assert.equal(statuses('js1').at(-1)?.fill, 'red');
      assert.equal(lookups.length, 0, `no DNS look-up (${lookups.join()})`);
      assert.equal(s.log.length, 0);

      // Control: the same spy does see the look-up of a host name that is allowed.
      await helper.unload();
      const closed = net.createServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      const ok = account(s, 'acct', { url: `http://localhost:${port}`, retries: 0 });
      await helper.load(allNodes, flow(ok, [syncer('js1')]), ok.creds);
      const caught2 = collect('caught');
      helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
      await until(() => caught2.length === 1, 5000, 'the network error');
      assert.equal(errorCode(caught2[0]), 'JETSTREAM_NETWORK');
      assert.ok(lookups.includes('localhost'), `the spy saw the look-up (${lookups.join()})`);
    } finally {
      (dns as { lookup: unknown }).lookup = realLookup;
    }
  });

  describe('garbage answers', () => {
    it('events node, html / truncated / noEvents: a yellow "retrying" status, one clear error per outage, recovery', async () => {
      const acct = account(s, 'acct', { retries: 0 });
      await helper.load(allNodes, flow(acct, [events('ev')]), acct.creds);
      const caught = collect('caught');
      const out = collect('ev-out');
      await until(() => statuses('ev').at(-1)?.text === 'listening', 5000, 'listening');
      const why = {
        html: /unexpected answer \(HTTP 200, an HTML page instead of JSON\)/,
        truncated: /unexpected answer \(HTTP 200, the body is not valid JSON\)/,
        noEvents: /unexpected answer \(HTTP 200, no Events array in the answer\)/,
      } as const;
      let delivered = 0;
      for (const mode of ['html', 'truncated', 'noEvents'] as const) {
        await sleep(50); // the last DELETE is logged once its socket closed
        const before = caught.length;
        const polls = s.log.length;
        s.setFaults({ garbage: mode });
        s.publishMany(5, (i) => ({ Type: 'HeartbeatEvent', Device: 'Cab-1', Seq: i }));
        await until(() => caught.length === before + 1, 5000, `the ${mode} error`);
        const m = caught[before];
        assert.equal(errorCode(m), 'JETSTREAM_SERVER_ERROR', mode);
        assert.match(message(m), /Jetstream get events failed/, mode);
        assert.match(message(m), why[mode], mode);
        await until(
          () => /^retrying in \d+s$/.test(statuses('ev').at(-1)?.text ?? ''),
          5000,
          `${mode}: retrying status`,
        );
        const st = statuses('ev').at(-1)!;
        assert.equal(st.fill, 'yellow');
        assert.equal(st.shape, 'ring');
        // The node keeps trying (backoff) and reports the outage once, not at every poll.
        await until(() => s.log.length >= polls + 3, 5000, `${mode}: several polls`);
        assert.equal(caught.length, before + 1, `${mode}: one error per outage`);
        assert.equal(out.length, delivered, `${mode}: nothing delivered from garbage`);
        assert.ok(!s.log.slice(polls).some((r) => r.method === 'DELETE'), `${mode}: no DELETE`);
        assert.equal(s.queueLength(), 5, `${mode}: nothing deleted`);
        s.setFaults({});
        delivered += 5;
        await until(() => out.length === delivered, 10_000, `${mode}: events after recovery`);
        await until(() => statuses('ev').at(-1)?.fill === 'green', 5000, `${mode}: green`);
        await until(() => s.queueLength() === 0, 5000, `${mode}: batch deleted`);
      }
      assert.equal(new Set(out.map((m) => m.eventId)).size, 15, 'each event once');
    });

    it('events node, badEvents: the malformed events are skipped with a node.warn, no error; valid ones flow after', async () => {
      const acct = account(s, 'acct', { retries: 0 });
      await helper.load(allNodes, flow(acct, [events('ev')]), acct.creds);
      const caught = collect('caught');
      const out = collect('ev-out');
      await until(() => statuses('ev').at(-1)?.text === 'listening', 5000, 'listening');
      s.setFaults({ garbage: 'badEvents' });
      s.publishMany(4, (i) => ({ Type: 'HeartbeatEvent', Device: 'Cab-1', Seq: i }));
      const warns = () =>
        protoCalls('warn')
          .map((a) => String(a[0]))
          .filter((t) => /Skipped a malformed Jetstream event/.test(t));
      await until(() => warns().length === 4, 5000, 'four warnings');
      await until(() => s.queueLength() === 0, 5000, 'the batch deleted');
      assert.ok(warns().every((t) => /no EventId or Type/.test(t)));
      assert.equal(out.length, 0);
      assert.equal(caught.length, 0, 'no error for skipped events');
      s.setFaults({});
      s.publishMany(3, (i) => ({ Type: 'HeartbeatEvent', Device: 'Cab-2', Seq: i }));
      await until(() => out.length === 3, 5000, 'valid events after the fault');
      assert.equal(statuses('ev').at(-1)?.fill, 'green');
      assert.equal(warns().length, 4);
    });

    it('events node, a batch mixing valid and malformed events: the valid ones delivered in order, the rest warned', async () => {
      let served = false;
      const deletes: string[] = [];
      const fake = await fakeServer((req, res, body) => {
        if (req.method === 'GET' && req.url?.startsWith('/3/events/')) {
          const Events = served
            ? []
            : [
                { Type: 'HeartbeatEvent', EventId: 'ok-2', EventTime: '2025-01-01T00:00:02Z' },
                null,
                42,
                'text',
                ['array'],
                { Type: 'HeartbeatEvent' },
                { Type: 'HeartbeatEvent', EventId: '' },
                { Type: 'HeartbeatEvent', EventId: 7 },
                { EventId: 'no-type' },
                { Type: 12, EventId: 'bad-type' },
                { Type: 'HeartbeatEvent', EventId: 'ok-1', EventTime: '2025-01-01T00:00:01Z' },
              ];
          served = true;
          json(res, 200, { BatchId: 'b-1', Count: Events.length, Events });
        } else if (req.method === 'DELETE' && req.url === '/3/events') {
          deletes.push(body);
          res.writeHead(204).end();
        } else json(res, 404, { Message: 'no' });
      });
      try {
        const acct = account(s, 'acct', { url: fake.url, retries: 0 });
        await helper.load(allNodes, flow(acct, [events('ev')]), acct.creds);
        const caught = collect('caught');
        const out = collect('ev-out');
        await until(() => deletes.length === 1, 5000, 'the batch deleted');
        await sleep(100);
        assert.deepEqual(
          out.map((m) => m.eventId),
          ['ok-1', 'ok-2'],
        );
        const warns = protoCalls('warn').map((a) => String(a[0]));
        assert.equal(warns.filter((t) => /Skipped a malformed Jetstream event/.test(t)).length, 9);
        assert.equal(caught.length, 0);
        assert.deepEqual(JSON.parse(deletes[0]), { BatchId: 'b-1' });
        assert.equal(statuses('ev').at(-1)?.fill, 'green');
      } finally {
        await fake.close();
      }
    });

    it('sync node, an HTML page with 200: JETSTREAM_SERVER_ERROR "not JSON", exactly one POST, not retried', async () => {
      const fake = await fakeServer((req, res) => {
        if (req.url === '/3/devices/Cab-1/credentials/sync') {
          res
            .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' })
            .end('<!DOCTYPE html><html><body><h1>Welcome to the portal</h1></body></html>');
        } else if (req.url === '/3/devices/Cab-2/credentials/sync') {
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"CommandId": "ab');
        } else json(res, 404, { Message: 'no' });
      });
      try {
        const acct = account(s, 'acct', { url: fake.url, retries: 3 });
        await helper.load(allNodes, flow(acct, [syncer('js1')]), acct.creds);
        const caught = collect('caught');
        const out = collect('js1-out');
        helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
        await until(() => caught.length === 1, 5000, 'the error at Catch');
        helper.getNode('js1').receive({ payload: 2, device: 'Cab-2' });
        await until(() => caught.length === 2, 5000, 'the second error at Catch');
        await sleep(300);
        assert.equal(errorCode(caught[0]), 'JETSTREAM_SERVER_ERROR');
        assert.match(
          message(caught[0]),
          /sync credentials for device "Cab-1" failed: unexpected answer \(HTTP 200, an HTML page instead of JSON\)/,
        );
        assert.equal(caught[0].statusCode, 200);
        assert.equal(errorCode(caught[1]), 'JETSTREAM_SERVER_ERROR');
        assert.match(message(caught[1]), /the body is not valid JSON/);
        assert.equal(out.length, 0);
        assert.deepEqual(fake.requests, [
          { method: 'POST', url: '/3/devices/Cab-1/credentials/sync' },
          { method: 'POST', url: '/3/devices/Cab-2/credentials/sync' },
        ]);
        assert.equal(statuses('js1').at(-1)?.fill, 'red');
      } finally {
        await fake.close();
      }
    });

    it('sync node, lastSync answered with an HTML page by the simulator: JETSTREAM_SERVER_ERROR, one GET', async () => {
      const acct = account(s, 'acct', { retries: 3 });
      await helper.load(allNodes, flow(acct, [syncer('js1', { action: 'lastSync' })]), acct.creds);
      const caught = collect('caught');
      s.setFaults({ garbage: 'html' });
      helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
      await until(() => caught.length === 1, 5000, 'the error at Catch');
      await sleep(200);
      assert.equal(errorCode(caught[0]), 'JETSTREAM_SERVER_ERROR');
      assert.match(message(caught[0]), /an HTML page instead of JSON/);
      assert.equal(s.log.length, 1);
    });
  });

  describe('TLS', () => {
    let tls: { key: string; cert: string };

    before(function () {
      this.timeout(15_000);
      tls = selfSignedCert();
    });
    it('a self-signed HTTPS endpoint: JETSTREAM_NETWORK naming the certificate, no request sent (verification stays on)', async () => {
      assert.equal(process.env.NODE_TLS_REJECT_UNAUTHORIZED, undefined);
      const fake = await fakeServer((_req, res) => json(res, 200, { CommandId: 'x' }), tls);
      try {
        const acct = account(s, 'acct', { url: fake.url, retries: 0 });
        await helper.load(allNodes, flow(acct, [syncer('js1'), events('ev')]), acct.creds);
        const caught = collect('caught');
        const out = collect('js1-out');
        await until(() => caught.length === 1, 5000, 'the events node error');
        helper.getNode('js1').receive({ payload: 1, device: 'Cab-1' });
        await until(() => caught.length === 2, 5000, 'the sync node error');
        for (const m of caught) {
          assert.equal(errorCode(m), 'JETSTREAM_NETWORK');
          assert.match(message(m), /certificate/i);
          assertClean('the TLS error', safeJson(m));
        }
        assert.match(message(caught[1]), /sync credentials for device "Cab-1" failed/);
        assert.equal(out.length, 0);
        assert.deepEqual(fake.requests, [], 'nothing was sent over the untrusted connection');
        assert.equal(statuses('js1').at(-1)?.fill, 'red');
        assert.equal(statuses('ev').at(-1)?.fill, 'yellow');
      } finally {
        await fake.close();
      }
    });
  });
});
