// msg.credentials: a change to a device's stored credential list, checked whole before any
// request, then applied (remove, then add; or replace) ahead of the sync.
import type { CallOptions, JetstreamClient } from './client';
import { invalidInput } from './errors';
import type { CredentialType } from './types';

export const MAX_CREDENTIALS = 10_000;
const TYPES: CredentialType[] = ['Basic', 'User', 'Pin'];
const BASIC = /^[0-9A-Fa-f]{10,40}$/;

/** What a refused value is, without its content: it may be a password or PIN. */
function shape(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export interface CredentialChange {
  type: CredentialType;
  /** Basic: values; User/Pin: {id: secret}. */
  replace?: string[] | Record<string, string>;
  add?: string[] | Record<string, string>;
  remove?: string[];
}

/** What output 1 reports: ids only, never a password or PIN. */
export interface CredentialChangeResult {
  type: CredentialType;
  added: string[];
  removed: string[];
  replaced: boolean;
  stored: string[];
}

/** Checks msg.credentials; returns the change to make, with Basic values upper-cased. */
export function parseCredentialChange(value: unknown, prop = 'credentials'): CredentialChange {
  const where = `msg.${prop}`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput(
      `${where} must be an object like {type, add, remove} or {type, replace}, got ${shape(value)}.`,
    );
  }
  const v = value as Record<string, unknown>;
  const unknownKeys = Object.keys(v).filter(
    (k) => !['type', 'replace', 'add', 'remove'].includes(k),
  );
  if (unknownKeys.length)
    throw invalidInput(`${where} has unknown properties: ${unknownKeys.join(', ')}.`);
  const rawType = v.type ?? 'Basic';
  const type = TYPES.find(
    (t) => typeof rawType === 'string' && t.toLowerCase() === rawType.toLowerCase(),
  );
  if (!type)
    throw invalidInput(
      `${where}.type must be Basic, User or Pin, got ${typeof rawType === 'string' ? JSON.stringify(rawType.slice(0, 20)) : shape(rawType)}.`,
    );
  if (v.replace !== undefined && (v.add !== undefined || v.remove !== undefined)) {
    throw invalidInput(`${where}: use either replace, or add and/or remove, not both.`);
  }
  if (v.replace === undefined && v.add === undefined && v.remove === undefined) {
    throw invalidInput(`${where} has nothing to do: give replace, add or remove.`);
  }
  const change: CredentialChange = { type };
  if (v.replace !== undefined) change.replace = checkValues(type, v.replace, `${where}.replace`);
  if (v.add !== undefined) change.add = checkValues(type, v.add, `${where}.add`);
  if (v.remove !== undefined) change.remove = checkIds(type, v.remove, `${where}.remove`);
  return change;
}

function checkValues(
  type: CredentialType,
  value: unknown,
  where: string,
): string[] | Record<string, string> {
  if (type === 'Basic') return checkIds(type, value, where);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidInput(
      `${where} must be an object {id: secret} for ${type} credentials, got ${shape(value)}.`,
    );
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_CREDENTIALS)
    throw invalidInput(`${where} has more than ${MAX_CREDENTIALS} entries.`);
  for (const [id, secret] of entries) {
    checkId(id, where);
    // Never echo the secret itself.
    if (typeof secret !== 'string' || secret === '')
      throw invalidInput(`${where}: the secret of "${id}" must be a non-empty string.`);
    if (type === 'Pin' && !/^\d{1,16}$/.test(secret))
      throw invalidInput(`${where}: the PIN of "${id}" must be 1-16 digits.`);
  }
  return value as Record<string, string>;
}

function checkIds(type: CredentialType, value: unknown, where: string): string[] {
  if (!Array.isArray(value)) throw invalidInput(`${where} must be an array, got ${shape(value)}.`);
  if (value.length > MAX_CREDENTIALS)
    throw invalidInput(`${where} has more than ${MAX_CREDENTIALS} entries.`);
  return value.map((id) => {
    checkId(id, where);
    if (type !== 'Basic') return id as string;
    if (!BASIC.test(id as string)) {
      throw invalidInput(
        `${where}: ${JSON.stringify(id)} is not a Basic credential (10-40 hexadecimal digits).`,
      );
    }
    return (id as string).toUpperCase();
  });
}

function checkId(id: unknown, where: string): void {
  if (typeof id !== 'string' || id.trim() === '')
    throw invalidInput(`${where}: every id must be a non-empty string.`);
  if (id.length > 256) throw invalidInput(`${where}: an id is longer than 256 characters.`);
}

const ids = (values: string[] | Record<string, string>) =>
  Array.isArray(values) ? values : Object.keys(values);

/** Applies the change to one device's stored list; resolves with ids only. */
export async function applyCredentialChange(
  client: JetstreamClient,
  device: string,
  change: CredentialChange,
  opts: CallOptions = {},
): Promise<CredentialChangeResult> {
  const { type } = change;
  if (change.replace !== undefined) {
    const stored = await client.replaceCredentials(device, type, change.replace, opts);
    return { type, added: ids(change.replace), removed: [], replaced: true, stored };
  }
  if (change.remove?.length) await client.removeCredentials(device, type, change.remove, opts);
  const stored =
    change.add && ids(change.add).length
      ? await client.addCredentials(device, type, change.add, opts)
      : await client.getCredentials(device, type, opts);
  return {
    type,
    added: change.add ? ids(change.add) : [],
    removed: change.remove ?? [],
    replaced: false,
    stored,
  };
}
