// Checks the built site (docs/.vitepress/dist, from `pnpm docs:build`) in headless Chromium:
// serves it on a free loopback port, opens every page and requires no console error, no page
// error, no failed or off-machine request, every image loaded, every internal link answering
// 200 and every `#anchor` naming an element id on its target page. Then opens the local
// search, types "radius" and requires a result. Prints a summary; exits 1 on any failure.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = fileURLToPath(new URL('.', import.meta.url));
const dist = resolve(here, 'dist');
const base = normalizeBase(process.env.DOCS_BASE ?? '/');
const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

function normalizeBase(b) {
  return `/${b.replace(/^\/+|\/+$/g, '')}/`.replace(/^\/\/$/, '/');
}

if (!existsSync(join(dist, 'index.html'))) {
  console.error(`check: ${relative(process.cwd(), dist)}/index.html is missing; run pnpm docs:build first`);
  process.exit(1);
}
if (!existsSync(executablePath)) {
  console.error(`check: no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`);
  process.exit(1);
}

const types = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.woff2': 'font/woff2',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
};

/** The built file a URL path names, or undefined: `/base/x.html`, `/base/dir/` → index.html. */
function fileFor(pathname) {
  if (!pathname.startsWith(base)) return undefined;
  let rel;
  try {
    rel = decodeURIComponent(pathname.slice(base.length));
  } catch {
    return undefined;
  }
  let file = resolve(dist, rel);
  if (file !== dist && !file.startsWith(dist + sep)) return undefined;
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
  return existsSync(file) && statSync(file).isFile() ? file : undefined;
}

const server = createServer((req, res) => {
  const file = fileFor(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (!file) {
    res.writeHead(404, { 'content-type': types['.html'] });
    res.end(existsSync(join(dist, '404.html')) ? readFileSync(join(dist, '404.html')) : 'not found');
    return;
  }
  res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
  res.end(readFileSync(file));
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

function htmlFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'assets' ? [] : htmlFiles(path);
    return entry.name.endsWith('.html') && entry.name !== '404.html' ? [path] : [];
  });
}
const pages = htmlFiles(dist)
  .map((file) => base + relative(dist, file).split(sep).map(encodeURIComponent).join('/'))
  .sort();

/** Element ids of a built page, read from its HTML as served (cached per file). */
const idsCache = new Map();
function idsOf(file) {
  let ids = idsCache.get(file);
  if (!ids) {
    ids = new Set();
    for (const m of readFileSync(file, 'utf8').matchAll(/\sid="([^"]*)"/g)) ids.add(decodeEntities(m[1]));
    idsCache.set(file, ids);
  }
  return ids;
}
function decodeEntities(s) {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

const failures = [];
const checkedLinks = new Set();
const checkedAnchors = new Set();
let external = 0;
let linkCount = 0;
const externalLinks = new Set();

const browser = await chromium.launch({
  executablePath,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const context = await browser.newContext();
  // Nothing may leave the machine: a font, script or image from another host is a failure.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin === origin || url.protocol === 'data:' || url.protocol === 'blob:') return route.continue();
    failures.push(`request to another host: ${url.href}`);
    return route.abort();
  });

  for (const path of pages) {
    const page = await context.newPage();
    const problems = [];
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
    });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('requestfailed', (req) => {
      if (new URL(req.url()).origin === origin) problems.push(`request failed: ${req.url()}`);
    });
    page.on('response', (res) => {
      if (res.status() >= 400) problems.push(`HTTP ${res.status()}: ${res.url()}`);
    });

    const response = await page.goto(origin + path, { waitUntil: 'load' });
    if (response?.status() !== 200) problems.push(`HTTP ${response?.status()} for the page itself`);
    // Hydration done: the theme's app root is rendered and interactive.
    await page.waitForFunction(() => document.querySelector('#app .Layout') !== null);

    const { links, images } = await page.evaluate(() => ({
      links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
      images: [...document.querySelectorAll('img')].map((img) => ({
        src: img.currentSrc || img.src,
        ok: img.complete && img.naturalWidth > 0,
      })),
    }));
    for (const img of images) if (!img.ok) problems.push(`image did not load: ${img.src}`);

    for (const href of links) {
      const url = new URL(href);
      if (url.origin !== origin) {
        if (/^https?:$/.test(url.protocol)) externalLinks.add(url.href);
        continue;
      }
      const key = url.pathname + url.hash;
      linkCount++;
      checkedLinks.add(url.pathname);
      const file = fileFor(url.pathname);
      if (!file) {
        problems.push(`broken link: ${url.pathname}${url.hash}`);
        continue;
      }
      if (url.hash && url.hash !== '#') {
        checkedAnchors.add(key);
        const id = decodeURIComponent(url.hash.slice(1));
        if (!idsOf(file).has(id)) problems.push(`missing anchor: ${url.pathname}${url.hash}`);
      }
    }
    await page.close();
    for (const p of new Set(problems)) failures.push(`${path}: ${p}`);
  }
  external = externalLinks.size;

  // The local search finds something for "radius", and its first result is a page that exists.
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}`);
  });
  await page.goto(origin + base, { waitUntil: 'load' });
  await page.waitForFunction(() => document.querySelector('#app .Layout') !== null);
  await page.locator('#local-search .DocSearch-Button').first().click();
  const input = page.locator('.search-input');
  await input.waitFor({ state: 'visible', timeout: 15_000 });
  await input.fill('radius');
  let results = 0;
  try {
    await page.locator('ul.results li a.result').first().waitFor({ state: 'visible', timeout: 15_000 });
    results = await page.locator('ul.results li a.result').count();
    const first = await page.locator('ul.results li a.result').first().getAttribute('href');
    const target = new URL(first ?? '', origin + base);
    if (!fileFor(target.pathname)) problems.push(`first search result is not a page: ${first}`);
  } catch {
    problems.push('search for "radius" found nothing');
  }
  for (const p of problems) failures.push(`search: ${p}`);

  console.log(`pages visited:          ${pages.length}`);
  console.log(`internal links checked: ${linkCount} (to ${checkedLinks.size} distinct pages)`);
  console.log(`anchors checked:        ${checkedAnchors.size} distinct page#anchor targets`);
  console.log(`external links seen:    ${external} (not followed)`);
  console.log(`search "radius":        ${results} result(s)`);
  console.log(`failures:               ${failures.length}`);
  for (const f of failures) console.log(`  ✗ ${f}`);
} finally {
  await browser.close();
  server.close();
}
process.exit(failures.length > 0 ? 1 : 0);
