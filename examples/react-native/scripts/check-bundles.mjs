// Fails when a Metro bundle contains a Node built-in (or a polyfill package standing in for
// one) or the `ws` package, which exist only in Node. Reads the modules of each bundle from its
// source map; run `expo export --source-maps` first.
//
//   node scripts/check-bundles.mjs dist/native
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';

const root = process.argv[2];
if (root === undefined) {
  console.error('usage: node scripts/check-bundles.mjs <export dir>');
  process.exit(2);
}

function* mapFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* mapFiles(path);
    else if (name.endsWith('.map')) yield path;
  }
}

// Packages that exist only in Node, or stand in for a Node built-in in a bundle.
const nodeOnly = new Set(['ws', ...builtinModules.filter((name) => !name.startsWith('_')).map((name) => name.split('/')[0])]);
/** The package a source belongs to: its innermost `node_modules/<name>` (or `@scope/name`). */
function packageOf(source) {
  const at = source.lastIndexOf('node_modules/');
  if (at < 0) return undefined;
  const [first = '', second = ''] = source.slice(at + 'node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

const maps = [...mapFiles(root)];
if (maps.length === 0) {
  console.error(`no source maps under ${root}: export with --source-maps`);
  process.exit(1);
}
let failed = false;
for (const path of maps) {
  const { sources } = JSON.parse(readFileSync(path, 'utf8'));
  const offending = sources.filter((source) => source.startsWith('node:') || nodeOnly.has(packageOf(source)));
  const nearby = sources.filter((source) => /node_modules\/@nearby\/client\//.test(source));
  const bundle = relative(root, path.replace(/\.map$/, ''));
  const size = (statSync(path.replace(/\.map$/, '')).size / 1024).toFixed(0);
  console.log(`${bundle}: ${sources.length} modules, ${size} KiB`);
  if (nearby.length === 0) {
    console.error(`  @nearby/client is not in this bundle; is the app importing it?`);
    failed = true;
  }
  for (const source of offending) {
    console.error(`  Node-only module in the bundle: ${source}`);
    failed = true;
  }
}
if (failed) process.exit(1);
console.log('bundles ok: no Node built-ins, no ws');
