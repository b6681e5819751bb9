// Two tiny Node-RED node types the benchmark deploys next to the package's nodes (loaded from
// <userDir>/nodes/ by a one-line shim that requires this compiled module):
//   bench-counter  counts the msgs it receives (per `role`) and notes the time of the last one;
//   bench-source   sends what the benchmark hands it (ready-made msgs), like any other node.
import { performance } from 'node:perf_hooks';
import { benchState, type Msg } from './counter';

interface RedLike {
  nodes: {
    createNode(node: object, def: object): void;
    registerType(type: string, ctor: unknown): void;
  };
}

interface NodeLike {
  id: string;
  on(event: 'input', h: (msg: Msg, send: unknown, done: () => void) => void): void;
  send(msg: Msg | Msg[]): void;
}

export = function register(RED: RedLike): void {
  const state = benchState();

  function BenchCounter(this: NodeLike, def: { role?: string }) {
    RED.nodes.createNode(this, def);
    const role = def.role || 'out';
    if (role === 'out') {
      this.on('input', (_msg, _send, done) => {
        const n = (state.counts.out = (state.counts.out ?? 0) + 1);
        const now = performance.now();
        if (n === 1) state.firstAt = now;
        state.lastAt = now;
        if (n >= state.target && state.reached) {
          const r = state.reached;
          state.reached = null;
          r();
        }
        done();
      });
    } else {
      this.on('input', (_msg, _send, done) => {
        state.counts[role] = (state.counts[role] ?? 0) + 1;
        done();
      });
    }
  }

  function BenchSource(this: NodeLike, def: object) {
    RED.nodes.createNode(this, def);
    // The benchmark drives it: RED.nodes.getNode(id).send(msg).
  }

  RED.nodes.registerType('bench-counter', BenchCounter);
  RED.nodes.registerType('bench-source', BenchSource);
};
