import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions } from 'esbuild';
import { describe, expect, it } from 'vitest';

const entry = fileURLToPath(new URL('./index.ts', import.meta.url));

/** Matches an import or require of a Node built-in (`fs`, `node:fs`, `events`, …) or of `ws`. */
const forbidden = new RegExp(
  String.raw`(?:require\(\s*|from\s*|import\(\s*|import\s+)["'](?:node:[\w/]+|ws|${builtinModules
    .filter((name) => !name.startsWith('_'))
    .map((name) => name.replace(/[/]/g, '\\/'))
    .join('|')})["']`,
);

/** Bundles `import … from '@nearby/client'` as an app would, through the package's export conditions. */
async function bundle(options: BuildOptions) {
  const result = await build({
    stdin: {
      contents: "import { NearbyClient, fromAppState } from '@nearby/client'; console.log(NearbyClient, fromAppState);",
      resolveDir: fileURLToPath(new URL('.', import.meta.url)),
    },
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    logLevel: 'silent',
    // Resolve workspace packages to their sources, as the tests do (dist may not be built).
    conditions: ['@nearby/source'],
    external: ['ws'],
    ...options,
  });
  const text = result.outputFiles?.[0]?.text ?? '';
  const inputs = Object.keys(result.metafile?.inputs ?? {});
  /** Whether the bundle took this package's source file `name`. */
  const has = (name: string): boolean => inputs.some((path) => path.endsWith(`client/src/${name}`));
  return { text, has };
}

describe('browser / React Native entry', () => {
  it.each<[string, BuildOptions]>([
    ['a browser bundler', { platform: 'browser' }],
    // Metro resolves the `react-native` condition (and the `react-native`, then `browser` field).
    ['Metro-like resolution', { platform: 'neutral', mainFields: ['react-native', 'browser', 'main'], conditions: ['@nearby/source', 'react-native'] }],
    // A bundler targeting Node for a browser or React Native build still must not pick the Node entry.
    ['react-native before node', { platform: 'node', conditions: ['@nearby/source', 'react-native'] }],
    ['browser before node', { platform: 'node', conditions: ['@nearby/source', 'browser'] }],
  ])('bundles for %s with no ws and no Node built-in', async (_name, options) => {
    const { text, has } = await bundle(options);
    expect(has('index.ts')).toBe(true);
    expect(has('node.ts') || has('node-ws.ts')).toBe(false);
    expect(text).not.toMatch(/require\(\s*["']ws["']\s*\)/);
    expect(text).not.toMatch(forbidden);
    expect(text).toContain('NearbyClient');
  });

  it('in Node, resolves to the Node entry, which adds the ws fallback', async () => {
    const { text, has } = await bundle({ platform: 'node' });
    expect(['index.ts', 'node.ts', 'node-ws.ts'].every(has)).toBe(true);
    expect(text).toMatch(/createRequire/);
  });

  it('the pattern would catch a Node built-in or ws import', () => {
    for (const snippet of ['require("ws")', 'import x from "events"', 'from "node:buffer"', 'require("fs")']) {
      expect(snippet).toMatch(forbidden);
    }
  });
});
