// lib/client against the simulator (and a few tiny loopback servers) over real HTTP.
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';

import { JetstreamClient, parseRetryAfter, type ClientOptions } from '../lib/client';
import { JetstreamError, type JetstreamErrorCode } from '../lib/errors';
import type { Simulator } from '../lib/simulator';
import { KEY, selfSignedCert, sim, sleep, until } from './support';

/** Every proxy-related variable proxy-from-env reads. */
const PROXY_VARS = [
  'http_proxy',
  'HTTP_PROXY',
  'https_proxy',
  'HTTPS_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'no_proxy',
  'NO_PROXY',
  'npm_config_http_proxy',
  'npm_config_https_proxy',
  'npm_config_proxy',
  'npm_config_no_proxy',
];

/** Awaits a rejection and returns it, checked to be a JetstreamError with `code`. */
async function fails(p: Promise<unknown>, code: JetstreamErrorCode): Promise<JetstreamError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof JetstreamError, `expected a JetstreamError, got ${inspect(e)}`);
    assert.equal(e.code, code, `wrong code; message: ${e.message}`);
    return e;
  }
  return assert.fail(`expected ${code}, but the call succeeded`);
}

/** Same for a synchronous throw (the constructor). */
function throws(fn: () => unknown, code: JetstreamErrorCode): JetstreamError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof JetstreamError, `expected a JetstreamError, got ${inspect(e)}`);
    assert.equal(e.code, code, `wrong code; message: ${e.message}`);
    return e;
  }
  return assert.fail(`expected ${code} to be thrown`);
}

/** The key appears nowhere a user (or a log) could see the error. */
function assertNoKey(err: Error, key: string): void {
  const views = {
    message: err.message,
    string: String(err),
    json: JSON.stringify(err),
    stack: String(err.stack),
    inspect: inspect(err, { depth: 10, showHidden: true }),
  };
  for (const [where, text] of Object.entries(views)) {
    assert.ok(!text.includes(key), `the access key leaked into err ${where}: ${text}`);
  }
}

interface Loopback {
  server: http.Server;
  port: number;
  url: string;
}

const servers: http.Server[] = [];
const clients: JetstreamClient[] = [];

function listen(
  handler: http.RequestListener,
  server: http.Server = http.createServer(handler),
): Promise<Loopback> {
  servers.push(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      const proto = server instanceof https.Server ? 'https' : 'http';
      resolve({ server, port, url: `${proto}://127.0.0.1:${port}` });
    });
  });
}

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function client(opts: Partial<ClientOptions> & { url: string }): JetstreamClient {
  const c = new JetstreamClient({ accessKey: KEY, retries: 2, retryBaseMs: 5, ...opts });
  clients.push(c);
  return c;
}

function json(res: http.ServerResponse, status: number, body: unknown, headers = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

describe('JetstreamClient', function () {
  let s: Simulator;
  let c: JetstreamClient;
  const savedEnv: Record<string, string | undefined> = {};

  before(() => {
    // The machine's proxy settings must not route these loopback tests anywhere.
    for (const v of PROXY_VARS) {
      savedEnv[v] = process.env[v];
      delete process.env[v];
    }
  });
  after(() => {
    for (const v of PROXY_VARS) {
      if (savedEnv[v] === undefined) delete process.env[v];
      else process.env[v] = savedEnv[v];
    }
  });

  beforeEach(async () => {
    s = await sim({ devices: ['Cab-1', { name: 'Fridge-2', online: false }] });
    c = client({ url: s.url, timeout: 2000 });
  });

  afterEach(async () => {
    for (const cl of clients.splice(0)) cl.close();
    for (const srv of servers.splice(0)) {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
    await s.close();
  });

  describe('methods', () => {
    it('syncCredentials: an online device answers Completed, with statusCode and body', async () => {
      const r = await c.syncCredentials('Cab-1');
      assert.equal(r.statusCode, 200);
      assert.equal(r.body.Status, 'Completed');
      assert.match(r.body.CommandId, /^[0-9a-f-]{36}$/);
      assert.deepEqual(r.body.ExceptionList, []);
      assert.deepEqual(r.body.OutputParameterList, []);
      assert.equal(s.log.length, 1);
      assert.equal(s.log[0].method, 'POST');
      assert.equal(s.log[0].path, '/3/devices/Cab-1/credentials/sync');
      const done = s.queuedEvents().find((e) => e.Type === 'CommandCompletionEvent');
      assert.equal(done?.CommandId, r.body.CommandId);
    });

    it('syncCredentials: an offline device answers Queued', async () => {
      const r = await c.syncCredentials('Fridge-2');
      assert.equal(r.statusCode, 200);
      assert.equal(r.body.Status, 'Queued');
      assert.equal(typeof r.body.CommandId, 'string');
      assert.equal(s.device('Fridge-2')?.queued, 1);
    });

    it('getLastSync: null before any sync, then the time of the sync', async () => {
      const before = await c.getLastSync('Cab-1');
      assert.deepEqual(before, { statusCode: 200, body: null });
      await c.syncCredentials('Cab-1');
      const after = await c.getLastSync('Cab-1');
      assert.equal(after.statusCode, 200);
      assert.match(String(after.body), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(after.body, s.device('Cab-1')?.lastSync);
      assert.equal(s.log[2].method, 'GET');
      assert.equal(s.log[2].path, '/3/devices/Cab-1/credentials/sync');
    });

    it('getEvents: type/device filters reach the server as a query and filter', async () => {
      const hb = s.publish({ Type: 'HeartbeatEvent', Device: 'Cab-1' });
      s.publish({ Type: 'HeartbeatEvent', Device: 'Fridge-2' });
      s.publish({ Type: 'ObjectEvent', Device: 'Cab-1', Observe: [] });
      const batch = await c.getEvents(50, { type: 'HeartbeatEvent', device: 'Cab-1' });
      assert.deepEqual(
        batch.Events.map((e) => e.EventId),
        [hb.EventId],
      );
      assert.equal(batch.Count, 1);
      assert.equal(typeof batch.BatchId, 'string');
      assert.equal(s.log[0].path, '/3/events/50');
      assert.deepEqual(s.log[0].query, { type: 'HeartbeatEvent', device: 'Cab-1' });

      const odd = s.publish({ Type: 'Odd&Type=1', Device: 'Cab 1,2.x+y' });
      const enc = await c.getEvents(5, { type: 'Odd&Type=1', device: 'Cab 1,2.x+y' });
      assert.deepEqual(enc.Events, [odd]);
      assert.deepEqual(s.log[1].query, { type: 'Odd&Type=1', device: 'Cab 1,2.x+y' });

      const all = await c.getEvents(2);
      assert.deepEqual(s.log[2].query, {}, 'no filter, no query');
      assert.equal(all.Events.length, 2);
    });

    it('getEvents: unknown event types and extra fields pass through untouched', async () => {
      const odd = s.publish({
        Type: 'FutureWidgetEvent',
        Device: 'Cab-1',
        Widget: { Nested: [1, 'two', null, { Deep: true }], Empty: {} },
        Version: 9,
      });
      const extra = s.publish({
        Type: 'HeartbeatEvent',
        Device: 'Cab-1',
        NewField: 'x',
        Numbers: [1.5, -2],
      });
      const batch = await c.getEvents(10);
      assert.deepEqual(batch.Events, [odd, extra]);
    });

    it('deleteEvents({batchId}) removes exactly the fetched batch', async () => {
      for (let i = 0; i < 3; i++) s.publish({ Type: 'HeartbeatEvent', Device: 'Cab-1', Seq: i });
      const batch = await c.getEvents(2);
      assert.equal(batch.Events.length, 2);
      await c.deleteEvents({ batchId: batch.BatchId });
      assert.equal(s.log[1].method, 'DELETE');
      assert.equal(s.log[1].path, '/3/events');
      assert.equal(s.log[1].status, 204);
      assert.deepEqual(
        s.queuedEvents().map((e) => e.Seq),
        [2],
      );
    });

    it('deleteEvents({eventIds}) removes those events only', async () => {
      const ids = [0, 1, 2].map(
        (i) => s.publish({ Type: 'HeartbeatEvent', Device: 'Cab-1', Seq: i }).EventId,
      );
      await c.deleteEvents({ eventIds: [ids[0], ids[2]] });
      assert.deepEqual(
        s.queuedEvents().map((e) => e.EventId),
        [ids[1]],
      );
    });

    it('listDevices returns the devices of the application', async () => {
      const list = await c.listDevices();
      assert.deepEqual(
        list.map((d) => d.Name),
        ['Cab-1', 'Fridge-2'],
      );
      assert.equal(list[0].DeviceDefinition, 'CabinetXS');
      assert.equal(s.log[0].path, '/3/devices');
    });

    it('Basic credentials: get, add, replace, remove', async () => {
      assert.deepEqual(await c.getCredentials('Cab-1', 'Basic'), []);
      assert.deepEqual(await c.addCredentials('Cab-1', 'Basic', ['0123456789AB', 'ABCDEF0123']), [
        '0123456789AB',
        'ABCDEF0123',
      ]);
      assert.deepEqual(await c.getCredentials('Cab-1', 'Basic'), ['0123456789AB', 'ABCDEF0123']);
      assert.deepEqual(await c.replaceCredentials('Cab-1', 'Basic', ['FFFFFFFFFF', '1111111111']), [
        'FFFFFFFFFF',
        '1111111111',
      ]);
      assert.equal(await c.removeCredentials('Cab-1', 'Basic', ['FFFFFFFFFF']), undefined);
      assert.deepEqual(s.device('Cab-1')?.credentials.Basic, ['1111111111']);
      assert.deepEqual(await c.replaceCredentials('Cab-1', 'Basic', []), []);
      assert.deepEqual(
        s.log.map((l) => `${l.method} ${l.path} ${l.status}`),
        [
          'GET /3/devices/Cab-1/credentials/Basic 200',
          'POST /3/devices/Cab-1/credentials/Basic 201',
          'GET /3/devices/Cab-1/credentials/Basic 200',
          'PUT /3/devices/Cab-1/credentials/Basic 200',
          'DELETE /3/devices/Cab-1/credentials/Basic 204',
          'PUT /3/devices/Cab-1/credentials/Basic 200',
        ],
      );
    });

    it('User credentials: ids come back, secrets are stored but never returned', async () => {
      const added = await c.addCredentials('Cab-1', 'User', { alice: 's3cret-a', bob: 's3cret-b' });
      assert.deepEqual(added, ['alice', 'bob']);
      assert.deepEqual(s.device('Cab-1')?.credentials.User, {
        alice: 's3cret-a',
        bob: 's3cret-b',
      });
      assert.deepEqual(await c.getCredentials('Cab-1', 'User'), ['alice', 'bob']);
      assert.deepEqual(await c.replaceCredentials('Cab-1', 'User', { carol: 's3cret-c' }), [
        'carol',
      ]);
      await c.removeCredentials('Cab-1', 'User', ['carol']);
      assert.deepEqual(await c.getCredentials('Cab-1', 'User'), []);
      await c.addCredentials('Cab-1', 'User', { dave: 'x' });
      assert.deepEqual(await c.replaceCredentials('Cab-1', 'User', {}), []);
      assert.deepEqual(s.device('Cab-1')?.credentials.User, {});
    });

    it('removeCredentials falls back to PATCH when DELETE with a body is refused (405)', async () => {
      const seen: string[] = [];
      const gw = await listen((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        if (req.method === 'DELETE') json(res, 405, { Message: 'DELETE not allowed here' });
        else {
          res.writeHead(204);
          res.end();
        }
      });
      const g = client({ url: gw.url });
      await g.removeCredentials('Cab-1', 'Pin', ['1234']);
      assert.deepEqual(seen, [
        'DELETE /3/devices/Cab-1/credentials/Pin',
        'PATCH /3/devices/Cab-1/credentials/Pin',
      ]);
    });
  });

  describe('errors', () => {
    it('401 wrong key: JETSTREAM_UNAUTHORIZED naming the device and Jetstream’s Message', async () => {
      const bad = client({ url: s.url, accessKey: 'not-the-right-key' });
      const err = await fails(bad.syncCredentials('Cab-1'), 'JETSTREAM_UNAUTHORIZED');
      assert.equal(err.statusCode, 401);
      assert.equal(err.device, 'Cab-1');
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /401/);
      assert.match(err.message, /Authorization has been denied for this request\./);
      assert.equal(s.log.length, 1, 'a 401 is not retried');
    });

    it('404 unknown device: JETSTREAM_NOT_FOUND', async () => {
      const err = await fails(c.syncCredentials('Nope'), 'JETSTREAM_NOT_FOUND');
      assert.equal(err.statusCode, 404);
      assert.match(err.message, /"Nope"/);
      assert.match(err.message, /Device 'Nope' was not found\./);
      assert.equal(s.log.length, 1, 'a 404 is not retried');
    });

    it('400: JETSTREAM_BAD_REQUEST with the ModelState text (getEvents(0))', async () => {
      const err = await fails(c.getEvents(0), 'JETSTREAM_BAD_REQUEST');
      assert.equal(err.statusCode, 400);
      assert.match(err.message, /The request is invalid\./);
      assert.match(err.message, /limit: The limit '0' is invalid: an integer from 1 to 512/);
      assert.equal(s.log.length, 1, 'a 400 is not retried');
    });

    it('400 on a device call names the device and the ModelState entry', async () => {
      const err = await fails(
        c.addCredentials('Cab-1', 'Basic', ['nothex']),
        'JETSTREAM_BAD_REQUEST',
      );
      assert.equal(err.statusCode, 400);
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /Credentials: The credential 'nothex' is invalid/);
      assert.equal(s.log.length, 1);
    });

    it('429 after the retries: JETSTREAM_RATE_LIMITED', async () => {
      s.setFaults({ rateLimitRate: 1, retryAfter: '0' });
      const err = await fails(c.syncCredentials('Cab-1'), 'JETSTREAM_RATE_LIMITED');
      assert.equal(err.statusCode, 429);
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /Too many requests\. Please retry later\./);
      assert.deepEqual(
        s.log.map((l) => l.status),
        [429, 429, 429],
      );
    });

    it('5xx after the retries: JETSTREAM_SERVER_ERROR; retries: 2 means exactly 3 requests', async () => {
      s.setFaults({ errorRate: 1 });
      const err = await fails(c.syncCredentials('Cab-1'), 'JETSTREAM_SERVER_ERROR');
      assert.ok([500, 502, 503].includes(err.statusCode as number), String(err.statusCode));
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /An error has occurred\.|Bad Gateway|Service Unavailable/);
      assert.equal(s.log.length, 3);
      assert.ok(s.log.every((l) => l.status >= 500));
      assert.equal(s.device('Cab-1')?.lastSync, null, 'no sync ran');
    });

    it('retries: 0 makes exactly one request', async () => {
      s.setFaults({ errorRate: 1 });
      const once = client({ url: s.url, retries: 0 });
      await fails(once.listDevices(), 'JETSTREAM_SERVER_ERROR');
      assert.equal(s.log.length, 1);
    });

    it('connection refused on a closed loopback port: JETSTREAM_NETWORK', async () => {
      const port = await closedPort();
      const dead = client({ url: `http://127.0.0.1:${port}`, retries: 1 });
      const err = await fails(dead.syncCredentials('Cab-1'), 'JETSTREAM_NETWORK');
      assert.equal(err.statusCode, undefined);
      assert.equal(err.aborted, false);
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /refused/);
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
    });

    it('a timeout (latency > timeout): JETSTREAM_NETWORK, without waiting for the answer', async () => {
      s.setFaults({ latencyMs: 1500 });
      const slow = client({ url: s.url, timeout: 100, retries: 0 });
      const t0 = Date.now();
      const err = await fails(slow.getLastSync('Cab-1'), 'JETSTREAM_NETWORK');
      assert.ok(Date.now() - t0 < 800, `took ${Date.now() - t0} ms`);
      assert.equal(err.statusCode, undefined);
      assert.equal(err.aborted, false);
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /no answer within 100 ms/);
    });
  });

  describe('retries', () => {
    it('connection resets are retried, then JETSTREAM_NETWORK', async () => {
      s.setFaults({ resetRate: 1 });
      const err = await fails(c.listDevices(), 'JETSTREAM_NETWORK');
      assert.match(err.message, /connection reset|socket hang up/);
      assert.deepEqual(
        s.log.map((l) => l.status),
        [0, 0, 0],
      );
    });

    it('4xx is not retried, whatever the retry count', async () => {
      const many = client({ url: s.url, retries: 5 });
      assert.deepEqual(await many.getCredentials('Cab-1', 'Basic'), []);
      await fails(many.getEvents(513), 'JETSTREAM_BAD_REQUEST');
      await fails(many.getLastSync('Ghost'), 'JETSTREAM_NOT_FOUND');
      assert.deepEqual(
        s.log.map((l) => l.status),
        [200, 400, 404],
      );
    });

    it('succeeds after a transient 5xx (one sync command only)', async () => {
      s.setFaults({ errorRate: 1 });
      const patient = client({ url: s.url, retryBaseMs: 200 });
      const p = patient.syncCredentials('Cab-1');
      await until(() => s.log.length >= 1, 2000, 'the first request');
      s.setFaults({});
      const r = await p;
      assert.equal(r.body.Status, 'Completed');
      assert.equal(s.log.length, 2);
      assert.ok(s.log[0].status >= 500);
      assert.equal(s.log[1].status, 200);
      assert.equal(
        s.queuedEvents().filter((e) => e.Type === 'CommandQueuedEvent').length,
        1,
        'the failed attempt ran no command',
      );
    });

    it('succeeds after a transient connection reset', async () => {
      s.setFaults({ resetRate: 1 });
      const patient = client({ url: s.url, retryBaseMs: 200 });
      const p = patient.listDevices();
      await until(() => s.log.length >= 1, 2000, 'the first request');
      s.setFaults({});
      assert.equal((await p).length, 2);
      assert.deepEqual(
        s.log.map((l) => l.status),
        [0, 200],
      );
    });
  });

  describe('Retry-After', () => {
    it('parseRetryAfter reads delay-seconds and HTTP dates, and ignores garbage', () => {
      const now = Date.parse('Wed, 21 Oct 2015 07:28:00 GMT');
      assert.equal(parseRetryAfter('1', now), 1000);
      assert.equal(parseRetryAfter(' 120 ', now), 120_000);
      assert.equal(parseRetryAfter('0', now), 0);
      assert.equal(parseRetryAfter('1.5', now), 1500);
      assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:28:05 GMT', now), 5000);
      assert.equal(parseRetryAfter('Wed, 21 Oct 2015 07:27:00 GMT', now), 0, 'a past date');
      for (const junk of ['soon', '', '   ', '12abc', '1e3', undefined, null, 5, ['1']]) {
        assert.equal(parseRetryAfter(junk, now), undefined, JSON.stringify(junk));
      }
    });

    it('Retry-After: 1 makes the next request wait about a second', async function () {
      this.timeout(6000);
      s.setFaults({ rateLimitRate: 1, retryAfter: '1' });
      const fast = client({ url: s.url, retryBaseMs: 1 });
      const p = fast.listDevices();
      await until(() => s.log.length >= 1, 2000, 'the 429');
      s.setFaults({});
      await p;
      assert.deepEqual(
        s.log.map((l) => l.status),
        [429, 200],
      );
      const gap = s.log[1].at - s.log[0].at;
      assert.ok(gap >= 950, `second request after ${gap} ms`);
      assert.ok(gap < 2500, `second request after ${gap} ms`);
    });

    it('Retry-After as an HTTP date is honoured too', async function () {
      this.timeout(6000);
      // Whole seconds: 2 s ahead truncates to somewhere between 1 and 2 s from now.
      s.setFaults({ rateLimitRate: 1, retryAfter: new Date(Date.now() + 2000).toUTCString() });
      const fast = client({ url: s.url, retryBaseMs: 1 });
      const p = fast.listDevices();
      await until(() => s.log.length >= 1, 2000, 'the 429');
      s.setFaults({});
      await p;
      const gap = s.log[1].at - s.log[0].at;
      assert.ok(gap >= 900, `second request after ${gap} ms`);
      assert.ok(gap < 3000, `second request after ${gap} ms`);
    });

    it('a Retry-After longer than maxRetryAfterMs is not waited for', async () => {
      s.setFaults({ rateLimitRate: 1, retryAfter: '120' });
      const t0 = Date.now();
      const err = await fails(c.syncCredentials('Cab-1'), 'JETSTREAM_RATE_LIMITED');
      assert.ok(Date.now() - t0 < 500, `took ${Date.now() - t0} ms`);
      assert.equal(err.retryAfterMs, 120_000);
      assert.equal(err.statusCode, 429);
      assert.equal(s.log.length, 1);

      const strict = client({ url: s.url, maxRetryAfterMs: 500 });
      s.setFaults({ rateLimitRate: 1, retryAfter: '1' });
      const err2 = await fails(strict.listDevices(), 'JETSTREAM_RATE_LIMITED');
      assert.equal(err2.retryAfterMs, 1000);
      assert.equal(s.log.length, 2);
    });
  });

  describe('abort', () => {
    it('aborting mid-request rejects at once with aborted === true, and nothing follows', async () => {
      s.setFaults({ latencyMs: 3000 });
      const ac = new AbortController();
      const p = c.syncCredentials('Cab-1', { signal: ac.signal });
      await until(() => s.stats().inFlight === 1, 2000, 'the request to arrive');
      const t0 = Date.now();
      ac.abort();
      const err = await fails(p, 'JETSTREAM_NETWORK');
      assert.ok(Date.now() - t0 < 200, `took ${Date.now() - t0} ms`);
      assert.equal(err.aborted, true);
      assert.equal(err.device, 'Cab-1');
      await sleep(100);
      assert.equal(s.stats().requests, 1);
    });

    it('aborting during the backoff sleep rejects at once, and no retry is sent', async () => {
      s.setFaults({ errorRate: 1 });
      const slowRetry = client({ url: s.url, retries: 3, retryBaseMs: 5000 });
      const ac = new AbortController();
      const p = slowRetry.listDevices({ signal: ac.signal });
      await until(() => s.log.length >= 1, 2000, 'the first failure');
      await sleep(20);
      const t0 = Date.now();
      ac.abort();
      const err = await fails(p, 'JETSTREAM_NETWORK');
      assert.ok(Date.now() - t0 < 200, `took ${Date.now() - t0} ms`);
      assert.equal(err.aborted, true);
      await sleep(100);
      assert.equal(s.stats().requests, 1);
    });

    it('an already aborted signal sends nothing', async () => {
      const ac = new AbortController();
      ac.abort();
      const err = await fails(c.getEvents(10, {}, { signal: ac.signal }), 'JETSTREAM_NETWORK');
      assert.equal(err.aborted, true);
      assert.equal(s.stats().requests, 0);
    });
  });

  describe('device names', () => {
    it('spaces, commas and dots are URL-encoded in the path and work', async () => {
      s.addDevice('Cab 1,2.x');
      const r = await c.syncCredentials('Cab 1,2.x');
      assert.equal(r.body.Status, 'Completed');
      await c.addCredentials('Cab 1,2.x', 'Basic', ['0123456789']);
      assert.equal(s.log[0].path, '/3/devices/Cab%201%2C2.x/credentials/sync');
      assert.equal(s.log[1].path, '/3/devices/Cab%201%2C2.x/credentials/Basic');
      assert.deepEqual(s.device('Cab 1,2.x')?.credentials.Basic, ['0123456789']);
    });

    it('a 128-character name is accepted', async () => {
      const long = 'A'.repeat(128);
      s.addDevice(long);
      assert.equal(await c.getLastSync(long).then((r) => r.body), null);
    });

    it('bad names are JETSTREAM_INVALID_INPUT before any request', async () => {
      const bad: unknown[] = [
        '../events',
        '..',
        '.',
        'a/b',
        '%2e%2e',
        'a%20b',
        'Cabiné',
        'Cab\u00a01',
        'tab\there',
        'line\nbreak',
        'x?y=1',
        'x#y',
        'A'.repeat(129),
        '',
        null,
        undefined,
        42,
        ['Cab-1'],
        { name: 'Cab-1' },
      ];
      const calls: Array<[string, (d: unknown) => Promise<unknown>]> = [
        ['syncCredentials', (d) => c.syncCredentials(d as string)],
        ['getLastSync', (d) => c.getLastSync(d as string)],
        ['getCredentials', (d) => c.getCredentials(d as string, 'Basic')],
        ['addCredentials', (d) => c.addCredentials(d as string, 'Basic', ['0123456789'])],
        ['replaceCredentials', (d) => c.replaceCredentials(d as string, 'User', {})],
        ['removeCredentials', (d) => c.removeCredentials(d as string, 'Pin', ['1'])],
      ];
      for (const name of bad) {
        for (const [method, call] of calls) {
          const err = await fails(call(name), 'JETSTREAM_INVALID_INPUT').catch((e: Error) => {
            throw new Error(`${method}(${inspect(name)}): ${e.message}`);
          });
          assert.match(err.message, /[Dd]evice name/);
        }
      }
      assert.equal(s.stats().requests, 0);
      assert.equal(s.log.length, 0);
    });
  });

  describe('URL and key rules', () => {
    it('a trailing slash on the URL is tolerated', async () => {
      for (const u of [`${s.url}/`, `${s.url}//`]) {
        const t = client({ url: u });
        assert.equal(t.baseUrl, `${s.url}/3`);
        assert.equal((await t.listDevices()).length, 2);
      }
      assert.deepEqual(
        s.log.map((l) => l.path),
        ['/3/devices', '/3/devices'],
      );
    });

    it('plain http is accepted for 127.0.0.1, localhost and [::1]', () => {
      for (const u of ['http://127.0.0.1:1', 'http://localhost:1/', 'http://[::1]:1']) {
        const t = client({ url: u });
        assert.equal(t.baseUrl, `${u.replace(/\/$/, '')}/3`);
      }
    });

    it('plain http to any other host is refused in the constructor', () => {
      for (const u of [
        'http://api.jetstreamrfid.com',
        'http://10.0.0.5:8080',
        'http://192.168.1.10',
        'http://localhost.example.com',
        'http://127.0.0.1.example.com',
        'http://[::2]',
        'http://0.0.0.0:1880',
      ]) {
        const err = throws(
          () => new JetstreamClient({ url: u, accessKey: KEY }),
          'JETSTREAM_INVALID_INPUT',
        );
        assert.match(err.message, /unencrypted/, u);
        assert.match(err.message, /https:\/\//, u);
        assertNoKey(err, KEY);
      }
    });

    it('bad URLs are refused', () => {
      for (const u of [
        '',
        'not a url',
        'ftp://127.0.0.1',
        `http://user:pw@127.0.0.1:1`,
        undefined,
      ]) {
        throws(
          () => new JetstreamClient({ url: u as string, accessKey: KEY }),
          'JETSTREAM_INVALID_INPUT',
        );
      }
    });

    it('a missing access key is refused', () => {
      for (const k of ['', '   ', undefined, null]) {
        let err: unknown;
        try {
          new JetstreamClient({ url: s.url, accessKey: k as string });
        } catch (e) {
          err = e;
        }
        assert.ok(err instanceof JetstreamError, `key ${inspect(k)} accepted`);
        assert.match(err.message, /access key/i);
      }
    });
  });

  describe('key hygiene', () => {
    const SECRET = 'sekrit-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';

    it('no error carries the key, even when the server echoes the request', async () => {
      s.setAccessKey(SECRET);
      s.setFaults({ echoRequest: true });
      const k = client({ url: s.url, accessKey: SECRET, retries: 0 });
      const wrong = client({ url: s.url, accessKey: `${SECRET}-wrong`, retries: 0 });
      const errs: JetstreamError[] = [
        await fails(wrong.syncCredentials('Cab-1'), 'JETSTREAM_UNAUTHORIZED'),
        await fails(k.syncCredentials('Nope'), 'JETSTREAM_NOT_FOUND'),
        await fails(k.getEvents(0), 'JETSTREAM_BAD_REQUEST'),
        await fails(k.addCredentials('Cab-1', 'Basic', [SECRET]), 'JETSTREAM_BAD_REQUEST'),
      ];
      s.setFaults({ echoRequest: true, rateLimitRate: 1, retryAfter: '0' });
      errs.push(await fails(k.listDevices(), 'JETSTREAM_RATE_LIMITED'));
      s.setFaults({ echoRequest: true, errorRate: 1 });
      errs.push(await fails(k.syncCredentials('Cab-1'), 'JETSTREAM_SERVER_ERROR'));
      // The simulator did echo the key: the test would notice a leak.
      assert.ok(s.log.length >= 6);
      for (const e of errs.slice(0, 1)) assertNoKey(e, `${SECRET}-wrong`);
      for (const e of errs) assertNoKey(e, SECRET);
    });

    it('no error carries the key when a server puts it in Message, ModelState, text or Location', async () => {
      const bodies: Array<(key: string, res: http.ServerResponse) => void> = [
        (key, res) => json(res, 400, { Message: `bad key ${key}`, ModelState: { k: [key] } }),
        (key, res) => json(res, 401, `denied for ${key}`),
        (key, res) => {
          res.writeHead(500, { 'Content-Type': 'text/plain' });
          res.end(`boom: AccessKey: ${key}`);
        },
        (key, res) => {
          res.writeHead(302, { Location: `http://127.0.0.1:1/?key=${key}` });
          res.end();
        },
      ];
      let which = 0;
      const leaky = await listen((req, res) => bodies[which](String(req.headers.accesskey), res));
      const k = client({ url: leaky.url, accessKey: SECRET, retries: 0 });
      for (which = 0; which < bodies.length; which++) {
        const err = await k.listDevices().then(
          () => assert.fail('succeeded'),
          (e: Error) => e,
        );
        assert.ok(err instanceof JetstreamError);
        assertNoKey(err, SECRET);
      }
    });

    it('network errors and timeouts do not carry the key', async () => {
      const port = await closedPort();
      const dead = client({ url: `http://127.0.0.1:${port}`, accessKey: SECRET, retries: 0 });
      assertNoKey(await fails(dead.listDevices(), 'JETSTREAM_NETWORK'), SECRET);
      s.setAccessKey(SECRET);
      s.setFaults({ latencyMs: 1000 });
      const slow = client({ url: s.url, accessKey: SECRET, retries: 0, timeout: 50 });
      assertNoKey(await fails(slow.listDevices(), 'JETSTREAM_NETWORK'), SECRET);
      const ac = new AbortController();
      const p = slow.getLastSync('Cab-1', { signal: ac.signal });
      setTimeout(() => ac.abort(), 10);
      assertNoKey(await fails(p, 'JETSTREAM_NETWORK'), SECRET);
    });
  });

  describe('garbage answers', () => {
    it('an HTML page with 200 is a clear JETSTREAM_SERVER_ERROR', async () => {
      s.setFaults({ garbage: 'html' });
      const g = client({ url: s.url, retries: 0 });
      for (const call of [
        () => g.listDevices(),
        () => g.getEvents(10),
        () => g.getLastSync('Cab-1'),
        () => g.getCredentials('Cab-1', 'User'),
      ]) {
        const err = await fails(call(), 'JETSTREAM_SERVER_ERROR');
        assert.equal(err.statusCode, 200);
        assert.match(err.message, /HTML page instead of JSON/);
      }
    });

    it('a truncated JSON body is a clear JETSTREAM_SERVER_ERROR', async () => {
      s.publish({ Type: 'HeartbeatEvent', Device: 'Cab-1' });
      s.setFaults({ garbage: 'truncated' });
      const g = client({ url: s.url, retries: 0 });
      for (const call of [() => g.listDevices(), () => g.getEvents(10)]) {
        const err = await fails(call(), 'JETSTREAM_SERVER_ERROR');
        assert.match(err.message, /not valid JSON/);
      }
    });

    it('an events answer without Events is a clear JETSTREAM_SERVER_ERROR', async () => {
      s.publish({ Type: 'HeartbeatEvent', Device: 'Cab-1' });
      s.setFaults({ garbage: 'noEvents' });
      const err = await fails(
        client({ url: s.url, retries: 0 }).getEvents(10),
        'JETSTREAM_SERVER_ERROR',
      );
      assert.match(err.message, /no Events array/);
    });

    it('malformed events come back in their batch (for the hub to skip), deletable', async () => {
      for (let i = 0; i < 4; i++) s.publish({ Type: 'HeartbeatEvent', Device: 'Cab-1', Seq: i });
      s.setFaults({ garbage: 'badEvents' });
      const batch = await c.getEvents(10);
      assert.equal(batch.Events.length, 4);
      assert.equal(batch.Events[0].EventId, undefined);
      assert.equal(batch.Events[1].Type, undefined);
      assert.deepEqual(
        batch.Events.map((e) => e.Seq),
        [0, 1, 2, 3],
      );
      await c.deleteEvents({ batchId: batch.BatchId });
      assert.equal(s.queueLength(), 0);
    });

    it('an unreadable 2xx answer is not retried (a POST would run twice)', async () => {
      const seen: string[] = [];
      const garbled = await listen((req, res) => {
        seen.push(`${req.method} ${req.url}`);
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end('<html><body>Welcome to nginx</body></html>');
      });
      const g = client({ url: garbled.url, retries: 3 });
      const err = await fails(g.syncCredentials('Cab-1'), 'JETSTREAM_SERVER_ERROR');
      assert.match(err.message, /"Cab-1"/);
      assert.match(err.message, /HTML page instead of JSON/);
      await fails(g.addCredentials('Cab-1', 'Basic', ['0123456789']), 'JETSTREAM_SERVER_ERROR');
      assert.deepEqual(seen, [
        'POST /3/devices/Cab-1/credentials/sync',
        'POST /3/devices/Cab-1/credentials/Basic',
      ]);
    });

    it('a 2xx of the wrong shape is a clear error, not a crash', async () => {
      const odd = await listen((req, res) => {
        if (req.url?.endsWith('/sync')) json(res, 200, req.method === 'GET' ? 42 : {});
        else if (req.url?.startsWith('/3/events')) json(res, 200, { Events: [{ Type: 'X' }] });
        else if (req.url?.includes('/credentials/')) json(res, 200, [1, 2]);
        else json(res, 200, { not: 'an array' });
      });
      const g = client({ url: odd.url, retries: 0 });
      const cases: Array<[() => Promise<unknown>, RegExp]> = [
        [() => g.syncCredentials('Cab-1'), /no CommandId/],
        [() => g.getLastSync('Cab-1'), /time string or null/],
        [() => g.getEvents(1), /without a BatchId/],
        [() => g.getCredentials('Cab-1', 'Basic'), /list of credential ids/],
        [() => g.listDevices(), /array of devices/],
      ];
      for (const [call, why] of cases) {
        const err = await fails(call(), 'JETSTREAM_SERVER_ERROR');
        assert.match(err.message, why);
      }
    });
  });

  describe('redirects', () => {
    it('a redirect is not followed: JETSTREAM_BAD_REQUEST and no request reaches the target', async () => {
      let targetHits = 0;
      const target = await listen((_req, res) => {
        targetHits++;
        json(res, 200, []);
      });
      const redirector = await listen((req, res) => {
        res.writeHead(302, { Location: `${target.url}${req.url}` });
        res.end();
      });
      const r = client({ url: redirector.url });
      const err = await fails(r.listDevices(), 'JETSTREAM_BAD_REQUEST');
      assert.equal(err.statusCode, 302);
      assert.match(err.message, /redirect/);
      await fails(r.syncCredentials('Cab-1'), 'JETSTREAM_BAD_REQUEST');
      await sleep(50);
      assert.equal(targetHits, 0);
    });
  });

  describe('proxy', () => {
    let proxied: string[];
    let proxy: Loopback;

    beforeEach(async () => {
      proxied = [];
      proxy = await listen((req, res) => {
        let target: URL;
        try {
          target = new URL(String(req.url)); // a forward proxy gets absolute URIs
        } catch {
          json(res, 400, { Message: 'not a proxy request' });
          return;
        }
        proxied.push(`${req.method} ${target.href}`);
        const up = http.request(
          {
            hostname: target.hostname,
            port: target.port,
            path: target.pathname + target.search,
            method: req.method,
            headers: req.headers,
          },
          (ur) => {
            res.writeHead(ur.statusCode ?? 502, ur.headers);
            ur.pipe(res);
          },
        );
        up.on('error', () => {
          res.writeHead(502);
          res.end();
        });
        req.pipe(up);
      });
    });

    afterEach(() => {
      for (const v of PROXY_VARS) delete process.env[v];
    });

    it('HTTP_PROXY routes the requests through the proxy', async () => {
      process.env.HTTP_PROXY = proxy.url;
      const p = client({ url: s.url });
      delete process.env.HTTP_PROXY; // read at construction only
      assert.equal((await p.listDevices()).length, 2);
      await p.syncCredentials('Cab-1');
      assert.deepEqual(proxied, [
        `GET ${s.url}/3/devices`,
        `POST ${s.url}/3/devices/Cab-1/credentials/sync`,
      ]);
      assert.equal(s.log.length, 2, 'the simulator answered through the proxy');
    });

    it('NO_PROXY bypasses it', async () => {
      process.env.HTTP_PROXY = proxy.url;
      process.env.NO_PROXY = '127.0.0.1';
      const p = client({ url: s.url });
      assert.equal((await p.listDevices()).length, 2);
      assert.deepEqual(proxied, []);
      assert.equal(s.log.length, 1);
    });
  });

  describe('TLS', () => {
    let cert: string;
    let key: string;

    before(function () {
      this.timeout(15_000);
      ({ key, cert } = selfSignedCert());
    });

    async function tlsServer(): Promise<{ srv: Loopback; hits: () => number }> {
      let hits = 0;
      const srv = await listen(
        () => undefined,
        https.createServer({ key, cert }, (req, res) => {
          hits++;
          if (req.url === '/3/devices' && req.headers.accesskey === KEY) json(res, 200, []);
          else json(res, 404, { Message: 'No HTTP resource was found.' });
        }),
      );
      return { srv, hits: () => hits };
    }

    it('a self-signed certificate is refused by default (JETSTREAM_NETWORK)', async () => {
      const { srv, hits } = await tlsServer();
      const t = client({ url: srv.url, retries: 0 });
      const err = await fails(t.listDevices(), 'JETSTREAM_NETWORK');
      assert.match(err.message, /certificate/);
      assert.equal(hits(), 0, 'no request was sent over the untrusted connection');
    });

    it('it is accepted with ca: <the certificate>', async () => {
      const { srv, hits } = await tlsServer();
      const t = client({ url: srv.url, ca: cert });
      assert.deepEqual(await t.listDevices(), []);
      assert.equal(hits(), 1);
    });
  });

  describe('keep-alive', () => {
    it('sequential requests reuse one socket; close() frees it', async () => {
      let connections = 0;
      const open = new Set<unknown>();
      const ka = await listen((_req, res) => json(res, 200, []));
      ka.server.on('connection', (sock) => {
        connections++;
        open.add(sock);
        sock.on('close', () => open.delete(sock));
      });
      const k = client({ url: ka.url });
      for (let i = 0; i < 5; i++) assert.deepEqual(await k.listDevices(), []);
      assert.equal(connections, 1);
      assert.equal(open.size, 1);
      k.close();
      await until(() => open.size === 0, 1000, 'the keep-alive socket to close');
    });
  });
});
