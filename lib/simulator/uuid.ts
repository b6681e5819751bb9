// Compact random (v4) UUIDs for the simulator's hot paths. crypto.randomUUID() returns a rope
// (a tree of concatenated pieces, ~500 bytes of heap per id) that stays that big while the event
// queue keeps it; here 256 ids are written into one buffer, decoded once, and handed out as
// slices of that flat string (~70 bytes each).

import { randomFillSync } from 'node:crypto';

const BATCH = 256;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
const raw = Buffer.alloc(16 * BATCH);
const text = Buffer.alloc(36 * BATCH);
let pool: string[] = [];
let next = 0;

function refill(): void {
  randomFillSync(raw);
  let o = 0;
  for (let u = 0; u < BATCH; u++) {
    const b = u * 16;
    raw[b + 6] = (raw[b + 6] & 0x0f) | 0x40; // version 4
    raw[b + 8] = (raw[b + 8] & 0x3f) | 0x80; // RFC 4122 variant
    for (let i = 0; i < 16; i++) {
      if (i === 4 || i === 6 || i === 8 || i === 10) text[o++] = 0x2d; // '-'
      const v = raw[b + i];
      text[o++] = HEX[v >> 4];
      text[o++] = HEX[v & 15];
    }
  }
  const all = text.toString('latin1');
  pool = new Array<string>(BATCH);
  for (let u = 0; u < BATCH; u++) pool[u] = all.slice(u * 36, u * 36 + 36);
  next = 0;
}

/** A random v4 UUID, lower-case, 36 characters. */
export function uuid(): string {
  if (next >= pool.length) refill();
  return pool[next++];
}
