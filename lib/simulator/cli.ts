#!/usr/bin/env node
// jetstream-simulator: runs the local Jetstream v3 simulator until SIGINT/SIGTERM.

import { parseArgs } from 'node:util';

import type { SimulatorOptions } from './api';
import { DEFAULT_ACCESS_KEY, parseDeviceSpec, startSimulator } from './server';

const USAGE = `Usage: jetstream-simulator [options]

  --port <n>                 port (default 3999, env JETSTREAM_SIM_PORT; 0 = random free port)
  --host <addr>              listen address (default 127.0.0.1)
  --access-key <key>         AccessKey to require (env JETSTREAM_SIM_ACCESS_KEY,
                             default ${DEFAULT_ACCESS_KEY})
  --devices <list>           comma-separated devices, each Name[:offline|:online][:Definition]
                             (default "Cabinet-1,Fridge 2:offline")
  --demo                     publish heartbeats and tag events periodically
  --demo-interval <ms>       demo timer interval (default 5000)
  --completion-delay <ms>    delay before an online device's CommandCompletionEvent
  --auto-online-after <ms>   an offline device with a queued command comes online after this
                             (default 10000 with --demo)
  -h, --help                 show this help

Control API (no AccessKey): POST /_sim/devices/{name}/online|offline, POST /_sim/events,
POST /_sim/faults, GET /_sim/log, GET /_sim/stats, GET /_sim/queue.
`;

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'access-key': { type: 'string' },
        devices: { type: 'string' },
        demo: { type: 'boolean' },
        'demo-interval': { type: 'string' },
        'completion-delay': { type: 'string' },
        'auto-online-after': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    console.log(USAGE);
    return;
  }

  const demoInterval = num('demo-interval', values['demo-interval']);
  const opts: SimulatorOptions = {
    port: num('port', values.port ?? process.env.JETSTREAM_SIM_PORT) ?? 3999,
    host: values.host ?? '127.0.0.1',
    accessKey: values['access-key'] ?? process.env.JETSTREAM_SIM_ACCESS_KEY ?? DEFAULT_ACCESS_KEY,
    devices: (values.devices ?? 'Cabinet-1,Fridge 2:offline')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map(parseDeviceSpec),
    demo: values.demo ? { intervalMs: demoInterval ?? 5000 } : false,
    completionDelayMs: num('completion-delay', values['completion-delay']),
    autoOnlineAfterMs:
      num('auto-online-after', values['auto-online-after']) ?? (values.demo ? 10000 : undefined),
  };

  const sim = await startSimulator(opts);
  const devices = opts.devices ?? [];
  console.log(`Jetstream simulator on ${sim.url} (access key: ${sim.accessKey})`);
  for (const d of devices) {
    if (typeof d === 'string') continue;
    console.log(`  device '${d.name}' ${d.online === false ? 'offline' : 'online'}`);
  }
  if (opts.demo) console.log(`  demo events every ${demoInterval ?? 5000} ms`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    sim.close().then(
      () => {
        console.log(`Jetstream simulator stopped (${signal})`);
        process.exit(0);
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error(`jetstream-simulator: ${(err as Error).message ?? String(err)}`);
  process.exit(1);
});
