import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

/** scripts/check-bundles.mjs on hand-made exports: one bundle and its source map each. */
const SCRIPT = fileURLToPath(new URL('../scripts/check-bundles.mjs', import.meta.url));
const dirs: string[] = [];

function exportWith(sources: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'nearby-bundles-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'index.hbc'), 'bundle');
  writeFileSync(join(dir, 'index.hbc.map'), JSON.stringify({ version: 3, sources, mappings: '' }));
  return dir;
}

function check(dir: string | undefined): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, dir === undefined ? [SCRIPT] : [SCRIPT, dir], (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), output: stdout + stderr });
    });
  });
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const CLIENT = '/node_modules/@nearby/client/dist/index.js';

describe('check-bundles', () => {
  it('passes a bundle with the client and no Node-only modules', async () => {
    const result = await check(exportWith([CLIENT, '/node_modules/react-native/index.js', '/node_modules/isomorphic-ws/browser.js']));
    expect(result).toMatchObject({ code: 0 });
    expect(result.output).toContain('index.hbc: 3 modules');
  });

  it.each([
    ['ws', '/node_modules/ws/lib/websocket.js'],
    ['a polyfill of a built-in', '/node_modules/events/events.js'],
    ['a nested polyfill', '/node_modules/some-lib/node_modules/buffer/index.js'],
    ['a scoped path under a built-in', '/node_modules/@scope/x/node_modules/crypto/index.js'],
    ['a node: specifier', 'node:fs'],
  ])('fails on %s', async (_, source) => {
    const result = await check(exportWith([CLIENT, source]));
    expect(result.code).toBe(1);
    expect(result.output).toContain(`Node-only module in the bundle: ${source}`);
  });

  it('does not mistake a package whose name only contains a built-in name', async () => {
    const result = await check(exportWith([CLIENT, '/node_modules/wsx/index.js', '/node_modules/@react-native/events/index.js']));
    expect(result.code).toBe(0);
  });

  it('fails when the client is not in the bundle, so an empty check cannot pass', async () => {
    const result = await check(exportWith(['/node_modules/react-native/index.js']));
    expect(result.code).toBe(1);
    expect(result.output).toContain('@nearby/client is not in this bundle');
  });

  it('fails without source maps, and without an argument', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nearby-bundles-'));
    dirs.push(dir);
    expect(await check(dir)).toMatchObject({ code: 1, output: expect.stringContaining('no source maps') });
    expect(await check(undefined)).toMatchObject({ code: 2, output: expect.stringContaining('usage') });
  });
});
