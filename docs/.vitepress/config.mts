// The documentation site: the markdown guides in docs/ plus the API reference that
// api.mjs generates into docs/api/ from the packages' TSDoc.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type MarkdownIt from 'markdown-it';
import { defineConfig, type DefaultTheme } from 'vitepress';

const here = dirname(fileURLToPath(import.meta.url));
const docsDir = resolve(here, '..');
const repoDir = resolve(docsDir, '..');

/**
 * Heading ids as GitHub computes them, so an `#anchor` written for the markdown on GitHub
 * also works on the site: lower case, punctuation other than `-` and `_` dropped, each space
 * becomes `-` (no collapsing). Duplicates get `-1`, `-2`, … from markdown-it-anchor, as on
 * GitHub.
 */
export function githubSlug(text: string): string {
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/**
 * Where links to files outside docs/ (examples, benchmarks) point: the repository's file
 * browser. DOCS_SOURCE_URL overrides it, e.g. https://github.com/<owner>/<repo>/blob/main.
 */
function sourceUrl(): string {
  if (process.env.DOCS_SOURCE_URL) return process.env.DOCS_SOURCE_URL.replace(/\/+$/, '');
  const pkg = JSON.parse(readFileSync(resolve(repoDir, 'packages/client/package.json'), 'utf8'));
  const url = String(pkg.repository?.url ?? pkg.repository ?? '')
    .replace(/^git\+/, '')
    .replace(/\.git$/, '');
  return `${url}/blob/main`;
}

/** Rewrites relative links that leave docs/ to the repository; fails on a missing target. */
function outsideLinks(md: MarkdownIt): void {
  const source = sourceUrl();
  md.core.ruler.push('nearby-outside-links', (state) => {
    const file: string | undefined = state.env?.path;
    if (!file) return;
    for (const block of state.tokens) {
      for (const token of block.children ?? []) {
        if (token.type !== 'link_open') continue;
        const href = token.attrGet('href');
        if (!href || /^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#') || href.startsWith('/')) continue;
        const [path, hash] = href.split('#', 2) as [string, string | undefined];
        const target = resolve(dirname(file), decodeURI(path));
        const rel = relative(docsDir, target);
        if (!rel.startsWith('..')) continue;
        if (!existsSync(target)) {
          throw new Error(`${relative(repoDir, file)}: link to a missing file: ${href}`);
        }
        const repoPath = relative(repoDir, target).split('\\').join('/');
        const url = statSync(target).isDirectory()
          ? `${source.replace(/\/blob\//, '/tree/')}/${repoPath}`
          : `${source}/${repoPath}`;
        token.attrSet('href', hash ? `${url}#${hash}` : url);
        token.attrSet('target', '_blank');
        token.attrSet('rel', 'noreferrer');
      }
    }
  });
}

/** The API reference's sidebar, from the module list api.mjs writes next to the pages. */
function apiSidebar(): DefaultTheme.SidebarItem[] {
  const file = resolve(docsDir, 'api/modules.json');
  if (!existsSync(file)) return [{ text: 'Overview', link: '/api/' }];
  const modules: { name: string; link: string }[] = JSON.parse(readFileSync(file, 'utf8'));
  return [{ text: 'Overview', link: '/api/' }, ...modules.map((m) => ({ text: m.name, link: m.link }))];
}

/** Where the site is served: DOCS_BASE (e.g. `/nearby/`), default `/`. */
const base = `/${(process.env.DOCS_BASE ?? '/').replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');

const guide: DefaultTheme.SidebarItem[] = [
  {
    text: 'Guides',
    items: [
      { text: 'Overview', link: '/' },
      { text: 'Getting started', link: '/getting-started' },
      { text: 'Client', link: '/client' },
      { text: 'React Native', link: '/react-native' },
      { text: 'Server', link: '/server' },
      { text: 'Adapters', link: '/adapters' },
      { text: 'Deployment', link: '/deployment' },
      { text: 'Scaling out', link: '/scaling' },
    ],
  },
  {
    text: 'Reference',
    items: [
      { text: 'Protocol', link: '/protocol' },
      { text: 'Performance', link: '/performance' },
      { text: 'Monitoring', link: '/monitoring' },
      { text: 'History store', link: '/history' },
    ],
  },
  {
    text: 'Concepts',
    items: [{ text: 'Architecture', link: '/architecture' }],
  },
  {
    text: 'API reference',
    collapsed: true,
    items: apiSidebar(),
  },
];

export default defineConfig({
  title: 'Nearby',
  description: 'Realtime nearby friends: a TypeScript client and server SDK',
  base,
  // Links stay `.html`: any static file server can host the build.
  cleanUrls: false,
  lastUpdated: false,
  head: [['link', { rel: 'icon', href: `${base}favicon.ico` }]],
  // docs/README.md is the index on GitHub and the home page here.
  rewrites: { 'README.md': 'index.md' },
  srcExclude: ['**/node_modules/**'],
  markdown: {
    anchor: { slugify: githubSlug },
    config: (md) => outsideLinks(md),
  },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/getting-started' },
      { text: 'Protocol', link: '/protocol' },
      { text: 'API', link: '/api/' },
    ],
    sidebar: guide,
    outline: { level: [2, 3] },
    search: { provider: 'local' },
  },
});
