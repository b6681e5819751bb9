// The Flow Library scorecard (`node-red-dev validate`, 0.1.6: P01-P08, N01-N02, D01-D03), checked
// offline and deterministically on what `npm pack` would publish, plus packaging sanity.
// The real tool also fetches catalogue.nodered.org (P08, N01 uniqueness) and npm dist-tags (P06,
// P07, D03 "latest"); those network halves are replaced here by fixed Node-RED and Node versions.
// Needs `npm run build` first (the tarball ships dist/lib and dist/nodes).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const load = createRequire(path.join(ROOT, 'package.json'));

interface PackageJson {
  name: string;
  license?: string;
  repository?: string | { url?: string };
  bugs?: string | { url?: string; email?: string };
  keywords?: string[];
  engines?: { node?: string };
  main?: string;
  types?: string;
  bin?: string | Record<string, string>;
  dependencies?: Record<string, string>;
  'node-red'?: { version?: string; nodes?: Record<string, string> };
}

const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as PackageJson;
const nodeRed = pkg['node-red'] ?? {};
const nodeEntries = Object.entries(nodeRed.nodes ?? {});
const INSTALLED_NODE_RED = (
  JSON.parse(fs.readFileSync(load.resolve('node-red/package.json'), 'utf8')) as { version: string }
).version;
/** Node-RED 5's engines.node minimum: what P07 compares against for the latest node-red. */
const NODE_RED_5_MIN_NODE = '22.9.0';

// ---- semver: the transitive copy in node_modules, else a small comparator-set fallback --------

interface Semver {
  satisfies(version: string, range: string): boolean;
  validRange(range: string): string | null;
}

function parts(v: string): number[] {
  const p = v.replace(/^v/, '').split('-')[0].split('.').map(Number);
  while (p.length < 3) p.push(0);
  return p;
}
function compare(a: string, b: string): number {
  const [x, y] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
/** Space-separated `>=`, `>`, `<=`, `<`, `=` comparators only (what our package.json uses). */
const fallbackSemver: Semver = {
  validRange: (range) =>
    /^(\s*(>=|<=|>|<|=)?\s*v?\d+(\.\d+){0,2}\s*)+$/.test(range) ? range : null,
  satisfies: (version, range) =>
    (range.trim().match(/(>=|<=|>|<|=)?\s*v?\d+(\.\d+){0,2}/g) ?? []).every((c) => {
      const m = /^(>=|<=|>|<|=)?\s*(.+)$/.exec(c) as RegExpExecArray;
      const d = compare(version, m[2]);
      return { '>=': d >= 0, '<=': d <= 0, '>': d > 0, '<': d < 0, '=': d === 0 }[m[1] ?? '='];
    }),
};
function loadSemver(): Semver {
  try {
    return load('semver') as Semver;
  } catch {
    return fallbackSemver;
  }
}
const semver = loadSemver();

// ---- the editor .html: registerType definitions, as node-red-dev's getNodeDefinitions reads them -

interface AstNode {
  type: string;
  [key: string]: unknown;
}
interface PropInfo {
  literal: boolean;
  value: unknown;
  valueType: string;
}
interface NodeDef {
  type: string;
  objectLiteral: boolean;
  props: Map<string, PropInfo>;
}
interface Acorn {
  parse(code: string, options: { ecmaVersion: 'latest' }): AstNode;
}

/** The regex node-red-dev uses for the editor's script blocks. */
const SCRIPT_BLOCK = /<script.+?type=['"]text\/javascript['"].*?>([\S\s]*?)<\/script>/gi;

function loadAcorn(): Acorn | undefined {
  try {
    return load('acorn') as Acorn;
  } catch {
    return undefined;
  }
}
const acorn = loadAcorn();

function walk(node: unknown, visit: (n: AstNode) => void): void {
  if (Array.isArray(node)) {
    for (const child of node) walk(child, visit);
  } else if (node && typeof node === 'object') {
    const n = node as AstNode;
    if (typeof n.type === 'string') visit(n);
    for (const value of Object.values(n))
      if (value && typeof value === 'object') walk(value, visit);
  }
}

function keyName(prop: AstNode): string | undefined {
  const key = prop.key as AstNode | undefined;
  if (!key || prop.computed) return undefined;
  return key.type === 'Identifier' ? (key.name as string) : String(key.value);
}

function isRedNodesRegisterType(callee: AstNode): boolean {
  if (callee.type !== 'MemberExpression') return false;
  const prop = callee.property as AstNode;
  const obj = callee.object as AstNode;
  if (prop.type !== 'Identifier' || prop.name !== 'registerType') return false;
  if (obj.type !== 'MemberExpression') return false;
  const red = obj.object as AstNode;
  const nodes = obj.property as AstNode;
  return red.type === 'Identifier' && red.name === 'RED' && nodes.name === 'nodes';
}

function definitionsFromAst(code: string, parser: Acorn): NodeDef[] {
  const defs: NodeDef[] = [];
  walk(parser.parse(code, { ecmaVersion: 'latest' }), (n) => {
    if (n.type !== 'CallExpression' || !isRedNodesRegisterType(n.callee as AstNode)) return;
    const [typeArg, defArg] = n.arguments as AstNode[];
    assert.equal(typeArg?.type, 'Literal', 'registerType needs a literal type name');
    const def: NodeDef = {
      type: String(typeArg.value),
      objectLiteral: defArg?.type === 'ObjectExpression',
      props: new Map(),
    };
    if (def.objectLiteral) {
      for (const prop of defArg.properties as AstNode[]) {
        const name = prop.type === 'Property' ? keyName(prop) : undefined;
        const value = prop.value as AstNode;
        if (name) {
          def.props.set(name, {
            literal: value.type === 'Literal',
            value: value.value,
            valueType: value.type,
          });
        }
      }
    }
    defs.push(def);
  });
  return defs;
}

/** Without acorn: the literal type and the literal category/color/icon that follow it. */
function definitionsFromRegex(code: string): NodeDef[] {
  const calls = [...code.matchAll(/RED\.nodes\.registerType\(\s*(['"])([^'"]+)\1\s*,\s*(\{)?/g)];
  return calls.map((m, i) => {
    const body = code.slice(m.index, calls[i + 1]?.index ?? code.length);
    const props = new Map<string, PropInfo>();
    for (const p of body.matchAll(/^\s*(category|color|icon)\s*:\s*(['"])(.*?)\2\s*,/gm)) {
      props.set(p[1], { literal: true, value: p[3], valueType: 'Literal' });
    }
    for (const p of body.matchAll(/^\s*(defaults|credentials)\s*:\s*(\{)?/gm)) {
      props.set(p[1], {
        literal: false,
        value: undefined,
        valueType: p[2] ? 'ObjectExpression' : '?',
      });
    }
    return { type: m[2], objectLiteral: m[3] === '{', props };
  });
}

function nodeDefinitions(html: string): NodeDef[] {
  const blocks = [...html.matchAll(SCRIPT_BLOCK)].map((m) => m[1]);
  assert.ok(blocks.length > 0, 'no <script type="text/javascript"> block');
  return blocks.flatMap((code) =>
    acorn ? definitionsFromAst(code, acorn) : definitionsFromRegex(code),
  );
}

// ---- the tarball ------------------------------------------------------------------------------

function npm(args: string[], cwd = ROOT): string {
  return execFileSync('npm', [...args, '--offline', '--no-update-notifier'], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
  });
}

interface PackResult {
  filename: string;
  files: { path: string }[];
}

describe('Flow Library scorecard (node-red-dev validate rules, offline)', function () {
  let tmp: string;
  /** The unpacked tarball (`package/`), with node_modules symlinked to the project's. */
  let pkgDir: string;
  /** Paths in the tarball according to `npm pack --dry-run --json`. */
  let files: Set<string>;
  let defsByType: Map<string, NodeDef>;
  let htmlErrors: string[];

  function has(p: string): boolean {
    return files.has(p.split(path.sep).join('/'));
  }
  function read(p: string): string {
    return fs.readFileSync(path.join(pkgDir, p), 'utf8');
  }

  before(function () {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'scorecard-')));
    // --ignore-scripts: `prepack` would rebuild dist/ under the running tests.
    const dry = JSON.parse(
      npm(['pack', '--dry-run', '--json', '--ignore-scripts']),
    ) as PackResult[];
    files = new Set(dry[0].files.map((f) => f.path));
    const packed = JSON.parse(
      npm(['pack', '--json', '--ignore-scripts', '--pack-destination', tmp]),
    ) as PackResult[];
    const tarball = path.join(tmp, packed[0].filename);
    const entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .split('\n')
      .filter((e) => e && !e.endsWith('/'))
      .map((e) => e.replace(/^package\//, ''));
    assert.deepEqual(entries.sort(), [...files].sort(), 'the tarball differs from --dry-run');
    execFileSync('tar', ['-xzf', tarball, '-C', tmp]);
    pkgDir = path.join(tmp, 'package');
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(pkgDir, 'node_modules'), 'dir');

    defsByType = new Map();
    htmlErrors = [];
    for (const [, js] of nodeEntries) {
      const html = js.replace(/\.js$/, '.html');
      if (!has(html)) continue;
      try {
        for (const def of nodeDefinitions(read(html))) {
          if (defsByType.has(def.type)) htmlErrors.push(`${def.type}: registered twice`);
          defsByType.set(def.type, def);
        }
      } catch (err) {
        htmlErrors.push(`${html}: ${(err as Error).message}`);
      }
    }
  });

  after(function () {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  // ---- package ----

  it('P01 license declared (and LICENSE shipped)', function () {
    assert.equal(typeof pkg.license, 'string');
    assert.ok(pkg.license, 'license is empty');
    assert.ok(has('LICENSE'), 'LICENSE is not in the tarball');
  });

  it('P03 repository or bugs declared', function () {
    const url = (v: PackageJson['repository'] | PackageJson['bugs']): string | undefined =>
      typeof v === 'string' ? v : v && ('url' in v ? v.url : 'email' in v ? v.email : undefined);
    assert.ok(url(pkg.repository) || url(pkg.bugs), 'neither repository nor bugs has a URL/email');
  });

  it('P04 name is node-red-contrib-… or scoped', function () {
    const scoped = /^@[a-z\d][\w.-]+\/[a-z\d][\w.-]*$/.test(pkg.name);
    const contrib = /^node-red-contrib-[a-z\d][\w.-]*$/.test(pkg.name);
    assert.ok(scoped || contrib, `${pkg.name} is neither scoped nor node-red-contrib-…`);
    // The tool's own rule: an unscoped node-red/nodered prefix must be followed by -contrib-.
    assert.ok(scoped || !/^(node-red|nodered)(?!-contrib-)/i.test(pkg.name));
  });

  it('P05 keywords include node-red', function () {
    assert.ok(pkg.keywords?.includes('node-red'), `keywords: ${JSON.stringify(pkg.keywords)}`);
  });

  it(`P06 node-red.version declared and satisfied by 3.1.0, ${INSTALLED_NODE_RED} (installed) and 5.0.0`, function () {
    const range = nodeRed.version;
    assert.ok(range, 'node-red.version is not declared');
    assert.ok(semver.validRange(range), `node-red.version ${range} is not a valid range`);
    for (const v of ['3.1.0', INSTALLED_NODE_RED, '5.0.0']) {
      assert.ok(semver.satisfies(v, range), `node-red ${v} is outside node-red.version ${range}`);
    }
  });

  it(`P07 engines.node declared and admits ${NODE_RED_5_MIN_NODE} (Node-RED 5's minimum) and 18.5.0`, function () {
    const range = pkg.engines?.node;
    assert.ok(range, 'engines.node is not declared');
    for (const v of [NODE_RED_5_MIN_NODE, '18.5.0']) {
      assert.ok(semver.satisfies(v, range), `Node ${v} is outside engines.node ${range}`);
    }
  });

  // ---- nodes ----

  it('N01 each node has its .js and same-named .html in the tarball', function () {
    assert.ok(nodeEntries.length > 0, 'node-red.nodes is empty');
    for (const [type, js] of nodeEntries) {
      assert.match(js, /\.js$/, `${type}: ${js} is not a .js file`);
      assert.ok(has(js), `${type}: ${js} is not in the tarball`);
      assert.ok(has(js.replace(/\.js$/, '.html')), `${type}: no .html next to ${js}`);
    }
  });

  it(`N01 each .html registers its type with literal category, color and icon (${acorn ? 'acorn' : 'regex fallback'})`, function () {
    assert.deepEqual(htmlErrors, []);
    assert.deepEqual(
      [...defsByType.keys()].sort(),
      nodeEntries.map(([type]) => type).sort(),
      'the registered types differ from the node-red.nodes keys',
    );
    for (const [type, js] of nodeEntries) {
      const def = defsByType.get(type) as NodeDef;
      assert.ok(def.objectLiteral, `${type}: the definition is not an object literal`);
      for (const key of ['category', 'color', 'icon']) {
        const prop = def.props.get(key);
        assert.ok(prop?.literal, `${type}: ${key} is missing or not a literal`);
        assert.equal(typeof prop.value, 'string', `${type}: ${key} is not a string`);
      }
      const category = def.props.get('category')?.value;
      assert.ok(
        category === 'config' || category === 'Jetstream',
        `${type}: category ${String(category)}`,
      );
      for (const key of ['defaults', 'credentials']) {
        const prop = def.props.get(key);
        if (prop) assert.equal(prop.valueType, 'ObjectExpression', `${type}: ${key} not inline`);
      }
      const icon = path.posix.join(
        path.posix.dirname(js),
        'icons',
        String(def.props.get('icon')?.value),
      );
      assert.ok(has(icon), `${type}: icon ${icon} is not in the tarball`);
    }
  });

  it('N01 each node ships locales/en-US/<name>.json and .html', function () {
    for (const [type, js] of nodeEntries) {
      const base = path.posix.basename(js, '.js');
      const dir = path.posix.join(path.posix.dirname(js), 'locales', 'en-US');
      for (const ext of ['.json', '.html']) {
        const file = path.posix.join(dir, base + ext);
        assert.ok(has(file), `${type}: ${file} is not in the tarball`);
      }
      assert.doesNotThrow(() => JSON.parse(read(path.posix.join(dir, base + '.json'))));
    }
  });

  it('N02 examples/*.json are flow arrays that use every non-config node', function () {
    const examples = [...files].filter((f) => /^examples\/.+\.json$/.test(f));
    assert.ok(examples.length > 0, 'no examples/*.json in the tarball');
    const used = new Set<string>();
    for (const file of examples) {
      const flow = JSON.parse(read(file)) as { type?: string }[];
      assert.ok(Array.isArray(flow), `${file} is not a JSON array`);
      for (const n of flow) if (n && typeof n.type === 'string') used.add(n.type);
    }
    const wanted = [...defsByType.values()]
      .filter((d) => d.props.get('category')?.value !== 'config')
      .map((d) => d.type);
    assert.ok(wanted.length > 0, 'no non-config node types were found in the .html files');
    assert.deepEqual(
      wanted.filter((t) => !used.has(t)),
      [],
      'node types without an example',
    );
  });

  // ---- dependencies ----

  interface LsNode {
    version?: string;
    missing?: boolean;
    invalid?: boolean | string;
    dependencies?: Record<string, LsNode>;
  }
  let lsTree: LsNode | undefined;
  function prodTree(): LsNode {
    if (!lsTree) {
      let out: string;
      try {
        out = npm(['ls', '--all', '--json', '--omit=dev']);
      } catch (err) {
        out = String((err as { stdout?: string }).stdout ?? ''); // npm ls exits 1 on problems
      }
      lsTree = JSON.parse(out) as LsNode;
    }
    return lsTree;
  }

  it('D01 at most 6 dependencies', function () {
    const count = Object.keys(pkg.dependencies ?? {}).length;
    assert.ok(count <= 6, `${count} dependencies`);
  });

  it('D02 no agent-base < 6.0.0 in the production dependency tree', function () {
    const seen: string[] = [];
    const bad: string[] = [];
    const visit = (deps: Record<string, LsNode> = {}): void => {
      for (const [name, node] of Object.entries(deps)) {
        seen.push(`${name}@${node.version}`);
        if (name === 'agent-base' && node.version && semver.satisfies(node.version, '<6.0.0')) {
          bad.push(`${name}@${node.version}`);
        }
        visit(node.dependencies);
      }
    };
    visit(prodTree().dependencies);
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      assert.ok(
        seen.some((s) => s.startsWith(`${dep}@`)),
        `${dep} is not in the npm ls tree`,
      );
    }
    assert.deepEqual(bad, []);
  });

  it('D03 each dependency is installed at a version its declared range admits', function () {
    const top = prodTree().dependencies ?? {};
    for (const [name, range] of Object.entries(pkg.dependencies ?? {})) {
      const node = top[name];
      assert.ok(node?.version && !node.missing, `${name} is not installed`);
      assert.ok(
        semver.satisfies(node.version, range),
        `${name}@${node.version} is outside ${range}`,
      );
    }
  });

  // ---- packaging ----

  it('tarball ships compiled dist/nodes and dist/lib, no .ts sources but .d.ts', function () {
    const list = [...files];
    assert.ok(
      list.some((f) => /^dist\/nodes\/.+\.js$/.test(f)),
      'no dist/nodes/**.js',
    );
    assert.ok(
      list.some((f) => /^dist\/lib\/.+\.js$/.test(f)),
      'no dist/lib/**.js',
    );
    assert.deepEqual(
      list.filter((f) => /\.(c|m)?ts$/.test(f) && !/\.d\.(c|m)?ts$/.test(f)),
      [],
      '.ts sources in the tarball',
    );
  });

  it('tarball has no dist/test, dist/bench or .node-red/ user dir', function () {
    assert.deepEqual(
      [...files].filter((f) => /^(dist\/test\/|dist\/bench\/)|(^|\/)\.node-red\//.test(f)),
      [],
    );
  });

  it('main, types and bin point at files in the tarball; node-red is not a dependency', function () {
    const bins = typeof pkg.bin === 'string' ? [pkg.bin] : Object.values(pkg.bin ?? {});
    for (const p of [pkg.main, pkg.types, ...bins]) {
      if (p) assert.ok(has(path.posix.normalize(p)), `${p} is not in the tarball`);
    }
    assert.ok(!pkg.dependencies?.['node-red'], 'node-red must not be in dependencies');
  });

  it('README.md is in the tarball (the Flow Library listing needs it)', function () {
    assert.ok(has('README.md'), 'README.md is not in the tarball (package.json "files" lists it)');
  });

  it('each dist/nodes/*/*.js from the tarball loads in plain Node and registers its type', function () {
    const nodeFiles = [...files].filter((f) => /^dist\/nodes\/[^/]+\/[^/]+\.js$/.test(f));
    assert.ok(nodeFiles.length > 0);
    // A fresh `node` (no mocha, no ts-node): each file must export function(RED) and register the
    // type package.json names for it when called with a stub RED.
    const script = `
      const path = require('path');
      const [dir, list] = [process.argv[1], JSON.parse(process.argv[2])];
      const stub = (registered) => new Proxy(function () {}, {
        get: (_t, p) => typeof p === 'symbol' ? undefined
          : p === 'registerType' ? (type) => registered.push(type) : stub(registered),
        apply: () => stub(registered),
      });
      const out = {};
      for (const f of list) {
        const registered = [];
        const mod = require(path.join(dir, f));
        if (typeof mod === 'function') mod(stub(registered));
        out[f] = { exports: typeof mod, registered };
      }
      const loaded = Object.keys(require.cache);
      console.log(JSON.stringify({
        out,
        ts: loaded.filter((k) => /\\.ts$/.test(k)),
        outside: loaded.filter((k) => !k.startsWith(dir + path.sep) && !k.includes(path.sep + 'node_modules' + path.sep)),
      }));`;
    const result = JSON.parse(
      execFileSync(process.execPath, ['-e', script, pkgDir, JSON.stringify(nodeFiles)], {
        cwd: pkgDir,
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      }),
    ) as {
      out: Record<string, { exports: string; registered: string[] }>;
      ts: string[];
      outside: string[];
    };
    assert.deepEqual(result.ts, [], 'TypeScript sources were loaded');
    assert.deepEqual(result.outside, [], 'modules were loaded from outside the tarball');
    for (const f of nodeFiles) {
      assert.equal(result.out[f].exports, 'function', `${f} does not export a function`);
    }
    for (const [type, js] of nodeEntries) {
      assert.deepEqual(result.out[js]?.registered, [type], `${js} registers the wrong type`);
    }
  });
});
