#!/usr/bin/env bash
# Installs the example in its own folder: the registry packages from package-lock.json, then
# @nearby/protocol and @nearby/client as tarballs packed from this repository's sources.
# The tarballs are installed with --no-save, so package.json and the lock file stay free of
# per-build integrity hashes.
set -euo pipefail
example="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$example/../.." && pwd)"
packs="$example/.packs"

echo "-- build @nearby/protocol and @nearby/client"
(cd "$repo" && pnpm --filter @nearby/protocol --filter @nearby/client build >/dev/null)

echo "-- pack them into .packs/"
rm -rf "$packs"
mkdir -p "$packs"
for name in protocol client; do
  # pnpm pack rewrites workspace:* to the version, so the client asks for the protocol's version.
  (cd "$repo/packages/$name" && pnpm pack --pack-destination "$packs" >/dev/null)
  mv "$packs"/nearby-"$name"-*.tgz "$packs/nearby-$name.tgz"
done
ls -l "$packs"

cd "$example"
echo "-- npm ci"
npm ci --no-audit --no-fund --loglevel=error
echo "-- npm install the packed packages (--no-save)"
npm install --no-save --no-audit --no-fund --loglevel=error "$packs/nearby-protocol.tgz" "$packs/nearby-client.tgz"
node -e 'for (const n of ["@nearby/protocol", "@nearby/client"]) console.log(n, require(`${n}/package.json`).version)'
