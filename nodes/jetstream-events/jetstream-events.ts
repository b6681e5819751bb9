// jetstream-events: one msg per Jetstream event, from the account's shared event hub.
import type { ConfigNode } from '../../lib/account';
import { JetstreamError } from '../../lib/errors';
import type { HubState, Subscription } from '../../lib/event-hub';
import {
  clock,
  getConfigNode,
  num,
  whenStarted,
  type NodeDef,
  type RED,
  type RedNode,
} from '../../lib/red';

interface EventsDef extends NodeDef {
  account?: string;
  eventTypes?: string[] | string;
  device?: string;
  interval?: number | string;
  limit?: number | string;
}

/** Status text refresh period while events stream in (status goes to every open editor). */
const STATUS_EVERY_MS = 500;

/** The node's settings, checked; an invalid one is an error with a clear message. */
function readSettings(def: EventsDef): {
  types: string[];
  device: string;
  intervalMs: number;
  limit: number;
} {
  const raw = def.eventTypes ?? [];
  const types = (Array.isArray(raw) ? raw : String(raw).split(','))
    .map((t) => String(t).trim())
    .filter((t) => t !== '');
  const interval = num(def.interval, 10);
  const limit = num(def.limit, 100);
  if (!(interval >= 1) || interval > 2_147_483) {
    throw new JetstreamError(
      'JETSTREAM_INVALID_INPUT',
      `Invalid poll interval ${def.interval}: use 1 second or more.`,
    );
  }
  if (!Number.isInteger(limit) || limit < 1 || limit > 512) {
    throw new JetstreamError(
      'JETSTREAM_INVALID_INPUT',
      `Invalid batch size ${def.limit}: use a whole number from 1 to 512.`,
    );
  }
  return {
    types,
    device: (def.device ?? '').trim(),
    intervalMs: Math.round(interval * 1000),
    limit,
  };
}

export = function register(RED: RED): void {
  function JetstreamEventsNode(this: RedNode, def: EventsDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const account = getConfigNode<ConfigNode>(RED, def.account, 'jetstream-config');
    let subscription: Subscription | null = null;
    let count = 0;
    let lastAt: Date | null = null;
    let state: HubState = { kind: 'polling' };
    let statusTimer: NodeJS.Timeout | null = null;
    let closed = false;

    const showStatus = () => {
      statusTimer = null;
      switch (state.kind) {
        case 'polling':
          node.status(
            lastAt
              ? { fill: 'green', shape: 'dot', text: `${count} events, last ${clock(lastAt)}` }
              : { fill: 'green', shape: 'dot', text: 'listening' },
          );
          break;
        case 'retrying':
          node.status({
            fill: 'yellow',
            shape: 'ring',
            text: `retrying in ${Math.ceil(state.retryInMs / 1000)}s`,
          });
          break;
        case 'unauthorized':
          node.status({ fill: 'red', shape: 'ring', text: 'access key refused' });
          break;
        case 'failed':
          node.status({ fill: 'red', shape: 'ring', text: shortReason(state.error) });
          break;
      }
    };
    const fail = (err: Error) => {
      state = { kind: 'failed', error: err };
      showStatus();
      node.error(err, {});
    };

    // Subscribe once the flows run, so that an error at start reaches Catch nodes.
    const cancelStart = whenStarted(RED, () => {
      try {
        if (!account) {
          throw new JetstreamError(
            'JETSTREAM_INVALID_INPUT',
            'No Jetstream account selected (or it is not deployed).',
          );
        }
        const settings = readSettings(def);
        subscription = account.hub.subscribe({
          id: node.id,
          ...settings,
          deliver(event) {
            count++;
            lastAt = new Date();
            const msg: Record<string, unknown> = {
              payload: event,
              topic: event.Type,
              eventId: event.EventId,
            };
            if (event.Device !== undefined) msg.device = event.Device;
            node.send(msg);
            if (!statusTimer && !closed) statusTimer = setTimeout(showStatus, STATUS_EVERY_MS);
          },
          onState(next) {
            state = next;
            showStatus();
          },
          onError: (err) => node.error(err, {}),
          onWarn: (text) => node.warn(text),
        });
      } catch (err) {
        fail(err as Error);
      }
    });

    this.on('close', (removed: boolean, done: () => void) => {
      closed = true;
      cancelStart();
      subscription?.unsubscribe(!removed);
      if (statusTimer) clearTimeout(statusTimer);
      node.status({});
      done();
    });
  }

  RED.nodes.registerType('jetstream-events', JetstreamEventsNode);
};

function shortReason(err: Error): string {
  const code = (err as JetstreamError).code;
  if (code === 'JETSTREAM_UNAUTHORIZED') return 'no access key';
  if (code === 'JETSTREAM_INVALID_INPUT') return 'invalid settings';
  return 'error';
}
