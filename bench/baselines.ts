// The practical limits, without Node-RED: bare axios loops (keep-alive agent) doing the same
// request sequences as the package.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import axios from 'axios';
import { benchState, type Msg, type SourceNode } from './counter';

function client(url: string, key: string) {
  const agent = new http.Agent({ keepAlive: true });
  const ax = axios.create({
    baseURL: `${url}/3`,
    httpAgent: agent,
    proxy: false,
    headers: { AccessKey: key, Accept: 'application/json' },
  });
  return { ax, agent };
}

interface Batch {
  BatchId?: string;
  Events: unknown[];
}

/** GET /3/events/{limit} + DELETE {BatchId} until `n` events came; returns elapsed ms. */
export async function bareDrain(url: string, key: string, n: number, limit: number) {
  const { ax, agent } = client(url, key);
  try {
    const t0 = performance.now();
    let count = 0;
    while (count < n) {
      const res = await ax.get<Batch>(`/events/${limit}`);
      const events = res.data.Events;
      if (!Array.isArray(events)) throw new Error('bare loop: no Events array');
      if (events.length === 0) throw new Error(`bare loop: queue empty after ${count} events`);
      count += events.length;
      await ax.delete('/events', { data: { BatchId: res.data.BatchId } });
    }
    return performance.now() - t0;
  } finally {
    agent.destroy();
  }
}

/**
 * Baseline (d): the bare loop that also hands each event to Node-RED, as msgs shaped like the
 * events node's, sent by a bench-source node: the package's job minus the package. Resolves
 * when the last batch is deleted; the caller waits for the counter.
 */
export async function bareDrainDeliver(
  url: string,
  key: string,
  n: number,
  limit: number,
  node: SourceNode,
) {
  const { ax, agent } = client(url, key);
  try {
    let count = 0;
    while (count < n) {
      const res = await ax.get<Batch>(`/events/${limit}`);
      const events = res.data.Events as Array<Record<string, unknown>>;
      if (!Array.isArray(events) || events.length === 0) throw new Error('bare+deliver: no events');
      for (const ev of events) {
        node.send({ payload: ev, topic: ev.Type, eventId: ev.EventId, device: ev.Device });
      }
      count += events.length;
      await ax.delete('/events', { data: { BatchId: res.data.BatchId } });
    }
  } finally {
    agent.destroy();
  }
}

/** POST /3/devices/{name}/credentials/sync for every name, `concurrency` at a time. */
export async function bareSync(url: string, key: string, names: string[], concurrency: number) {
  const { ax, agent } = client(url, key);
  try {
    const t0 = performance.now();
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < names.length) {
        const name = names[next++];
        const res = await ax.post<{ CommandId?: string }>(
          `/devices/${encodeURIComponent(name)}/credentials/sync`,
        );
        if (typeof res.data.CommandId !== 'string') throw new Error('bare sync: no CommandId');
        done++;
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, names.length) }, worker));
    if (done !== names.length) throw new Error(`bare sync: ${done} of ${names.length}`);
    return performance.now() - t0;
  } finally {
    agent.destroy();
  }
}

/**
 * Baseline (c): `n` ready-made msgs shaped like the events node's, sent by a node in chunks of
 * `chunk` (one poll's worth) with setImmediate between chunks, into the same counter.
 */
export function readyMsgs(n: number): Msg[] {
  const out: Msg[] = new Array(n);
  const t = new Date().toISOString().slice(0, 19) + 'Z';
  for (let i = 0; i < n; i++) {
    const id = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
    const payload = JSON.parse(
      `{"Type":"HeartbeatEvent","EventId":"${id}","EventTime":"${t}","Version":2,"Device":"Bench-1","ReceivedTime":"${t}"}`,
    ) as Record<string, unknown>;
    out[i] = { payload, topic: payload.Type, eventId: payload.EventId, device: payload.Device };
  }
  return out;
}

export function sendChunked(node: SourceNode, msgs: Msg[], chunk: number): Promise<void> {
  return new Promise((resolve) => {
    let i = 0;
    const step = () => {
      const end = Math.min(msgs.length, i + chunk);
      for (; i < end; i++) node.send(msgs[i]);
      if (i < msgs.length) setImmediate(step);
      else resolve();
    };
    step();
  });
}

export const counted = () => benchState().counts;
