// Editor e2e: the three dialogs in a real Node-RED editor, driven by Debian's Chromium through
// playwright-core. A local simulator is the Jetstream API; a real Node-RED child process has this
// package installed. Screenshots for the README go to docs/screenshots/ (rewritten on each run).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startSimulator, type Simulator } from '../lib/simulator';
import { startNodeRed, type FlowNode, type NodeRed } from './e2e/nodered';
import { KEY, ROOT } from './support';

// The editor's globals, only ever touched inside page.evaluate / waitForFunction callbacks.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const RED: any;
declare const $: any;
/* eslint-enable @typescript-eslint/no-explicit-any */

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'docs', 'screenshots');
const DEVICES = ['Cabinet-1', 'Cabinet-2', 'Fridge 3'];
const WRONG_KEY = '0badc0de-0000-4000-8000-000000000000';

/** Page errors that say nothing about this package: layout noise and the offline catalogue. */
const NOISE = [/ResizeObserver/i, /catalogue/i, /Failed to fetch/i, /NetworkError/i, /net::ERR_/];

function flow(simUrl: string): FlowNode[] {
  return [
    { id: 'tab1', type: 'tab', label: 'Jetstream', disabled: false, info: '' },
    {
      id: 'acct',
      type: 'jetstream-config',
      name: 'simulator',
      url: simUrl,
      timeout: 5000,
      retries: 0,
      credentials: { accessKey: KEY },
    },
    {
      id: 'ev1',
      type: 'jetstream-events',
      z: 'tab1',
      name: '',
      account: 'acct',
      eventTypes: [],
      device: '',
      interval: 10,
      limit: 100,
      x: 170,
      y: 100,
      wires: [['dbg1']],
    },
    {
      id: 'dbg1',
      type: 'debug',
      z: 'tab1',
      name: 'events',
      active: true,
      tosidebar: true,
      console: false,
      complete: 'true',
      targetType: 'full',
      statusVal: '',
      statusType: 'auto',
      x: 420,
      y: 100,
      wires: [],
    },
    {
      id: 'inj1',
      type: 'inject',
      z: 'tab1',
      name: 'sync',
      props: [],
      repeat: '',
      once: false,
      x: 130,
      y: 200,
      wires: [['sync1']],
    },
    {
      id: 'sync1',
      type: 'jetstream-sync-credentials',
      z: 'tab1',
      name: '',
      account: 'acct',
      device: 'Cabinet-1',
      deviceType: 'str',
      action: 'sync',
      waitForCompletion: false,
      completionTimeout: 3600,
      outputs: 1,
      credentialsProperty: 'credentials',
      concurrency: 8,
      x: 330,
      y: 200,
      wires: [['dbg2']],
    },
    {
      id: 'dbg2',
      type: 'debug',
      z: 'tab1',
      name: 'result',
      active: true,
      tosidebar: true,
      console: false,
      complete: 'true',
      targetType: 'full',
      statusVal: '',
      statusType: 'auto',
      x: 560,
      y: 200,
      wires: [],
    },
  ];
}

describe('editor (Chromium, real Node-RED)', function () {
  this.timeout(60_000);
  const started = Date.now();

  let sim: Simulator | undefined;
  let red: NodeRed | undefined;
  let browser: Browser | undefined;
  let page: Page;
  const pageErrors: string[] = [];

  before(async function () {
    if (!fs.existsSync(CHROMIUM)) {
      // npm test's pretest (scripts/ensure-chromium.sh) installs it where it can; a skip here
      // would count as passing while testing nothing.
      throw new Error(
        `No Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH.`,
      );
    }
    sim = await startSimulator({ accessKey: KEY, devices: DEVICES });
    // The harness's settings already turn off tours, projects and telemetry.
    red = await startNodeRed({ logLevel: 'warn' });
    await red.deploy(flow(sim.url));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (err) => pageErrors.push(String(err?.stack ?? err)));
    await page.goto(red.url, { waitUntil: 'domcontentloaded' });
    await page.waitForFunction(
      () =>
        typeof RED !== 'undefined' &&
        RED.nodes &&
        RED.editor &&
        typeof RED.editor.edit === 'function' &&
        !!RED.nodes.node('ev1') &&
        !!RED.nodes.node('sync1') &&
        !!RED.nodes.node('acct') &&
        $('#red-ui-palette-container-Jetstream').length > 0,
      undefined,
      { timeout: 30_000 },
    );
    // The rotating "tips" panel of the sidebar would only clutter the screenshots.
    await page.evaluate(() => RED.actions.invoke('core:toggle-show-tips', false));
    fs.mkdirSync(SHOTS, { recursive: true });
  });

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed') return;
    // Enough context to read a CI failure, then a clean editor for the next test.
    console.log(`      page errors so far: ${JSON.stringify(pageErrors)}`);
    console.log(`      Node-RED output (tail):\n${red?.output().slice(-1500) ?? ''}`);
    if (browser) await closeAll().catch(() => undefined);
  });

  after(async function () {
    this.timeout(30_000);
    await browser?.close().catch(() => undefined);
    await red?.stop().catch(() => red?.kill());
    await sim?.close().catch(() => undefined);
    // Kept short on purpose: the whole file should stay well under 90 s.
    console.log(`      (editor e2e: ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  });

  /** Opens a node's edit tray and waits for the given field. */
  async function edit(id: string, field: string): Promise<void> {
    await page.evaluate((nodeId) => RED.editor.edit(RED.nodes.node(nodeId)), id);
    await page.locator(field).first().waitFor({ state: 'attached' });
    await page.locator('#node-dialog-ok').waitFor({ state: 'visible' });
    // The tray slides in: let it settle before screenshots and clicks.
    await page.waitForTimeout(350);
  }

  async function editAccount(): Promise<void> {
    await page.evaluate(() => RED.editor.editConfig('', 'jetstream-config', 'acct'));
    await page.locator('#node-config-input-url').waitFor({ state: 'visible' });
    await page.waitForTimeout(350);
  }

  /** Clicks Done (or Cancel) of the top tray (a node's or a config node's) and waits until it is gone. */
  async function close(button: 'ok' | 'cancel', config = false): Promise<void> {
    const before = await page.locator('.red-ui-tray').count();
    await page.locator(`#node-${config ? 'config-' : ''}dialog-${button}`).click();
    await page.waitForFunction((n) => $('.red-ui-tray').length < n, before);
    await page.waitForTimeout(100);
  }

  /** After a failure: cancel whatever trays are left, so the next test starts clean. */
  async function closeAll(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const open = await page.evaluate(() => {
        const cancel = $('#node-config-dialog-cancel, #node-dialog-cancel').last();
        cancel.trigger('click');
        return cancel.length;
      });
      if (!open) return;
      await page.waitForTimeout(400);
    }
  }

  function node<T = Record<string, unknown>>(id: string): Promise<T> {
    return page.evaluate((nodeId) => {
      const n = RED.nodes.node(nodeId);
      const out: Record<string, unknown> = { valid: n.valid, dirty: n.dirty, changed: n.changed };
      for (const key of Object.keys(n._def.defaults)) out[key] = n[key];
      out.outputs = n.outputs;
      return out;
    }, id) as Promise<T>;
  }

  async function hasError(selector: string): Promise<boolean> {
    return page.evaluate((sel) => $(sel).hasClass('input-error'), selector);
  }

  /** Sets a plain input and fires the events Node-RED validates on. */
  async function setValue(selector: string, value: string): Promise<void> {
    await page.evaluate(
      ([sel, v]) => {
        $(sel).val(v).trigger('change').trigger('keyup');
      },
      [selector, value] as const,
    );
  }

  it('shows the two flow nodes in the Jetstream palette category and registers the config type', async () => {
    const palette = await page.evaluate(() => ({
      header: $('#red-ui-palette-container-Jetstream .red-ui-palette-header').text().trim(),
      types: $('#red-ui-palette-container-Jetstream .red-ui-palette-node')
        .map((_: number, el: unknown) => $(el).attr('data-palette-type'))
        .get(),
      labels: $('#red-ui-palette-container-Jetstream .red-ui-palette-label')
        .map((_: number, el: unknown) => $(el).text().replace(/\s+/g, ' ').trim())
        .get(),
      configInPalette: $('.red-ui-palette-node[data-palette-type="jetstream-config"]').length,
      configDef: RED.nodes.getType('jetstream-config'),
    }));
    assert.match(palette.header, /jetstream/i);
    assert.deepEqual([...palette.types].sort(), ['jetstream-events', 'jetstream-sync-credentials']);
    assert.deepEqual([...palette.labels].sort(), ['jetstream events', 'sync credentials']);
    assert.equal(palette.configInPalette, 0);
    assert.ok(palette.configDef, 'jetstream-config is registered');
    assert.equal(palette.configDef.category, 'config');
    assert.ok(palette.configDef.credentials?.accessKey, 'accessKey is a credential');

    // The workspace for the README, with the palette filtered to this package's nodes.
    await page.locator('#red-ui-workspace-chart .red-ui-flow-node-group').first().waitFor();
    const filter = (text: string) =>
      page.evaluate((t) => $('#red-ui-palette-search input').searchBox('value', t), text);
    await filter('jetstream');
    await page.waitForFunction(
      () => !$('.red-ui-palette-node[data-palette-type="inject"]').is(':visible'),
    );
    assert.equal(
      await page.isVisible('.red-ui-palette-node[data-palette-type="jetstream-events"]'),
      true,
    );
    await page.screenshot({ path: path.join(SHOTS, 'flow.png') });
    await filter('');
  });

  it('config dialog: fields, URL validation and Test connection (success, then a wrong key)', async () => {
    await editAccount();
    for (const f of ['name', 'url', 'accessKey', 'timeout', 'retries']) {
      assert.equal(await page.locator(`#node-config-input-${f}`).count(), 1, f);
    }
    assert.equal(await page.inputValue('#node-config-input-url'), sim!.url);
    // A stored key is shown as a placeholder, never the key itself.
    const shownKey = await page.inputValue('#node-config-input-accessKey');
    assert.notEqual(shownKey, KEY);
    assert.equal(await page.getAttribute('#node-config-input-accessKey', 'type'), 'password');

    // Plain http:// is for loopback only.
    await setValue('#node-config-input-url', 'http://example.com');
    assert.equal(await hasError('#node-config-input-url'), true, 'http to a remote host');
    await setValue('#node-config-input-url', sim!.url);
    assert.equal(await hasError('#node-config-input-url'), false, 'http to the simulator');

    const result = page.locator('#node-config-jetstream-test-result');
    await page.click('#node-config-jetstream-test');
    await page.waitForFunction(() =>
      /Connected/.test($('#node-config-jetstream-test-result').text()),
    );
    const ok = (await result.textContent()) ?? '';
    assert.match(ok, /Connected: 3 devices/);
    for (const d of DEVICES) assert.ok(ok.includes(d), `${d} in "${ok}"`);
    await page.screenshot({ path: path.join(SHOTS, 'config-dialog.png') });

    await page.fill('#node-config-input-accessKey', WRONG_KEY);
    await page.click('#node-config-jetstream-test');
    await page.waitForFunction(
      () => !/Connected|Testing/.test($('#node-config-jetstream-test-result').text()),
    );
    const bad = (await result.textContent()) ?? '';
    assert.match(bad, /access key is wrong/i);
    assert.ok(!bad.includes(WRONG_KEY), 'the typed key is not echoed');
    await close('cancel', true);

    // Rename and type the key again: it must reach the runtime but never GET /flows.
    await editAccount();
    await page.fill('#node-config-input-name', 'Jetstream simulator');
    await page.fill('#node-config-input-accessKey', KEY);
    await close('ok', true);
    const acct = await node('acct');
    assert.equal(acct.name, 'Jetstream simulator');
    assert.equal(acct.valid, true);
  });

  it('events dialog: fields, and limit 9999 / 0 flagged in the dialog and on the node', async () => {
    await edit('ev1', '#node-input-limit');
    for (const f of [
      'account',
      'eventTypes-select',
      'eventTypes-other',
      'device',
      'interval',
      'limit',
      'name',
    ]) {
      assert.equal(await page.locator(`#node-input-${f}`).count(), 1, f);
    }
    assert.equal(await page.inputValue('#node-input-account'), 'acct');
    assert.equal(await page.locator('#node-input-eventTypes-select option').count(), 18);
    assert.equal(await page.inputValue('#node-input-limit'), '100');
    await page.screenshot({ path: path.join(SHOTS, 'events-dialog.png') });

    for (const limit of ['9999', '0']) {
      await setValue('#node-input-limit', limit);
      assert.equal(await hasError('#node-input-limit'), true, `limit ${limit} in the dialog`);
      await close('ok');
      const n = await node('ev1');
      assert.equal(n.limit, limit);
      assert.equal(n.valid, false, `limit ${limit} marks the node invalid`);
      await edit('ev1', '#node-input-limit');
      assert.equal(await hasError('#node-input-limit'), true, `limit ${limit} on reopening`);
    }

    await setValue('#node-input-limit', '50');
    assert.equal(await hasError('#node-input-limit'), false);
    await page.selectOption('#node-input-eventTypes-select', ['ObjectEvent', 'HeartbeatEvent']);
    await page.fill('#node-input-name', 'badge events');
    await close('ok');
    const n = await node('ev1');
    assert.equal(n.valid, true);
    assert.equal(n.name, 'badge events');
    assert.deepEqual([...(n.eventTypes as string[])].sort(), ['HeartbeatEvent', 'ObjectEvent']);
  });

  it('sync dialog: fields, device autocomplete from the simulator, empty fixed device flagged', async () => {
    await edit('sync1', '#node-input-device');
    for (const f of [
      'account',
      'action',
      'device',
      'deviceType',
      'credentialsProperty',
      'waitForCompletion',
      'completionTimeout',
      'concurrency',
      'name',
      'outputs',
    ]) {
      assert.equal(await page.locator(`#node-input-${f}`).count(), 1, f);
    }
    // The account's devices, fetched through the admin endpoint with the stored key.
    await page.waitForFunction(() => $('#node-input-device-list option').length > 0);
    const options = await page.evaluate(() =>
      $('#node-input-device-list option')
        .map((_: number, el: unknown) => $(el).attr('value'))
        .get(),
    );
    assert.deepEqual(options, [...DEVICES].sort());
    assert.match((await page.textContent('#node-input-device-hint')) ?? '', /3 device/);
    // The datalist must be attached to the visible typedInput field, not the hidden original.
    const list = await page.evaluate(() =>
      $('#node-input-device').next('.red-ui-typedInput-container').find('input').attr('list'),
    );
    assert.equal(list, 'node-input-device-list', 'datalist on the visible device input');

    // A msg property is no device name: no suggestions for it.
    const listFor = (type: string) =>
      page.evaluate((t) => {
        $('#node-input-device').typedInput('type', t);
        return $('#node-input-device').next().find('.red-ui-typedInput-input').attr('list') ?? null;
      }, type);
    assert.equal(await listFor('msg'), null, 'no datalist for msg.<property>');
    assert.equal(await listFor('str'), 'node-input-device-list', 'datalist for a fixed name');

    await page.evaluate(() => $('#node-input-device').typedInput('value', ''));
    await page.evaluate(() => $('#node-input-device').trigger('change'));
    assert.equal(
      await page.evaluate(() =>
        $('#node-input-device').next('.red-ui-typedInput-container').hasClass('input-error'),
      ),
      true,
      'empty fixed device in the dialog',
    );
    await close('ok');
    assert.equal((await node('sync1')).valid, false, 'empty fixed device marks the node invalid');

    await edit('sync1', '#node-input-device');
    await page.evaluate(() => {
      $('#node-input-device').typedInput('type', 'str');
      $('#node-input-device').typedInput('value', 'Cabinet-2');
    });
    await page.fill('#node-input-concurrency', '4');
    await close('ok');
    const n = await node('sync1');
    assert.equal(n.valid, true);
    assert.equal(n.device, 'Cabinet-2');
    assert.equal(n.deviceType, 'str');
  });

  it('sync dialog: the output count follows "wait for completion" (2, then back to 1)', async () => {
    await edit('sync1', '#node-input-waitForCompletion');
    assert.equal(await page.isVisible('#node-input-completionTimeout'), false);
    await page.check('#node-input-waitForCompletion');
    assert.equal(await page.isVisible('#node-input-completionTimeout'), true);
    // Show the suggestions the way a user sees them: a fixed name being typed.
    await page
      .locator('#node-input-device')
      .locator('xpath=following-sibling::div[contains(@class,"red-ui-typedInput-container")]')
      .locator('input.red-ui-typedInput-input')
      .focus();
    await page.screenshot({ path: path.join(SHOTS, 'sync-dialog.png') });
    await close('ok');
    assert.equal((await node('sync1')).outputs, 2);
    assert.equal((await node('sync1')).waitForCompletion, true);

    await edit('sync1', '#node-input-waitForCompletion');
    await page.uncheck('#node-input-waitForCompletion');
    await close('ok');
    assert.equal((await node('sync1')).outputs, 1);
    assert.equal((await node('sync1')).waitForCompletion, false);
  });

  it('Deploy: GET /flows holds the changes and no access key', async () => {
    await page.click('#red-ui-header-button-deploy');
    await page.waitForFunction(() => !RED.nodes.dirty(), undefined, { timeout: 15_000 });

    const { flows } = await red!.getFlows();
    const byId = new Map(flows.map((n) => [n.id, n]));
    assert.equal(byId.get('acct')?.name, 'Jetstream simulator');
    assert.equal(byId.get('acct')?.url, sim!.url);
    assert.equal(Number(byId.get('ev1')?.limit), 50);
    assert.equal(byId.get('ev1')?.name, 'badge events');
    assert.deepEqual([...(byId.get('ev1')?.eventTypes as string[])].sort(), [
      'HeartbeatEvent',
      'ObjectEvent',
    ]);
    assert.equal(byId.get('sync1')?.device, 'Cabinet-2');
    assert.equal(byId.get('sync1')?.deviceType, 'str');
    assert.equal(Number(byId.get('sync1')?.concurrency), 4);
    assert.equal(byId.get('sync1')?.waitForCompletion, false);
    assert.equal(byId.get('sync1')?.outputs, 1);

    const text = JSON.stringify(flows);
    assert.ok(!text.includes(KEY), 'the access key is not in GET /flows');
    assert.ok(!text.includes(WRONG_KEY), 'the wrong key is not in GET /flows');
    assert.ok(!/accessKey/.test(text), 'no accessKey property in GET /flows');

    // The retyped key did reach the runtime: the deployed account lists the devices.
    const res = await page.evaluate(() =>
      $.ajax({
        url: 'jetstream-rfid/devices',
        type: 'POST',
        contentType: 'application/json',
        dataType: 'json',
        data: JSON.stringify({ id: 'acct' }),
      }),
    );
    assert.deepEqual(res, { ok: true, devices: [...DEVICES].sort() });
  });

  it('raised no page errors', () => {
    const real = pageErrors.filter((e) => !NOISE.some((re) => re.test(e)));
    assert.deepEqual(real, []);
  });
});
