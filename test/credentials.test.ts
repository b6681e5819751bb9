// msg.credentials: change a device's stored credential list, then sync it, in one step.
import assert from 'node:assert/strict';
import { MAX_CREDENTIALS, parseCredentialChange } from '../lib/credentials';
import type { JetstreamError } from '../lib/errors';
import type { Simulator } from '../lib/simulator';
import type { NodeMessage } from '../lib/red';
import {
  account,
  allNodes,
  collect,
  helper,
  KEY,
  logText,
  sim,
  sleep,
  startHelper,
  statuses,
  stopHelper,
  until,
  errorCode,
} from './support';

type Caught = NodeMessage & { error: { code?: string; message: string } };
// msg.error.code on Node-RED 4+, the message's first word on 3.x (see support.ts).
const code = (m: NodeMessage) => errorCode(m);
const text = (m: NodeMessage) => (m as Caught).error.message;

const BADGES = ['04A1B2C3D4', '04A1B2C3D5', '04A1B2C3D6'];
// Distinctive secrets, so that finding one anywhere is a leak and never a coincidence.
const PW_ALICE = 'Alice-Pa55word-q7Zx';
const PW_BOB = 'Bob-Pa55word-w9Yk';
const PIN = '73915286420517';

/** Runs parseCredentialChange and returns the refusal. */
function refusal(value: unknown, prop?: string): JetstreamError {
  try {
    parseCredentialChange(value, prop);
  } catch (err) {
    return err as JetstreamError;
  }
  throw new Error(`accepted: ${JSON.stringify(value)?.slice(0, 100)}`);
}

describe('msg.credentials: parseCredentialChange', () => {
  it('accepts each mode and type; Basic values are upper-cased; User/Pin are {id: secret}', () => {
    assert.deepEqual(parseCredentialChange({ type: 'Basic', replace: ['04a1b2c3d4'] }), {
      type: 'Basic',
      replace: ['04A1B2C3D4'],
    });
    assert.deepEqual(
      parseCredentialChange({ type: 'basic', add: ['abcdef0123'], remove: ['ABCDEF9999'] }),
      { type: 'Basic', add: ['ABCDEF0123'], remove: ['ABCDEF9999'] },
    );
    assert.deepEqual(parseCredentialChange({ type: 'User', add: { alice: PW_ALICE } }), {
      type: 'User',
      add: { alice: PW_ALICE },
    });
    assert.deepEqual(parseCredentialChange({ type: 'Pin', replace: { '1001': PIN } }), {
      type: 'Pin',
      replace: { '1001': PIN },
    });
    assert.deepEqual(parseCredentialChange({ type: 'User', remove: ['alice'] }), {
      type: 'User',
      remove: ['alice'],
    });
    assert.deepEqual(parseCredentialChange({ type: 'Basic', replace: [] }), {
      type: 'Basic',
      replace: [],
    });
    assert.deepEqual(parseCredentialChange({ replace: ['0123456789'] }).type, 'Basic');
    // 10 and 40 hex digits are the limits; exactly 10,000 entries are fine.
    parseCredentialChange({ type: 'Basic', add: ['A'.repeat(10), 'F'.repeat(40)] });
    parseCredentialChange({
      type: 'Basic',
      replace: Array.from({ length: MAX_CREDENTIALS }, (_, i) => i.toString(16).padStart(10, '0')),
    });
  });

  it('refuses everything else with JETSTREAM_INVALID_INPUT', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['04A1B2C3D4', /must be an object.*got a string/],
      [['04A1B2C3D4'], /must be an object.*got an array/],
      [null, /got null/],
      [42, /got a number/],
      [{ type: 'Card', add: ['04A1B2C3D4'] }, /type must be Basic, User or Pin, got "Card"/],
      [{ type: 7, add: ['04A1B2C3D4'] }, /type must be Basic, User or Pin, got a number/],
      [{ type: 'Basic', replace: [], add: ['04A1B2C3D4'] }, /either replace, or add/],
      [{ type: 'Basic', replace: [], remove: ['04A1B2C3D4'] }, /either replace, or add/],
      [{ type: 'Basic' }, /nothing to do/],
      [{ type: 'Basic', add: ['04A1B2C3DZ'] }, /"04A1B2C3DZ" is not a Basic credential/],
      [{ type: 'Basic', add: ['04A1B2C3D'] }, /not a Basic credential \(10-40/],
      [{ type: 'Basic', add: ['0'.repeat(41)] }, /not a Basic credential/],
      [{ type: 'Basic', add: '04A1B2C3D4' }, /\.add must be an array, got a string/],
      [{ type: 'Basic', add: [''] }, /every id must be a non-empty string/],
      [{ type: 'Basic', add: [42] }, /every id must be a non-empty string/],
      [{ type: 'User', add: { '': PW_ALICE } }, /every id must be a non-empty string/],
      [{ type: 'User', add: { '  ': PW_ALICE } }, /every id must be a non-empty string/],
      [{ type: 'User', remove: [''] }, /every id must be a non-empty string/],
      [{ type: 'User', add: { ['u'.repeat(257)]: PW_ALICE } }, /longer than 256/],
      [{ type: 'User', add: { alice: '' } }, /secret of "alice" must be a non-empty string/],
      [{ type: 'User', add: { alice: 1234 } }, /secret of "alice"/],
      [{ type: 'User', add: [PW_ALICE] }, /must be an object \{id: secret\}.*got an array/],
      [{ type: 'User', replace: `alice:${PW_ALICE}` }, /got a string/],
      [{ type: 'Pin', add: { '1001': 'abc' } }, /PIN of "1001" must be 1-16 digits/],
      [{ type: 'Pin', add: { '1001': '1'.repeat(17) } }, /PIN of "1001" must be 1-16 digits/],
      [{ type: 'Pin', add: PIN }, /got a string/],
      [{ type: 'Basic', add: ['04A1B2C3D4'], password: 'x' }, /unknown properties: password/],
      [{ type: 'Basic', Add: ['04A1B2C3D4'] }, /unknown properties: Add/],
      [
        {
          type: 'Basic',
          add: Array.from({ length: MAX_CREDENTIALS + 1 }, () => '04A1B2C3D4'),
        },
        /more than 10000 entries/,
      ],
      [
        {
          type: 'User',
          replace: Object.fromEntries(
            Array.from({ length: MAX_CREDENTIALS + 1 }, (_, i) => [`u${i}`, 'pw']),
          ),
        },
        /more than 10000 entries/,
      ],
      [
        { type: 'Basic', remove: Array.from({ length: MAX_CREDENTIALS + 1 }, () => 'x') },
        /more than 10000 entries/,
      ],
    ];
    for (const [value, why] of cases) {
      const err = refusal(value);
      assert.equal(err.code, 'JETSTREAM_INVALID_INPUT', String(why));
      assert.match(err.message, why);
      assert.match(err.message, /^msg\.credentials/);
    }
  });

  it('names the configured property and never puts a password or PIN in a message', () => {
    assert.match(refusal({ type: 'Basic' }, 'badges').message, /^msg\.badges /);
    const secretCases: unknown[] = [
      PW_ALICE,
      { type: 'User', add: PW_ALICE },
      { type: 'User', add: [PW_ALICE] },
      { type: 'User', replace: { alice: PW_ALICE, '': PW_BOB } },
      { type: 'User', add: { alice: PW_ALICE }, remove: 'bob' },
      { type: 'User', add: { alice: PW_ALICE }, extra: PW_BOB },
      { type: 'Pin', add: { '1001': `${PIN}999` } },
      { type: 'Pin', add: { '1001': PIN, '1002': 'x' } },
      { type: 'Pin', add: PIN },
      { type: 'Pin', replace: { '1001': PIN }, add: { '1002': PIN } },
    ];
    for (const value of secretCases) {
      const msg = refusal(value).message;
      for (const secret of [PW_ALICE, PW_BOB, PIN]) {
        assert.ok(!msg.includes(secret), `secret in "${msg}"`);
      }
    }
  });
});

describe('msg.credentials through jetstream-sync-credentials', function () {
  let s: Simulator;
  beforeEach(async () => {
    s = await sim({ devices: ['Cab-1', 'Cab-2', { name: 'Off-1', online: false }] });
    await startHelper();
  });
  afterEach(async () => {
    await stopHelper();
    await s.close();
  });

  /** Node ids must differ from every property value (the runtime takes those for config refs). */
  async function load(syncExtra: Record<string, unknown> = {}, acctExtra = {}) {
    const acct = account(s, 'acct', acctExtra);
    const nodes = [
      { id: 'f1', type: 'tab' },
      { ...acct.node, z: 'f1' },
      {
        id: 'js1',
        type: 'jetstream-sync-credentials',
        z: 'f1',
        account: 'acct',
        device: 'device',
        deviceType: 'msg',
        action: 'sync',
        waitForCompletion: false,
        completionTimeout: 3600,
        outputs: 1,
        wires: [['out']],
        ...syncExtra,
      },
      { id: 'out', type: 'helper', z: 'f1' },
      { id: 'catcher', type: 'catch', z: 'f1', scope: null, wires: [['caught']] },
      { id: 'caught', type: 'helper', z: 'f1' },
    ];
    await helper.load(allNodes, nodes, acct.creds);
    return { out: collect('out'), caught: collect('caught') };
  }
  const send = (msg: NodeMessage) => helper.getNode('js1').receive(msg);
  const requests = () => s.log.map((r) => `${r.method} ${r.path}`);
  const queued = (type: string) => s.queuedEvents().filter((e) => e.Type === type);

  it('replace with 3 badges, then sync: PUT before the sync, credentialChange, msg.credentials gone', async () => {
    const { out, caught } = await load();
    send({
      _msgid: 'hr-42',
      topic: 'badges changed',
      device: 'Cab-1',
      payload: 'from HR',
      credentials: { type: 'Basic', replace: BADGES.map((b) => b.toLowerCase()) },
    });
    await until(() => out.length === 1, 5000, 'output');
    assert.equal(caught.length, 0);
    const msg = out[0];
    assert.deepEqual(requests(), [
      'PUT /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
    assert.deepEqual(msg.credentialChange, {
      type: 'Basic',
      added: BADGES,
      removed: [],
      replaced: true,
      stored: BADGES,
    });
    assert.equal('credentials' in msg, false, 'msg.credentials removed');
    assert.equal(msg.statusCode, 200);
    assert.equal(msg.device, 'Cab-1');
    assert.equal(msg.topic, 'badges changed');
    assert.equal((msg.payload as { Status: string }).Status, 'Completed');
    assert.deepEqual(s.device('Cab-1')?.credentials.Basic, BADGES);
    // The sync the device got lists the stored badges, then clears the rest.
    const [cmd] = queued('CommandQueuedEvent');
    assert.equal(cmd.CommandId, msg.commandId);
    assert.deepEqual(cmd.Parameters, [
      ...BADGES.map((b) => ({ Key: 'Add', Value: b })),
      { Key: 'Remove', Value: '*' },
    ]);
    const [modified] = queued('DeviceCredentialsModifiedEvent');
    assert.equal(modified.Device, 'Cab-1');
    assert.equal(modified.CredentialType, 'Basic');
    assert.deepEqual(modified.CurrentCredentials, BADGES);
    console.log(
      '      output msg of "replace the list with 3 badges and sync":\n' +
        JSON.stringify(msg, null, 2)
          .split('\n')
          .map((l) => `        ${l}`)
          .join('\n'),
    );
  });

  it('add, remove, add+remove (remove runs first) and clear with replace: [], each followed by the sync', async () => {
    const { out, caught } = await load();
    const step = async (credentials: unknown, n: number) => {
      s.clearLog();
      send({ payload: n, device: 'Cab-1', credentials });
      await until(() => out.length === n, 5000, `step ${n}`);
      assert.equal(caught.length, 0);
      return out[n - 1];
    };

    let msg = await step({ type: 'Basic', add: BADGES.slice(0, 2) }, 1);
    assert.deepEqual(requests(), [
      'POST /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
    assert.deepEqual(msg.credentialChange, {
      type: 'Basic',
      added: BADGES.slice(0, 2),
      removed: [],
      replaced: false,
      stored: BADGES.slice(0, 2),
    });

    msg = await step({ type: 'Basic', remove: [BADGES[0]] }, 2);
    assert.deepEqual(requests(), [
      'DELETE /3/devices/Cab-1/credentials/Basic',
      'GET /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
    assert.deepEqual(msg.credentialChange, {
      type: 'Basic',
      added: [],
      removed: [BADGES[0]],
      replaced: false,
      stored: [BADGES[1]],
    });

    // Removing and re-adding the same badge in one msg: remove first, so it ends up stored.
    msg = await step({ type: 'Basic', add: [BADGES[1], BADGES[2]], remove: [BADGES[1]] }, 3);
    assert.deepEqual(requests(), [
      'DELETE /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
    assert.deepEqual((msg.credentialChange as { stored: string[] }).stored.sort(), [
      BADGES[1],
      BADGES[2],
    ]);
    assert.deepEqual(s.device('Cab-1')?.credentials.Basic.sort(), [BADGES[1], BADGES[2]]);

    msg = await step({ type: 'Basic', replace: [] }, 4);
    assert.deepEqual(requests(), [
      'PUT /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
    assert.deepEqual(msg.credentialChange, {
      type: 'Basic',
      added: [],
      removed: [],
      replaced: true,
      stored: [],
    });
    assert.deepEqual(s.device('Cab-1')?.credentials.Basic, []);
    // The last sync tells the device to keep nothing.
    assert.deepEqual(queued('CommandQueuedEvent').at(-1)?.Parameters, [
      { Key: 'Remove', Value: '*' },
    ]);
    // Every change was published as an event.
    assert.deepEqual(
      s
        .queuedEvents()
        .filter((e) => String(e.Type).startsWith('DeviceCredentials'))
        .map((e) => e.Type),
      [
        'DeviceCredentialsAddedEvent',
        'DeviceCredentialsRemovedEvent',
        'DeviceCredentialsRemovedEvent',
        'DeviceCredentialsAddedEvent',
        'DeviceCredentialsModifiedEvent',
      ],
    );
    const [added] = queued('DeviceCredentialsAddedEvent');
    assert.deepEqual(added.AddedCredentials, BADGES.slice(0, 2));
    const [removed] = queued('DeviceCredentialsRemovedEvent');
    assert.deepEqual(removed.RemovedCredentials, [BADGES[0]]);
  });

  it('User and Pin: ids in credentialChange, secrets stored on the device and nowhere in the flow', async () => {
    const { out, caught } = await load();
    send({
      payload: 1,
      device: 'Cab-1',
      credentials: { type: 'User', replace: { alice: PW_ALICE, bob: PW_BOB } },
    });
    await until(() => out.length === 1, 5000, 'user output');
    send({ payload: 2, device: 'Cab-1', credentials: { type: 'Pin', add: { '1001': PIN } } });
    await until(() => out.length === 2, 5000, 'pin output');
    assert.equal(caught.length, 0);
    assert.deepEqual(out[0].credentialChange, {
      type: 'User',
      added: ['alice', 'bob'],
      removed: [],
      replaced: true,
      stored: ['alice', 'bob'],
    });
    assert.deepEqual(out[1].credentialChange, {
      type: 'Pin',
      added: ['1001'],
      removed: [],
      replaced: false,
      stored: ['1001'],
    });
    const dev = s.device('Cab-1')!;
    assert.deepEqual(dev.credentials.User, { alice: PW_ALICE, bob: PW_BOB });
    assert.deepEqual(dev.credentials.Pin, { '1001': PIN });
    assert.deepEqual(requests(), [
      'PUT /3/devices/Cab-1/credentials/User',
      'POST /3/devices/Cab-1/credentials/sync',
      'POST /3/devices/Cab-1/credentials/Pin',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
    // The second sync lists every stored credential (ids only).
    assert.deepEqual(queued('CommandQueuedEvent').at(-1)?.Parameters, [
      { Key: 'Add', Value: 'alice' },
      { Key: 'Add', Value: 'bob' },
      { Key: 'Add', Value: '1001' },
      { Key: 'Remove', Value: '*' },
    ]);
    const everything = JSON.stringify({ out, st: statuses('js1') }) + logText();
    for (const secret of [PW_ALICE, PW_BOB, PIN]) {
      assert.ok(!everything.includes(secret), 'a secret reached the flow, a status or the log');
    }
  });

  it('credentialsProperty: reads msg.badges, removes it, and leaves msg.credentials alone', async () => {
    const { out } = await load({ credentialsProperty: 'badges' });
    send({
      payload: 1,
      device: 'Cab-2',
      badges: { type: 'Basic', add: [BADGES[0]] },
      credentials: 'unrelated',
    });
    await until(() => out.length === 1, 5000, 'output');
    assert.equal('badges' in out[0], false);
    assert.equal(out[0].credentials, 'unrelated');
    assert.deepEqual((out[0].credentialChange as { stored: string[] }).stored, [BADGES[0]]);
    assert.deepEqual(s.device('Cab-2')?.credentials.Basic, [BADGES[0]]);
  });

  it('refuses bad msg.credentials with no request at all, and without it on the msg to Catch', async () => {
    const { out, caught } = await load();
    const bad: unknown[] = [
      'not an object',
      { type: 'Card', add: [BADGES[0]] },
      { type: 'Basic', replace: [BADGES[0]], add: [BADGES[1]] },
      { type: 'Basic', add: ['XYZ'] },
      { type: 'Basic', add: ['123'] },
      { type: 'User', add: { '': PW_ALICE } },
      { type: 'User', add: { alice: PW_ALICE }, secret: PW_BOB },
      { type: 'Pin', add: { '1001': 'not-digits' } },
      { type: 'Basic', add: Array.from({ length: MAX_CREDENTIALS + 1 }, () => BADGES[0]) },
    ];
    for (const credentials of bad) send({ payload: 1, device: 'Cab-1', credentials });
    // A good change with a bad device is refused too, before the change.
    send({ payload: 1, device: '../events', credentials: { type: 'Basic', add: [BADGES[0]] } });
    await until(() => caught.length === bad.length + 1, 5000, 'refusals');
    assert.ok(caught.every((m) => code(m) === 'JETSTREAM_INVALID_INPUT'));
    assert.ok(
      caught.every((m) => !('credentials' in m)),
      'msg.credentials reached Catch',
    );
    assert.ok(caught.every((m) => !('credentialChange' in m)));
    await sleep(100);
    assert.equal(out.length, 0);
    assert.equal(s.log.length, 0, 'no request was made');
    assert.deepEqual(s.device('Cab-1')?.credentials.Basic, []);
    const everything = JSON.stringify(caught) + logText();
    for (const secret of [PW_ALICE, PW_BOB]) assert.ok(!everything.includes(secret));
  });

  it('change OK but the sync fails: Catch gets the error saying the list was already changed, with msg.credentialChange', async () => {
    const { out, caught } = await load({}, { retries: 0 });
    s.setFaults({ errorRate: 1, match: '/credentials/sync' });
    send({ payload: 1, device: 'Cab-1', credentials: { type: 'Basic', replace: BADGES } });
    await until(() => caught.length === 1, 5000, 'error');
    const m = caught[0];
    assert.equal(code(m), 'JETSTREAM_SERVER_ERROR');
    assert.ok([500, 502, 503].includes(m.statusCode as number));
    assert.match(text(m), /the stored Basic credential list of "Cab-1" was already changed/);
    assert.deepEqual(m.credentialChange, {
      type: 'Basic',
      added: BADGES,
      removed: [],
      replaced: true,
      stored: BADGES,
    });
    assert.equal('credentials' in m, false);
    assert.equal(out.length, 0);
    assert.deepEqual(s.device('Cab-1')?.credentials.Basic, BADGES, 'the change stuck');
    assert.deepEqual(requests(), [
      'PUT /3/devices/Cab-1/credentials/Basic',
      'POST /3/devices/Cab-1/credentials/sync',
    ]);
  });

  it('the change fails (unknown device 404): no sync is sent, no credentialChange, no "already changed"', async () => {
    const { out, caught } = await load();
    send({ payload: 1, device: 'Nope-1', credentials: { type: 'Basic', add: BADGES } });
    await until(() => caught.length === 1, 5000, 'error');
    const m = caught[0];
    assert.equal(code(m), 'JETSTREAM_NOT_FOUND');
    assert.equal(m.statusCode, 404);
    assert.match(text(m), /add credentials for device "Nope-1".*Device 'Nope-1' was not found/);
    assert.doesNotMatch(text(m), /already changed/);
    assert.equal('credentialChange' in m, false);
    assert.equal('credentials' in m, false);
    await sleep(100);
    assert.equal(out.length, 0);
    assert.deepEqual(requests(), ['POST /3/devices/Nope-1/credentials/Basic']);
  });

  it('a 4xx from the server on the change is JETSTREAM_BAD_REQUEST (413: body too large); no sync, no secret echoed', async () => {
    const { out, caught } = await load();
    // 10,000 users with long passwords: about 17 MB, over the simulator's 16 MB body limit.
    const long = `${PW_ALICE}${'x'.repeat(1700)}`;
    const users = Object.fromEntries(
      Array.from({ length: MAX_CREDENTIALS }, (_, i) => [`user-${i}`, long]),
    );
    send({ payload: 1, device: 'Cab-1', credentials: { type: 'User', replace: users } });
    await until(() => caught.length === 1, 15_000, 'error');
    const m = caught[0];
    assert.equal(code(m), 'JETSTREAM_BAD_REQUEST');
    assert.equal(m.statusCode, 413);
    assert.match(
      text(m),
      /replace credentials for device "Cab-1" failed: HTTP 413: The request body is too large/,
    );
    assert.equal('credentials' in m, false);
    assert.ok(!JSON.stringify(caught).includes(PW_ALICE));
    assert.equal(out.length, 0);
    assert.deepEqual(requests(), ['PUT /3/devices/Cab-1/credentials/User']);
  });

  it('secret hygiene: an error body echoing the request (secrets, key) leaks into no msg, error, status or log', async () => {
    const { out, caught } = await load({}, { retries: 0 });
    s.setFaults({ errorRate: 1, echoRequest: true, match: '/credentials/User' });
    send({
      payload: 1,
      device: 'Cab-1',
      credentials: { type: 'User', add: { alice: PW_ALICE, bob: PW_BOB } },
    });
    await until(() => caught.length === 1, 5000, 'error');
    s.setFaults({ errorRate: 1, echoRequest: true, match: '/credentials/Pin' });
    send({ payload: 2, device: 'Cab-1', credentials: { type: 'Pin', replace: { '1001': PIN } } });
    await until(() => caught.length === 2, 5000, 'second error');
    assert.ok(caught.every((m) => code(m) === 'JETSTREAM_SERVER_ERROR'));
    assert.ok(caught.every((m) => !('credentials' in m)));
    assert.equal(out.length, 0);
    assert.ok(!s.log.some((r) => r.path.endsWith('/sync')), 'no sync after a failed change');
    const firstStatuses = statuses('js1');
    // Now with the error not caught, so that the runtime logs it as well.
    await helper.unload();
    const acct = account(s, 'acct', { retries: 0 });
    await helper.load(
      allNodes,
      [
        { id: 'f1', type: 'tab' },
        { ...acct.node, z: 'f1' },
        {
          id: 'js1',
          type: 'jetstream-sync-credentials',
          z: 'f1',
          account: 'acct',
          device: 'Cab-1',
          deviceType: 'str',
          wires: [[]],
        },
      ],
      acct.creds,
    );
    send({ payload: 3, credentials: { type: 'Pin', add: { '1002': PIN } } });
    const logged = () =>
      helper
        .log()
        .args.map((a: Array<{ msg?: unknown }>) => {
          const m = a[0]?.msg;
          return JSON.stringify(a[0]) + (m instanceof Error ? ` ${m.message} ${m.stack}` : '');
        })
        .join('\n');
    await until(() => /HTTP 5\d\d/.test(logged()), 5000, 'error logged');
    const everything =
      JSON.stringify({ caught, firstStatuses, st: statuses('js1') }) + logged() + logText();
    for (const secret of [PW_ALICE, PW_BOB, PIN, KEY]) {
      assert.ok(!everything.includes(secret), 'a secret or the key leaked');
    }
  });
});
