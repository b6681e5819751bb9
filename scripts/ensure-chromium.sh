#!/usr/bin/env bash
# The editor tests drive Debian's Chromium (a browser download is not possible here). Installs
# it when missing and we may (root with apt-get); otherwise says how, and the editor test fails.
set -euo pipefail
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing Debian's chromium for the editor tests..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
else
  echo "No Chromium at $browser: install it (sudo apt-get install chromium) or set CHROMIUM_PATH;" >&2
  echo "the editor tests will fail without it." >&2
fi
