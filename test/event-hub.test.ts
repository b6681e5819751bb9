// EventHub on its own, with a scripted client: how the account's state is reported when its
// loops disagree.
import assert from 'node:assert/strict';
import type { JetstreamClient } from '../lib/client';
import { JetstreamError } from '../lib/errors';
import { EventHub, type HubState } from '../lib/event-hub';
import { sleep, until } from './support';

/** A client whose getEvents fails for event type 'Broken' and returns empty batches otherwise. */
function scriptedClient(calls: string[]): JetstreamClient {
  return {
    async getEvents(_limit: number, filter: { type?: string }) {
      calls.push(filter.type ?? '*');
      if (filter.type === 'Broken') {
        throw new JetstreamError('JETSTREAM_SERVER_ERROR', 'HTTP 503', { statusCode: 503 });
      }
      return { BatchId: 'b', Count: 0, Events: [] };
    },
    async deleteEvents() {},
  } as unknown as JetstreamClient;
}

describe('EventHub state across loops', () => {
  it('one failing loop keeps the account "retrying" while another polls fine, and reports the outage once', async () => {
    const calls: string[] = [];
    const hub = new EventHub(scriptedClient(calls), null, { backoffBaseMs: 20, backoffMaxMs: 40 });
    const states: HubState['kind'][] = [];
    const errors: Error[] = [];
    hub.subscribe({
      types: ['Broken', 'Fine'],
      intervalMs: 10,
      limit: 10,
      deliver: () => undefined,
      onState: (s) => states.push(s.kind),
      onError: (e) => errors.push(e),
    });
    await until(
      () => calls.filter((c) => c === 'Broken').length >= 5,
      5000,
      'several failed polls',
    );
    assert.ok(calls.filter((c) => c === 'Fine').length >= 5, 'the healthy loop kept polling');
    assert.equal(errors.length, 1, 'one outage, one error');
    assert.equal(states.at(-1), 'retrying');
    assert.ok(
      !states.slice(states.indexOf('retrying')).includes('polling'),
      'no flip back to polling',
    );
    await hub.close();
    const after = calls.length;
    await sleep(100);
    assert.equal(calls.length, after, 'no poll after close');
  });
});
