// Shared pieces of the runtime tests: the nodes, the test helper, the simulator, waiting.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '../lib/simulator';
import type { NodeMessage } from '../lib/red';

/* eslint-disable @typescript-eslint/no-require-imports, @typescript-eslint/no-explicit-any */
export const helper: any = require('node-red-node-test-helper');
// The compatibility matrix (.ci/matrix) points NODE_RED_PATH at another Node-RED install.
const redPath = process.env.NODE_RED_PATH
  ? require.resolve('node-red', { paths: [process.env.NODE_RED_PATH] })
  : require.resolve('node-red');
helper.init(redPath);

export const configNode = require('../nodes/jetstream-config/jetstream-config');
export const eventsNode = require('../nodes/jetstream-events/jetstream-events');
export const syncNode = require('../nodes/jetstream-sync-credentials/jetstream-sync-credentials');
export const catchNode = require(
  require.resolve('@node-red/nodes/core/common/25-catch.js', { paths: [path.dirname(redPath)] }),
);
export const allNodes = [configNode, eventsNode, syncNode, catchNode];
/* eslint-enable @typescript-eslint/no-require-imports */

export const KEY = '5f0c3a9e-1b2d-4c6e-8f70-9a1b2c3d4e5f';
export const ROOT = path.join(__dirname, '..', '..');

export function sim(opts: SimulatorOptions = {}): Promise<Simulator> {
  return startSimulator({ accessKey: KEY, ...opts });
}

export function startHelper(): Promise<void> {
  return new Promise((resolve) => helper.startServer(resolve));
}

export async function stopHelper(): Promise<void> {
  await helper.unload();
  await new Promise((resolve) => helper.stopServer(resolve));
}

/** A config node pointing at the simulator, with its credentials keyed by id. */
export function account(s: Simulator, id = 'acct', extra: Record<string, unknown> = {}) {
  return {
    node: {
      id,
      type: 'jetstream-config',
      name: 'sim',
      url: s.url,
      timeout: 5000,
      retries: 3,
      ...extra,
    },
    creds: { [id]: { accessKey: s.accessKey } },
  };
}

/** Polls until `check` is true; fails with `what` after `ms`. */
export async function until(check: () => boolean, ms = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Collects every msg a helper node receives. */
export function collect(id: string): NodeMessage[] {
  const out: NodeMessage[] = [];
  helper.getNode(id).on('input', (msg: NodeMessage) => out.push(msg));
  return out;
}

/** All status objects a node has shown (the helper's status spy sits on Node.prototype). */
export function statuses(id: string): Array<{ fill?: string; shape?: string; text?: string }> {
  const node = helper.getNode(id);
  const spy = node.status;
  return spy.args
    .filter((_: unknown, i: number) => spy.thisValues[i] === node)
    .map((a: unknown[]) => a[0]);
}

/** Every log line of the runtime so far, as text. */
export function logText(): string {
  return helper
    .log()
    .args.map((a: unknown[]) => JSON.stringify(a[0]))
    .join('\n');
}

/**
 * The JETSTREAM_* code of an error a Catch node received: msg.error.code on Node-RED 4+, the
 * leading word of msg.error.message on 3.x (which does not copy err.code).
 */
export function errorCode(msg: NodeMessage): string | undefined {
  const error = msg.error as { code?: string; message?: string } | undefined;
  return error?.code ?? /^(JETSTREAM_[A-Z_]+):/.exec(error?.message ?? '')?.[1];
}

/** A throw-away self-signed certificate for 127.0.0.1/localhost, made with openssl. */
export function selfSignedCert(): { key: string; cert: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-tls-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    const certFile = path.join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile]
        .concat(['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'])
        .concat(['-days', '1']),
      { stdio: 'ignore' },
    );
    return { key: fs.readFileSync(keyFile, 'utf8'), cert: fs.readFileSync(certFile, 'utf8') };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
