#!/usr/bin/env bash
# The documentation site: `site.sh dev|build|check`. Installs the site's toolchain (VitePress,
# TypeDoc, playwright-core) here from package-lock.json on first use, outside the pnpm
# workspace, then generates the API reference into docs/api/ and runs VitePress.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
docs="$(cd "$here/.." && pwd)"
cmd="${1:-build}"
shift || true

# npm ci when node_modules is missing or older than the lock file.
if [ ! -f "$here/node_modules/.package-lock.json" ] || [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
  echo "-- npm ci (docs/.vitepress)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

vitepress="$here/node_modules/.bin/vitepress"
case "$cmd" in
  dev)
    node "$here/api.mjs"
    exec "$vitepress" dev "$docs" "$@"
    ;;
  build)
    node "$here/api.mjs"
    exec "$vitepress" build "$docs" "$@"
    ;;
  check)
    exec node "$here/check.mjs" "$@"
    ;;
  *)
    echo "usage: site.sh dev|build|check" >&2
    exit 2
    ;;
esac
