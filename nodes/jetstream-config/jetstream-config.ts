// jetstream-config: the account. Owns the one HTTP client and the one event hub that every node
// using this account shares; the hub polls only while someone subscribes.
import type { JetstreamClient } from '../../lib/client';
import type { JetstreamError } from '../../lib/errors';
import { AccountMemory, EventHub } from '../../lib/event-hub';
import {
  ConfigDef,
  ConfigNode,
  STORED_PASSWORD,
  failure,
  fromEnv,
  makeClient,
  memoryByAccount,
} from '../../lib/account';
import { getConfigNode, num, type RED } from '../../lib/red';

export = function register(RED: RED): void {
  function JetstreamConfigNode(this: ConfigNode, def: ConfigDef) {
    RED.nodes.createNode(this, def);
    this.def = def;
    // settings.js `jetstreamConfigBackoffMs`: first retry step after a failure (default 1 s).
    const backoffMs = num(RED.settings.jetstreamConfigBackoffMs, 1000) || 1000;
    this.client = null;
    this.configError = null;
    try {
      this.client = makeClient(def, this.credentials?.accessKey, backoffMs / 2);
    } catch (err) {
      this.configError = err as JetstreamError;
    }
    let memory = memoryByAccount.get(this.id);
    if (!memory) memoryByAccount.set(this.id, (memory = new AccountMemory()));
    this.hub = new EventHub(this.client, this.configError, { memory, backoffBaseMs: backoffMs });

    this.on('close', (removed: boolean, done: () => void) => {
      this.hub
        .close()
        .catch(() => undefined)
        .then(() => {
          this.client?.close();
          if (removed) memoryByAccount.delete(this.id);
          done();
        });
    });
  }

  RED.nodes.registerType('jetstream-config', JetstreamConfigNode, {
    credentials: { accessKey: { type: 'password' } },
  });

  // Editor helpers: "Test connection" and device autocomplete. The key stays server-side: the
  // dialog sends either a newly typed key or nothing (then the stored one is used).
  RED.httpAdmin.post(
    '/jetstream-rfid/devices',
    RED.auth.needsPermission('jetstream-config.write'),
    (req, res) => {
      const body = req.body ?? {};
      const id = typeof body.id === 'string' ? body.id : '';
      const typedKey = fromEnv(body.accessKey);
      const typed = typedKey && typedKey !== STORED_PASSWORD ? typedKey : '';
      const deployed = id ? getConfigNode<ConfigNode>(RED, id, 'jetstream-config') : null;
      const stored = id ? (deployed?.credentials ?? RED.nodes.getCredentials(id)) : undefined;
      // The dialog's unsaved URL wins; else the deployed account's (never silently the cloud).
      const def: ConfigDef = {
        id,
        type: 'jetstream-config',
        url: fromEnv(body.url) ?? deployed?.def.url,
        timeout: Math.min(num(body.timeout ?? deployed?.def.timeout, 10_000) || 10_000, 10_000),
        retries: 0,
      };
      let client: JetstreamClient;
      try {
        client = makeClient(def, typed || stored?.accessKey);
      } catch (err) {
        res.json(failure(err));
        return;
      }
      client
        .listDevices()
        .then((devices) => {
          const names = devices
            .map((d) => d?.Name)
            .filter((n): n is string => typeof n === 'string');
          res.json({ ok: true, devices: names.sort() });
        })
        .catch((err: unknown) => res.json(failure(err)))
        .finally(() => client.close());
    },
  );
};
