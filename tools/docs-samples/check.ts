// Typechecks every ```ts and ```tsx block of the documentation: docs/*.md, README.md,
// packages/*/README.md, examples/*/README.md and bench/README.md. Each block becomes one module
// in .generated/ (not committed) and all of them are compiled together against the workspace
// packages' TypeScript source (the `@nearby/source` condition). Names a sample takes from the
// app around it (verifySession, db, render, …) are declared in placeholders.d.ts; modules the
// workspace does not install (React Native and its libraries) in modules.d.ts; modules a sample
// imports relatively (`./auth`) in app/.
//
// A block that is deliberately not a program (a fragment, a shape listing) is marked on its
// fence: ```ts no-check. Errors are reported at the markdown file and line they come from.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '../..');
const out = join(here, '.generated');

interface Block {
  /** Markdown file, relative to the repository. */
  source: string;
  /** 1-based line of the block's first code line in the markdown file. */
  line: number;
  lang: 'ts' | 'tsx';
  code: string;
  noCheck: boolean;
}

function markdownFiles(): string[] {
  const files: string[] = [];
  const mdIn = (dir: string) =>
    existsSync(join(repo, dir))
      ? readdirSync(join(repo, dir))
          .filter((f) => f.endsWith('.md'))
          .sort()
          .map((f) => join(dir, f))
      : [];
  files.push(...mdIn('docs'), 'README.md');
  for (const group of ['packages', 'examples']) {
    for (const name of readdirSync(join(repo, group)).sort()) {
      const readme = join(group, name, 'README.md');
      if (existsSync(join(repo, readme))) files.push(readme);
    }
  }
  if (existsSync(join(repo, 'bench/README.md'))) files.push('bench/README.md');
  return files;
}

/** Fenced blocks whose info string starts with ts/tsx/typescript (``` or ~~~, any indent). */
function blocksOf(source: string): Block[] {
  const lines = readFileSync(join(repo, source), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*([^\s`]*)(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, lang, rest] = open as unknown as [string, string, string, string, string];
    let end = i + 1;
    while (end < lines.length && !new RegExp(`^\\s*${fence[0]}{${fence.length},}\\s*$`).test(lines[end]!)) end++;
    const kind = lang === 'typescript' ? 'ts' : lang;
    if (kind === 'ts' || kind === 'tsx') {
      blocks.push({
        source,
        line: i + 2,
        lang: kind,
        code: lines
          .slice(i + 1, end)
          .map((l) => (l.startsWith(indent) ? l.slice(indent.length) : l))
          .join('\n'),
        noCheck: /(^|\s)no-check(\s|$)/.test(rest),
      });
    }
    i = end;
  }
  return blocks;
}

const files = markdownFiles();
const blocks = files.flatMap(blocksOf);
const checked = blocks.filter((b) => !b.noCheck);

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const origin = new Map<string, Block>();
const counters = new Map<string, number>();
for (const block of checked) {
  const stem = block.source.replace(/\.md$/, '').replace(/[^A-Za-z0-9]+/g, '-');
  const n = (counters.get(stem) ?? 0) + 1;
  counters.set(stem, n);
  const file = join(out, `${stem}-${String(n).padStart(2, '0')}.${block.lang}`);
  // `export {}` keeps each block a module of its own: names do not clash across blocks, and
  // top-level await is allowed.
  writeFileSync(file, `${block.code}\nexport {};\n`);
  origin.set(resolve(file), block);
}

// Modules of the app a sample imports relatively (`./auth`), next to the samples.
for (const name of readdirSync(join(here, 'app'))) {
  writeFileSync(join(out, name), readFileSync(join(here, 'app', name)));
}

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts', 'lib.dom.iterable.d.ts'],
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  customConditions: ['@nearby/source'],
  jsx: ts.JsxEmit.ReactJSX,
  strict: true,
  noUncheckedIndexedAccess: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
  esModuleInterop: true,
  skipLibCheck: true,
  resolveJsonModule: true,
  noEmit: true,
  types: ['node'],
  typeRoots: [join(here, 'node_modules/@types')],
};
const roots = [...origin.keys(), join(here, 'placeholders.d.ts'), join(here, 'modules.d.ts')];
const program = ts.createProgram(roots, options);
const diagnostics = ts.getPreEmitDiagnostics(program);

let errors = 0;
const failedBlocks = new Set<Block>();
for (const d of diagnostics) {
  const message = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
  const block = d.file ? origin.get(resolve(d.file.fileName)) : undefined;
  if (d.file && d.start !== undefined) {
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    const where = block
      ? `${block.source}:${block.line + line}:${character + 1}`
      : `${relative(repo, d.file.fileName)}:${line + 1}:${character + 1}`;
    console.log(`${where} TS${d.code}: ${message}`);
    if (block) failedBlocks.add(block);
  } else {
    console.log(`TS${d.code}: ${message}`);
  }
  errors++;
}

console.log(
  `docs samples: ${blocks.length} TypeScript blocks in ${files.length} markdown files; ` +
    `${checked.length} typechecked, ${blocks.length - checked.length} marked no-check; ` +
    `${errors} error(s) in ${failedBlocks.size} block(s)`,
);
process.exit(errors > 0 ? 1 : 0);
