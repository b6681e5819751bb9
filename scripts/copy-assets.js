// Copies what tsc does not emit: each node's editor .html, its locales and the icons, next to
// the compiled .js, where Node-RED looks for them. The editor's list of event types is filled in
// from lib/types.ts (already compiled by tsc), so the two cannot drift apart.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const { KNOWN_EVENT_TYPES } = require(path.join(root, 'dist', 'lib', 'types.js'));
const TYPES_MARKER = '/* KNOWN_EVENT_TYPES */ []';
for (const type of fs.readdirSync(path.join(root, 'nodes'))) {
  const src = path.join(root, 'nodes', type);
  const dst = path.join(root, 'dist', 'nodes', type);
  fs.mkdirSync(dst, { recursive: true });
  for (const entry of fs.readdirSync(src)) {
    if (entry.endsWith('.ts')) continue;
    fs.cpSync(path.join(src, entry), path.join(dst, entry), { recursive: true });
  }
  fs.cpSync(path.join(root, 'icons'), path.join(dst, 'icons'), { recursive: true });
  const html = path.join(dst, `${type}.html`);
  const text = fs.readFileSync(html, 'utf8');
  if (text.includes(TYPES_MARKER)) {
    fs.writeFileSync(html, text.replace(TYPES_MARKER, JSON.stringify(KNOWN_EVENT_TYPES)));
  }
}
