#!/usr/bin/env bash
# Installs the example in its own folder: the registry packages from package-lock.json, then
# @nearby/protocol and @nearby/client as tarballs packed from this repository's sources.
# The tarballs are installed with --no-save, so package.json and the lock file stay free of
# per-build integrity hashes.
set -euo pipefail
example="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$example/../.." && pwd)"
packs="$example/.packs"

echo "-- build @nearby/protocol and @nearby/client and pack them into .packs/"
"$repo/tools/pack-client.sh" "$packs"
ls -l "$packs"

cd "$example"
echo "-- npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "-- npm install the packed packages (--no-save)"
npm install --no-save --no-audit --no-fund --loglevel=error "$packs/nearby-protocol.tgz" "$packs/nearby-client.tgz"
node -e 'for (const n of ["@nearby/protocol", "@nearby/client"]) console.log(n, require(`${n}/package.json`).version)'
