// The slice of the Node-RED runtime API this package uses, typed once here (@types/node-red
// is frozen at 1.3 and gets getNode's null and evaluateNodeProperty's result wrong).
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface NodeMessage {
  _msgid?: string;
  payload?: unknown;
  [key: string]: unknown;
}

export type NodeStatus = {
  fill?: 'red' | 'green' | 'yellow' | 'blue' | 'grey';
  shape?: 'ring' | 'dot';
  text?: string;
};
export type Send = (msg: NodeMessage | Array<NodeMessage | null>) => void;
export type Done = (err?: Error) => void;

export interface RedNode<Creds = Record<string, string | undefined>> {
  id: string;
  type: string;
  name?: string;
  credentials: Creds;
  on(event: 'input', handler: (msg: NodeMessage, send: Send, done: Done) => void): void;
  on(event: 'close', handler: (removed: boolean, done: () => void) => void): void;
  send(msg: NodeMessage | Array<NodeMessage | null>): void;
  status(status: NodeStatus): void;
  error(err: unknown, msg?: NodeMessage): void;
  warn(message: unknown): void;
  log(message: unknown): void;
}

export interface NodeDef {
  id: string;
  type: string;
  name?: string;
  z?: string;
}

type Request = IncomingMessage & { body?: Record<string, unknown>; query: Record<string, string> };
type Response = ServerResponse & { json(body: unknown): void; status(code: number): Response };
type Handler = (req: Request, res: Response, next?: () => void) => void;

export interface RED {
  nodes: {
    createNode(node: object, def: NodeDef): void;
    registerType(
      type: string,
      ctor: unknown,
      opts?: { credentials?: Record<string, { type: 'text' | 'password' }> },
    ): void;
    getNode(id: string): unknown;
    getCredentials(id: string): Record<string, string | undefined> | undefined;
  };
  util: {
    evaluateNodeProperty(
      value: unknown,
      type: string,
      node: object,
      msg: NodeMessage,
      callback: (err: Error | null, result: unknown) => void,
    ): void;
    cloneMessage<T extends NodeMessage>(msg: T): T;
  };
  httpAdmin: {
    get(path: string, ...handlers: Handler[]): void;
    post(path: string, ...handlers: Handler[]): void;
  };
  auth: { needsPermission(permission: string): Handler };
  settings: Record<string, unknown>;
  events: {
    once(event: string, listener: () => void): void;
    removeListener(event: string, listener: () => void): void;
  };
  _(key: string, substitutions?: Record<string, unknown>): string;
}

/** The config node with this id, or null when it is missing or of another type. */
export function getConfigNode<T extends { type: string }>(
  RED: RED,
  id: unknown,
  type: string,
): T | null {
  if (typeof id !== 'string' || id === '') return null;
  const node = RED.nodes.getNode(id) as T | null;
  return node && node.type === type ? node : null;
}

/** A typedInput value, with the callback form so that JSONata and async context stores work. */
export function evaluate(
  RED: RED,
  value: unknown,
  type: string,
  node: object,
  msg: NodeMessage,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    RED.util.evaluateNodeProperty(value, type, node, msg, (err, result) =>
      err ? reject(err) : resolve(result),
    );
  });
}

/**
 * Runs `fn` once the flows have started: Catch and Status nodes are only wired up then, so an
 * error raised while nodes are being created would reach no one. Returns a canceller.
 */
export function whenStarted(RED: RED, fn: () => void): () => void {
  const listener = () => fn();
  RED.events.once('flows:started', listener);
  return () => RED.events.removeListener('flows:started', listener);
}

/** A number from a node property (the editor stores strings), or the fallback. */
export function num(value: unknown, fallback: number): number {
  if (value === '' || value === undefined || value === null) return fallback;
  const n = Number(value);
  return Number.isFinite(n) ? n : NaN;
}

/** Local time of day, for status texts. */
export function clock(date = new Date()): string {
  return date.toTimeString().slice(0, 8);
}
