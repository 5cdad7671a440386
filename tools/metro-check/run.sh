#!/usr/bin/env bash
# Stock-Metro check of @nearby/client: builds and packs @nearby/protocol and @nearby/client as
# npm would publish them, installs the tarballs here next to Metro and the React Native Babel
# preset (outside the pnpm workspace), bundles entry.js for iOS and Android and checks the result
# (check.mjs). Set METRO_CHECK_SKIP_BUILD=1 to pack the dist folders as they are.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

echo "== build and pack"
PACK_SKIP_BUILD="${METRO_CHECK_SKIP_BUILD:-}" "$root/tools/pack-client.sh" "$here/.packs"

echo "== install"
cd "$here"
# Same tarball names on every run: drop the installed copies so npm unpacks the new ones.
rm -rf node_modules/@nearby node_modules/.package-lock.json
npm install --no-package-lock --no-audit --no-fund --loglevel=error

echo "== metro"
node check.mjs
