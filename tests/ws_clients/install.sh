#!/usr/bin/env bash
# Installs what the real-client WebSocket tests need on a Debian machine:
#   - python3-websockets for /usr/bin/python3   (python_client.py)
#   - Chromium at /usr/bin/chromium              (chromium_chat.js)
#   - node and npm, then `npm ci` here           (ws, playwright-core)
# Idempotent: when everything is there it only checks, and runs no apt-get or npm.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then as_root=(sudo); else
        echo "install.sh: not root and no sudo; install the missing packages by hand" >&2
    fi
fi

need=()
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || need+=(python3-websockets)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)

if [ "${#need[@]}" -gt 0 ]; then
    echo "install.sh: apt-get install ${need[*]}"
    # Another apt-get (e.g. a concurrent install of chromium) holds the lock: wait for it.
    apt_opts=(-y -q -o DPkg::Lock::Timeout=900)
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" update >/dev/null
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install --no-install-recommends "${need[@]}"
fi

/usr/bin/python3 -c 'import websockets' || { echo "install.sh: /usr/bin/python3 cannot import websockets" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "install.sh: /usr/bin/chromium is missing" >&2; exit 1; }

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "install.sh: warning: node $(node --version) is older than playwright-core needs (>= 20)" >&2
fi

# node_modules is current when it was installed from this very package-lock.json.
stamp="$here/node_modules/.installed-from-lock.sha256"
want="$(sha256sum "$here/package-lock.json" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] \
    || [ ! -f "$here/node_modules/ws/package.json" ] || [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    echo "install.sh: npm ci in $here"
    (cd "$here" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
fi
