#!/usr/bin/env bash
# Packs @nearby/protocol and @nearby/client as npm would publish them, into DEST as
# nearby-protocol.tgz and nearby-client.tgz (fixed names, so installs can refer to them).
# Builds both first unless PACK_SKIP_BUILD=1 (their dist folders are then packed as they are).
# `pnpm pack` rewrites workspace:* to the version, so the client tarball asks for
# @nearby/protocol by version: install the protocol tarball beside it.
set -euo pipefail
dest="${1:?usage: tools/pack-client.sh DEST}"
root="$(cd "$(dirname "$0")/.." && pwd)"

if [ "${PACK_SKIP_BUILD:-}" != 1 ]; then
  (cd "$root" && pnpm --filter @nearby/protocol --filter @nearby/client run build >/dev/null)
fi
rm -rf "$dest"
mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
for name in protocol client; do
  (cd "$root/packages/$name" && pnpm pack --pack-destination "$dest" >/dev/null)
  mv "$dest"/nearby-"$name"-*.tgz "$dest/nearby-$name.tgz"
done
