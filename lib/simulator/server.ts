// Local Jetstream v3 simulator: HTTP server, devices, commands, credentials, the event queue,
// fault injection and the /_sim/ control API.

import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

import type { CredentialType, JetstreamEvent, KeyValue } from '../types';
import type {
  DeviceOptions,
  DeviceSpec,
  Faults,
  PublishInput,
  RequestLogEntry,
  SimDeviceInfo,
  Simulator,
  SimulatorOptions,
  SimulatorStats,
} from './api';
import { EventQueue } from './event-queue';
import { uuid } from './uuid';

export const DEFAULT_ACCESS_KEY = '00000000-0000-0000-0000-000000000000';
const JSON_CT = 'application/json; charset=utf-8';
const DEVICE_NAME_RE = /^[A-Za-z0-9\-_,. ]{1,128}$/;
const BASIC_RE = /^[0-9A-F]{10,40}$/;
const MAX_BODY = 16 * 1024 * 1024;
const DEVICE_EVENT_TYPES = new Set([
  'AggregateEvent',
  'ObjectEvent',
  'CommandCompletionEvent',
  'HeartbeatEvent',
  'LogEntryEvent',
  'SensorReadingEvent',
]);
const MSG_DENIED = 'Authorization has been denied for this request.';
const MSG_NO_ROUTE = 'No HTTP resource was found that matches the request URI.';
const MSG_INVALID = 'The request is invalid.';

// ---------------------------------------------------------------------------------------------
// helpers

let lastSec = -1;
let lastSecStr = '';
/** UTC 'YYYY-MM-DDTHH:mm:ssZ' (cached per second: publishMany calls it a lot). */
export function jetstreamTime(ms: number = Date.now()): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== lastSec) {
    lastSec = sec;
    lastSecStr = new Date(sec * 1000).toISOString().slice(0, 19) + 'Z';
  }
  return lastSecStr;
}

/** Parses 'Name', 'Name:offline', 'Name:online:FridgeXS' (names cannot contain ':'). */
export function parseDeviceSpec(spec: string): { name: string } & DeviceOptions {
  const [name, ...rest] = spec.split(':').map((s) => s.trim());
  const out: { name: string } & DeviceOptions = { name };
  for (const part of rest) {
    if (/^offline$/i.test(part)) out.online = false;
    else if (/^online$/i.test(part)) out.online = true;
    else if (part) out.definition = part;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function normaliseCredType(s: string): CredentialType | undefined {
  switch (s.toLowerCase()) {
    case 'basic':
      return 'Basic';
    case 'user':
      return 'User';
    case 'pin':
      return 'Pin';
    default:
      return undefined;
  }
}

/** Route template for stats.byRoute, from the raw path segments (after the leading ''). */
function routeKey(method: string, segs: string[]): string {
  const s = segs.map((x) => x.toLowerCase());
  let tpl: string;
  if (s[0] !== '3') tpl = '(unmatched)';
  else if (s[1] === 'devices') {
    if (s.length === 2) tpl = '/3/devices';
    else if (s.length === 4 && s[3] === 'status') tpl = '/3/devices/{name}/status';
    else if (s.length === 5 && s[3] === 'credentials' && s[4] === 'sync')
      tpl = '/3/devices/{name}/credentials/sync';
    else if (s.length === 5 && s[3] === 'credentials') tpl = '/3/devices/{name}/credentials/{type}';
    else tpl = '(unmatched)';
  } else if (s[1] === 'events') {
    if (s.length === 2) tpl = '/3/events';
    else if (s.length === 3) tpl = '/3/events/{limit}';
    else tpl = '(unmatched)';
  } else tpl = '(unmatched)';
  return tpl === '(unmatched)' ? tpl : `${method} ${tpl}`;
}

function randomHex(len: number): string {
  let s = '';
  while (s.length < len) s += Math.floor(Math.random() * 0x10000000).toString(16);
  return s.slice(0, len).toUpperCase();
}

// ---------------------------------------------------------------------------------------------
// model

interface Command {
  id: string;
  name: string;
  exceptions: KeyValue[];
}

interface SimDevice {
  id: number;
  name: string;
  online: boolean;
  definition: string;
  serial: string;
  basic: Set<string>;
  user: Map<string, string>;
  pin: Map<string, string>;
  lastSync: string | null;
  pending: Command[];
  failNext?: KeyValue;
  autoOnlineTimer?: NodeJS.Timeout;
  /** demo inventory (EPCs currently in the enclosure) */
  inventory: string[];
}

interface Reply {
  status: number;
  body?: string;
  headers?: Record<string, string>;
  /** for the garbage modes on GET /3/events */
  events?: { batchId: string; jsons: string[] };
}

interface Ctx {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  path: string;
  query: Record<string, string>;
  segs: string[];
  body: Buffer;
  /** faults apply to this request */
  faulty: boolean;
  reset: boolean;
}

class BadRequest extends Error {
  constructor(
    message: string,
    readonly modelState?: Record<string, string[]>,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------

export class JetstreamSimulator implements Simulator {
  private readonly server: http.Server;
  private readonly queue = new EventQueue();
  private readonly devices = new Map<string, SimDevice>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly logRing: RequestLogEntry[] = [];
  private readonly logLimit: number;
  private readonly completionDelayMs: number;
  private readonly autoOnlineAfterMs: number | undefined;
  private key: string;
  private currentFaults: Faults = {};
  private nextDeviceId = 1;
  private demoTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private counters = { requests: 0, inFlight: 0, maxInFlight: 0, faults: 0 };
  private byRoute: Record<string, number> = {};
  private boundPort = 0;
  private readonly host: string;

  constructor(private readonly opts: SimulatorOptions = {}) {
    this.key = opts.accessKey ?? DEFAULT_ACCESS_KEY;
    this.host = opts.host ?? '127.0.0.1';
    this.logLimit = Math.max(0, opts.logLimit ?? 10000);
    this.completionDelayMs = Math.max(0, opts.completionDelayMs ?? 0);
    this.autoOnlineAfterMs = opts.autoOnlineAfterMs;
    for (const spec of opts.devices ?? []) {
      const d = typeof spec === 'string' ? parseDeviceSpec(spec) : spec;
      this.addDevice(d.name, { online: d.online, definition: d.definition });
    }
    this.server = http.createServer((req, res) => this.onRequest(req, res));
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port ?? 0, this.host, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    this.boundPort = (this.server.address() as AddressInfo).port;
    const demo = this.opts.demo;
    if (demo) {
      const interval = (typeof demo === 'object' ? demo.intervalMs : undefined) ?? 5000;
      this.demoTimer = setInterval(() => this.demoTick(), Math.max(10, interval));
      this.demoTimer.unref();
    }
  }

  // --- public API ---------------------------------------------------------------------------

  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this.boundPort}`;
  }

  get port(): number {
    return this.boundPort;
  }

  get accessKey(): string {
    return this.key;
  }

  setAccessKey(key: string): void {
    this.key = key;
  }

  addDevice(name: string, opts: DeviceOptions = {}): void {
    if (!DEVICE_NAME_RE.test(name)) throw new Error(`Invalid device name '${name}'`);
    if (this.devices.has(name)) throw new Error(`Device '${name}' already exists`);
    const id = this.nextDeviceId++;
    this.devices.set(name, {
      id,
      name,
      online: opts.online ?? true,
      definition: opts.definition ?? 'CabinetXS',
      serial: `SIM${String(id).padStart(7, '0')}`,
      basic: new Set(),
      user: new Map(),
      pin: new Map(),
      lastSync: null,
      pending: [],
      inventory: [],
    });
  }

  removeDevice(name: string): void {
    const d = this.devices.get(name);
    if (!d) return;
    if (d.autoOnlineTimer) this.clearTimer(d.autoOnlineTimer);
    this.devices.delete(name);
  }

  setOnline(name: string, online: boolean): void {
    const d = this.mustDevice(name);
    if (d.online === online) return;
    d.online = online;
    if (!online) return;
    if (d.autoOnlineTimer) {
      this.clearTimer(d.autoOnlineTimer);
      d.autoOnlineTimer = undefined;
    }
    const cmds = d.pending;
    d.pending = [];
    for (const cmd of cmds) {
      this.execute(d, cmd);
      this.publishCompletion(d, cmd);
    }
  }

  device(name: string): SimDeviceInfo | undefined {
    const d = this.devices.get(name);
    if (!d) return undefined;
    return {
      name: d.name,
      online: d.online,
      definition: d.definition,
      credentials: {
        Basic: [...d.basic],
        User: Object.fromEntries(d.user),
        Pin: Object.fromEntries(d.pin),
      },
      lastSync: d.lastSync,
      queued: d.pending.length,
    };
  }

  failNextCommand(name: string, exception: KeyValue): void {
    this.mustDevice(name).failNext = { Key: exception.Key, Value: exception.Value };
  }

  publish(ev: PublishInput): JetstreamEvent {
    if (!ev || typeof ev.Type !== 'string' || !ev.Type) {
      throw new TypeError('An event needs a non-empty string Type');
    }
    // Common fields first in the JSON, whatever order the caller used.
    const out: JetstreamEvent = Object.assign(
      { Type: ev.Type, EventId: '', EventTime: '', Version: undefined as number | undefined },
      ev,
    );
    out.EventId = typeof ev.EventId === 'string' && ev.EventId ? ev.EventId : uuid();
    out.EventTime =
      typeof ev.EventTime === 'string' && ev.EventTime ? ev.EventTime : jetstreamTime();
    out.Version =
      ev.Version !== undefined && ev.Version !== null
        ? (ev.Version as number)
        : DEVICE_EVENT_TYPES.has(ev.Type)
          ? 2
          : 3;
    this.queue.push(out);
    return out;
  }

  publishMany(count: number, make?: (i: number) => PublishInput): void {
    if (make) {
      for (let i = 0; i < count; i++) this.publish(make(i));
      return;
    }
    // Fast path for the default HeartbeatEvent (no defaulting logic per event).
    const queue = this.queue;
    for (let i = 0; i < count; i++) {
      const t = jetstreamTime();
      const ev: JetstreamEvent = {
        Type: 'HeartbeatEvent',
        EventId: uuid(),
        EventTime: t,
        Version: 2,
        Device: 'Bench-1',
        ReceivedTime: t,
      };
      queue.append(ev.EventId, 'HeartbeatEvent', 'Bench-1', 2, JSON.stringify(ev));
    }
  }

  queueLength(): number {
    return this.queue.size;
  }

  queuedEvents(): JetstreamEvent[] {
    return this.queue.events();
  }

  clearEvents(): void {
    this.queue.clear();
  }

  setFaults(f: Faults): void {
    const out: Faults = {};
    const rate = (k: 'errorRate' | 'resetRate' | 'rateLimitRate' | 'deleteFailRate'): void => {
      const v = f[k];
      if (v === undefined || v === null) return;
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new TypeError(`${k} must be 0..1`);
      out[k] = v;
    };
    rate('errorRate');
    rate('resetRate');
    rate('rateLimitRate');
    rate('deleteFailRate');
    if (f.latencyMs !== undefined && f.latencyMs !== null) {
      const l = f.latencyMs;
      const ok =
        (typeof l === 'number' && l >= 0) ||
        (Array.isArray(l) &&
          l.length === 2 &&
          l.every((x) => typeof x === 'number' && x >= 0) &&
          l[0] <= l[1]);
      if (!ok) throw new TypeError('latencyMs must be a number >= 0 or [min, max]');
      out.latencyMs = Array.isArray(l) ? [l[0], l[1]] : l;
    }
    if (f.retryAfter !== undefined) out.retryAfter = String(f.retryAfter);
    if (f.echoRequest) out.echoRequest = true;
    if (f.match !== undefined) out.match = String(f.match);
    if (f.garbage !== undefined) {
      if (!['html', 'truncated', 'noEvents', 'badEvents'].includes(f.garbage)) {
        throw new TypeError(`unknown garbage mode '${String(f.garbage)}'`);
      }
      out.garbage = f.garbage;
    }
    this.currentFaults = out;
  }

  get faults(): Faults {
    return { ...this.currentFaults };
  }

  get log(): RequestLogEntry[] {
    return this.logRing;
  }

  clearLog(): void {
    this.logRing.length = 0;
    this.counters.maxInFlight = this.counters.inFlight;
  }

  stats(): SimulatorStats {
    return { ...this.counters, byRoute: { ...this.byRoute } };
  }

  resetStats(): void {
    this.counters = {
      requests: 0,
      inFlight: this.counters.inFlight,
      maxInFlight: this.counters.inFlight,
      faults: 0,
    };
    this.byRoute = {};
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    if (this.demoTimer) clearInterval(this.demoTimer);
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    return new Promise<void>((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // --- internals: timers, devices, commands -------------------------------------------------

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }

  private mustDevice(name: string): SimDevice {
    const d = this.devices.get(name);
    if (!d) throw new Error(`Device '${name}' was not found.`);
    return d;
  }

  /** Runs a command on the device (the side effects); the completion event is separate. */
  private execute(d: SimDevice, cmd: Command): void {
    if (cmd.name === 'SyncCredentials' && cmd.exceptions.length === 0) {
      d.lastSync = jetstreamTime();
    }
  }

  private publishCompletion(d: SimDevice, cmd: Command): void {
    this.publish({
      Type: 'CommandCompletionEvent',
      Device: d.name,
      ReceivedTime: jetstreamTime(),
      CommandId: cmd.id,
      CommandName: cmd.name,
      ExceptionList: cmd.exceptions,
      OutputParameterList: [],
    });
  }

  private runSync(d: SimDevice): Reply {
    const cmd: Command = { id: uuid(), name: 'SyncCredentials', exceptions: [] };
    const params: KeyValue[] = [];
    for (const v of d.basic) params.push({ Key: 'Add', Value: v });
    for (const k of d.user.keys()) params.push({ Key: 'Add', Value: k });
    for (const k of d.pin.keys()) params.push({ Key: 'Add', Value: k });
    params.push({ Key: 'Remove', Value: '*' });
    this.publish({
      Type: 'CommandQueuedEvent',
      Device: d.name,
      CommandId: cmd.id,
      CommandName: cmd.name,
      URI: `/3/devices/${d.name}/credentials/sync`,
      Verb: 'Post',
      User: 'simulator',
      Parameters: params,
    });
    if (d.failNext) {
      cmd.exceptions = [d.failNext];
      d.failNext = undefined;
    }
    if (d.online) {
      this.execute(d, cmd);
      if (this.completionDelayMs > 0) {
        this.later(this.completionDelayMs, () => this.publishCompletion(d, cmd));
      } else {
        this.publishCompletion(d, cmd);
      }
      return this.json(200, {
        CommandId: cmd.id,
        Status: 'Completed',
        ExceptionList: cmd.exceptions,
        OutputParameterList: [],
      });
    }
    d.pending.push(cmd);
    if (this.autoOnlineAfterMs !== undefined && !d.autoOnlineTimer) {
      d.autoOnlineTimer = this.later(this.autoOnlineAfterMs, () => {
        d.autoOnlineTimer = undefined;
        if (this.devices.get(d.name) === d) this.setOnline(d.name, true);
      });
    }
    return this.json(200, {
      CommandId: cmd.id,
      Status: 'Queued',
      ExceptionList: [],
      OutputParameterList: [],
    });
  }

  private demoTick(): void {
    const online = [...this.devices.values()].filter((d) => d.online);
    const t = jetstreamTime();
    for (const d of online)
      this.publish({ Type: 'HeartbeatEvent', Device: d.name, ReceivedTime: t });
    if (online.length === 0 || Math.random() >= 0.5) return;
    const d = online[Math.floor(Math.random() * online.length)];
    if (Math.random() < 0.7) {
      const adds: string[] = [];
      const removes: string[] = [];
      if (d.inventory.length > 0 && Math.random() < 0.4) {
        removes.push(d.inventory.splice(Math.floor(Math.random() * d.inventory.length), 1)[0]);
      } else {
        const epc = randomHex(24);
        d.inventory.push(epc);
        adds.push(epc);
      }
      const passes = [...d.basic];
      this.publish({
        Type: 'AggregateEvent',
        Device: d.name,
        ReceivedTime: t,
        Adds: adds,
        Removes: removes,
        PassRfid: passes.length ? passes[Math.floor(Math.random() * passes.length)] : '',
      });
    } else {
      this.publish({
        Type: 'ObjectEvent',
        Device: d.name,
        ReceivedTime: t,
        Observe: [...d.inventory],
      });
    }
  }

  // --- HTTP -----------------------------------------------------------------------------------

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const at = Date.now();
    const t0 = performance.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const path = qi < 0 ? url : url.slice(0, qi);
    const query: Record<string, string> =
      qi < 0 ? {} : Object.fromEntries(new URLSearchParams(url.slice(qi + 1)));
    const segs = path.split('/').slice(1);
    if (segs.length > 1 && segs[segs.length - 1] === '') segs.pop();

    if (segs[0] === '_sim') {
      this.readBody(req, res, (body) => this.control(res, method, segs.slice(1), body));
      return;
    }

    const c = this.counters;
    c.requests++;
    c.inFlight++;
    if (c.inFlight > c.maxInFlight) c.maxInFlight = c.inFlight;
    const rk = routeKey(method, segs);
    this.byRoute[rk] = (this.byRoute[rk] ?? 0) + 1;

    const f = this.currentFaults;
    const faulty =
      f.match !== undefined ? path.includes(f.match) : path === '/3' || path.startsWith('/3/');
    const ctx: Ctx = {
      req,
      res,
      method,
      path,
      query,
      segs,
      body: Buffer.alloc(0),
      faulty,
      reset: false,
    };

    res.once('close', () => {
      this.counters.inFlight--;
      if (this.logLimit === 0) return;
      this.logRing.push({
        method,
        path,
        query,
        status: ctx.reset || !res.headersSent ? 0 : res.statusCode,
        at,
        ms: performance.now() - t0,
      });
      if (this.logRing.length > this.logLimit) this.logRing.shift();
    });

    this.readBody(req, res, (body) => {
      ctx.body = body;
      const lat = faulty ? f.latencyMs : undefined;
      const ms =
        lat === undefined
          ? 0
          : Array.isArray(lat)
            ? lat[0] + Math.random() * (lat[1] - lat[0])
            : lat;
      if (ms > 0) this.later(ms, () => this.process(ctx));
      else this.process(ctx);
    });
  }

  private readBody(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    done: (body: Buffer) => void,
  ): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooBig) {
        this.write(res, this.json(413, { Message: 'The request body is too large.' }));
        return;
      }
      done(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    });
    req.on('error', () => res.destroy());
  }

  private write(res: http.ServerResponse, r: Reply): void {
    if (res.destroyed || res.writableEnded) return;
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) {
      if (!headers['Content-Type']) headers['Content-Type'] = JSON_CT;
      headers['Content-Length'] = Buffer.byteLength(r.body);
    }
    res.writeHead(r.status, headers);
    res.end(r.body);
  }

  private json(status: number, value: unknown, headers?: Record<string, string>): Reply {
    return { status, body: JSON.stringify(value), headers };
  }

  private error(
    ctx: Ctx,
    status: number,
    message: string,
    modelState?: Record<string, string[]>,
    headers?: Record<string, string>,
  ): Reply {
    const body: Record<string, unknown> = { Message: message };
    if (modelState) body.ModelState = modelState;
    if (ctx.faulty && this.currentFaults.echoRequest) {
      const raw = ctx.body.toString('utf8');
      let parsed: unknown = raw;
      try {
        parsed = raw ? JSON.parse(raw) : undefined;
      } catch {
        // keep the raw text
      }
      body.Request = {
        method: ctx.method,
        path: ctx.path,
        headers: { ...ctx.req.headers },
        body: parsed,
      };
    }
    return this.json(status, body, headers);
  }

  private process(ctx: Ctx): void {
    if (this.closed) return;
    const f = this.currentFaults;
    if (ctx.faulty) {
      if (f.resetRate && Math.random() < f.resetRate) {
        this.counters.faults++;
        ctx.reset = true;
        ctx.req.socket.destroy();
        return;
      }
      if (f.rateLimitRate && Math.random() < f.rateLimitRate) {
        this.counters.faults++;
        this.write(
          ctx.res,
          this.error(ctx, 429, 'Too many requests. Please retry later.', undefined, {
            'Retry-After': f.retryAfter ?? '1',
          }),
        );
        return;
      }
      if (f.errorRate && Math.random() < f.errorRate) {
        this.counters.faults++;
        const status = [500, 502, 503][Math.floor(Math.random() * 3)];
        const msg =
          status === 500
            ? 'An error has occurred.'
            : status === 502
              ? 'Bad Gateway'
              : 'Service Unavailable';
        this.write(ctx.res, this.error(ctx, status, msg));
        return;
      }
    }
    let reply: Reply;
    try {
      reply = this.route(ctx);
    } catch (err) {
      if (err instanceof BadRequest) reply = this.error(ctx, 400, err.message, err.modelState);
      else reply = this.error(ctx, 500, 'An error has occurred.');
    }
    if (ctx.faulty && f.garbage && ctx.method === 'GET' && reply.status === 200) {
      const g = this.garble(reply, f.garbage);
      if (g) {
        this.counters.faults++;
        reply = g;
      }
    }
    this.write(ctx.res, reply);
  }

  private garble(reply: Reply, mode: NonNullable<Faults['garbage']>): Reply | undefined {
    switch (mode) {
      case 'html':
        return {
          status: 200,
          headers: { 'Content-Type': 'text/html; charset=utf-8' },
          body:
            '<!DOCTYPE html><html><head><title>Service Unavailable</title></head>' +
            '<body><h1>The service is temporarily unavailable.</h1></body></html>',
        };
      case 'truncated': {
        const b = reply.body ?? '{}';
        return { status: 200, body: b.slice(0, Math.max(1, Math.floor(b.length / 2))) };
      }
      case 'noEvents':
        if (!reply.events) return undefined;
        return this.json(200, { BatchId: reply.events.batchId, Count: reply.events.jsons.length });
      case 'badEvents': {
        if (!reply.events) return undefined;
        const evs = reply.events.jsons.map((j, i) => {
          const e = JSON.parse(j) as Record<string, unknown>;
          delete e[i % 2 === 0 ? 'EventId' : 'Type'];
          return e;
        });
        if (evs.length === 0) evs.push({ EventTime: jetstreamTime(), Version: 3 });
        return this.json(200, { BatchId: reply.events.batchId, Count: evs.length, Events: evs });
      }
    }
  }

  private parseBody(ctx: Ctx): unknown {
    if (ctx.body.length === 0) return undefined;
    try {
      return JSON.parse(ctx.body.toString('utf8'));
    } catch (err) {
      throw new BadRequest(MSG_INVALID, {
        body: [`The request body is not valid JSON: ${(err as Error).message}`],
      });
    }
  }

  private route(ctx: Ctx): Reply {
    const { method } = ctx;
    if (ctx.segs[0] !== '3') return this.error(ctx, 404, MSG_NO_ROUTE);
    let segs: string[];
    try {
      segs = ctx.segs.map((s) => decodeURIComponent(s));
    } catch {
      return this.error(ctx, 400, 'The request URI is invalid.');
    }
    if (ctx.req.headers.accesskey !== this.key) return this.error(ctx, 401, MSG_DENIED);

    const s1 = segs[1]?.toLowerCase();
    const notAllowed = (): Reply =>
      this.error(ctx, 405, `The requested resource does not support http method '${method}'.`);

    if (s1 === 'events') {
      if (segs.length === 2) {
        if (method === 'GET') return this.getEvents(ctx, '100');
        if (method === 'DELETE' || method === 'PATCH') return this.deleteEvents(ctx);
        return notAllowed();
      }
      if (segs.length === 3) {
        if (method === 'GET') return this.getEvents(ctx, segs[2]);
        return notAllowed();
      }
      return this.error(ctx, 404, MSG_NO_ROUTE);
    }

    if (s1 !== 'devices') return this.error(ctx, 404, MSG_NO_ROUTE);
    if (segs.length === 2) {
      if (method !== 'GET') return notAllowed();
      return this.json(
        200,
        [...this.devices.values()].map((d) => ({
          Id: d.id,
          Name: d.name,
          DeviceDefinition: d.definition,
          DeviceSerialNumber: d.serial,
          Region: 'US',
          Aliases: [],
        })),
      );
    }

    const rest = segs.slice(3).map((s) => s.toLowerCase());
    let kind: 'status' | 'sync' | 'creds';
    if (rest.length === 1 && rest[0] === 'status') kind = 'status';
    else if (rest.length === 2 && rest[0] === 'credentials' && rest[1] === 'sync') kind = 'sync';
    else if (rest.length === 2 && rest[0] === 'credentials') kind = 'creds';
    else return this.error(ctx, 404, MSG_NO_ROUTE);

    const name = segs[2];
    if (!DEVICE_NAME_RE.test(name)) {
      return this.error(ctx, 400, MSG_INVALID, {
        DeviceName: [
          `The device name '${name}' is invalid: 1-128 characters from A-Z, a-z, 0-9, '-', '_', ',', '.' and space.`,
        ],
      });
    }
    let credType: CredentialType | undefined;
    if (kind === 'creds') {
      credType = normaliseCredType(segs[4]);
      if (!credType) {
        return this.error(ctx, 400, MSG_INVALID, {
          CredentialType: [`The credential type '${segs[4]}' is invalid: Basic, User or Pin.`],
        });
      }
    }
    const allowed =
      kind === 'creds'
        ? ['GET', 'POST', 'PUT', 'DELETE', 'PATCH']
        : kind === 'sync'
          ? ['GET', 'POST']
          : ['GET'];
    if (!allowed.includes(method)) return notAllowed();
    const d = this.devices.get(name);
    if (!d) return this.error(ctx, 404, `Device '${name}' was not found.`);

    if (kind === 'status') return this.json(200, { WebSocketsEnabled: d.online });
    if (kind === 'sync') return method === 'GET' ? this.json(200, d.lastSync) : this.runSync(d);
    return this.credentials(ctx, d, credType as CredentialType);
  }

  // --- credentials ----------------------------------------------------------------------------

  private credIds(d: SimDevice, type: CredentialType): string[] {
    return type === 'Basic' ? [...d.basic] : [...(type === 'User' ? d.user : d.pin).keys()];
  }

  /** Validates a POST/PUT body: Basic -> values; User/Pin -> [id, secret] pairs. */
  private credBody(type: CredentialType, body: unknown): Array<[string, string]> {
    if (type === 'Basic') {
      if (!Array.isArray(body)) {
        throw new BadRequest(MSG_INVALID, {
          Credentials: ['An array of Basic credential values is required.'],
        });
      }
      const bad: string[] = [];
      for (const v of body) {
        if (typeof v !== 'string' || !BASIC_RE.test(v)) {
          bad.push(
            `The credential '${String(v)}' is invalid: 10-40 upper-case hexadecimal characters (0-9, A-F) expected.`,
          );
        }
      }
      if (bad.length) throw new BadRequest(MSG_INVALID, { Credentials: bad });
      return (body as string[]).map((v) => [v, '']);
    }
    if (!isPlainObject(body)) {
      throw new BadRequest(MSG_INVALID, {
        Credentials: [`An object {id: secret} of ${type} credentials is required.`],
      });
    }
    const pairs = Object.entries(body);
    const bad = pairs
      .filter(([k, v]) => !k || k.length > 256 || typeof v !== 'string')
      .map(
        ([k]) =>
          `The ${type} credential '${k}' is invalid: a non-empty id and a string secret expected.`,
      );
    if (bad.length) throw new BadRequest(MSG_INVALID, { Credentials: bad });
    return pairs as Array<[string, string]>;
  }

  private credentials(ctx: Ctx, d: SimDevice, type: CredentialType): Reply {
    const method = ctx.method;
    if (method === 'GET') return this.json(200, this.credIds(d, type));
    const body = this.parseBody(ctx);
    const store = type === 'User' ? d.user : d.pin;

    if (method === 'POST' || method === 'PUT') {
      const pairs = this.credBody(type, body);
      if (method === 'PUT') {
        if (type === 'Basic') d.basic.clear();
        else store.clear();
      }
      const ids: string[] = [];
      for (const [id, secret] of pairs) {
        if (type === 'Basic') d.basic.add(id);
        else store.set(id, secret);
        if (!ids.includes(id)) ids.push(id);
      }
      const current = this.credIds(d, type);
      if (method === 'POST') {
        this.publish({
          Type: 'DeviceCredentialsAddedEvent',
          Device: d.name,
          CredentialType: type,
          AddedCredentials: ids,
        });
        return this.json(201, current);
      }
      this.publish({
        Type: 'DeviceCredentialsModifiedEvent',
        Device: d.name,
        CredentialType: type,
        CurrentCredentials: current,
      });
      return this.json(200, current);
    }

    // DELETE / PATCH: body = array of ids
    if (!Array.isArray(body) || !body.every((v) => typeof v === 'string')) {
      throw new BadRequest(MSG_INVALID, {
        Credentials: ['An array of credential ids to remove is required.'],
      });
    }
    const removed: string[] = [];
    for (const id of body as string[]) {
      const gone = type === 'Basic' ? d.basic.delete(id) : store.delete(id);
      if (gone) removed.push(id);
    }
    this.publish({
      Type: 'DeviceCredentialsRemovedEvent',
      Device: d.name,
      CredentialType: type,
      RemovedCredentials: removed,
    });
    return { status: 204 };
  }

  // --- events ---------------------------------------------------------------------------------

  private getEvents(ctx: Ctx, limitText: string): Reply {
    const limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : NaN;
    if (!(limit >= 1 && limit <= 512)) {
      return this.error(ctx, 400, MSG_INVALID, {
        limit: [`The limit '${limitText}' is invalid: an integer from 1 to 512 expected.`],
      });
    }
    const q = ctx.query;
    let version: number | undefined;
    if (q.eventversion !== undefined && q.eventversion !== '') {
      version = Number(q.eventversion);
      if (!Number.isInteger(version)) {
        return this.error(ctx, 400, MSG_INVALID, { eventversion: ['An integer is expected.'] });
      }
    }
    const { ids, jsons } = this.queue.take(limit, {
      type: q.type || undefined,
      device: q.device || undefined,
      version,
    });
    const batchId = uuid();
    if (ids.length) this.queue.registerBatch(batchId, ids);
    return {
      status: 200,
      body: `{"BatchId":"${batchId}","Count":${ids.length},"Events":[${jsons.join(',')}]}`,
      events: { batchId, jsons },
    };
  }

  private deleteEvents(ctx: Ctx): Reply {
    const body = this.parseBody(ctx);
    if (!isPlainObject(body)) {
      throw new BadRequest(MSG_INVALID, {
        request: ['A body {BatchId} or {EventIds} is required.'],
      });
    }
    const hasBatch = body.BatchId !== undefined && body.BatchId !== null;
    const hasIds = body.EventIds !== undefined && body.EventIds !== null;
    if (hasBatch === hasIds) {
      throw new BadRequest(MSG_INVALID, {
        request: ['Exactly one of BatchId or EventIds must be given.'],
      });
    }
    let ids: string[];
    if (hasBatch) {
      if (typeof body.BatchId !== 'string' || !body.BatchId) {
        throw new BadRequest(MSG_INVALID, { BatchId: ['BatchId must be a string.'] });
      }
      const batch = this.queue.batch(body.BatchId);
      if (!batch) return this.error(ctx, 404, `Batch '${body.BatchId}' was not found.`);
      ids = batch;
    } else {
      const e = body.EventIds;
      if (!Array.isArray(e) || e.length === 0 || !e.every((x) => typeof x === 'string')) {
        throw new BadRequest(MSG_INVALID, {
          EventIds: ['EventIds must be a non-empty array of strings.'],
        });
      }
      if (e.length > 100) {
        throw new BadRequest(MSG_INVALID, {
          EventIds: [`At most 100 EventIds per request (${e.length} given).`],
        });
      }
      ids = e as string[];
    }
    const f = this.currentFaults;
    if (ctx.faulty && f.deleteFailRate && Math.random() < f.deleteFailRate) {
      this.counters.faults++;
      return this.error(ctx, 500, 'An error has occurred.');
    }
    this.queue.deleteIds(ids);
    return { status: 204 };
  }

  // --- control API (/_sim/, no AccessKey, no faults, not logged) -------------------------------

  private control(res: http.ServerResponse, method: string, segs: string[], raw: Buffer): void {
    const send = (status: number, value?: unknown): void =>
      this.write(res, value === undefined ? { status } : this.json(status, value));
    let body: unknown;
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : undefined;
    } catch {
      send(400, { Message: 'Invalid JSON body.' });
      return;
    }
    let names: string[];
    try {
      names = segs.map((s) => decodeURIComponent(s));
    } catch {
      send(400, { Message: 'The request URI is invalid.' });
      return;
    }
    const route = `${method} ${names.map((s, i) => (i === 1 && names[0] === 'devices' ? '*' : s)).join('/')}`;
    try {
      switch (route) {
        case 'GET log':
          return send(200, this.log);
        case 'DELETE log':
          this.clearLog();
          return send(204);
        case 'GET stats':
          return send(200, this.stats());
        case 'DELETE stats':
          this.resetStats();
          return send(204);
        case 'GET queue':
          return send(200, this.queuedEvents());
        case 'DELETE queue':
          this.clearEvents();
          return send(204);
        case 'POST events': {
          const list = Array.isArray(body) ? body : [body];
          return send(
            200,
            list.map((e) => this.publish(e as PublishInput)),
          );
        }
        case 'GET faults':
          return send(200, this.faults);
        case 'POST faults':
          this.setFaults(isPlainObject(body) ? (body as Faults) : {});
          return send(200, this.faults);
        case 'POST access-key':
          if (!isPlainObject(body) || typeof body.accessKey !== 'string') {
            return send(400, { Message: 'Body {accessKey} expected.' });
          }
          this.setAccessKey(body.accessKey);
          return send(204);
        case 'GET devices':
          return send(
            200,
            [...this.devices.keys()].map((n) => this.device(n)),
          );
        case 'POST devices': {
          const spec = body as DeviceSpec;
          const d = typeof spec === 'string' ? parseDeviceSpec(spec) : spec;
          if (!isPlainObject(d) || typeof d.name !== 'string') {
            return send(400, { Message: 'Body {name, online?, definition?} expected.' });
          }
          this.addDevice(d.name, { online: d.online, definition: d.definition });
          return send(201, this.device(d.name));
        }
      }
      if (names[0] === 'devices' && names.length >= 2) {
        const name = names[1];
        if (!this.devices.has(name))
          return send(404, { Message: `Device '${name}' was not found.` });
        const sub = `${method} ${names.slice(2).join('/')}`;
        switch (sub) {
          case 'GET ':
            return send(200, this.device(name));
          case 'DELETE ':
            this.removeDevice(name);
            return send(204);
          case 'POST online':
            this.setOnline(name, true);
            return send(200, this.device(name));
          case 'POST offline':
            this.setOnline(name, false);
            return send(200, this.device(name));
          case 'POST fail-next':
            if (
              !isPlainObject(body) ||
              typeof body.Key !== 'string' ||
              typeof body.Value !== 'string'
            ) {
              return send(400, { Message: 'Body {Key, Value} expected.' });
            }
            this.failNextCommand(name, { Key: body.Key, Value: body.Value });
            return send(204);
        }
      }
      return send(404, { Message: 'Unknown simulator control route.' });
    } catch (err) {
      return send(400, { Message: (err as Error).message });
    }
  }
}

export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const sim = new JetstreamSimulator(opts);
  await sim.listen();
  return sim;
}
