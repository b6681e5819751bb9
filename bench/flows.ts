// The flows the benchmark deploys: this package's nodes, the core-node equivalent a user would
// wire without it, and a source of ready-made msgs. Every variant ends in the same counter.
import type { FlowNode } from './runtime';

export const TAB = 'bench-tab';
export const ACCT = 'acct';
export const COUNTER = 'cnt';
export const SOURCE = 'src';
const FUNCTION = 'fn';
const sink = (viaFunction?: boolean) => (viaFunction ? FUNCTION : COUNTER);

const tab: FlowNode = { id: TAB, type: 'tab', label: 'bench' };

/** Flow nodes need a position (without x/y the runtime takes a node for a config node). */
function placed(nodes: FlowNode[]): FlowNode[] {
  let y = 40;
  return nodes.map((n) =>
    n.type === 'tab' || n.type === 'jetstream-config' || 'x' in n
      ? n
      : { ...n, x: 200, y: (y += 40) },
  );
}

/**
 * The counting end of every flow. With `viaFunction`, msgs pass a core function node
 * (`return msg;`) first: a typical first node behind a source, much slower than the counter.
 */
function counters(viaFunction = false): FlowNode[] {
  const fn: FlowNode[] = viaFunction
    ? [
        {
          id: FUNCTION,
          z: TAB,
          type: 'function',
          func: 'return msg;',
          outputs: 1,
          timeout: 0,
          noerr: 0,
          initialize: '',
          finalize: '',
          libs: [],
          wires: [[COUNTER]],
        },
      ]
    : [];
  return [
    ...fn,
    { id: COUNTER, z: TAB, type: 'bench-counter', role: 'out', wires: [] },
    // Errors of any node (Catch) are counted apart: a run with errors is reported.
    { id: 'catch', z: TAB, type: 'catch', scope: null, uncaught: false, wires: [['errcnt']] },
    { id: 'errcnt', z: TAB, type: 'bench-counter', role: 'err', wires: [] },
  ];
}

export function account(url: string, accessKey: string) {
  return {
    node: {
      id: ACCT,
      type: 'jetstream-config',
      name: 'bench',
      url,
      timeout: 30000,
      retries: 3,
    } as FlowNode,
    credentials: { [ACCT]: { accessKey } },
  };
}

/** jetstream-events -> counter. */
export function eventsFlow(
  url: string,
  key: string,
  opts: { limit: number; interval: number; viaFunction?: boolean },
) {
  const acct = account(url, key);
  return {
    flows: placed([
      tab,
      acct.node,
      {
        id: 'ev',
        z: TAB,
        type: 'jetstream-events',
        account: ACCT,
        eventTypes: [],
        device: '',
        interval: opts.interval,
        limit: opts.limit,
        wires: [[sink(opts.viaFunction)]],
      },
      ...counters(opts.viaFunction),
    ]),
    credentials: acct.credentials,
  };
}

/** bench-source -> jetstream-sync-credentials (msg.device = [...]) -> counter. */
export function syncFlow(url: string, key: string, concurrency?: number) {
  const acct = account(url, key);
  const sync: FlowNode = {
    id: 'sync',
    z: TAB,
    type: 'jetstream-sync-credentials',
    account: ACCT,
    device: 'device',
    deviceType: 'msg',
    action: 'sync',
    waitForCompletion: false,
    completionTimeout: 3600,
    credentialsProperty: 'credentials',
    outputs: 1,
    wires: [[COUNTER]],
  };
  if (concurrency !== undefined) sync.concurrency = concurrency;
  return {
    flows: placed([
      tab,
      acct.node,
      { id: SOURCE, z: TAB, type: 'bench-source', wires: [['sync']] },
      sync,
      ...counters(),
    ]),
    credentials: acct.credentials,
  };
}

/** bench-source -> (function ->) counter: Node-RED's own delivery of ready-made msgs. */
export function sourceFlow(viaFunction = false) {
  return {
    flows: placed([
      tab,
      { id: SOURCE, z: TAB, type: 'bench-source', wires: [[sink(viaFunction)]] },
      ...counters(viaFunction),
    ]),
    credentials: {},
  };
}

/**
 * What a competent user wires with core nodes only:
 *   inject (every 1 s) -> change (AccessKey header) -> http request GET /3/events/512 (parsed JSON)
 *     -> change (keep BatchId and the count, payload = Events) -> split -> counter
 *                                                              -> switch (any events?)
 *        -> change (DELETE, body {BatchId}, headers again: the http request node replaced
 *           msg.headers with the response's) -> http request DELETE /3/events
 * With `drain`, the inject fires once and the DELETE's answer loops back to the GET while
 * the batch was full (what a user who read the API docs closely could add).
 */
export function coreFlow(url: string, key: string, opts: { limit: number; drain: boolean }) {
  const headers = JSON.stringify({ AccessKey: key });
  const delHeaders = JSON.stringify({ AccessKey: key, 'Content-Type': 'application/json' });
  const set = (p: string, to: string, tot: string) => ({ t: 'set', p, pt: 'msg', to, tot });
  const nodes: FlowNode[] = [
    tab,
    {
      id: 'tick',
      z: TAB,
      type: 'inject',
      props: [{ p: 'payload' }],
      payload: '',
      payloadType: 'date',
      repeat: opts.drain ? '' : '1',
      crontab: '',
      once: true,
      onceDelay: '0',
      topic: '',
      wires: [['hdr']],
    },
    {
      id: 'hdr',
      z: TAB,
      type: 'change',
      rules: [set('headers', headers, 'json')],
      wires: [['get']],
    },
    {
      id: 'get',
      z: TAB,
      type: 'http request',
      method: 'GET',
      ret: 'obj',
      paytoqs: 'ignore',
      url: `${url}/3/events/${opts.limit}`,
      tls: '',
      persist: true,
      proxy: '',
      insecureHTTPParser: false,
      authType: '',
      senderr: false,
      headers: [],
      wires: [['unpack']],
    },
    {
      id: 'unpack',
      z: TAB,
      type: 'change',
      rules: [
        set('batchId', 'payload.BatchId', 'msg'),
        set('batchCount', '$count(payload.Events)', 'jsonata'),
        set('payload', 'payload.Events', 'msg'),
      ],
      wires: [['split', 'any']],
    },
    {
      id: 'split',
      z: TAB,
      type: 'split',
      splt: '\\n',
      spltType: 'str',
      arraySplt: 1,
      arraySpltType: 'len',
      stream: false,
      addname: '',
      wires: [[COUNTER]],
    },
    {
      id: 'any',
      z: TAB,
      type: 'switch',
      property: 'batchCount',
      propertyType: 'msg',
      rules: [{ t: 'gt', v: '0', vt: 'num' }],
      checkall: 'true',
      repair: false,
      outputs: 1,
      wires: [['delprep']],
    },
    {
      id: 'delprep',
      z: TAB,
      type: 'change',
      rules: [
        set('payload', '{"BatchId": batchId}', 'jsonata'),
        set('method', 'DELETE', 'str'),
        set('headers', delHeaders, 'json'),
      ],
      wires: [['del']],
    },
    {
      id: 'del',
      z: TAB,
      type: 'http request',
      method: 'use',
      ret: 'txt',
      paytoqs: 'ignore',
      url: `${url}/3/events`,
      tls: '',
      persist: true,
      proxy: '',
      insecureHTTPParser: false,
      authType: '',
      senderr: false,
      headers: [],
      wires: [opts.drain ? ['full'] : []],
    },
    ...counters(),
  ];
  if (opts.drain) {
    nodes.push({
      id: 'full',
      z: TAB,
      type: 'switch',
      property: 'batchCount',
      propertyType: 'msg',
      rules: [{ t: 'gte', v: String(opts.limit), vt: 'num' }],
      checkall: 'true',
      repair: false,
      outputs: 1,
      wires: [['hdr']],
    });
  }
  return { flows: placed(nodes), credentials: {} };
}
