// Copies what tsc does not emit: each node's editor .html, its locales and the icons, next to
// the compiled .js, where Node-RED looks for them.
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
for (const type of fs.readdirSync(path.join(root, 'nodes'))) {
  const src = path.join(root, 'nodes', type);
  const dst = path.join(root, 'dist', 'nodes', type);
  fs.mkdirSync(dst, { recursive: true });
  for (const entry of fs.readdirSync(src)) {
    if (entry.endsWith('.ts')) continue;
    fs.cpSync(path.join(src, entry), path.join(dst, entry), { recursive: true });
  }
  fs.cpSync(path.join(root, 'icons'), path.join(dst, 'icons'), { recursive: true });
}
