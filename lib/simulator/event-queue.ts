// The simulated per-key event queue. O(1) append and O(1) delete by id: an array in queue order
// (with a moving head, tombstones for deleted entries and amortised compaction) plus a Map from
// EventId to entry. Each event's JSON is serialised once at publish time, so a GET only joins
// cached strings. (A plain insertion-ordered Map is not enough: V8 keeps deleted Map entries as
// holes that every iteration from the front has to skip until the table is rehashed.)

import type { JetstreamEvent } from '../types';

interface Entry {
  id: string;
  /** lower-cased Type, for the case-insensitive `type` filter */
  type: string;
  device: string | undefined;
  version: unknown;
  json: string;
  live: boolean;
}

let sink = 0;
/**
 * Makes V8 flatten a rope string in place (JSON.stringify and concatenation return ropes of
 * pieces, ~2x the memory of the flat text; joining ropes per GET is also slower). Converting a
 * string to a number flattens it; the sink keeps the call from being optimised away.
 */
export function flatten(s: string): string {
  sink = (sink + (Number(s) | 0)) | 0;
  return s;
}

export interface EventFilter {
  type?: string;
  device?: string;
  version?: number;
}

export interface TakeResult {
  ids: string[];
  jsons: string[];
}

export class EventQueue {
  private list: Array<Entry | undefined> = [];
  private head = 0;
  /** deleted entries still in `list` at or after `head` */
  private dead = 0;
  private readonly byId = new Map<string, Entry>();
  private readonly batches = new Map<string, string[]>();
  /** interned lower-case Types (one string per type, not per event) */
  private readonly lowerTypes = new Map<string, string>();

  constructor(private readonly maxBatches = 10000) {}

  get size(): number {
    return this.byId.size;
  }

  /** Appends an event (complete: EventId, Type...) with its pre-serialised JSON. */
  push(ev: JetstreamEvent, json: string = JSON.stringify(ev)): void {
    this.append(
      ev.EventId,
      ev.Type,
      typeof ev.Device === 'string' ? ev.Device : undefined,
      ev.Version,
      json,
    );
  }

  /** Appends pre-serialised JSON whose fields the caller vouches for (bulk fast path). */
  append(
    id: string,
    type: string,
    device: string | undefined,
    version: unknown,
    json: string,
  ): void {
    // A re-published id moves to the back of the queue instead of being kept twice.
    if (this.byId.has(id)) this.deleteIds([id]);
    let lower = this.lowerTypes.get(type);
    if (lower === undefined) {
      lower = type.toLowerCase();
      if (this.lowerTypes.size < 1000) this.lowerTypes.set(type, lower);
    }
    const e: Entry = {
      id: flatten(id),
      type: lower,
      device,
      version,
      json: flatten(json),
      live: true,
    };
    this.list.push(e);
    this.byId.set(id, e);
  }

  /** The oldest `limit` matching events, without removing them. */
  take(limit: number, filter: EventFilter = {}): TakeResult {
    const ids: string[] = [];
    const jsons: string[] = [];
    if (limit <= 0) return { ids, jsons };
    const type = filter.type?.toLowerCase();
    const { device, version } = filter;
    const unfiltered = type === undefined && device === undefined && version === undefined;
    const list = this.list;
    for (let i = this.head; i < list.length; i++) {
      const e = list[i] as Entry;
      if (!e.live) continue;
      if (!unfiltered) {
        if (type !== undefined && e.type !== type) continue;
        if (device !== undefined && e.device !== device) continue;
        if (version !== undefined && e.version !== version) continue;
      }
      ids.push(e.id);
      jsons.push(e.json);
      if (ids.length >= limit) break;
    }
    return { ids, jsons };
  }

  registerBatch(batchId: string, ids: string[]): void {
    this.batches.set(batchId, ids);
    if (this.batches.size > this.maxBatches) {
      // Forget the oldest batch (Map iteration is insertion order).
      const oldest = this.batches.keys().next();
      if (!oldest.done) this.batches.delete(oldest.value);
    }
  }

  batch(batchId: string): string[] | undefined {
    return this.batches.get(batchId);
  }

  /** Removes the given ids; ids already gone are ignored. Returns how many were removed. */
  deleteIds(ids: readonly string[]): number {
    let n = 0;
    for (const id of ids) {
      const e = this.byId.get(id);
      if (!e) continue;
      this.byId.delete(id);
      e.live = false;
      n++;
    }
    if (n === 0) return 0;
    this.dead += n;
    const list = this.list;
    while (this.head < list.length && !(list[this.head] as Entry).live) {
      list[this.head++] = undefined;
      this.dead--;
    }
    if (this.head === list.length) {
      this.list = [];
      this.head = 0;
    } else if (this.head > 4096 && this.head * 2 > list.length) {
      this.list = list.slice(this.head);
      this.head = 0;
    } else if (this.dead > 4096 && this.dead * 2 > this.byId.size) {
      this.list = list.slice(this.head).filter((e) => (e as Entry).live);
      this.head = 0;
      this.dead = 0;
    }
    return n;
  }

  clear(): void {
    this.list = [];
    this.head = 0;
    this.dead = 0;
    this.byId.clear();
    this.batches.clear();
  }

  /** Deep copies of the queued events, oldest first. */
  events(): JetstreamEvent[] {
    const out: JetstreamEvent[] = [];
    for (let i = this.head; i < this.list.length; i++) {
      const e = this.list[i] as Entry;
      if (e.live) out.push(JSON.parse(e.json) as JetstreamEvent);
    }
    return out;
  }
}
