import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const mainEntry = fileURLToPath(new URL('../index.ts', import.meta.url));
const reactEntry = fileURLToPath(new URL('./index.ts', import.meta.url));

/** Budget of what `@nearby/client/react` adds to an app that already has the client. */
const REACT_BUDGET_BYTES = 1_536;

async function bundle(entry: string, external: string[]) {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    metafile: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    logLevel: 'silent',
    conditions: ['@nearby/source'],
    external,
  });
  return { text: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs) };
}

describe('the React entry', () => {
  it('is the only one that loads React: the main entry bundles without it', async () => {
    const main = await bundle(mainEntry, []);
    expect(main.inputs.some((path) => /[\\/]node_modules[\\/](?:\.pnpm[\\/])?react[@\\/]/.test(path))).toBe(false);
    expect(main.inputs.some((path) => path.includes('src/react/'))).toBe(false);
    expect(main.text).not.toMatch(/from\s*["']react["']|useSyncExternalStore/);

    const react = await bundle(reactEntry, []);
    expect(react.inputs.some((path) => /[\\/]node_modules[\\/](?:\.pnpm[\\/])?react[@\\/]/.test(path))).toBe(true);
  });

  it(`adds at most ${REACT_BUDGET_BYTES} bytes min+gz on top of the client, with React external`, async () => {
    const { text } = await bundle(reactEntry, ['react', '@nearby/protocol', '../client.js']);
    expect(text).toMatch(/from\s*["']\.\.\/client\.js["']/); // the client itself is not counted twice
    const size = gzipSync(text, { level: 9 }).length;
    expect(size).toBeLessThanOrEqual(REACT_BUDGET_BYTES);
  });
});
