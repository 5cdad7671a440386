#!/usr/bin/env bash
# CI check of the Expo example, run from .ci/run (or by hand, from anywhere):
#   install in its own folder, typecheck, Metro bundles for iOS and Android (without Node
#   built-ins or ws), the react-native-web build, and its end-to-end test in headless Chromium
#   against a real Nearby server. Prints the time of each step.
#   --no-install skips the install step (the folder is already installed).
set -euo pipefail
example="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$example/../.." && pwd)"
cd "$example"

# Expo CLI: no telemetry, no network look-ups (versions, sign-in). With CI set (.ci/run sets
# it), a missing Chromium fails the end-to-end test instead of skipping it.
export EXPO_NO_TELEMETRY=1 EXPO_OFFLINE=1

started=$SECONDS
step_started=$SECONDS
step() {
  if [ -n "${step_name:-}" ]; then echo "   (${step_name}: $((SECONDS - step_started)) s)"; fi
  step_name="$1"
  step_started=$SECONDS
  echo "-- $1"
}

if [ "${1:-}" != "--no-install" ]; then
  step "install"
  bash scripts/install.sh
fi

step "Expo SDK pins and typecheck (app and end-to-end test)"
# The native packages must be the versions this Expo SDK pins (what `npx expo install` picks).
npx expo install --check
npx tsc --noEmit
(cd "$repo" && pnpm exec tsc -p examples/react-native/e2e/tsconfig.json)

step "Metro bundles for ios and android (production)"
rm -rf dist
npx expo export --platform ios --platform android --output-dir dist/native --source-maps --max-workers 2
node scripts/check-bundles.mjs dist/native

step "web build (react-native-web)"
npx expo export --platform web --output-dir dist/web --max-workers 2

step "tests: the web build end to end in headless Chromium, the bundle check"
(cd "$repo" && NEARBY_WEB_BUILD="$example/dist/web" pnpm exec vitest run --config examples/react-native/e2e/vitest.config.mts)

step "done"
echo "react native example ok in $((SECONDS - started)) s"
