// Bundles entry.js with Metro for iOS and Android (production, minified) and fails when the
// bundle holds, or asks at run time for, a Node built-in, `ws`, zod or geolib. Prints the
// bundle sizes. Run through ./run.sh, which packs and installs @nearby/client first.
import { spawnSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { mkdirSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'out');
const builtins = new Set(builtinModules.flatMap((name) => [name, name.split('/')[0]]));
/** Packages an app bundle must not contain: Node's WebSocket server and client, and what the protocol left behind. */
const forbiddenPackages = new Set(['ws', 'zod', 'geolib']);

const packageOf = (path) => {
  const match = /(?:^|[/\\])node_modules[/\\]((?:@[^/\\]+[/\\])?[^/\\]+)[/\\](?!.*node_modules)/.exec(path);
  return match ? match[1].replace('\\', '/') : undefined;
};
const isBuiltin = (name) => name.startsWith('node:') || builtins.has(name.split('/')[0]);

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
let failures = 0;

for (const platform of ['ios', 'android']) {
  const bundle = join(out, `${platform}.bundle.js`);
  const sourceMap = join(out, `${platform}.bundle.map`); // Metro's name for it, next to the bundle
  const requests = join(out, `${platform}.requests.jsonl`);
  const args = [
    'build', 'entry.js', '--platform', platform, '--dev', 'false', '--minify', 'true',
    '--out', bundle, '--source-map', '--source-map-url', `${platform}.bundle.map`,
    '--config', 'metro.config.js', '--reset-cache', '--max-workers', '1',
  ];
  const run = spawnSync(join(here, 'node_modules/.bin/metro'), args, {
    cwd: here,
    encoding: 'utf8',
    env: { ...process.env, METRO_CHECK_REQUESTS: requests, CI: 'true', FORCE_COLOR: '0' },
  });
  // Metro's own report: where it wrote the bundle, and any error.
  const lines = `${run.stdout}\n${run.stderr}`.split('\n').filter((line) => /Writing|Done writing|error|Error|Unable/.test(line));
  for (const line of lines) console.log(`[${platform}] metro: ${line.trim()}`);
  if (run.status !== 0 || !existsSync(bundle)) {
    console.error(`[${platform}] FAIL: Metro could not bundle the client (exit ${run.status})`);
    if (!lines.some((line) => /error/i.test(line))) console.error(run.stdout.slice(-3000), run.stderr.slice(-3000));
    failures++;
    continue;
  }

  const problems = [];
  // Every module in the bundle, from the source map.
  const modules = JSON.parse(readFileSync(sourceMap, 'utf8')).sources.filter((source) => source !== '__prelude__');
  for (const module of modules) {
    const name = packageOf(module);
    if (name !== undefined && (forbiddenPackages.has(name) || isBuiltin(name))) {
      problems.push(`bundles ${relative(here, module)} (package ${name})`);
    }
  }
  // Every module request, resolved or not (Metro leaves an unresolved optional require to throw at run time).
  const requested = existsSync(requests)
    ? readFileSync(requests, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line))
    : [];
  if (requested.length === 0) problems.push('no module requests were recorded; is the resolver hook in metro.config.js?');
  for (const { from, moduleName, failed } of requested) {
    const name = moduleName.startsWith('@') ? moduleName.split('/').slice(0, 2).join('/') : moduleName.split('/')[0];
    if (isBuiltin(moduleName) || forbiddenPackages.has(name)) {
      problems.push(`${relative(here, from)} requires "${moduleName}"${failed ? ' (unresolved)' : ''}`);
    }
  }

  const code = readFileSync(bundle);
  const client = modules.filter((module) => /node_modules[/\\]@nearby[/\\]/.test(module)).map((module) => relative(here, module));
  console.log(
    `[${platform}] bundle ${code.length} bytes, ${gzipSync(code, { level: 9 }).length} bytes gzip, ${modules.length} modules` +
      ` (@nearby: ${client.join(', ')})`,
  );
  if (!client.some((module) => module.includes('@nearby/client'))) problems.push('the bundle does not contain @nearby/client');
  for (const problem of problems) console.error(`[${platform}] FAIL: ${problem}`);
  failures += problems.length;
}

if (failures > 0) {
  console.error(`metro-check: ${failures} problem(s)`);
  process.exit(1);
}
console.log('metro-check: ok — no Node built-ins, ws, zod or geolib in the iOS and Android bundles');
