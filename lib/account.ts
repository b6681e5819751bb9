// The account as the nodes see it: the config node's shape and how its client is made.
import { JetstreamClient } from './client';
import { JetstreamError } from './errors';
import type { AccountMemory, EventHub } from './event-hub';
import { num, type NodeDef, type RedNode } from './red';

export const DEFAULT_URL = 'https://api.jetstreamrfid.com';
/** The editor shows this placeholder for a stored password it never receives. */
export const STORED_PASSWORD = '__PWRD__';

export interface ConfigDef extends NodeDef {
  url?: string;
  timeout?: number | string;
  retries?: number | string;
}

export interface ConfigNode extends RedNode<{ accessKey?: string }> {
  /** The settings as deployed (url, timeout, retries), for the editor's helpers. */
  def: ConfigDef;
  client: JetstreamClient | null;
  /** Why there is no client (missing key, bad URL), for the nodes using the account. */
  configError: JetstreamError | null;
  hub: EventHub;
}

// Per account, kept across restarts of the config node (a full redeploy): the EventIds already
// delivered, so a batch delivered just before a redeploy is not emitted again after it, and the
// events held for listeners that are restarting.
export const memoryByAccount = new Map<string, AccountMemory>();

/** A dialog value that is exactly `${VAR}`, as Node-RED would substitute it on deploy. */
export function fromEnv(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\$\{(\w+)\}$/.exec(value.trim());
  return m ? process.env[m[1]] : value;
}

export function makeClient(
  def: ConfigDef,
  accessKey: string | undefined,
  retryBaseMs?: number,
): JetstreamClient {
  const timeout = num(def.timeout, 30_000);
  const retries = num(def.retries, 3);
  if (!(timeout > 0))
    throw new JetstreamError('JETSTREAM_INVALID_INPUT', `Invalid timeout ${def.timeout}.`);
  if (!(retries >= 0))
    throw new JetstreamError('JETSTREAM_INVALID_INPUT', `Invalid retries ${def.retries}.`);
  if (!accessKey || !accessKey.trim()) {
    throw new JetstreamError(
      'JETSTREAM_UNAUTHORIZED',
      'No access key set on the Jetstream account.',
    );
  }
  return new JetstreamClient({
    url: (def.url || DEFAULT_URL).trim(),
    accessKey,
    timeout,
    retries,
    retryBaseMs,
  });
}

/** What the dialog shows when the test fails: which part (key or URL) is wrong. */
export function failure(err: unknown): { ok: false; code: string; message: string } {
  const e = err as JetstreamError;
  let hint = '';
  if (e.code === 'JETSTREAM_UNAUTHORIZED') hint = 'The access key is wrong or missing. ';
  else if (e.code === 'JETSTREAM_NETWORK' || e.code === 'JETSTREAM_NOT_FOUND')
    hint = 'Check the URL. ';
  else if (e.code === 'JETSTREAM_INVALID_INPUT') hint = 'Check the URL. ';
  return { ok: false, code: e.code ?? 'ERROR', message: hint + (e.message ?? String(err)) };
}
