// A real Node-RED for end-to-end tests: `node node_modules/node-red/red.js` as a child process,
// with a temp user dir where this package is installed by a symlink, driven over the admin API.
// Messages are observed out of process with a loopback collector server (startCollector) that
// flows POST to through core `function` + `http request` nodes (collectorNodes).
//
//   const red = await startNodeRed();
//   const col = await startCollector();
//   await red.deploy([tab, ...flowNodes, ...collectorNodes(col, {z: tab.id, from: node})]);
//   await red.inject(injectId);
//   const [got] = await col.until(1);
//   await red.stop(); await col.close();
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The repository root (the package that gets installed into the user dir). */
export const REPO_ROOT = findRoot(__dirname);
export const CREDENTIAL_SECRET = 'jetstream-e2e-credential-secret';

function findRoot(from: string): string {
  let dir = from;
  for (;;) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string };
      if (pkg.name === 'node-red-contrib-jetstream-rfid') return dir;
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package root not found above ${from}`);
    dir = up;
  }
}

export type FlowNode = { id: string; type: string; [key: string]: unknown };
export type DeploymentType = 'full' | 'nodes' | 'flows' | 'reload';

export interface StartOptions {
  /** user dir; default a new temp dir (removed by stop()/kill() unless keepUserDir) */
  userDir?: string;
  /** editor/admin port; 0 (default) = a free port */
  port?: number;
  /** merged over the harness defaults (see defaultSettings); JSON only (written to settings.js) */
  settings?: Record<string, unknown>;
  /** merged over process.env for the child */
  env?: NodeJS.ProcessEnv;
  /** Node-RED console log level (default 'info': the missing-types warning is at 'info') */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** how long to wait for GET /settings (default 30 s) */
  startTimeoutMs?: number;
  /** keep a temp user dir after stop (for post-mortem) */
  keepUserDir?: boolean;
}

export interface NodeRed {
  /** http://127.0.0.1:<port> (no trailing slash) */
  readonly url: string;
  readonly port: number;
  readonly userDir: string;
  readonly proc: ChildProcess;
  /** stdout + stderr of the child so far */
  output(): string;
  /** resolves when the output matches (checked on every chunk) */
  waitForOutput(re: RegExp, ms?: number): Promise<string>;
  /** admin API call; JSON in and out; throws on a non-2xx answer */
  api<T = unknown>(
    method: string,
    urlPath: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<T>;
  /** POST /flows (v2) with the current rev (flow nodes without x/y get one); returns the new rev */
  deploy(flows: FlowNode[], type?: DeploymentType): Promise<string>;
  /** GET /flows (v2) */
  getFlows(): Promise<{ rev: string; flows: FlowNode[] }>;
  /** GET /nodes (the loaded node sets) */
  getNodes(): Promise<NodeSetInfo[]>;
  /** POST /inject/<id>: clicks an inject node's button */
  inject(id: string): Promise<void>;
  /** sends the signal, waits for the exit (SIGKILL after `ms`), removes a temp user dir */
  stop(
    signal?: NodeJS.Signals,
    ms?: number,
  ): Promise<{ code: number | null; signal: string | null }>;
  /** SIGKILL now (synchronous; for after-hooks and crashes) */
  kill(): void;
}

/**
 * Node-RED takes a node without x/y for a config node ("Circular config node dependency"):
 * give every node that has `wires` (a flow node) a position if it has none.
 */
export function withPositions(flows: FlowNode[]): FlowNode[] {
  let i = 0;
  return flows.map((n) =>
    Array.isArray(n.wires) && (n.x === undefined || n.y === undefined)
      ? { ...n, x: n.x ?? 200, y: n.y ?? 40 + 40 * i++ }
      : n,
  );
}

export interface NodeSetInfo {
  id: string;
  name: string;
  module: string;
  types: string[];
  enabled: boolean;
  loaded?: boolean;
  err?: string;
}

/** The shared user-dir helpers of scripts/userdir.js (plain JS: npm start uses them too). */
interface UserDirHelpers {
  installInto(userDir: string): void;
  baseSettings(o: {
    port: number;
    credentialSecret: string;
    logLevel?: string;
  }): Record<string, unknown>;
  writeSettings(userDir: string, settings: Record<string, unknown>): string;
  adminRequest(
    base: string,
    method: string,
    urlPath: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<unknown>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const userdir = require(path.join(REPO_ROOT, 'scripts', 'userdir.js')) as UserDirHelpers;

function defaultSettings(port: number, logLevel: string): Record<string, unknown> {
  return {
    ...userdir.baseSettings({ port, credentialSecret: CREDENTIAL_SECRET, logLevel }),
    nodeCloseTimeout: 10_000,
  };
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = http.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// Whatever ends the test process (a failure, mocha --exit, a broken pipe) also ends the
// Node-RED children and removes their temp user dirs.
const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startNodeRed(opts: StartOptions = {}): Promise<NodeRed> {
  const tempDir = !opts.userDir;
  const userDir = opts.userDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-e2e-'));
  if (tempDir && !opts.keepUserDir) tempDirs.add(userDir);
  userdir.installInto(userDir);
  const port = opts.port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const settings = {
    ...defaultSettings(port, opts.logLevel ?? 'info'),
    ...(opts.settings ?? {}),
  };
  const settingsFile = userdir.writeSettings(userDir, settings);

  const redJs = path.join(REPO_ROOT, 'node_modules', 'node-red', 'red.js');
  const proc = spawn(
    process.execPath,
    [redJs, '-u', userDir, '-p', String(port), '--settings', settingsFile],
    {
      cwd: userDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        // the http request node honours proxy variables: keep loopback traffic direct
        NO_PROXY: [process.env.NO_PROXY, '127.0.0.1', 'localhost'].filter(Boolean).join(','),
        no_proxy: [process.env.no_proxy, '127.0.0.1', 'localhost'].filter(Boolean).join(','),
        ...(opts.env ?? {}),
      },
    },
  );
  running.add(proc);
  let out = '';
  const watchers = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const w of watchers) w();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      for (const w of watchers) w();
      resolve({ code, signal });
    }),
  );
  const isAlive = () => proc.exitCode === null && proc.signalCode === null;

  const cleanup = () => {
    if (tempDir && !opts.keepUserDir) {
      fs.rmSync(userDir, { recursive: true, force: true });
      tempDirs.delete(userDir);
    }
  };

  const api = <T>(
    method: string,
    urlPath: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> => userdir.adminRequest(url, method, urlPath, body, headers) as Promise<T>;

  const red: NodeRed = {
    url,
    port,
    userDir,
    proc,
    output: () => out,
    waitForOutput(re, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(out);
          if (m) {
            done();
            resolve(m[0]);
          } else if (!isAlive()) {
            done();
            reject(new Error(`Node-RED exited before its output matched ${re}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`Node-RED output did not match ${re} within ${ms} ms`));
        }, ms);
        const done = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    api,
    async getFlows() {
      return api<{ rev: string; flows: FlowNode[] }>('GET', '/flows', undefined, {
        'Node-RED-API-Version': 'v2',
      });
    },
    async deploy(flows, type = 'full') {
      const { rev } = await red.getFlows();
      const res = await api<{ rev: string }>(
        'POST',
        '/flows',
        { rev, flows: withPositions(flows) },
        { 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': type },
      );
      return res.rev;
    },
    getNodes() {
      return api<NodeSetInfo[]>('GET', '/nodes');
    },
    async inject(id) {
      await api('POST', `/inject/${encodeURIComponent(id)}`);
    },
    async stop(signal = 'SIGTERM', ms = 10_000) {
      if (isAlive()) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
        const result = await exited;
        clearTimeout(timer);
        cleanup();
        return result;
      }
      const result = await exited;
      cleanup();
      return result;
    },
    kill() {
      if (isAlive()) proc.kill('SIGKILL');
      running.delete(proc);
      cleanup();
    },
  };

  // Wait for the admin API.
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (!isAlive()) {
      cleanup();
      throw new Error(`Node-RED exited while starting:\n${out}`);
    }
    try {
      const res = await fetch(`${url}/settings`, { headers: { Accept: 'application/json' } });
      await res.text();
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      red.kill();
      throw new Error(`Node-RED did not answer GET /settings within the timeout:\n${out}`);
    }
    await sleep(100);
  }
  return red;
}

// --- observing messages out of process ----------------------------------------------------------

export interface Received {
  /** the label in the collector path (/msg/<label>) */
  label: string;
  /** the msg as the flow sent it (JSON) */
  msg: Record<string, unknown> & { payload?: unknown; topic?: string };
  at: number;
}

export interface Collector {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** everything received so far, in order */
  readonly msgs: Received[];
  /** resolves with the received msgs (filtered by label if given) once there are at least n */
  until(n: number, opts?: { label?: string; ms?: number }): Promise<Received[]>;
  /** the msgs received with this label */
  of(label: string): Received[];
  clear(): void;
  close(): Promise<void>;
}

/** A loopback HTTP server storing every JSON body POSTed to /msg/<label>. */
export async function startCollector(): Promise<Collector> {
  const msgs: Received[] = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const m = /^\/msg(?:\/([^/?]*))?/.exec(req.url ?? '');
      if (req.method !== 'POST' || !m) {
        res.writeHead(404).end();
        return;
      }
      let msg: Received['msg'];
      try {
        msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      msgs.push({ label: decodeURIComponent(m[1] ?? ''), msg, at: Date.now() });
      res.writeHead(204).end();
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const of = (label?: string) =>
    label === undefined ? msgs.slice() : msgs.filter((r) => r.label === label);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    msgs,
    of: (label) => of(label),
    until(n, opts = {}) {
      const ms = opts.ms ?? 10_000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const got = of(opts.label);
          if (got.length >= n) {
            done();
            resolve(got);
          }
        };
        const timer = setTimeout(() => {
          done();
          const what = opts.label === undefined ? '' : ` labelled "${opts.label}"`;
          reject(
            new Error(
              `collector: ${of(opts.label).length} of ${n} msgs${what} after ${ms} ms` +
                ` (all: ${JSON.stringify(msgs.map((r) => r.label))})`,
            ),
          );
        }, ms);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    clear() {
      msgs.length = 0;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

let collectorSeq = 0;

/**
 * Core nodes that forward every msg they get to the collector under `label`: a function node
 * (wire your node's output to `nodes[0].id`, or pass `from` to have it wired) that wraps the msg
 * as the payload of a fresh msg (so msg.url/headers/statusCode of yours do not steer the request)
 * and an `http request` node POSTing it.
 */
export function collectorNodes(
  collector: Pick<Collector, 'url'>,
  opts: { z: string; label?: string; from?: FlowNode; port?: number; x?: number; y?: number },
): FlowNode[] {
  const n = ++collectorSeq;
  const label = opts.label ?? 'default';
  const fnId = `collector-fn-${n}`;
  const reqId = `collector-req-${n}`;
  const x = opts.x ?? 600;
  const y = opts.y ?? 40 * n;
  if (opts.from) {
    const wires = opts.from.wires as string[][];
    wires[opts.port ?? 0].push(fnId);
  }
  return [
    {
      id: fnId,
      type: 'function',
      z: opts.z,
      name: `to collector ${label}`,
      func: 'const out = RED.util.cloneMessage(msg);\ndelete out._msgid;\nreturn { payload: out };',
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x,
      y,
      wires: [[reqId]],
    },
    {
      id: reqId,
      type: 'http request',
      z: opts.z,
      name: '',
      method: 'POST',
      ret: 'txt',
      paytoqs: 'ignore',
      url: `${collector.url}/msg/${encodeURIComponent(label)}`,
      tls: '',
      persist: false,
      proxy: '',
      insecureHTTPParser: false,
      authType: '',
      senderr: false,
      headers: [],
      x: x + 200,
      y,
      wires: [[]],
    },
  ];
}
