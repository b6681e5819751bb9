// A Node-RED user directory with this package installed (by a symlink, no npm install), the
// settings we run it with, and a call to its admin API. Shared by `npm start`, the end-to-end
// test harness (test/e2e/nodered.ts) and the benchmark runtime (bench/runtime.ts).
/* global fetch */
const fs = require('fs');
const path = require('path');

const ROOT = path.join(__dirname, '..');
const PACKAGE_NAME = require(path.join(ROOT, 'package.json')).name;

/** Creates `userDir` with a package.json and node_modules/<this package> -> the repo. */
function installInto(userDir) {
  fs.mkdirSync(path.join(userDir, 'node_modules'), { recursive: true });
  const pkgFile = path.join(userDir, 'package.json');
  if (!fs.existsSync(pkgFile)) {
    const pkg = {
      name: 'node-red-project',
      version: '0.0.1',
      private: true,
      dependencies: { [PACKAGE_NAME]: `file:${ROOT}` },
    };
    fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n');
  }
  const link = path.join(userDir, 'node_modules', PACKAGE_NAME);
  let target = null;
  try {
    target = path.resolve(path.dirname(link), fs.readlinkSync(link));
  } catch {
    target = null;
  }
  if (target !== ROOT) {
    fs.rmSync(link, { recursive: true, force: true });
    fs.symlinkSync(ROOT, link, 'dir');
  }
}

/** The settings every Node-RED we start shares: loopback only, no telemetry, quiet editor. */
function baseSettings({ host = '127.0.0.1', port, credentialSecret, logLevel = 'info' }) {
  return {
    uiHost: host,
    uiPort: port,
    flowFile: 'flows.json',
    flowFilePretty: true,
    credentialSecret,
    telemetry: { enabled: false },
    diagnostics: { enabled: false, ui: false },
    runtimeState: { enabled: false, ui: false },
    logging: { console: { level: logLevel, metrics: false, audit: false } },
    editorTheme: { projects: { enabled: false }, tours: false },
    functionExternalModules: false,
  };
}

/** Writes `<userDir>/settings.js` (JSON values only) and returns its path. */
function writeSettings(userDir, settings, header = '') {
  const file = path.join(userDir, 'settings.js');
  fs.writeFileSync(file, `${header}module.exports = ${JSON.stringify(settings, null, 2)};\n`);
  return file;
}

/** One admin API call; the parsed JSON answer (or the text, or undefined when empty). */
async function adminRequest(baseUrl, method, urlPath, body, headers = {}) {
  const res = await fetch(baseUrl + urlPath, {
    method,
    headers: {
      Accept: 'application/json',
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${urlPath}: HTTP ${res.status} ${text.slice(0, 500)}`);
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

module.exports = { ROOT, PACKAGE_NAME, installInto, baseSettings, writeSettings, adminRequest };
