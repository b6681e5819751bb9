// The shared event poller of one account: every jetstream-events node (and every sync node
// waiting for a completion) subscribes here. One poll loop runs per distinct server-side filter
// (a loop for "all types" or "all devices" covers the narrower ones), each fetched batch is
// sorted, de-duplicated and handed to every matching subscriber, and only then deleted.
import type { JetstreamClient } from './client';
import { JetstreamError } from './errors';
import type { JetstreamEvent } from './types';

export interface SubscriptionOptions {
  /**
   * The subscribing node's id. A node restarting (redeploy, stop/start) is parked under it:
   * events fetched meanwhile are kept and handed to its next subscription.
   */
  id?: string;
  /** Event types wanted; empty = all. */
  types?: string[];
  /** Only this device; '' or undefined = all. */
  device?: string;
  /** Idle poll interval, ms. */
  intervalMs: number;
  /** Batch size, 1..512. */
  limit: number;
  /** Called once per new event matching the filter, in batch order. */
  deliver(event: JetstreamEvent): void;
  /** Called whenever the account's polling state changes. */
  onState?(state: HubState): void;
  /** Called once per outage (not at every retry). */
  onError?(err: Error): void;
  /** Called for a malformed event that was skipped. */
  onWarn?(message: string): void;
}

export type HubState =
  | { kind: 'polling' }
  | { kind: 'retrying'; retryInMs: number; error: Error }
  | { kind: 'unauthorized'; retryInMs: number; error: Error }
  | { kind: 'failed'; error: Error };

export interface Subscription {
  /** Poll the loops serving this subscription now rather than at the next interval. */
  nudge(): void;
  /** `restarting`: the node comes back (Node-RED's `removed` is false): park, don't drop. */
  unsubscribe(restarting?: boolean): void;
}

export interface HubOptions {
  /** What outlives a hub restart of one account (a full redeploy): see AccountMemory. */
  memory?: AccountMemory;
  /** Backoff after a failed poll: first step and cap, ms. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Wait after 401/403, ms (a wrong key must not hammer the API). */
  unauthorizedRetryMs?: number;
  /** How long close() lets a delete of an already delivered batch finish, ms. */
  closeGraceMs?: number;
}

/** A bounded set of recent EventIds, oldest evicted first; memory stays flat. */
export class SeenWindow {
  private readonly ids = new Set<string>();
  // Insertion order in a ring: evicting through the Set's own iterator would step over every
  // deleted entry V8 has not compacted yet, which made a full window slow.
  private readonly ring: string[];
  private head = 0;
  constructor(readonly capacity = 20_000) {
    this.ring = new Array<string>(capacity);
  }
  has(id: string): boolean {
    return this.ids.has(id);
  }
  add(id: string): void {
    if (this.ids.has(id)) return;
    const old = this.ring[this.head];
    if (old !== undefined) this.ids.delete(old);
    this.ring[this.head] = id;
    this.head = (this.head + 1) % this.capacity;
    this.ids.add(id);
  }
  get size(): number {
    return this.ids.size;
  }
}

/** A restarting node's filter and the events that arrived while it was away. */
interface Parked {
  types: string[];
  device: string;
  events: JetstreamEvent[];
  since: number;
}

/** Per-account state kept across hub restarts, so that redeploys neither repeat nor lose events. */
export class AccountMemory {
  readonly seen = new SeenWindow();
  readonly parked = new Map<string, Parked>();
}

/** A parked node that has not come back by then was changed or moved: forget it. */
const PARK_MS = 60_000;
/** At most this many events are kept for one parked node. */
const PARK_LIMIT = 10_000;

interface Sub extends SubscriptionOptions {
  types: string[];
  device: string;
  keys: string[];
}

const SEVERITY: Record<HubState['kind'], number> = {
  polling: 0,
  retrying: 1,
  unauthorized: 2,
  failed: 3,
};

const ANY = '';
const keyOf = (type: string, device: string) => `${type}\u0000${device}`;
const splitKey = (key: string) => key.split('\u0000') as [string, string];
/** Does loop `outer` fetch everything loop `inner` would? */
const covers = (outer: string, inner: string) => {
  const [ot, od] = splitKey(outer);
  const [it, id] = splitKey(inner);
  return (ot === ANY || ot === it) && (od === ANY || od === id);
};

export class EventHub {
  private readonly subs = new Set<Sub>();
  private readonly loops = new Map<string, PollLoop>();
  private readonly stopping = new Set<Promise<void>>();
  private readonly failing = new Map<PollLoop, Exclude<HubState, { kind: 'polling' }>>();
  private readonly seen: SeenWindow;
  private readonly parked: Map<string, Parked>;
  private state: HubState = { kind: 'polling' };
  private closed = false;
  readonly options: Required<Omit<HubOptions, 'memory'>>;

  /** `client` is null when the account is misconfigured: subscribers get `failed`, no requests. */
  constructor(
    private readonly client: JetstreamClient | null,
    private readonly configError: Error | null = null,
    options: HubOptions = {},
  ) {
    const memory = options.memory ?? new AccountMemory();
    this.seen = memory.seen;
    this.parked = memory.parked;
    this.options = {
      backoffBaseMs: options.backoffBaseMs ?? 1000,
      backoffMaxMs: options.backoffMaxMs ?? 60_000,
      unauthorizedRetryMs: options.unauthorizedRetryMs ?? 60_000,
      closeGraceMs: options.closeGraceMs ?? 3000,
    };
  }

  subscribe(options: SubscriptionOptions): Subscription {
    const types = (options.types ?? []).filter((t) => t !== '');
    const device = options.device ?? ANY;
    const keys = types.length === 0 ? [keyOf(ANY, device)] : types.map((t) => keyOf(t, device));
    const sub: Sub = { ...options, types, device, keys };
    this.subs.add(sub);
    const parked = options.id === undefined ? undefined : this.parked.get(options.id);
    if (parked) {
      // Back from a restart: first what arrived meanwhile, in order.
      this.parked.delete(options.id!);
      for (const event of parked.events) if (matches(sub, event)) sub.deliver(event);
    }
    if (!this.client) {
      const error = this.configError ?? new Error('Jetstream account is not configured.');
      sub.onState?.({ kind: 'failed', error });
      sub.onError?.(error);
    } else {
      sub.onState?.(this.state);
      this.plan();
    }
    return {
      nudge: () => {
        for (const loop of this.loops.values()) {
          if (sub.keys.some((k) => covers(loop.key, k))) loop.pollNow();
        }
      },
      unsubscribe: (restarting = false) => {
        if (!this.subs.delete(sub)) return;
        if (restarting && sub.id !== undefined) {
          this.parked.set(sub.id, { types, device, events: [], since: Date.now() });
        }
        this.plan();
      },
    };
  }

  /** Number of running poll loops (for tests and status). */
  get loopCount(): number {
    return this.loops.size;
  }

  get seenCount(): number {
    return this.seen.size;
  }

  /** Stops every loop; resolves once in-flight deletes finished (bounded by closeGraceMs). */
  async close(): Promise<void> {
    this.closed = true;
    this.subs.clear();
    const stopping = [...this.loops.values()].map((l) => l.stop());
    this.loops.clear();
    await Promise.all([...stopping, ...this.stopping]);
  }

  /** Works out which loops should run, with what interval and limit, and starts/stops them. */
  private plan(): void {
    if (this.closed || !this.client) return;
    const wanted = new Set<string>();
    for (const s of this.subs) for (const k of s.keys) wanted.add(k);
    // A loop for a wider filter makes the narrower ones redundant: fetch each event once.
    const keys = [...wanted].filter((k) => ![...wanted].some((o) => o !== k && covers(o, k)));
    for (const [key, loop] of this.loops) {
      if (!keys.includes(key)) {
        this.loops.delete(key);
        this.failing.delete(loop);
        // close() waits for this too: a delete still in flight must not outlive the client.
        const stopping = loop.stop().finally(() => this.stopping.delete(stopping));
        this.stopping.add(stopping);
      }
    }
    for (const key of keys) {
      let intervalMs = Infinity;
      let limit = 1;
      for (const s of this.subs) {
        if (s.keys.some((k) => covers(key, k))) {
          intervalMs = Math.min(intervalMs, s.intervalMs);
          limit = Math.max(limit, s.limit);
        }
      }
      const existing = this.loops.get(key);
      if (existing) existing.configure(intervalMs, limit);
      else {
        const [type, device] = splitKey(key);
        const loop = new PollLoop(this, this.client, key, { type, device }, intervalMs, limit);
        this.loops.set(key, loop);
        loop.pollNow();
      }
    }
    if (this.loops.size === 0) this.setState({ kind: 'polling' });
  }

  /** Hands one fetched batch to the subscribers: sorted, new events only, in order. */
  dispatch(events: unknown[]): void {
    const now = Date.now();
    for (const [id, p] of this.parked) if (now - p.since > PARK_MS) this.parked.delete(id);
    for (const event of sortByTime(events.filter((e) => this.wellFormed(e)))) {
      if (this.seen.has(event.EventId)) continue;
      this.seen.add(event.EventId);
      let handed = 0;
      for (const p of this.parked.values()) {
        if (matches(p, event) && p.events.push(structuredClone(event)) > PARK_LIMIT)
          p.events.shift();
      }
      for (const s of this.subs) {
        if (!matches(s, event)) continue;
        try {
          // Each subscriber may change what it gets: only the first receives the original.
          s.deliver(handed++ === 0 ? event : structuredClone(event));
        } catch (err) {
          s.onError?.(err as Error);
        }
      }
    }
  }

  private wellFormed(e: unknown): e is JetstreamEvent {
    const ev = e as Partial<JetstreamEvent> | null;
    if (
      ev &&
      typeof ev === 'object' &&
      typeof ev.EventId === 'string' &&
      ev.EventId &&
      typeof ev.Type === 'string'
    ) {
      return true;
    }
    const text = `Skipped a malformed Jetstream event (no EventId or Type): ${preview(e)}`;
    for (const s of this.subs) s.onWarn?.(text);
    return false;
  }

  /** Loop outcome: new state for everyone; an error reported once per outage. */
  report(loop: PollLoop, state: HubState): void {
    if (this.closed || this.loops.get(loop.key) !== loop) return;
    const wasFailing = this.state.kind !== 'polling';
    if (state.kind === 'polling') this.failing.delete(loop);
    else this.failing.set(loop, state);
    // The account is as well as its worst loop: one healthy loop must not hide another's outage
    // (nor make it count as a new one when it fails again).
    const worst = [...this.failing.values()].sort((a, b) => SEVERITY[b.kind] - SEVERITY[a.kind])[0];
    this.setState(worst ?? { kind: 'polling' });
    if (worst && !wasFailing) {
      for (const s of this.subs) s.onError?.(worst.error);
    }
  }

  private setState(state: HubState): void {
    const same = state.kind === this.state.kind && state.kind === 'polling';
    this.state = state;
    if (same) return;
    for (const s of this.subs) s.onState?.(state);
  }
}

/** One non-overlapping poll loop (a setTimeout chain) for one server-side filter. */
class PollLoop {
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;
  private fetch: AbortController | null = null;
  private deleting: Promise<void> | null = null;
  private deleteAbort: AbortController | null = null;
  private busy = false;
  private again = false;
  private stopped = false;
  private failures = 0;
  private nextAt = 0;

  constructor(
    private readonly hub: EventHub,
    private readonly client: JetstreamClient,
    readonly key: string,
    private readonly filter: { type: string; device: string },
    private intervalMs: number,
    private limit: number,
  ) {}

  configure(intervalMs: number, limit: number): void {
    this.limit = limit;
    const shorter = intervalMs < this.intervalMs;
    this.intervalMs = intervalMs;
    // A new subscriber wanting a faster pace should not wait out the old, longer interval.
    if (shorter && this.timer && this.failures === 0 && this.nextAt - Date.now() > intervalMs) {
      this.schedule(intervalMs);
    }
  }

  pollNow(): void {
    if (this.stopped) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    if (this.failures > 0) return; // backing off: keep the pace the error asked for
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelTimer();
    this.fetch?.abort();
    if (this.deleting) {
      // The batch was delivered: let its delete finish so that it is not emitted again, but
      // not past the grace period (Node-RED gives close 15 s in all).
      const grace = setTimeout(() => this.deleteAbort?.abort(), this.hub.options.closeGraceMs);
      await this.deleting.catch(() => undefined);
      clearTimeout(grace);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.cancelTimer();
    this.nextAt = Date.now() + ms;
    const run = () => {
      this.timer = null;
      this.immediate = null;
      void this.tick();
    };
    // Draining: setTimeout(0) would wait at least 1 ms per batch; setImmediate does not.
    if (ms <= 0) this.immediate = setImmediate(run);
    else this.timer = setTimeout(run, ms);
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.immediate) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private async tick(): Promise<void> {
    if (this.stopped || this.busy) return;
    this.busy = true;
    this.again = false;
    let next = this.intervalMs;
    try {
      this.fetch = new AbortController();
      const limit = this.limit;
      const { BatchId: batchId, Events: events } = await this.client.getEvents(
        limit,
        { type: this.filter.type || undefined, device: this.filter.device || undefined },
        { signal: this.fetch.signal },
      );
      this.fetch = null;
      if (this.stopped) return; // closed while fetching: nothing delivered, nothing deleted
      this.hub.dispatch(events);
      // Only the count is kept past this point: the parsed events can be collected while the
      // delete is in flight (a fast drain otherwise promotes them all to the old generation).
      const count = events.length;
      events.length = 0;
      if (count > 0) {
        const signal = (this.deleteAbort = new AbortController()).signal;
        this.deleting = (async () => {
          // Node-RED delivers sent msgs on setImmediate: let it hand this batch on before the
          // delete and the next fetch, so a fast queue cannot pile msgs up in memory.
          await new Promise((resolve) => setImmediate(resolve));
          await this.client.deleteEvents({ batchId }, { signal });
        })();
        try {
          await this.deleting;
        } finally {
          this.deleting = null;
          this.deleteAbort = null;
        }
      }
      this.failures = 0;
      this.hub.report(this, { kind: 'polling' });
      // Drain: a full batch means more are waiting.
      if (count >= limit || this.again) next = 0;
    } catch (e) {
      this.fetch = null;
      const err = e as JetstreamError;
      if (this.stopped || err.aborted) return;
      this.failures++;
      const opts = this.hub.options;
      if (err.code === 'JETSTREAM_UNAUTHORIZED') {
        next = opts.unauthorizedRetryMs;
        this.hub.report(this, { kind: 'unauthorized', retryInMs: next, error: err });
      } else {
        const step = Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** (this.failures - 1));
        next = Math.max(Math.round(step * (0.5 + Math.random() * 0.5)), err.retryAfterMs ?? 0);
        this.hub.report(this, { kind: 'retrying', retryInMs: next, error: err });
      }
    } finally {
      this.busy = false;
    }
    this.schedule(next);
  }
}

function matches(filter: { types: string[]; device: string }, event: JetstreamEvent): boolean {
  if (filter.types.length > 0 && !filter.types.includes(event.Type)) return false;
  return !filter.device || filter.device === event.Device;
}

/** Stable sort by EventTime; an unreadable time keeps the position of the event before it. */
function sortByTime(events: JetstreamEvent[]): JetstreamEvent[] {
  let last = -Infinity;
  const times = events.map((e) => {
    const t = Date.parse(String(e.EventTime));
    if (!Number.isNaN(t)) last = t;
    return last;
  });
  let sorted = true;
  for (let i = 1; i < times.length && sorted; i++) sorted = times[i - 1] <= times[i];
  if (sorted) return events;
  return events
    .map((e, i) => ({ e, t: times[i] }))
    .sort((a, b) => a.t - b.t)
    .map((x) => x.e);
}

function preview(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 120 ? `${text.slice(0, 120)}...` : text;
}
