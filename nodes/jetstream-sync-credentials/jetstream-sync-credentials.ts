// jetstream-sync-credentials: tell devices to sync their access lists (optionally changing the
// stored list first), and optionally wait for each device's CommandCompletionEvent.
import type { ConfigNode } from '../../lib/account';
import {
  applyCredentialChange,
  parseCredentialChange,
  type CredentialChange,
} from '../../lib/credentials';
import { JetstreamError } from '../../lib/errors';
import type { Subscription } from '../../lib/event-hub';
import {
  clock,
  evaluate,
  getConfigNode,
  num,
  type Done,
  type NodeDef,
  type NodeMessage,
  type RED,
  type RedNode,
  type Send,
} from '../../lib/red';
import type { CommandCompletionEvent, JetstreamEvent } from '../../lib/types';
import { checkDevices } from '../../lib/validate';

interface SyncDef extends NodeDef {
  account?: string;
  device?: string;
  deviceType?: string;
  action?: 'sync' | 'lastSync';
  waitForCompletion?: boolean;
  completionTimeout?: number | string;
  credentialsProperty?: string;
  concurrency?: number | string;
}

/** While a completion is awaited, CommandCompletionEvents are polled at least this often. */
const COMPLETION_POLL_MS = 5000;
/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Completions seen before their command's answer arrived (a fast online device). */
const EARLY_COMPLETIONS = 1000;

interface Waiter {
  msg: NodeMessage;
  timer: NodeJS.Timeout;
  /** The device was offline: the command waits in Jetstream until it connects. */
  queued: boolean;
}

export = function register(RED: RED): void {
  function JetstreamSyncCredentialsNode(this: RedNode, def: SyncDef) {
    RED.nodes.createNode(this, def);
    const node = this;
    const account = getConfigNode<ConfigNode>(RED, def.account, 'jetstream-config');
    const action = def.action === 'lastSync' ? 'lastSync' : 'sync';
    const wait = action === 'sync' && def.waitForCompletion === true;
    const timeoutS = num(def.completionTimeout, 3600);
    const concurrency = Math.max(1, Math.min(64, Math.floor(num(def.concurrency, 8)) || 8));
    const credProp = (def.credentialsProperty || 'credentials').trim();
    const deviceType = def.deviceType || 'msg';
    const deviceValue = def.device ?? (deviceType === 'msg' ? 'device' : '');

    let inFlight = 0;
    const waiters = new Map<string, Waiter>();
    const early = new Map<string, CommandCompletionEvent>();
    const aborts = new Set<AbortController>();
    let subscription: Subscription | null = null;
    let closed = false;

    // The latest result, shown once nothing is in flight any more (a result reported while
    // other requests run would otherwise be overwritten by "syncing N" and then lost).
    let lastResult: { fill: 'green' | 'red' | 'yellow'; text: string } | undefined;
    const showStatus = (last?: { fill: 'green' | 'red' | 'yellow'; text: string }) => {
      if (closed) return;
      if (last) lastResult = last;
      if (inFlight > 0)
        node.status({
          fill: 'blue',
          shape: 'dot',
          text: `${action === 'sync' ? 'syncing' : 'reading'} ${inFlight}`,
        });
      // While completions are pending, a success is not the end of it: say who is awaited.
      else if (waiters.size > 0 && lastResult?.fill !== 'red') {
        const [only] = waiters.values();
        const text =
          waiters.size > 1
            ? `waiting for ${waiters.size}`
            : `${only.queued ? 'queued' : 'waiting for'} ${only.msg.device}`;
        node.status({ fill: 'yellow', shape: 'ring', text });
      } else if (lastResult)
        node.status({
          fill: lastResult.fill,
          shape: lastResult.fill === 'green' ? 'dot' : 'ring',
          text: lastResult.text,
        });
    };

    // Completion tracking rides on the account's shared hub, subscribed only while needed.
    const onCompletion = (event: JetstreamEvent) => {
      const ev = event as CommandCompletionEvent;
      const waiter = waiters.get(ev.CommandId);
      if (!waiter) {
        if (inFlight > 0 && typeof ev.CommandId === 'string') {
          early.set(ev.CommandId, ev);
          if (early.size > EARLY_COMPLETIONS) early.delete(early.keys().next().value as string);
        }
        return;
      }
      settleWait(ev.CommandId, waiter, ev);
    };
    const needEvents = () => {
      if (!wait || !account || closed) return;
      if (inFlight + waiters.size > 0 && !subscription) {
        subscription = account.hub.subscribe({
          types: ['CommandCompletionEvent'],
          intervalMs: COMPLETION_POLL_MS,
          limit: 100,
          deliver: onCompletion,
          onError: (err) => node.error(err, {}),
          onWarn: (text) => node.warn(text),
        });
      } else if (inFlight + waiters.size === 0 && subscription) {
        subscription.unsubscribe();
        subscription = null;
        early.clear();
      }
    };

    const settleWait = (commandId: string, waiter: Waiter, ev: CommandCompletionEvent) => {
      clearTimeout(waiter.timer);
      waiters.delete(commandId);
      const msg = waiter.msg;
      msg.payload = ev;
      if (Array.isArray(ev.ExceptionList) && ev.ExceptionList.length > 0) {
        node.error(commandFailed(String(msg.device), ev.ExceptionList, 'completed with'), msg);
        showStatus({ fill: 'red', text: `failed ${msg.device}` });
      } else {
        node.send([null, msg]);
        showStatus({ fill: 'green', text: `synced ${msg.device} ${clock()}` });
      }
      needEvents();
    };

    const startWait = (commandId: string, msg: NodeMessage, queued: boolean) => {
      const seenAlready = early.get(commandId);
      const timer = setTimeout(
        () => {
          waiters.delete(commandId);
          const err = new JetstreamError(
            'JETSTREAM_COMPLETION_TIMEOUT',
            `No CommandCompletionEvent for command ${commandId} on device "${msg.device}" within ${timeoutS} s.`,
            { device: String(msg.device) },
          );
          node.error(err, msg);
          showStatus({ fill: 'red', text: `timeout ${msg.device}` });
          needEvents();
        },
        Math.min(timeoutS * 1000, MAX_TIMER_MS),
      );
      const waiter = { msg, timer, queued };
      waiters.set(commandId, waiter);
      if (seenAlready) {
        early.delete(commandId);
        settleWait(commandId, waiter, seenAlready);
      } else {
        subscription?.nudge();
      }
    };

    /** One device: change its stored list (if asked), then sync or read the last sync. */
    const runDevice = async (
      device: string,
      msg: NodeMessage,
      change: CredentialChange | null,
      send: Send,
    ) => {
      const client = account!.client!;
      const ctl = new AbortController();
      aborts.add(ctl);
      msg.device = device;
      try {
        if (change) {
          msg.credentialChange = await applyCredentialChange(client, device, change, {
            signal: ctl.signal,
          });
        }
        if (action === 'lastSync') {
          const res = await client.getLastSync(device, { signal: ctl.signal });
          msg.payload = res.body;
          msg.statusCode = res.statusCode;
          send(wait ? [msg, null] : msg);
          showStatus({ fill: 'green', text: `${device}: ${res.body ?? 'never synced'}` });
          return;
        }
        const res = await client.syncCredentials(device, { signal: ctl.signal });
        const body = res.body;
        msg.payload = body;
        msg.statusCode = res.statusCode;
        msg.commandId = body.CommandId;
        if (Array.isArray(body.ExceptionList) && body.ExceptionList.length > 0) {
          throw commandFailed(device, body.ExceptionList, 'answered with', res.statusCode);
        }
        if (wait) {
          const second = RED.util.cloneMessage(msg);
          delete second.statusCode;
          send([msg, null]);
          startWait(body.CommandId, second, body.Status === 'Queued');
        } else send(msg);
        showStatus(
          body.Status === 'Queued'
            ? { fill: 'yellow', text: `queued ${device}` }
            : { fill: 'green', text: `synced ${device} ${clock()}` },
        );
      } catch (e) {
        const err = e as JetstreamError;
        if (err.statusCode !== undefined) msg.statusCode = err.statusCode;
        if (msg.credentialChange && action === 'sync') {
          // The stored list changed but the device was not told: say so, the user must retry.
          err.message += ` (the stored ${change!.type} credential list of "${device}" was already changed)`;
        }
        showStatus({ fill: 'red', text: `${err.code ?? 'error'} ${device}`.slice(0, 40) });
        throw err;
      } finally {
        aborts.delete(ctl);
      }
    };

    this.on('input', (msg: NodeMessage, send: Send, done: Done) => {
      void (async () => {
        // Secrets in the change go no further down the flow, not even to Catch.
        const rawChange = msg[credProp];
        delete msg[credProp];
        let devices: string[];
        let change: CredentialChange | null = null;
        try {
          if (!account)
            throw new JetstreamError(
              'JETSTREAM_INVALID_INPUT',
              'No Jetstream account selected (or it is not deployed).',
            );
          if (!account.client)
            throw (
              account.configError ??
              new JetstreamError(
                'JETSTREAM_INVALID_INPUT',
                'The Jetstream account is not configured.',
              )
            );
          if (!(timeoutS > 0))
            throw new JetstreamError(
              'JETSTREAM_INVALID_INPUT',
              `Invalid completion timeout ${def.completionTimeout}.`,
            );
          const value = await evaluate(RED, deviceValue, deviceType, node, msg);
          devices = checkDevices(value);
          if (rawChange !== undefined && rawChange !== null)
            change = parseCredentialChange(rawChange, credProp);
        } catch (err) {
          showStatus({ fill: 'red', text: 'invalid input' });
          done(err as Error);
          return;
        }
        if (devices.length === 1) {
          inFlight++;
          needEvents();
          showStatus();
          try {
            await runDevice(devices[0], msg, change, send);
            done();
          } catch (err) {
            // Cancelled by close (redeploy): not a fault of the msg.
            done((err as JetstreamError).aborted ? undefined : (err as Error));
          } finally {
            inFlight--;
            needEvents();
            showStatus();
          }
          return;
        }
        // Many devices: one msg each, at most `concurrency` requests at a time; each failure
        // reaches Catch with its own msg. Each copy gets its own name in msg.device, so the
        // list there (if that is where it came from) is dropped first rather than deep-copied
        // into every msg: 1,000 devices would mean 1,000,000 copied names.
        delete msg.device;
        let next = 0;
        const worker = async () => {
          while (next < devices.length && !closed) {
            const device = devices[next++];
            const own = RED.util.cloneMessage(msg);
            inFlight++;
            needEvents();
            showStatus();
            try {
              await runDevice(device, own, change, send);
            } catch (err) {
              if (!(err as JetstreamError).aborted) node.error(err, own);
            } finally {
              inFlight--;
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(concurrency, devices.length) }, worker));
        needEvents();
        showStatus();
        done();
      })();
    });

    this.on('close', (_removed: boolean, done: () => void) => {
      closed = true;
      for (const ctl of aborts) ctl.abort();
      for (const w of waiters.values()) clearTimeout(w.timer);
      waiters.clear();
      early.clear();
      subscription?.unsubscribe();
      subscription = null;
      node.status({});
      done();
    });
  }

  RED.nodes.registerType('jetstream-sync-credentials', JetstreamSyncCredentialsNode);
};

function commandFailed(
  device: string,
  list: Array<{ Key: string; Value: string }>,
  how: string,
  statusCode?: number,
): JetstreamError {
  const text = list.map((e) => `${e.Key}: ${e.Value}`).join('; ');
  return new JetstreamError(
    'JETSTREAM_COMMAND_FAILED',
    `Sync credentials for device "${device}" ${how} exceptions: ${text}`,
    {
      device,
      statusCode,
    },
  );
}
