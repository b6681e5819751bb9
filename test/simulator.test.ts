import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';

import { startSimulator, type Simulator } from '../lib/simulator';
import { uuid } from '../lib/simulator/uuid';
import type { EventBatch, JetstreamEvent } from '../lib/types';

const KEY = '11111111-2222-3333-4444-555555555555';

interface Res {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

async function call(
  sim: Simulator,
  method: string,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = { AccessKey: sim.accessKey },
): Promise<Res> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['Content-Type'] = 'application/json';
  }
  const r = await fetch(sim.url + urlPath, init);
  const text = await r.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: r.status, headers: r.headers, text, body: parsed };
}

const enc = encodeURIComponent;
const ofType = (sim: Simulator, type: string): JetstreamEvent[] =>
  sim.queuedEvents().filter((e) => e.Type === type);

describe('Jetstream simulator', function () {
  let sim: Simulator;

  beforeEach(async () => {
    sim = await startSimulator({
      accessKey: KEY,
      devices: ['Cabinet-1', { name: 'Fridge 2', online: false }, 'Odd, name. _-x'],
    });
  });
  afterEach(async () => {
    await sim.close();
  });

  describe('basics', () => {
    it('listens on 127.0.0.1 with a random port and exposes the key', () => {
      assert.match(sim.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(sim.port > 0);
      assert.equal(sim.accessKey, KEY);
    });

    it('answers 401 without or with a wrong AccessKey', async () => {
      const none = await call(sim, 'GET', '/3/devices', undefined, {});
      assert.equal(none.status, 401);
      assert.deepEqual(none.body, { Message: 'Authorization has been denied for this request.' });
      const wrong = await call(sim, 'GET', '/3/events', undefined, { AccessKey: 'nope' });
      assert.equal(wrong.status, 401);
      assert.match(wrong.headers.get('content-type') ?? '', /application\/json; charset=utf-8/);
      sim.setAccessKey('new-key');
      assert.equal(
        (await call(sim, 'GET', '/3/devices', undefined, { AccessKey: KEY })).status,
        401,
      );
      assert.equal((await call(sim, 'GET', '/3/devices')).status, 200);
    });

    it('lists devices', async () => {
      const r = await call(sim, 'GET', '/3/devices');
      assert.equal(r.status, 200);
      const list = r.body as Array<Record<string, unknown>>;
      assert.deepEqual(
        list.map((d) => d.Name),
        ['Cabinet-1', 'Fridge 2', 'Odd, name. _-x'],
      );
      assert.equal(typeof list[0].Id, 'number');
      assert.equal(list[0].DeviceDefinition, 'CabinetXS');
      assert.equal(list[0].Region, 'US');
      assert.deepEqual(list[0].Aliases, []);
      assert.equal(typeof list[0].DeviceSerialNumber, 'string');
    });

    it('reports device status and 404 for unknown devices, 400 for invalid names', async () => {
      assert.deepEqual((await call(sim, 'GET', '/3/devices/Cabinet-1/status')).body, {
        WebSocketsEnabled: true,
      });
      assert.deepEqual((await call(sim, 'GET', `/3/devices/${enc('Fridge 2')}/status`)).body, {
        WebSocketsEnabled: false,
      });
      const nf = await call(sim, 'POST', '/3/devices/Nope/credentials/sync');
      assert.equal(nf.status, 404);
      assert.deepEqual(nf.body, { Message: "Device 'Nope' was not found." });
      const bad = await call(sim, 'GET', `/3/devices/${enc('bad/name!')}/status`);
      assert.equal(bad.status, 400);
      assert.ok((bad.body as { ModelState: Record<string, string[]> }).ModelState.DeviceName);
    });

    it('answers 404 with the Web API message for unknown routes', async () => {
      const r = await call(sim, 'GET', '/3/nothing');
      assert.equal(r.status, 404);
      assert.deepEqual(r.body, {
        Message: 'No HTTP resource was found that matches the request URI.',
      });
      assert.equal((await call(sim, 'GET', '/elsewhere')).status, 404);
    });

    it('answers 400 for an invalid JSON body', async () => {
      const r = await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/Basic', '[not json');
      assert.equal(r.status, 400);
      assert.equal(typeof (r.body as { Message: string }).Message, 'string');
    });
  });

  describe('credentials sync command', () => {
    it('completes on an online device: CQE + CCE with the same CommandId, lastSync set', async () => {
      await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/Basic', ['0A1B2C3D4E']);
      await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/User', { alice: 'pw1' });
      sim.clearEvents();
      assert.equal((await call(sim, 'GET', '/3/devices/Cabinet-1/credentials/sync')).text, 'null');
      const r = await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/sync');
      assert.equal(r.status, 200);
      const cmd = r.body as Record<string, unknown>;
      assert.match(String(cmd.CommandId), /^[0-9a-f-]{36}$/);
      assert.equal(cmd.Status, 'Completed');
      assert.deepEqual(cmd.ExceptionList, []);
      assert.deepEqual(cmd.OutputParameterList, []);
      const [cqe, cce] = sim.queuedEvents();
      assert.equal(cqe.Type, 'CommandQueuedEvent');
      assert.equal(cqe.CommandId, cmd.CommandId);
      assert.equal(cqe.CommandName, 'SyncCredentials');
      assert.equal(cqe.Device, 'Cabinet-1');
      assert.equal(cqe.URI, '/3/devices/Cabinet-1/credentials/sync');
      assert.equal(cqe.Verb, 'Post');
      assert.equal(cqe.Version, 3);
      assert.deepEqual(cqe.Parameters, [
        { Key: 'Add', Value: '0A1B2C3D4E' },
        { Key: 'Add', Value: 'alice' },
        { Key: 'Remove', Value: '*' },
      ]);
      assert.ok(!JSON.stringify(cqe).includes('pw1'));
      assert.equal(cce.Type, 'CommandCompletionEvent');
      assert.equal(cce.CommandId, cmd.CommandId);
      assert.equal(cce.Version, 2);
      assert.deepEqual(cce.ExceptionList, []);
      assert.match(String(cce.ReceivedTime), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const last = sim.device('Cabinet-1')?.lastSync;
      assert.match(String(last), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const g = await call(sim, 'GET', '/3/devices/Cabinet-1/credentials/sync');
      assert.equal(g.body, last);
    });

    it('queues on an offline device until it comes online', async () => {
      const r = await call(sim, 'POST', `/3/devices/${enc('Fridge 2')}/credentials/sync`);
      assert.equal(r.status, 200);
      const cmd = r.body as { CommandId: string; Status: string };
      assert.equal(cmd.Status, 'Queued');
      assert.equal(ofType(sim, 'CommandQueuedEvent')[0].CommandId, cmd.CommandId);
      assert.equal(ofType(sim, 'CommandCompletionEvent').length, 0);
      assert.equal(sim.device('Fridge 2')?.queued, 1);
      assert.equal(sim.device('Fridge 2')?.lastSync, null);
      sim.setOnline('Fridge 2', true);
      const cces = ofType(sim, 'CommandCompletionEvent');
      assert.equal(cces.length, 1);
      assert.equal(cces[0].CommandId, cmd.CommandId);
      assert.equal(cces[0].Device, 'Fridge 2');
      assert.equal(sim.device('Fridge 2')?.queued, 0);
      assert.notEqual(sim.device('Fridge 2')?.lastSync, null);
    });

    it('runs several queued commands in order', async () => {
      const a = (await call(sim, 'POST', `/3/devices/${enc('Fridge 2')}/credentials/sync`)).body;
      const b = (await call(sim, 'POST', `/3/devices/${enc('Fridge 2')}/credentials/sync`)).body;
      sim.setOnline('Fridge 2', true);
      assert.deepEqual(
        ofType(sim, 'CommandCompletionEvent').map((e) => e.CommandId),
        [(a as { CommandId: string }).CommandId, (b as { CommandId: string }).CommandId],
      );
    });

    it('accepts URL-encoded names with spaces, commas and dots', async () => {
      const r = await call(sim, 'POST', `/3/devices/${enc('Odd, name. _-x')}/credentials/sync`);
      assert.equal(r.status, 200);
      assert.equal((r.body as { Status: string }).Status, 'Completed');
      assert.equal(ofType(sim, 'CommandCompletionEvent')[0].Device, 'Odd, name. _-x');
    });

    it('failNextCommand: online response and CCE carry the exception', async () => {
      const exc = { Key: 'CommandTimedOut', Value: 'Command timed out after 1440 minutes.' };
      sim.failNextCommand('Cabinet-1', exc);
      const r = await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/sync');
      assert.deepEqual((r.body as { ExceptionList: unknown }).ExceptionList, [exc]);
      assert.deepEqual(ofType(sim, 'CommandCompletionEvent')[0].ExceptionList, [exc]);
      assert.equal(sim.device('Cabinet-1')?.lastSync, null);
      // only the next one
      const r2 = await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/sync');
      assert.deepEqual((r2.body as { ExceptionList: unknown }).ExceptionList, []);
    });

    it('failNextCommand: a queued command fails only in its CCE', async () => {
      const exc = { Key: 'CommandTimedOut', Value: 'Command timed out after 1440 minutes.' };
      sim.failNextCommand('Fridge 2', exc);
      const r = await call(sim, 'POST', `/3/devices/${enc('Fridge 2')}/credentials/sync`);
      assert.equal((r.body as { Status: string }).Status, 'Queued');
      assert.deepEqual((r.body as { ExceptionList: unknown }).ExceptionList, []);
      sim.setOnline('Fridge 2', true);
      assert.deepEqual(ofType(sim, 'CommandCompletionEvent')[0].ExceptionList, [exc]);
    });

    it('completionDelayMs delays the CCE, autoOnlineAfterMs brings a device online', async () => {
      await sim.close();
      sim = await startSimulator({
        devices: ['A', 'B:offline'],
        completionDelayMs: 40,
        autoOnlineAfterMs: 40,
      });
      const a = (await call(sim, 'POST', '/3/devices/A/credentials/sync')).body as {
        Status: string;
      };
      assert.equal(a.Status, 'Completed');
      const b = (await call(sim, 'POST', '/3/devices/B/credentials/sync')).body as {
        Status: string;
      };
      assert.equal(b.Status, 'Queued');
      assert.equal(ofType(sim, 'CommandCompletionEvent').length, 0);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(ofType(sim, 'CommandCompletionEvent').length, 2);
      assert.equal(sim.device('B')?.online, true);
    });
  });

  describe('credential lists', () => {
    const base = '/3/devices/Cabinet-1/credentials';

    it('Basic: POST 201, PUT 200, GET, DELETE/PATCH 204, events', async () => {
      let r = await call(sim, 'POST', `${base}/Basic`, ['0A1B2C3D4E', 'FFFFFFFFFF']);
      assert.equal(r.status, 201);
      assert.deepEqual(r.body, ['0A1B2C3D4E', 'FFFFFFFFFF']);
      r = await call(sim, 'POST', `${base}/basic`, ['ABCDEF0123']);
      assert.equal(r.status, 201);
      assert.deepEqual(r.body, ['0A1B2C3D4E', 'FFFFFFFFFF', 'ABCDEF0123']);
      r = await call(sim, 'GET', `${base}/BASIC`);
      assert.deepEqual(r.body, ['0A1B2C3D4E', 'FFFFFFFFFF', 'ABCDEF0123']);
      r = await call(sim, 'DELETE', `${base}/Basic`, ['FFFFFFFFFF']);
      assert.equal(r.status, 204);
      assert.equal(r.text, '');
      r = await call(sim, 'PATCH', `${base}/Basic`, ['ABCDEF0123']);
      assert.equal(r.status, 204);
      r = await call(sim, 'PUT', `${base}/Basic`, ['1234567890']);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, ['1234567890']);
      r = await call(sim, 'PUT', `${base}/Basic`, []);
      assert.deepEqual(r.body, []);
      const evs = sim.queuedEvents();
      assert.deepEqual(
        evs.map((e) => e.Type),
        [
          'DeviceCredentialsAddedEvent',
          'DeviceCredentialsAddedEvent',
          'DeviceCredentialsRemovedEvent',
          'DeviceCredentialsRemovedEvent',
          'DeviceCredentialsModifiedEvent',
          'DeviceCredentialsModifiedEvent',
        ],
      );
      assert.deepEqual(evs[0].AddedCredentials, ['0A1B2C3D4E', 'FFFFFFFFFF']);
      assert.equal(evs[0].CredentialType, 'Basic');
      assert.equal(evs[0].Device, 'Cabinet-1');
      assert.equal(evs[0].Version, 3);
      assert.deepEqual(evs[2].RemovedCredentials, ['FFFFFFFFFF']);
      assert.deepEqual(evs[4].CurrentCredentials, ['1234567890']);
      assert.deepEqual(evs[5].CurrentCredentials, []);
    });

    it('rejects lower-case / non-hex Basic values naming the value, and wrong body types', async () => {
      let r = await call(sim, 'POST', `${base}/Basic`, ['0A1B2C3D4E', '0a1b2c3d4e']);
      assert.equal(r.status, 400);
      const ms = (r.body as { ModelState: { Credentials: string[] } }).ModelState;
      assert.equal(ms.Credentials.length, 1);
      assert.ok(ms.Credentials[0].includes('0a1b2c3d4e'));
      r = await call(sim, 'PUT', `${base}/Basic`, ['12345']);
      assert.equal(r.status, 400);
      r = await call(sim, 'POST', `${base}/Basic`, { a: 'b' });
      assert.equal(r.status, 400);
      r = await call(sim, 'POST', `${base}/User`, ['x']);
      assert.equal(r.status, 400);
      r = await call(sim, 'DELETE', `${base}/Basic`, { a: 1 });
      assert.equal(r.status, 400);
      r = await call(sim, 'GET', `${base}/Card`);
      assert.equal(r.status, 400);
      assert.equal(sim.device('Cabinet-1')?.credentials.Basic.length, 0);
      assert.equal(sim.queueLength(), 0);
    });

    it('User/Pin: secrets stored but never returned or published', async () => {
      let r = await call(sim, 'POST', `${base}/User`, { alice: 'secret-A', bob: 'secret-B' });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body, ['alice', 'bob']);
      r = await call(sim, 'PUT', `${base}/Pin`, { U1: '1234' });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, ['U1']);
      r = await call(sim, 'GET', `${base}/user`);
      assert.deepEqual(r.body, ['alice', 'bob']);
      r = await call(sim, 'DELETE', `${base}/User`, ['bob']);
      assert.equal(r.status, 204);
      assert.deepEqual(sim.device('Cabinet-1')?.credentials.User, { alice: 'secret-A' });
      assert.deepEqual(sim.device('Cabinet-1')?.credentials.Pin, { U1: '1234' });
      await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/sync');
      const all = JSON.stringify(sim.queuedEvents());
      for (const s of ['secret-A', 'secret-B', '"1234"']) assert.ok(!all.includes(s), s);
      const cqe = ofType(sim, 'CommandQueuedEvent')[0];
      assert.deepEqual(cqe.Parameters, [
        { Key: 'Add', Value: 'alice' },
        { Key: 'Add', Value: 'U1' },
        { Key: 'Remove', Value: '*' },
      ]);
      const ev = (await call(sim, 'GET', '/3/events/512')).text;
      assert.ok(!ev.includes('secret-A') && !ev.includes('"1234"'));
    });
  });

  describe('events', () => {
    it('validates the limit', async () => {
      for (const l of ['0', '513', 'abc', '-1', '1.5']) {
        const r = await call(sim, 'GET', `/3/events/${l}`);
        assert.equal(r.status, 400, l);
        assert.ok((r.body as { ModelState: { limit: string[] } }).ModelState.limit, l);
      }
      assert.equal((await call(sim, 'GET', '/3/events/512')).status, 200);
      assert.equal((await call(sim, 'GET', '/3/events/1')).status, 200);
    });

    it('returns an empty batch for an empty queue, default limit 100', async () => {
      let r = await call(sim, 'GET', '/3/events');
      const b = r.body as EventBatch;
      assert.equal(b.Count, 0);
      assert.deepEqual(b.Events, []);
      assert.match(b.BatchId, /^[0-9a-f-]{36}$/);
      sim.publishMany(150);
      r = await call(sim, 'GET', '/3/events');
      assert.equal((r.body as EventBatch).Count, 100);
    });

    it('generates unique v4 UUIDs', () => {
      const ids = Array.from({ length: 2000 }, () => uuid());
      for (const id of ids) {
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      }
      assert.equal(new Set(ids).size, ids.length);
    });

    it('fills EventId, EventTime and Version on publish', () => {
      const hb = sim.publish({ Type: 'HeartbeatEvent', Device: 'Cabinet-1' });
      assert.match(hb.EventId, /^[0-9a-f-]{36}$/);
      assert.match(hb.EventTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(hb.Version, 2);
      const x = sim.publish({ Type: 'DeviceAddedEvent', EventId: 'my-id', Version: 7 });
      assert.equal(x.EventId, 'my-id');
      assert.equal(x.Version, 7);
      assert.equal(sim.publish({ Type: 'AliasAddedEvent' }).Version, 3);
      assert.deepEqual(
        sim.queuedEvents().map((e) => e.EventId),
        [hb.EventId, 'my-id', sim.queuedEvents()[2].EventId],
      );
    });

    it('filters by type and device without dequeuing', async () => {
      sim.publish({ Type: 'HeartbeatEvent', Device: 'A' });
      sim.publish({ Type: 'ObjectEvent', Device: 'A' });
      sim.publish({ Type: 'HeartbeatEvent', Device: 'B' });
      let b = (await call(sim, 'GET', '/3/events?type=HeartbeatEvent')).body as EventBatch;
      assert.deepEqual(
        b.Events.map((e) => e.Device),
        ['A', 'B'],
      );
      b = (await call(sim, 'GET', '/3/events/10?device=A')).body as EventBatch;
      assert.deepEqual(
        b.Events.map((e) => e.Type),
        ['HeartbeatEvent', 'ObjectEvent'],
      );
      b = (await call(sim, 'GET', '/3/events/10?device=B&type=heartbeatevent')).body as EventBatch;
      assert.equal(b.Count, 1);
      assert.equal(sim.queueLength(), 3);
    });

    it('returns fetched-but-not-deleted events again in a new batch', async () => {
      sim.publishMany(3);
      const b1 = (await call(sim, 'GET', '/3/events/2')).body as EventBatch;
      const b2 = (await call(sim, 'GET', '/3/events/2')).body as EventBatch;
      assert.notEqual(b1.BatchId, b2.BatchId);
      assert.deepEqual(
        b1.Events.map((e) => e.EventId),
        b2.Events.map((e) => e.EventId),
      );
    });

    it('deletes by BatchId and by EventIds (DELETE and PATCH)', async () => {
      sim.publishMany(10);
      const all = sim.queuedEvents().map((e) => e.EventId);
      const b = (await call(sim, 'GET', '/3/events/3')).body as EventBatch;
      let r = await call(sim, 'DELETE', '/3/events', { BatchId: b.BatchId });
      assert.equal(r.status, 204);
      assert.equal(r.text, '');
      assert.deepEqual(
        sim.queuedEvents().map((e) => e.EventId),
        all.slice(3),
      );
      // deleting the same batch again is harmless
      assert.equal((await call(sim, 'DELETE', '/3/events', { BatchId: b.BatchId })).status, 204);
      r = await call(sim, 'PATCH', '/3/events', { EventIds: [all[4], all[6], 'unknown-id'] });
      assert.equal(r.status, 204);
      assert.deepEqual(
        sim.queuedEvents().map((e) => e.EventId),
        [all[3], all[5], all[7], all[8], all[9]],
      );
      const b2 = (await call(sim, 'GET', '/3/events/2')).body as EventBatch;
      assert.equal((await call(sim, 'PATCH', '/3/events', { BatchId: b2.BatchId })).status, 204);
      assert.equal(sim.queueLength(), 3);
    });

    it('validates delete bodies', async () => {
      sim.publishMany(3);
      const b = (await call(sim, 'GET', '/3/events')).body as EventBatch;
      const ids = Array.from({ length: 101 }, (_, i) => `id-${i}`);
      const cases: unknown[] = [
        { EventIds: ids },
        { BatchId: b.BatchId, EventIds: [b.Events[0].EventId] },
        {},
        [],
        { EventIds: 'x' },
      ];
      for (const body of cases) {
        const r = await call(sim, 'DELETE', '/3/events', body);
        assert.equal(r.status, 400, JSON.stringify(body).slice(0, 60));
        assert.equal(typeof (r.body as { Message: string }).Message, 'string');
      }
      assert.equal((await call(sim, 'DELETE', '/3/events')).status, 400);
      const nf = await call(sim, 'DELETE', '/3/events', {
        BatchId: '00000000-0000-0000-0000-000000000009',
      });
      assert.equal(nf.status, 404);
      assert.equal(typeof (nf.body as { Message: string }).Message, 'string');
      assert.equal(sim.queueLength(), 3);
      const ok = await call(sim, 'DELETE', '/3/events', {
        EventIds: b.Events.map((e) => e.EventId),
      });
      assert.equal(ok.status, 204);
      assert.equal(sim.queueLength(), 0);
    });

    it('drains 100,000 events exactly once and in order', async () => {
      sim.publishMany(100000, (i) => ({ Type: 'HeartbeatEvent', Device: 'Bench-1', Seq: i }));
      assert.equal(sim.queueLength(), 100000);
      let next = 0;
      for (;;) {
        const b = (await call(sim, 'GET', '/3/events/512')).body as EventBatch;
        if (b.Count === 0) break;
        assert.equal(b.Count, b.Events.length);
        for (const e of b.Events) assert.equal(e.Seq, next++);
        const d = await call(sim, 'DELETE', '/3/events', { BatchId: b.BatchId });
        assert.equal(d.status, 204);
      }
      assert.equal(next, 100000);
      assert.equal(sim.queueLength(), 0);
    });

    it('publishMany default makes HeartbeatEvents for Bench-1 and interleaved deletes keep order', async () => {
      sim.publishMany(2000);
      const evs = sim.queuedEvents();
      assert.equal(evs.length, 2000);
      assert.equal(evs[0].Type, 'HeartbeatEvent');
      assert.equal(evs[0].Device, 'Bench-1');
      assert.equal(evs[0].Version, 2);
      assert.equal(new Set(evs.map((e) => e.EventId)).size, 2000);
      // delete every other event by id, in chunks of 100
      const odd = evs.filter((_, i) => i % 2 === 1).map((e) => e.EventId);
      for (let i = 0; i < odd.length; i += 100) {
        const r = await call(sim, 'DELETE', '/3/events', { EventIds: odd.slice(i, i + 100) });
        assert.equal(r.status, 204);
      }
      assert.deepEqual(
        sim.queuedEvents().map((e) => e.EventId),
        evs.filter((_, i) => i % 2 === 0).map((e) => e.EventId),
      );
      const b = (await call(sim, 'GET', '/3/events/3')).body as EventBatch;
      assert.deepEqual(
        b.Events.map((e) => e.EventId),
        [evs[0].EventId, evs[2].EventId, evs[4].EventId],
      );
    });
  });

  describe('faults', () => {
    it('adds measurable latency', async () => {
      sim.setFaults({ latencyMs: 80 });
      const t = Date.now();
      assert.equal((await call(sim, 'GET', '/3/devices')).status, 200);
      assert.ok(Date.now() - t >= 70, `took ${Date.now() - t} ms`);
      sim.setFaults({});
      assert.deepEqual(sim.faults, {});
    });

    it('answers 5xx with a Message', async () => {
      sim.setFaults({ errorRate: 1 });
      for (let i = 0; i < 5; i++) {
        const r = await call(sim, 'GET', '/3/events');
        assert.ok([500, 502, 503].includes(r.status), String(r.status));
        assert.equal(typeof (r.body as { Message: string }).Message, 'string');
      }
      assert.equal(sim.stats().faults, 5);
    });

    it('resets the socket: fetch rejects and the log records status 0', async () => {
      sim.setFaults({ resetRate: 1 });
      await assert.rejects(fetch(`${sim.url}/3/events`, { headers: { AccessKey: KEY } }));
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(sim.log.at(-1)?.status, 0);
    });

    it('answers 429 with Retry-After', async () => {
      sim.setFaults({ rateLimitRate: 1 });
      let r = await call(sim, 'GET', '/3/events');
      assert.equal(r.status, 429);
      assert.equal(r.headers.get('retry-after'), '1');
      const date = new Date(Date.now() + 5000).toUTCString();
      sim.setFaults({ rateLimitRate: 1, retryAfter: date });
      r = await call(sim, 'GET', '/3/events');
      assert.equal(r.headers.get('retry-after'), date);
    });

    it('applies faults only to matching paths', async () => {
      sim.setFaults({ errorRate: 1, match: '/3/events' });
      assert.equal((await call(sim, 'GET', '/3/devices')).status, 200);
      assert.ok((await call(sim, 'GET', '/3/events')).status >= 500);
    });

    it('deleteFailRate=1 answers 500 and keeps the events', async () => {
      sim.publishMany(5);
      sim.setFaults({ deleteFailRate: 1 });
      const b = (await call(sim, 'GET', '/3/events')).body as EventBatch;
      assert.equal(b.Count, 5);
      assert.equal((await call(sim, 'DELETE', '/3/events', { BatchId: b.BatchId })).status, 500);
      assert.equal((await call(sim, 'PATCH', '/3/events', { BatchId: b.BatchId })).status, 500);
      assert.equal(sim.queueLength(), 5);
      sim.setFaults({});
      assert.equal((await call(sim, 'DELETE', '/3/events', { BatchId: b.BatchId })).status, 204);
      assert.equal(sim.queueLength(), 0);
    });

    it('echoRequest puts the request (with the AccessKey) into error bodies', async () => {
      sim.setFaults({ echoRequest: true, errorRate: 1 });
      const r = await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/Basic', ['0A1B2C3D4E']);
      assert.ok(r.status >= 500);
      const req = (r.body as { Request: Record<string, unknown> }).Request;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/3/devices/Cabinet-1/credentials/Basic');
      assert.equal((req.headers as Record<string, string>).accesskey, KEY);
      assert.deepEqual(req.body, ['0A1B2C3D4E']);
      assert.ok(r.text.includes(KEY));
      sim.setFaults({ echoRequest: true });
      const nf = await call(sim, 'GET', '/3/devices/Nope/status');
      assert.equal(nf.status, 404);
      assert.ok(nf.text.includes(KEY));
    });

    it('garbage: html, truncated, noEvents, badEvents', async () => {
      sim.publishMany(4);
      sim.setFaults({ garbage: 'html' });
      let r = await call(sim, 'GET', '/3/events');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type') ?? '', /text\/html/);
      assert.match(r.text, /<html/);
      sim.setFaults({ garbage: 'truncated' });
      r = await call(sim, 'GET', '/3/events');
      assert.equal(r.status, 200);
      assert.throws(() => JSON.parse(r.text));
      sim.setFaults({ garbage: 'noEvents' });
      r = await call(sim, 'GET', '/3/events');
      assert.ok(r.body && typeof r.body === 'object');
      assert.equal('Events' in (r.body as object), false);
      sim.setFaults({ garbage: 'badEvents' });
      r = await call(sim, 'GET', '/3/events');
      const evs = (r.body as { Events: Array<Record<string, unknown>> }).Events;
      assert.equal(evs.length, 4);
      for (const e of evs) assert.ok(!('EventId' in e) || !('Type' in e));
      // non-GETs are not garbled
      const p = await call(sim, 'POST', '/3/devices/Cabinet-1/credentials/sync');
      assert.equal((p.body as { Status: string }).Status, 'Completed');
      assert.equal(sim.queueLength(), 6);
    });

    it('rejects invalid fault settings', () => {
      assert.throws(() => sim.setFaults({ errorRate: 2 }));
      assert.throws(() => sim.setFaults({ latencyMs: [50, 10] }));
    });
  });

  describe('log and stats', () => {
    it('records requests and counts routes', async () => {
      await call(sim, 'GET', '/3/events/5?type=HeartbeatEvent&device=A');
      await call(sim, 'GET', '/3/devices', undefined, {});
      const [a, b] = sim.log;
      assert.equal(a.method, 'GET');
      assert.equal(a.path, '/3/events/5');
      assert.deepEqual(a.query, { type: 'HeartbeatEvent', device: 'A' });
      assert.equal(a.status, 200);
      assert.ok(a.at > 0 && a.ms >= 0);
      assert.equal(b.status, 401);
      const s = sim.stats();
      assert.equal(s.requests, 2);
      assert.equal(s.inFlight, 0);
      assert.equal(s.byRoute['GET /3/events/{limit}'], 1);
      assert.equal(s.byRoute['GET /3/devices'], 1);
      sim.clearLog();
      assert.equal(sim.log.length, 0);
      sim.resetStats();
      assert.equal(sim.stats().requests, 0);
    });

    it('keeps the log bounded', async () => {
      await sim.close();
      sim = await startSimulator({ logLimit: 3 });
      for (let i = 0; i < 5; i++) await call(sim, 'GET', `/3/events/${i + 1}`);
      assert.deepEqual(
        sim.log.map((e) => e.path),
        ['/3/events/3', '/3/events/4', '/3/events/5'],
      );
    });

    it('measures maxInFlight', async () => {
      sim.setFaults({ latencyMs: 50 });
      sim.resetStats();
      await Promise.all(Array.from({ length: 5 }, () => call(sim, 'GET', '/3/devices')));
      assert.ok(sim.stats().maxInFlight >= 5, String(sim.stats().maxInFlight));
      sim.clearLog();
      assert.equal(sim.stats().maxInFlight, 0);
      await call(sim, 'GET', '/3/devices');
      assert.equal(sim.stats().maxInFlight, 1);
    });
  });

  describe('control API', () => {
    const ctl = (method: string, p: string, body?: unknown): Promise<Res> =>
      call(sim, method, `/_sim${p}`, body, {});

    it('toggles devices, publishes events, sets faults, exposes log/stats/queue', async () => {
      const q = await call(sim, 'POST', `/3/devices/${enc('Fridge 2')}/credentials/sync`);
      assert.equal((q.body as { Status: string }).Status, 'Queued');
      let r = await ctl('POST', `/devices/${enc('Fridge 2')}/online`);
      assert.equal(r.status, 200);
      assert.equal(sim.device('Fridge 2')?.online, true);
      assert.equal(ofType(sim, 'CommandCompletionEvent').length, 1);
      r = await ctl('POST', '/devices/Cabinet-1/offline');
      assert.equal(sim.device('Cabinet-1')?.online, false);
      assert.equal((await ctl('POST', '/devices/Nope/online')).status, 404);

      r = await ctl('POST', '/events', { Type: 'HeartbeatEvent', Device: 'X' });
      assert.equal(r.status, 200);
      r = await ctl('POST', '/events', [{ Type: 'ObjectEvent', Observe: ['E1'] }, { Type: 'Foo' }]);
      assert.equal((r.body as unknown[]).length, 2);
      r = await ctl('GET', '/queue');
      assert.deepEqual(
        (r.body as JetstreamEvent[]).slice(-3).map((e) => e.Type),
        ['HeartbeatEvent', 'ObjectEvent', 'Foo'],
      );
      assert.equal((await ctl('POST', '/events', { NoType: 1 })).status, 400);

      r = await ctl('POST', '/faults', { errorRate: 1 });
      assert.equal(r.status, 200);
      assert.ok((await call(sim, 'GET', '/3/devices')).status >= 500);
      await ctl('POST', '/faults', {});
      assert.equal((await call(sim, 'GET', '/3/devices')).status, 200);

      r = await ctl('GET', '/log');
      assert.ok((r.body as unknown[]).length >= 3);
      r = await ctl('GET', '/stats');
      assert.equal(typeof (r.body as { requests: number }).requests, 'number');
      // control calls are neither logged nor counted
      assert.ok(sim.log.every((e) => e.path.startsWith('/3/')));
    });
  });

  describe('demo', () => {
    it('publishes heartbeats for online devices', async () => {
      await sim.close();
      sim = await startSimulator({ devices: ['A', 'B:offline'], demo: { intervalMs: 20 } });
      await new Promise((r) => setTimeout(r, 90));
      const hbs = ofType(sim, 'HeartbeatEvent');
      assert.ok(hbs.length >= 2);
      assert.ok(hbs.every((e) => e.Device === 'A'));
    });
  });
});

describe('jetstream-simulator CLI', function () {
  it('prints the real port, answers and exits on SIGTERM', async () => {
    const cli = path.join(__dirname, '..', 'lib', 'simulator', 'cli.js');
    const child = spawn(
      process.execPath,
      [cli, '--port', '0', '--access-key', KEY, '--devices', 'Cabinet-1,Fridge 2:offline'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const m =
            /Jetstream simulator on (http:\/\/127\.0\.0\.1:(\d+)) \(access key: (\S+)\)/.exec(out);
          if (m) {
            assert.notEqual(m[2], '0');
            assert.equal(m[3], KEY);
            resolve(m[1]);
          }
        });
        child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
        setTimeout(() => reject(new Error(`no banner: ${out}`)), 10000);
      });
      const r = await fetch(`${url}/3/devices`, { headers: { AccessKey: KEY } });
      assert.equal(r.status, 200);
      const names = ((await r.json()) as Array<{ Name: string }>).map((d) => d.Name);
      assert.deepEqual(names, ['Cabinet-1', 'Fridge 2']);
      const st = await fetch(`${url}/3/devices/Fridge%202/status`, { headers: { AccessKey: KEY } });
      assert.deepEqual(await st.json(), { WebSocketsEnabled: false });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
