// Public types of the local Jetstream v3 simulator.

import type { CredentialType, JetstreamEvent, KeyValue } from '../types';

export interface DeviceOptions {
  /** default true */
  online?: boolean;
  /** DeviceDefinition reported by GET /3/devices; default 'CabinetXS' */
  definition?: string;
}

export type DeviceSpec = string | ({ name: string } & DeviceOptions);

export interface SimulatorOptions {
  /** 0 (default) = random free port */
  port?: number;
  /** default '127.0.0.1' */
  host?: string;
  /** default '00000000-0000-0000-0000-000000000000' */
  accessKey?: string;
  devices?: DeviceSpec[];
  /** Timer publishing a HeartbeatEvent per online device and an ObjectEvent/AggregateEvent now and then (default interval 5000 ms). */
  demo?: boolean | { intervalMs?: number };
  /** Delay before an online device's CommandCompletionEvent is published (default 0 = before the HTTP answer). */
  completionDelayMs?: number;
  /** When set, an offline device that gets a command queued comes online by itself after this delay. */
  autoOnlineAfterMs?: number;
  /** Max request-log entries kept (ring; default 10000). */
  logLimit?: number;
}

export interface Faults {
  /** fixed or uniform random latency (ms) before answering */
  latencyMs?: number | [number, number];
  /** 0..1: answer 500/502/503 {Message} instead */
  errorRate?: number;
  /** 0..1: destroy the socket without answering */
  resetRate?: number;
  /** 0..1: answer 429 with a Retry-After header */
  rateLimitRate?: number;
  /** Retry-After value to send (default '1'); may be an HTTP date */
  retryAfter?: string;
  /** 0..1: DELETE/PATCH /3/events answers 500 and deletes nothing */
  deleteFailRate?: number;
  /** error bodies echo the request: {Message, Request: {method, path, headers, body}} */
  echoRequest?: boolean;
  /** only requests whose path contains this substring get faults (default: all /3/ paths) */
  match?: string;
  /**
   * 'html' / 'truncated': every faulted GET answers an HTML page (200 text/html) / its JSON cut in
   * half. 'noEvents' / 'badEvents': GET /3/events answers a body without `Events` / events
   * missing EventId (even positions) or Type (odd positions).
   */
  garbage?: 'html' | 'truncated' | 'noEvents' | 'badEvents';
}

export interface RequestLogEntry {
  method: string;
  /** path without the query string, as sent (not decoded) */
  path: string;
  query: Record<string, string>;
  /** 0 when the socket was reset without an answer */
  status: number;
  /** start time, ms since epoch */
  at: number;
  /** duration in ms */
  ms: number;
}

export interface SimulatorStats {
  requests: number;
  inFlight: number;
  /** highest number of concurrent requests since resetStats()/clearLog() */
  maxInFlight: number;
  /** e.g. 'GET /3/events/{limit}' -> count */
  byRoute: Record<string, number>;
  faults: number;
}

export interface SimDeviceInfo {
  name: string;
  online: boolean;
  definition: string;
  /** Basic: values; User/Pin: id -> secret (the secrets are never sent over HTTP) */
  credentials: {
    Basic: string[];
    User: Record<string, string>;
    Pin: Record<string, string>;
  };
  /** 'YYYY-MM-DDTHH:mm:ssZ' of the last successful sync, or null */
  lastSync: string | null;
  /** commands waiting for the device to come online */
  queued: number;
}

export type PublishInput = { Type: string; [k: string]: unknown };

export interface Simulator {
  readonly url: string;
  readonly port: number;
  readonly accessKey: string;
  setAccessKey(key: string): void;
  addDevice(name: string, opts?: DeviceOptions): void;
  removeDevice(name: string): void;
  /** Coming online runs the queued commands in order (CommandCompletionEvent each, sync time recorded). */
  setOnline(name: string, online: boolean): void;
  device(name: string): SimDeviceInfo | undefined;
  /** The device's next command completes with this exception in its ExceptionList. */
  failNextCommand(name: string, exception: KeyValue): void;
  /** Fills EventId, EventTime and Version unless given; returns the stored event. */
  publish(ev: PublishInput): JetstreamEvent;
  /** Bulk publish; default makes HeartbeatEvents for device 'Bench-1'. */
  publishMany(count: number, make?: (i: number) => PublishInput): void;
  queueLength(): number;
  /** copy, in queue order */
  queuedEvents(): JetstreamEvent[];
  clearEvents(): void;
  /** replaces the fault settings; setFaults({}) clears */
  setFaults(f: Faults): void;
  readonly faults: Faults;
  /** bounded ring of the /3/ (and other non-control) requests, oldest first */
  readonly log: RequestLogEntry[];
  clearLog(): void;
  stats(): SimulatorStats;
  resetStats(): void;
  close(): Promise<void>;
}

export type { CredentialType, JetstreamEvent, KeyValue };
