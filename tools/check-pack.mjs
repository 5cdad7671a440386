#!/usr/bin/env node
// Checks the tarball of a published package as `pnpm pack` would make it (the way
// `changeset publish` publishes): it must hold README.md, LICENSE, package.json and every file
// that `exports`, `main`, `module`, `types` and `bin` point at, and no tests or test helpers
// (`*.test.*`, `*.spec.*`, `*.test-support.*`, `test-utils/`, `__tests__/`, and no `testing/`
// folder unless the package exports it as `./testing`). The source maps of the packed files
// must not name test files either, so a test helper bundled into `dist` is refused too.
//
// Usage: node tools/check-pack.mjs [package-dir …]   (default: the current directory)
// The entry points live in `dist`: run `pnpm build` first.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

const TEST_FILE = [
  /(^|\/)[^/]*\.(test|spec)\.[cm]?[jt]sx?(\.map)?$/,
  /(^|\/)[^/]*\.test-support\.[cm]?[jt]sx?(\.map)?$/,
  /(^|\/)test-utils(\/|$)/,
  /(^|\/)__tests__(\/|$)/,
];
const TESTING_DIR = /(^|\/)testing\//;
const ALWAYS = ['package.json', 'README.md', 'LICENSE'];

/** Every string target of an `exports` value (conditions nested to any depth). */
function targetsOf(value) {
  if (typeof value === 'string') return [value];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(targetsOf);
}

const normal = (target) => path.posix.normalize(target.replace(/^\.\//, ''));

function pack(dir) {
  const output = execFileSync('pnpm', ['pack', '--dry-run', '--json'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const start = output.indexOf('{');
  if (start < 0) throw new Error(`pnpm pack --json printed no JSON:\n${output}`);
  const result = JSON.parse(output.slice(start));
  return { filename: result.filename, files: result.files.map((file) => (typeof file === 'string' ? file : file.path)) };
}

function check(dir) {
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const name = manifest.name ?? dir;
  if (manifest.private) return { name, problems: [], skipped: true };
  const problems = [];
  const { filename, files } = pack(dir);
  const packed = new Set(files);

  for (const file of ALWAYS) if (!packed.has(file)) problems.push(`${file} is not in the tarball`);

  // Entry points: every target of `exports`, plus `main`, `module`, `types` and `bin`.
  const entries = new Map(); // file -> where it is named
  const exportsField = typeof manifest.exports === 'string' ? { '.': manifest.exports } : (manifest.exports ?? {});
  for (const [subpath, value] of Object.entries(exportsField)) {
    for (const target of targetsOf(value)) entries.set(normal(target), `exports["${subpath}"]`);
  }
  for (const field of ['main', 'module', 'types']) {
    if (typeof manifest[field] === 'string') entries.set(normal(manifest[field]), field);
  }
  const bin = typeof manifest.bin === 'string' ? { [name]: manifest.bin } : (manifest.bin ?? {});
  for (const [command, target] of Object.entries(bin)) entries.set(normal(target), `bin["${command}"]`);
  let unbuilt = false;
  for (const [file, where] of entries) {
    if (file.includes('*')) {
      const pattern = new RegExp(`^${file.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.+')}$`);
      if (!files.some((packedFile) => pattern.test(packedFile))) problems.push(`${where}: nothing in the tarball matches ${file}`);
    } else if (!packed.has(file)) {
      problems.push(`${where}: ${file} is not in the tarball`);
      if (!existsSync(path.join(dir, file))) unbuilt = true;
    }
  }

  // A `testing/` folder ships only as the source of a deliberate `./testing` export.
  const testingDirs = targetsOf(exportsField['./testing']).map((target) => `${path.posix.dirname(normal(target))}/`);
  for (const file of files) {
    if (TEST_FILE.some((pattern) => pattern.test(file))) problems.push(`test file in the tarball: ${file}`);
    else if (TESTING_DIR.test(file) && !testingDirs.some((allowed) => file.startsWith(allowed))) {
      problems.push(`testing/ folder in the tarball without a "./testing" export: ${file}`);
    }
  }

  // Test helpers bundled into a built file show up in its source map.
  for (const file of files.filter((packedFile) => packedFile.endsWith('.map'))) {
    let sources;
    try {
      sources = JSON.parse(readFileSync(path.join(dir, file), 'utf8')).sources ?? [];
    } catch (error) {
      problems.push(`${file}: unreadable source map (${error.message})`);
      continue;
    }
    for (const source of sources) {
      if (TEST_FILE.some((pattern) => pattern.test(source))) problems.push(`${file} bundles a test file: ${source}`);
    }
  }

  if (unbuilt) problems.push('entry points are missing on disk: run `pnpm build` before this check');
  return { name, filename, count: files.length, entries: entries.size, problems };
}

const dirs = process.argv.length > 2 ? process.argv.slice(2) : ['.'];
let failed = false;
for (const dir of dirs) {
  const result = check(path.resolve(dir));
  if (result.skipped) {
    console.log(`${result.name}: private, not published, not checked`);
    continue;
  }
  if (result.problems.length === 0) {
    console.log(`${result.name}: ${result.filename} holds ${result.count} files (README.md, LICENSE, package.json, ${result.entries} entry points present; no tests)`);
  } else {
    failed = true;
    console.error(`${result.name}: ${result.filename} (${result.count} files) is not fit to publish:`);
    for (const problem of result.problems) console.error(`  - ${problem}`);
  }
}
if (failed) process.exitCode = 1;
