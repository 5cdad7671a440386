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

async function bundle(options: BuildOptions) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    logLevel: 'silent',
    // Resolve workspace packages to their sources, as the tests do (dist may not be built).
    conditions: ['@nearby/source'],
    ...options,
  });
  const text = result.outputFiles?.[0]?.text ?? '';
  const inputs = Object.keys(result.metafile?.inputs ?? {});
  return { text, inputs };
}

describe('browser / React Native entry', () => {
  it.each<[string, BuildOptions]>([
    ['a browser bundler', { platform: 'browser' }],
    // Metro resolves `react-native`, then `browser`, then `main`.
    ['Metro-like resolution', { platform: 'neutral', mainFields: ['react-native', 'browser', 'main'] }],
  ])('bundles for %s with isomorphic-ws resolved to its browser variant and no Node built-in', async (_name, options) => {
    const { text, inputs } = await bundle(options);
    expect(inputs.some((path) => /isomorphic-ws[\\/]browser\.js$/.test(path))).toBe(true);
    expect(inputs.some((path) => /isomorphic-ws[\\/]node\.js$/.test(path))).toBe(false);
    expect(inputs.some((path) => /[\\/]ws[\\/](?:index|wrapper|lib)/.test(path))).toBe(false);
    expect(text).not.toMatch(/require\(\s*["']ws["']\s*\)/);
    expect(text).not.toMatch(forbidden);
    expect(text).toContain('NearbyClient');
  });

  it('the pattern would catch a Node built-in or ws import', () => {
    for (const snippet of ['require("ws")', 'import x from "events"', 'from "node:buffer"', 'require("fs")']) {
      expect(snippet).toMatch(forbidden);
    }
  });
});
