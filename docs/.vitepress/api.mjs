// Generates the API reference (markdown, into docs/api/) from the TSDoc of every public entry
// point: each subpath in the `exports` of @nearby/protocol, @nearby/client and @nearby/server,
// read from the TypeScript source its `@nearby/source` condition names. docs/api/ is generated
// on every docs:dev / docs:build and not committed, so it cannot drift from the code.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, Converter, ReflectionKind } from 'typedoc';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const out = resolve(repo, 'docs/api');
const packages = ['protocol', 'client', 'server'];

/** The source file of one export: the `@nearby/source` condition (its `default` if nested). */
function sourceOf(target) {
  const source = target?.['@nearby/source'];
  if (typeof source === 'string') return source;
  if (source && typeof source.default === 'string') return source.default;
  return undefined;
}

/** [{ name: '@nearby/server/redis', file: '/…/packages/server/src/adapters/redis/index.ts' }] */
export function entryPoints() {
  const entries = [];
  for (const dir of packages) {
    const pkgDir = resolve(repo, 'packages', dir);
    const pkg = JSON.parse(readFileSync(resolve(pkgDir, 'package.json'), 'utf8'));
    for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
      if (subpath === './package.json') continue;
      const source = sourceOf(target);
      if (!source) throw new Error(`${pkg.name}: export ${subpath} has no @nearby/source condition`);
      entries.push({
        name: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.replace(/^\.\//, '')}`,
        file: resolve(pkgDir, source),
      });
    }
  }
  return entries;
}

const entries = entryPoints();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const app = await Application.bootstrapWithPlugins({
  entryPoints: entries.map((e) => e.file),
  entryPointStrategy: 'resolve',
  tsconfig: resolve(here, 'tsconfig.api.json'),
  plugin: ['typedoc-plugin-markdown'],
  out,
  // The index page: this introduction, then the list of entry points.
  readme: resolve(here, 'api-intro.md'),
  mergeReadme: true,
  name: 'API reference',
  outputFileStrategy: 'modules',
  entryFileName: 'index',
  hidePageHeader: true,
  hideBreadcrumbs: true,
  excludePrivate: true,
  excludeInternal: true,
  excludeExternals: true,
  disableSources: true,
  githubPages: false,
  gitRevision: 'main',
  sort: ['source-order'],
  sortEntryPoints: false,
  // `pnpm typecheck` checks the sources; here they are only read.
  skipErrorChecking: true,
  logLevel: process.env.DOCS_API_VERBOSE ? 'Verbose' : 'Warn',
  validation: { notExported: true, invalidLink: true, rewrittenLink: true },
  // Broken {@link}s and unexported types in public signatures are reported as warnings.
  treatWarningsAsErrors: false,
});

// Name each module after its import specifier, not its file path.
const byFile = new Map(entries.map((e) => [e.file, e.name]));
app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
  if (!reflection.kindOf(ReflectionKind.Module)) return;
  const symbol = context.getSymbolFromReflection(reflection);
  const file = symbol?.declarations?.[0]?.getSourceFile().fileName;
  const name = file && byFile.get(resolve(file));
  if (name) reflection.name = name;
});

const project = await app.convert();
if (!project) {
  console.error('api: TypeDoc could not convert the sources');
  process.exit(1);
}
app.validate(project);
await app.generateOutputs(project);

// The modules in export order, for the sidebar (config.mts reads this file).
const router = app.renderer.router;
const modules = entries.map((entry) => {
  const reflection = project.children?.find((c) => c.name === entry.name);
  if (!reflection) throw new Error(`api: no module for ${entry.name} (${relative(repo, entry.file)})`);
  const url = router ? router.getFullUrl(reflection) : `${entry.name}.md`;
  return { name: entry.name, link: `/api/${url.replace(/\.md$/, '')}` };
});
writeFileSync(resolve(out, 'modules.json'), JSON.stringify(modules, null, 2) + '\n');
const { warningCount, errorCount } = app.logger;
console.log(`api: ${modules.length} modules into ${relative(repo, out)}/ (${warningCount} warnings, ${errorCount} errors)`);
if (errorCount > 0) process.exit(1);
