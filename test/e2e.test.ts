// End to end: the local simulator plus a real Node-RED (child process, package installed by a
// symlink), driven over the admin API; messages come back through a loopback collector.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startSimulator, type Simulator } from '../lib/simulator';
import {
  REPO_ROOT,
  collectorNodes,
  startCollector,
  startNodeRed,
  type Collector,
  type FlowNode,
  type NodeRed,
} from './e2e/nodered';

const KEY = randomUUID();
const OUR_TYPES = ['jetstream-config', 'jetstream-events', 'jetstream-sync-credentials'];
const EXAMPLES_DIR = path.join(REPO_ROOT, 'examples');

/** A flow file made deployable here: account url -> the test simulator, the key inline, a tab. */
function deployable(nodes: FlowNode[], sim: Simulator, label: string): FlowNode[] {
  const out: FlowNode[] = [];
  const tabs = new Set(nodes.filter((n) => n.type === 'tab').map((n) => n.id));
  for (const n of nodes) {
    if (typeof n.z === 'string' && n.z && !tabs.has(n.z)) {
      tabs.add(n.z);
      out.push({ id: n.z, type: 'tab', label, disabled: false, info: '' });
    }
  }
  for (const n of nodes) {
    out.push(
      n.type === 'jetstream-config'
        ? { ...n, url: sim.url, credentials: { accessKey: KEY } }
        : structuredClone(n),
    );
  }
  return out;
}

describe('e2e: real Node-RED with the package installed', function () {
  this.timeout(30_000);
  let sim: Simulator;
  let red: NodeRed | undefined;
  let col: Collector;
  let knownTypes: Set<string>;

  before(async function () {
    this.timeout(45_000);
    sim = await startSimulator({
      accessKey: KEY,
      devices: [
        'Cabinet-1',
        'Cabinet-2',
        { name: 'Fridge 3' },
        { name: 'Cabinet-7', online: false },
      ],
    });
    col = await startCollector();
    red = await startNodeRed({ logLevel: 'info' });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && red) {
      console.log(`--- Node-RED output (last 4000 chars) ---\n${red.output().slice(-4000)}`);
    }
  });

  after(async function () {
    this.timeout(20_000);
    if (red) {
      try {
        await red.stop('SIGTERM', 8000);
      } catch {
        red.kill();
      }
    }
    await col?.close();
    await sim?.close();
  });

  it('loads the three node types of this module without error (GET /nodes)', async () => {
    const sets = await red!.getNodes();
    const ours = sets.filter((s) => s.module === 'node-red-contrib-jetstream-rfid');
    assert.deepEqual(ours.flatMap((s) => s.types).sort(), OUR_TYPES);
    for (const s of ours) {
      assert.equal(s.err, undefined, `${s.id}: ${s.err}`);
      assert.equal(s.enabled, true, s.id);
    }
    knownTypes = new Set(['tab', 'subflow', 'group', ...sets.flatMap((s) => s.types)]);
  });

  const files = fs.readdirSync(EXAMPLES_DIR).filter((f) => f.endsWith('.json'));
  const flowFiles = [
    ...files.map((f) => path.join(EXAMPLES_DIR, f)),
    path.join(REPO_ROOT, 'scripts', 'demo-flow.json'),
  ];

  it('has the five examples', () => {
    for (const name of [
      'Sync a device.json',
      'Sync many devices and wait for completion.json',
      'React to events by type.json',
      'Handle errors.json',
      'Revoke a badge on every cabinet of a site.json',
    ])
      assert.ok(files.includes(name), name);
  });

  for (const file of flowFiles) {
    const name = path.relative(REPO_ROOT, file);
    it(`deploys ${name} with only known node types`, async () => {
      const nodes = JSON.parse(fs.readFileSync(file, 'utf8')) as FlowNode[];
      assert.ok(
        nodes.some((n) => n.type === 'comment'),
        'a Comment node explains the flow',
      );
      for (const n of nodes.filter((x) => x.type === 'jetstream-config')) {
        assert.equal(
          n.url,
          'http://127.0.0.1:3999',
          'the account points at the npm start simulator',
        );
        assert.equal(n.credentials, undefined, 'no credentials in a flow file');
      }
      const before = red!.output().length;
      await red!.deploy(deployable(nodes, sim, name));
      const { flows } = await red!.getFlows();
      for (const n of nodes) {
        const deployed = flows.find((f) => f.id === n.id);
        assert.ok(deployed, `${n.type} ${n.id} deployed`);
        assert.ok(knownTypes.has(deployed.type), `unknown type ${deployed.type}`);
      }
      await new Promise((r) => setTimeout(r, 200));
      const log = red!.output().slice(before);
      assert.doesNotMatch(log, /Waiting for missing types/);
      assert.doesNotMatch(log, /\[error\]/);
    });
  }

  it('notices a node type that is not installed (the check above works)', async () => {
    const before = red!.output().length;
    await red!.deploy([
      { id: 'e2e-missing-tab', type: 'tab', label: 'missing', disabled: false, info: '' },
      { id: 'e2e-missing', type: 'no-such-type', z: 'e2e-missing-tab', x: 100, y: 100, wires: [] },
    ]);
    await red!.waitForOutput(/Waiting for missing types/, 5000);
    assert.match(red!.output().slice(before), /no-such-type/);
    const { flows } = await red!.getFlows();
    assert.ok(flows.some((f) => !knownTypes.has(f.type)));
  });

  describe('a deployed flow', () => {
    const z = 'e2e-tab';
    let syncInject: FlowNode;
    let waitInject: FlowNode;
    let errorInject: FlowNode;

    before(async () => {
      const account: FlowNode = {
        id: 'e2e-acct',
        type: 'jetstream-config',
        name: 'e2e simulator',
        url: sim.url,
        timeout: 5000,
        retries: 1,
        credentials: { accessKey: KEY },
      };
      const events: FlowNode = {
        id: 'e2e-events',
        type: 'jetstream-events',
        z,
        name: '',
        account: account.id,
        eventTypes: [],
        device: '',
        interval: 1,
        limit: 100,
        wires: [[]],
      };
      const inject = (id: string, props: Record<string, unknown>[] = []): FlowNode => ({
        id,
        type: 'inject',
        z,
        name: id,
        props: [{ p: 'payload' }, ...props],
        repeat: '',
        crontab: '',
        once: false,
        onceDelay: 0.1,
        topic: '',
        payload: '',
        payloadType: 'date',
        wires: [[]],
      });
      const sync = (id: string, device: string, extra: Record<string, unknown> = {}): FlowNode => ({
        id,
        type: 'jetstream-sync-credentials',
        z,
        name: '',
        account: account.id,
        device,
        deviceType: 'str',
        action: 'sync',
        waitForCompletion: false,
        completionTimeout: 20,
        outputs: 1,
        credentialsProperty: 'credentials',
        wires: [[]],
        ...extra,
      });
      syncInject = inject('e2e-inject-sync', [
        {
          p: 'credentials',
          v: JSON.stringify({ type: 'Basic', replace: ['0A1B2C3D4E', '0A1B2C3D4F'] }),
          vt: 'json',
        },
      ]);
      const syncNode = sync('e2e-sync', 'Cabinet-1');
      waitInject = inject('e2e-inject-wait');
      const waitNode = sync('e2e-sync-wait', 'Cabinet-7', {
        waitForCompletion: true,
        outputs: 2,
        wires: [[], []],
      });
      errorInject = inject('e2e-inject-error');
      const badNode = sync('e2e-sync-bad', 'Cabinet-99');
      const catchNode: FlowNode = {
        id: 'e2e-catch',
        type: 'catch',
        z,
        name: '',
        scope: [badNode.id],
        uncaught: false,
        wires: [[]],
      };
      (syncInject.wires as string[][])[0].push(syncNode.id);
      (waitInject.wires as string[][])[0].push(waitNode.id);
      (errorInject.wires as string[][])[0].push(badNode.id);
      const flow: FlowNode[] = [
        { id: z, type: 'tab', label: 'e2e', disabled: false, info: '' },
        account,
        events,
        syncInject,
        syncNode,
        waitInject,
        waitNode,
        errorInject,
        badNode,
        catchNode,
        ...collectorNodes(col, { z, label: 'events', from: events }),
        ...collectorNodes(col, { z, label: 'sync', from: syncNode }),
        ...collectorNodes(col, { z, label: 'accepted', from: waitNode, port: 0 }),
        ...collectorNodes(col, { z, label: 'completed', from: waitNode, port: 1 }),
        ...collectorNodes(col, { z, label: 'error', from: catchNode }),
      ];
      sim.clearEvents();
      col.clear();
      const before = red!.output().length;
      await red!.deploy(flow);
      await new Promise((r) => setTimeout(r, 200));
      assert.doesNotMatch(red!.output().slice(before), /Waiting for missing types|Circular config/);
    });

    it('delivers a published event end to end (events node -> collector)', async () => {
      const ev = sim.publish({ Type: 'HeartbeatEvent', Device: 'Cabinet-2' });
      const got = await col.until(1, { label: 'events', ms: 8000 });
      const mine = got.find((r) => r.msg.eventId === ev.EventId);
      assert.ok(mine, 'the published event arrived');
      assert.equal(mine.msg.topic, 'HeartbeatEvent');
      assert.equal(mine.msg.device, 'Cabinet-2');
      assert.deepEqual(mine.msg.payload, ev);
    });

    it('syncs a device when its inject is clicked (POST /inject/:id -> collector)', async () => {
      await red!.inject(syncInject.id);
      const [got] = await col.until(1, { label: 'sync', ms: 8000 });
      const msg = got.msg as Record<string, unknown> & { payload: Record<string, unknown> };
      assert.equal(msg.device, 'Cabinet-1');
      assert.equal(msg.statusCode, 200);
      assert.equal(msg.payload.Status, 'Completed');
      assert.equal(msg.commandId, msg.payload.CommandId);
      assert.equal(msg.credentials, undefined, 'msg.credentials does not travel on');
      assert.deepEqual((msg.credentialChange as { stored: string[] }).stored, [
        '0A1B2C3D4E',
        '0A1B2C3D4F',
      ]);
      assert.deepEqual(sim.device('Cabinet-1')?.credentials.Basic, ['0A1B2C3D4E', '0A1B2C3D4F']);
    });

    it('waits for an offline device to complete (2 outputs)', async () => {
      await red!.inject(waitInject.id);
      const [accepted] = await col.until(1, { label: 'accepted', ms: 8000 });
      const payload = accepted.msg.payload as { Status: string; CommandId: string };
      assert.equal(payload.Status, 'Queued');
      assert.equal(col.of('completed').length, 0);
      sim.setOnline('Cabinet-7', true);
      const [done] = await col.until(1, { label: 'completed', ms: 12_000 });
      const ev = done.msg.payload as { Type: string; CommandId: string };
      assert.equal(ev.Type, 'CommandCompletionEvent');
      assert.equal(ev.CommandId, payload.CommandId);
      assert.equal(done.msg.device, 'Cabinet-7');
    });

    it('reports an unknown device to the Catch node with msg.error.code', async () => {
      await red!.inject(errorInject.id);
      const [got] = await col.until(1, { label: 'error', ms: 8000 });
      const error = got.msg.error as { code: string; message: string; source: { id: string } };
      assert.equal(error.code, 'JETSTREAM_NOT_FOUND');
      assert.equal(error.source.id, 'e2e-sync-bad');
      assert.match(error.message, /Cabinet-99/);
      assert.equal(got.msg.statusCode, 404);
    });

    it('never shows the access key: GET /flows, flows files, log', async () => {
      const text = JSON.stringify(await red!.getFlows());
      assert.ok(text.includes(sim.url), 'the account url is in GET /flows');
      assert.ok(!text.includes(KEY), 'the key is not in GET /flows');
      const cred = fs.readFileSync(path.join(red!.userDir, 'flows_cred.json'), 'utf8');
      assert.ok(!cred.includes(KEY), 'flows_cred.json is encrypted');
      assert.match(cred, /"\$"/, 'flows_cred.json holds the encrypted blob');
      const flowsFile = fs.readFileSync(path.join(red!.userDir, 'flows.json'), 'utf8');
      assert.ok(!flowsFile.includes(KEY), 'the key is not in flows.json');
      assert.ok(!red!.output().includes(KEY), 'the key is not in the log');
    });
  });
});
