// Input checks made before any request, so that bad input never reaches the network.
import { invalidInput } from './errors';

/** Jetstream's rule for device names, at most 128 characters. */
const DEVICE_NAME = /^[A-Za-z0-9\-_,. ]{1,128}$/;

/** A device name Jetstream accepts and a URL path cannot reinterpret. */
export function checkDeviceName(value: unknown): string {
  if (typeof value !== 'string') {
    throw invalidInput(`Device name must be a string, got ${describe(value)}.`);
  }
  if (!DEVICE_NAME.test(value) || value === '.' || value === '..') {
    throw invalidInput(
      `Invalid device name ${JSON.stringify(truncate(value))}: use 1-128 letters, digits, ` +
        `spaces or - _ , . (and not "." or "..").`,
    );
  }
  return value;
}

/** One device name or an array of them; an array with any bad entry is refused whole. */
export function checkDevices(value: unknown): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalidInput('The device list is empty.');
    return value.map((v, i) => {
      try {
        return checkDeviceName(v);
      } catch (err) {
        throw invalidInput(`Device list entry ${i}: ${(err as Error).message}`);
      }
    });
  }
  if (value === undefined || value === null || value === '') {
    throw invalidInput('No device given: set the Device field or msg.device.');
  }
  return [checkDeviceName(value)];
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOST.test(hostname);
}

/**
 * The account URL as the client uses it. Plain http is accepted only for loopback hosts (the
 * simulator): anywhere else the access key would travel in clear.
 */
export function checkAccountUrl(value: unknown): URL {
  const text = typeof value === 'string' ? value.trim() : '';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidInput(`Invalid Jetstream URL ${JSON.stringify(truncate(text))}.`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalidInput(`Jetstream URL must start with https:// (got ${url.protocol}).`);
  }
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw invalidInput(
      `Refusing plain http:// to ${url.hostname}: the access key would travel unencrypted. ` +
        'Use https:// (http is allowed only for a loopback simulator).',
    );
  }
  if (url.username || url.password || url.search || url.hash) {
    throw invalidInput('Jetstream URL must not contain a user, password, query or fragment.');
  }
  return url;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

function truncate(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
