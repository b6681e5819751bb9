// An embedded Node-RED runtime (the real one, in this process) with this package installed the
// way a user installs it: <userDir>/node_modules/node-red-contrib-jetstream-rfid -> the repo
// (its package.json `node-red.nodes` point into dist/). The bench's own two node types are
// loaded from <userDir>/nodes/. No HTTP port is opened: flows are deployed through the runtime
// API (RED.runtime.flows.setFlows), exactly what the editor's Deploy button calls.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

export const REPO = path.resolve(__dirname, '..', '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { installInto } = require(path.join(REPO, 'scripts', 'userdir.js')) as {
  installInto(userDir: string): void;
};

export type FlowNode = { id: string; type: string; [k: string]: unknown };

export interface LogLine {
  level: number;
  type?: string;
  msg: string;
}

/** The slice of the node-red module used here. */
export interface RedModule {
  init(server: http.Server, settings: object): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  version(): string;
  nodes: { getNode(id: string): unknown };
  events: {
    once(ev: string, fn: (...a: unknown[]) => void): void;
    on(ev: string, fn: (...a: unknown[]) => void): void;
    removeListener(ev: string, fn: (...a: unknown[]) => void): void;
  };
  runtime: {
    flows: {
      setFlows(opts: {
        flows: { flows: FlowNode[]; credentials?: Record<string, Record<string, string>> };
        deploymentType?: string;
      }): Promise<{ rev: string }>;
    };
  };
}

export interface Runtime {
  RED: RedModule;
  version: string;
  userDir: string;
  /** warn/error lines the runtime logged */
  logs: LogLine[];
  /**
   * Full deploy; resolves with performance.now() of the 'flows:started' event (the nodes are
   * built and their start listeners run next) and the time from the setFlows call to it.
   */
  deploy(
    flows: FlowNode[],
    credentials?: Record<string, Record<string, string>>,
  ): Promise<{ startedAt: number; deployMs: number }>;
  /** Deploys an empty flow: stops every node (closes the listener and its client). */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

let started: Runtime | null = null;

/** Stops the runtime of this process, if any, and removes its user directory. */
export async function stopRuntime(): Promise<void> {
  if (started) await started.stop().catch(() => undefined);
}

export async function startRuntime(): Promise<Runtime> {
  if (started) return started;
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jetstream-bench-'));
  installInto(userDir);
  const nodesDir = path.join(userDir, 'nodes');
  fs.mkdirSync(nodesDir);
  fs.writeFileSync(
    path.join(nodesDir, 'bench-nodes.js'),
    `module.exports = require(${JSON.stringify(path.join(__dirname, 'nodes.js'))});\n`,
  );
  fs.writeFileSync(
    path.join(nodesDir, 'bench-nodes.html'),
    `<script type="text/javascript">
RED.nodes.registerType('bench-counter', { category: 'bench', defaults: { role: { value: 'out' } }, inputs: 1, outputs: 0 });
RED.nodes.registerType('bench-source', { category: 'bench', defaults: {}, inputs: 0, outputs: 1 });
</script>\n`,
  );

  const logs: LogLine[] = [];
  /* eslint-disable-next-line @typescript-eslint/no-require-imports */
  const RED = require('node-red') as RedModule;
  RED.init(http.createServer(), {
    userDir,
    flowFile: 'flows.json',
    credentialSecret: 'bench',
    httpAdminRoot: false,
    httpNodeRoot: false,
    uiPort: 0,
    disableEditor: true,
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    editorTheme: { tours: false, palette: { catalogues: [] } },
    logging: {
      console: { level: 'off' },
      bench: {
        level: 'info',
        metrics: false,
        audit: false,
        handler: () => (line: LogLine) => {
          if (logs.length < 1000) logs.push(line);
        },
      },
    },
  });
  // RED.start() resolves before the (empty) initial flows have started: wait for that, or a
  // later deploy would take this 'flows:started' for its own (and race the credential store).
  const initial = new Promise<void>((resolve) => RED.events.once('flows:started', () => resolve()));
  await RED.start();
  await initial;

  /** setFlows resolves before the new flows start: wait for 'flows:started' (or a refusal). */
  const setFlows = async (
    flows: FlowNode[],
    credentials?: Record<string, Record<string, string>>,
  ): Promise<{ startedAt: number; deployMs: number }> => {
    let onStarted: () => void = () => undefined;
    let onRuntime: (ev: unknown) => void = () => undefined;
    const t0 = performance.now();
    const started = new Promise<number>((resolve, reject) => {
      onStarted = () => resolve(performance.now());
      onRuntime = (ev: unknown) => {
        const e = ev as { id?: string; payload?: { error?: string; types?: string[] } };
        if (e.id === 'runtime-state' && e.payload?.error) {
          reject(new Error(`flows not started: ${e.payload.error} ${e.payload.types ?? ''}`));
        }
      };
      RED.events.once('flows:started', onStarted);
      RED.events.on('runtime-event', onRuntime);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await RED.runtime.flows.setFlows({
        flows: { flows, credentials: credentials ?? {} },
        deploymentType: 'full',
      });
      const startedAt = await Promise.race([
        started,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const last = logs
              .slice(-5)
              .map((l) => l.msg)
              .join(' / ');
            reject(new Error(`flows did not start within 30 s: ${last}`));
          }, 30_000);
        }),
      ]);
      return { startedAt, deployMs: startedAt - t0 };
    } finally {
      clearTimeout(timer);
      RED.events.removeListener('flows:started', onStarted);
      RED.events.removeListener('runtime-event', onRuntime);
    }
  };

  started = {
    RED,
    version: RED.version(),
    userDir,
    logs,
    deploy: setFlows,
    clear: async () => {
      await setFlows([]);
    },
    stop: async () => {
      await RED.stop();
      fs.rmSync(userDir, { recursive: true, force: true });
      started = null;
    },
  };
  return started;
}
