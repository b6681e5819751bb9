// Opt-in patches (`--experiment NAME`) that try a proposed fix of the package code in the
// benchmark process only, to measure it before anyone changes lib/ or nodes/. They patch
// prototypes at run time; no file of the package is touched.
import { EventHub, SeenWindow } from '../lib/event-hub';

export const EXPERIMENTS: Record<string, string> = {
  'seen-ring':
    'SeenWindow evicts via a ring buffer of ids instead of Set.values().next() (which skips the deleted entries at the front of the Set on every eviction)',
  'poll-immediate':
    'PollLoop runs the next poll of a drain (a full batch) with setImmediate instead of setTimeout(0), which waits at least 1 ms per batch',
};

type LoopInternals = {
  stopped: boolean;
  timer: NodeJS.Timeout | null;
  nextAt: number;
  imm?: NodeJS.Immediate | null;
  tick(): Promise<void>;
  schedule(ms: number): void;
};

function patchLoop(proto: LoopInternals & { __patched?: boolean }): void {
  if (proto.__patched) return;
  proto.__patched = true;
  const original = proto.schedule;
  proto.schedule = function schedule(this: LoopInternals, ms: number): void {
    if (this.imm) clearImmediate(this.imm);
    this.imm = null;
    if (ms !== 0 || this.stopped) return original.call(this, ms);
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.nextAt = Date.now();
    this.imm = setImmediate(() => {
      this.imm = null;
      if (!this.stopped) void this.tick();
    });
  };
}

type SeenInternals = { ids: Set<string>; capacity: number; ring?: string[]; head?: number };

export function applyExperiment(name: string): void {
  if (name === 'seen-ring') {
    const proto = SeenWindow.prototype as unknown as {
      add(this: SeenInternals, id: string): void;
    };
    proto.add = function add(this: SeenInternals, id: string): void {
      if (this.ids.has(id)) return;
      let ring = this.ring;
      if (!ring) {
        // Seed with what the window already holds, oldest first.
        ring = this.ring = [...this.ids];
        this.head = ring.length % this.capacity;
        ring.length = this.capacity;
      }
      if (this.ids.size >= this.capacity) this.ids.delete(ring[this.head!]);
      ring[this.head!] = id;
      this.head = (this.head! + 1) % this.capacity;
      this.ids.add(id);
    };
    return;
  }
  if (name === 'poll-immediate') {
    // PollLoop is not exported: patch its prototype from the first loop a hub plans.
    const hubProto = EventHub.prototype as unknown as { plan(this: unknown): void };
    const plan = hubProto.plan;
    hubProto.plan = function (this: { loops: Map<string, object> }) {
      plan.call(this);
      for (const loop of this.loops.values()) patchLoop(Object.getPrototypeOf(loop));
    };
    return;
  }
  throw new Error(`unknown experiment ${name}; known: ${Object.keys(EXPERIMENTS).join(', ')}`);
}
