#!/usr/bin/env node
// Browser test of the example website (examples/website) against a Verbund server that
// serves the demo content (`verbund serve --demo`, fresh data dir).
//
// It drives Debian's Chromium through playwright-core (no browser download), opens every
// page of the site, checks what is shown against core/demo/*.ndjson (and the pictures
// against the `assets` the delivery API describes), saves a full-page
// screenshot of each page, and exits 0 when everything passed, 1 otherwise (each failure is
// printed with the page it happened on).
//
// Environment:
//   SITE_URL        where the site is served, e.g. http://127.0.0.1:8080/ (API on the same
//                   origin) or http://127.0.0.1:18091/?api=http://127.0.0.1:18090
//   SCREENSHOT_DIR  where the PNGs go (default: tests/browser/screenshots)
//   CHROMIUM        the Chromium binary (default: /usr/bin/chromium)
//   PUBLISH_CMD     optional shell command that publishes a new story and prints its title
//                   on the last line of stdout; the test reloads the stories page (nothing is
//                   restarted) and expects the new title
//   DRAFT_TITLE     optional title of an unpublished story that must never be shown
//   VERBUND_TOKEN   optional editor token: then the test also changes a German original
//                   that has an English translation (through the management API of
//                   VERBUND_URL, default: the site's API) and expects the English page to say
//                   that the original changed since it was translated
//   TIMEOUT_MS      how long to wait for a page (default 15000)
//
// The site is bilingual: German (the routes without prefix, and #/de/…) and English (#/en/…;
// an entry without English translation is shown in German, marked as such). The English
// pages are checked against the demo's English translations (locale "en", translation_of).

import { chromium } from 'playwright-core';
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { renderMarkdown } from '../../examples/website/markdown.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');
const SITE_URL = process.env.SITE_URL || 'http://127.0.0.1:8080/';
const SCREENSHOT_DIR = path.resolve(process.env.SCREENSHOT_DIR || path.join(here, 'screenshots'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const PUBLISH_CMD = process.env.PUBLISH_CMD || '';
const DRAFT_TITLE = process.env.DRAFT_TITLE || '';
const VERBUND_TOKEN = process.env.VERBUND_TOKEN || '';
const TIMEOUT = Number(process.env.TIMEOUT_MS || 15000);
const DEAD_API = 'http://127.0.0.1:9';

// ---------------------------------------------------------------------------------------
// Demo data: what the pages must show
// ---------------------------------------------------------------------------------------

function readDemo(type) {
  const file = path.join(repo, 'core', 'demo', `${type}.ndjson`);
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l));
}

const isPublic = (e) => e.state === 'published' && (e.locale || 'de') === 'de';
const demo = {
  member: readDemo('member'),
  story: readDemo('story'),
  event: readDemo('event'),
  cooperation: readDemo('cooperation'),
};
const members = demo.member.filter(isPublic);
const memberById = new Map(members.map((m) => [m.id, m]));
const stories = demo.story.filter(isPublic).sort((a, b) => Date.parse(b.published_at) - Date.parse(a.published_at));
const draftStories = demo.story.filter((s) => s.state !== 'published');
const otherLocaleStories = demo.story.filter((s) => s.state === 'published' && (s.locale || 'de') !== 'de');
const cooperations = demo.cooperation.filter(isPublic);
const allEvents = demo.event.filter(isPublic);
const draftEvents = demo.event.filter((e) => e.state !== 'published');
const startedAt = Date.now();
const upcoming = allEvents
  .filter((e) => Date.parse(e.ends_at) >= startedAt)
  .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
const pastEvents = allEvents.filter((e) => Date.parse(e.ends_at) < startedAt);
const byGerman = (a, b) => a.localeCompare(b, 'de', { sensitivity: 'base' });
const byEnglish = (a, b) => a.localeCompare(b, 'en', { sensitivity: 'base' });

// The English site: an entry's English translation where there is one, else the German original.
const english = {
  member: demo.member.filter((e) => e.state === 'published' && e.locale === 'en'),
  story: demo.story.filter((e) => e.state === 'published' && e.locale === 'en'),
  event: demo.event.filter((e) => e.state === 'published' && e.locale === 'en'),
};
/** The version of the German entry `e` that the English site shows. */
const inEnglish = (type, e) => english[type].find((t) => t.translation_of === e.id) || e;
const ENGLISH_WEEKDAYS = 'Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday';
const ENGLISH_MONTHS = 'January|February|March|April|May|June|July|August|September|October|November|December';
const ENGLISH_EVENT_TIME = new RegExp(`^(${ENGLISH_WEEKDAYS}), \\d{1,2} (${ENGLISH_MONTHS}) \\d{4}, \\d{2}:\\d{2}`);

/** "Thursday, 29 October 2026, 15:00": the start as the English site must show it. */
function englishStart(ev) {
  const d = new Date(ev.starts_at);
  const date = new Intl.DateTimeFormat('en-GB', { timeZone: ev.timezone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' }).format(d);
  const time = new Intl.DateTimeFormat('en-GB', { timeZone: ev.timezone, hour: '2-digit', minute: '2-digit' }).format(d);
  return `${date}, ${time}`;
}
const fold = (t) => String(t).toLocaleLowerCase('de-DE').replace(/ß/g, 'ss').normalize('NFD').replace(/[\u0300-\u036f]/g, '');

const TOPIC_LABELS = {
  'it-sicherheit': 'IT-Sicherheit',
  'kuenstliche-intelligenz': 'Künstliche Intelligenz',
  'industrie-4-0': 'Industrie 4.0',
  'netzwerke-infrastruktur': 'Netzwerke & Infrastruktur',
  'software-entwicklung': 'Software-Entwicklung',
  fachkraefte: 'Fachkräfte',
};
const STORY_KINDS = { success_story: 'Erfolgsgeschichte', best_practice: 'Best Practice', interview: 'Interview', news: 'Meldung' };
const WEEKDAYS = 'Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag';
const MONTHS = 'Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember';
const GERMAN_EVENT_TIME = new RegExp(`^(${WEEKDAYS}), \\d{1,2}\\. (${MONTHS}) \\d{4}, \\d{2}:\\d{2} Uhr`);
const ULID = /\b[0-7][0-9A-HJKMNP-TV-Z]{25}\b/;

/** "Donnerstag, 29. Oktober 2026, 15:00 Uhr": the start as the site must show it. */
function germanStart(ev) {
  const d = new Date(ev.starts_at);
  const date = new Intl.DateTimeFormat('de-DE', {
    timeZone: ev.timezone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d);
  const time = new Intl.DateTimeFormat('de-DE', { timeZone: ev.timezone, hour: '2-digit', minute: '2-digit' }).format(d);
  return `${date}, ${time} Uhr`;
}

function germanDay(date) {
  const [y, m, d] = date.split('-').map(Number);
  return new Intl.DateTimeFormat('de-DE', { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' }).format(new Date(Date.UTC(y, m - 1, d)));
}

/** Every personal-data value of the demo members (must never be shown). */
const personalData = members.flatMap((m) => [m.contact_name, m.contact_email, m.contact_phone]).filter(Boolean);

// ---------------------------------------------------------------------------------------
// Tiny test harness
// ---------------------------------------------------------------------------------------

class Failure extends Error {}
const failures = [];
let passed = 0;
let currentPage = null;
let defaultPage = null;

function check(cond, message) {
  if (!cond) throw new Failure(message);
}

function equal(actual, expected, message) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Failure(`${message}\n      expected: ${e}\n      actual:   ${a}`);
}

async function step(name, fn) {
  const t0 = Date.now();
  currentPage = defaultPage;
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (err) {
    const where = currentPage && !currentPage.isClosed() ? currentPage.url() : '(no page)';
    failures.push({ name, err, where });
    console.log(`FAIL ${name}\n      at ${where}\n      ${err instanceof Failure ? err.message : err.stack || err}`);
    if (currentPage && !currentPage.isClosed()) {
      const file = path.join(SCREENSHOT_DIR, `FAILED-${name.replace(/[^a-z0-9äöüß]+/gi, '-').toLowerCase()}.png`);
      await currentPage.screenshot({ path: file, fullPage: true }).catch(() => {});
      console.log(`      screenshot: ${file}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Page helpers
// ---------------------------------------------------------------------------------------

function siteUrl(hash, { api, noApi } = {}) {
  const u = new URL(SITE_URL);
  if (api) u.searchParams.set('api', api);
  if (noApi) u.searchParams.delete('api');
  u.hash = hash;
  return u.toString();
}

/** Opens a route and waits until the app has rendered it (or shown its error box). */
async function go(page, hash, opts = {}) {
  const target = siteUrl(hash, opts);
  // Mark the current view as stale so that a same-document (hash) navigation is not
  // mistaken for the previous page being ready.
  await page.evaluate(() => {
    const main = document.getElementById('inhalt');
    if (main) main.dataset.state = 'stale';
  }).catch(() => {});
  if (page.url() === target) await page.reload({ waitUntil: 'domcontentloaded' });
  else await page.goto(target, { waitUntil: 'domcontentloaded' });
  return waitRendered(page, opts.expectError);
}

/** Clicks a link to another route (e.g. the language switch) and waits until the app has rendered it. */
async function clickAndWait(page, selector) {
  await page.evaluate(() => {
    const main = document.getElementById('inhalt');
    if (main) main.dataset.state = 'stale';
  });
  await page.click(selector);
  return waitRendered(page);
}

async function waitRendered(page, expectError = false) {
  await page.waitForSelector('#inhalt[data-state="ready"], #inhalt[data-state="error"]', { timeout: TIMEOUT });
  const state = await page.getAttribute('#inhalt', 'data-state');
  if (!expectError) await assertNoError(page);
  return state;
}

async function assertNoError(page) {
  const boxes = page.locator('[data-testid="error"]');
  if ((await boxes.count()) > 0) {
    throw new Failure(`the page shows the error box: ${(await boxes.first().innerText()).replace(/\s+/g, ' ')}`);
  }
}

/** Waits until a list that updates in place (data-state on its container) is ready. */
async function waitList(page, testid) {
  await page.waitForFunction(
    (id) => {
      const el = document.querySelector(`[data-testid="${id}"]`);
      return el && (el.dataset.state === 'ready' || el.dataset.state === 'error');
    },
    testid,
    { timeout: TIMEOUT },
  );
  await assertNoError(page);
}

const texts = (locator) => locator.evaluateAll((els) => els.map((e) => e.textContent.replace(/\s+/g, ' ').trim()));

async function mainText(page) {
  return page.locator('#inhalt').innerText();
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true, animations: 'disabled' });
}

async function assertNoDrafts(page) {
  const text = await page.locator('body').innerText();
  for (const s of draftStories) check(!text.includes(s.title), `the draft story "${s.title}" is shown`);
  for (const e of draftEvents) check(!text.includes(e.title), `the draft event "${e.title}" is shown`);
  if (DRAFT_TITLE) check(!text.includes(DRAFT_TITLE), `the unpublished story DRAFT_TITLE "${DRAFT_TITLE}" is shown`);
  for (const p of personalData) check(!text.includes(p), `personal data "${p}" is shown`);
}

// ---------------------------------------------------------------------------------------
// Images: served by the API under /assets/…, described in the `assets` of its answers
// ---------------------------------------------------------------------------------------

const API_BASE = (new URL(SITE_URL).searchParams.get('api') || new URL(SITE_URL).origin).replace(/\/+$/, '');
let fromApi = null;

/**
 * What the delivery API says about the published members, stories and events: their asset
 * ids (logo, image, photos) by name/title, and every asset ({width, alt, credit, …}) by id.
 * The demo ndjson files cannot tell: the server draws the pictures when it loads the demo.
 */
async function apiPictures() {
  if (fromApi) return fromApi;
  const entries = { member: new Map(), story: new Map(), event: new Map() };
  const assets = new Map();
  for (const [type, key, field] of [
    ['member', 'name', 'logo'],
    ['story', 'title', 'image'],
    ['event', 'title', 'photos'],
  ]) {
    let cursor = null;
    do {
      const u = new URL(`${API_BASE}/api/v1/content/${type}`);
      u.searchParams.set('limit', '100');
      if (cursor) u.searchParams.set('cursor', cursor);
      const res = await fetch(u, { headers: { Accept: 'application/json' } });
      if (!res.ok) throw new Failure(`GET ${u}: HTTP ${res.status}`);
      const body = await res.json();
      for (const e of body.data) entries[type].set(e[key], [].concat(e[field] || []));
      for (const [id, a] of Object.entries(body.assets || {})) assets.set(id, a);
      cursor = body.meta && body.meta.next_cursor;
    } while (cursor);
  }
  fromApi = { entries, assets };
  return fromApi;
}

/** Every hit of a search through the API (following the cursor). */
async function searchApi(params) {
  const hits = [];
  let cursor = null;
  let meta = null;
  do {
    const u = new URL(`${API_BASE}/api/v1/search`);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    u.searchParams.set('limit', '50');
    if (cursor) u.searchParams.set('cursor', cursor);
    const res = await fetch(u, { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Failure(`GET ${u}: HTTP ${res.status}`);
    const body = await res.json();
    hits.push(...body.data);
    meta = meta || body.meta;
    cursor = body.meta.next_cursor;
  } while (cursor);
  return { hits, meta };
}

/** The asset ids the API gives the entries of `type` named (member) or titled `keys`, in order. */
async function pictureIds(type, keys, { first = false } = {}) {
  const { entries } = await apiPictures();
  return keys.flatMap((k) => {
    const ids = entries[type].get(k);
    if (!ids) throw new Failure(`the API has no published ${type} "${k}"`);
    return first ? ids.slice(0, 1) : ids;
  });
}

/**
 * Checks the images `selector` matches: exactly the assets `ids` (in order), each loaded
 * from the API's /assets/ (complete, naturalWidth > 0), with the asset's alt text in German
 * (never empty: no demo picture is decorative), and sharp: the pixels of the file the
 * browser picked from srcset (probed with a plain Image, as `naturalWidth` of a srcset
 * image is density-corrected to `sizes`) cover the width it is shown at times the
 * devicePixelRatio, or the original's full width, with 10 % slack; and never shown wider
 * than the original (an upscaled blur). With object-fit: cover the shown width is that of
 * the whole picture, not of the cropped box.
 */
async function checkImages(page, selector, ids, what) {
  const { assets } = await apiPictures();
  const imgs = page.locator(selector);
  const n = await imgs.count();
  equal(n, ids.length, `number of ${what} (the site removes an image that fails to load)`);
  check(n > 0, `no ${what} expected: the API gives no pictures`);
  // loading="lazy": bring every image into view once so that it loads.
  for (let i = 0; i < n; i++) await imgs.nth(i).scrollIntoViewIfNeeded();
  await page
    .waitForFunction((sel) => [...document.querySelectorAll(sel)].every((img) => img.complete), selector, { timeout: TIMEOUT })
    .catch(() => {});
  const shown = await imgs.evaluateAll(async (els) =>
    Promise.all(
      els.map(async (img) => {
        const fit = getComputedStyle(img).objectFit;
        const aspect = img.naturalWidth && img.naturalHeight ? img.naturalWidth / img.naturalHeight : 0;
        const shownWidth = fit === 'cover' && aspect ? Math.max(img.clientWidth, img.clientHeight * aspect) : img.clientWidth;
        let pixels = 0;
        if (img.currentSrc) {
          const probe = new Image();
          probe.src = img.currentSrc;
          pixels = await probe.decode().then(() => probe.naturalWidth, () => 0);
        }
        return {
          alt: img.getAttribute('alt'),
          complete: img.complete,
          naturalWidth: img.naturalWidth,
          currentSrc: img.currentSrc,
          clientWidth: img.clientWidth,
          shownWidth,
          pixels,
          dpr: window.devicePixelRatio,
        };
      }),
    ),
  );
  const apiOrigin = new URL(API_BASE).origin;
  shown.forEach((img, i) => {
    const asset = assets.get(ids[i]);
    check(asset, `asset ${ids[i]} is not in the API's answers`);
    const which = `${what} #${i + 1} (${asset.filename})`;
    check(img.complete && img.naturalWidth > 0, `${which} has not loaded: ${img.currentSrc || '(no currentSrc)'}`);
    check(img.currentSrc, `${which}: no currentSrc`);
    const src = new URL(img.currentSrc);
    check(src.origin === apiOrigin && src.pathname.startsWith(`/assets/${asset.id}/`), `${which} is not asset ${asset.id} from the API: ${img.currentSrc}`);
    check(typeof img.alt === 'string' && img.alt.trim() !== '', `${which} has no alt text`);
    equal(img.alt, asset.alt.de, `alt text of ${which}`);
    const want = Math.min(img.shownWidth * img.dpr, asset.width) * 0.9;
    check(
      img.pixels >= want,
      `${which} is blurred: ${img.pixels} px wide (${img.currentSrc}) but shown ${Math.round(img.shownWidth)} CSS px wide at devicePixelRatio ${img.dpr} (original ${asset.width} px)`,
    );
    check(img.shownWidth <= asset.width + 1, `${which} is upscaled: shown ${Math.round(img.shownWidth)} CSS px wide, the original has ${asset.width} px`);
  });
}

/** The credit lines under images: "Foto: <credit> · Lizenz: <license>" of each asset. */
async function checkCredits(page, selector, ids, what) {
  const { assets } = await apiPictures();
  const got = await texts(page.locator(selector));
  equal(
    got,
    ids.map((id) => {
      const a = assets.get(id);
      return [a.credit && `Foto: ${a.credit}`, a.license && `Lizenz: ${a.license}`].filter(Boolean).join(' · ');
    }),
    `credit lines of ${what}`,
  );
}

// ---------------------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------------------

async function main() {
  fs.mkdirSync(SCREENSHOT_DIR, { recursive: true });
  for (const f of fs.readdirSync(SCREENSHOT_DIR)) if (f.endsWith('.png')) fs.rmSync(path.join(SCREENSHOT_DIR, f));
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`Chromium not found at ${CHROMIUM}: install it (apt-get install chromium) or set CHROMIUM.`);
    process.exit(2);
  }
  const probe = new Intl.DateTimeFormat('de-DE', { weekday: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(2026, 9, 29)));
  if (probe !== 'Donnerstag') {
    console.error(`Node has no German locale data (got ${probe}); use a Node build with full ICU.`);
    process.exit(2);
  }

  console.log(`site: ${SITE_URL}\nscreenshots: ${SCREENSHOT_DIR}\nchromium: ${CHROMIUM}\n`);

  // The renderer itself, without a browser: nothing from the content may become markup.
  await step('Markdown-Renderer entschärft HTML und unsichere Links', async () => {
    const html = renderMarkdown(
      '## Titel\n\n<script>alert(1)</script> <img src=x onerror=alert(1)> **fett** [ok](https://ok.example/?a=1&b="2") ' +
        '[böse](javascript:alert(1)) [auch böse](data:text/html,x) `<b>`\n\n> Zitat\n\n1. eins\n2. zwei',
    );
    check(html.includes('<h2>Titel</h2>'), `no h2 in ${html}`);
    // Every tag in the output is one the renderer writes, with only its own attributes.
    const allowed = new Set(['h2', 'h3', 'h4', 'p', 'ul', 'ol', 'li', 'strong', 'em', 'code', 'pre', 'a', 'blockquote', 'hr']);
    for (const [, name, attrs] of html.matchAll(/<\/?([a-zA-Z0-9]+)([^>]*)>/g)) {
      check(allowed.has(name.toLowerCase()), `unexpected tag <${name}> in ${html}`);
      for (const [, attr, value] of attrs.matchAll(/\s([a-zA-Z-]+)(?:="([^"]*)")?/g)) {
        check(['href', 'rel', 'target', 'start'].includes(attr), `unexpected attribute ${attr} in ${html}`);
        if (attr === 'href') check(/^https?:\/\//.test(value), `unsafe link ${value}`);
      }
    }
    check(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), `script tag not escaped: ${html}`);
    check(html.includes('<strong>fett</strong>'), `bold not rendered: ${html}`);
    check(html.includes('<a href="https://ok.example/?a=1&amp;b=&quot;2&quot;"'), `https link not rendered safely: ${html}`);
    check(html.includes('<code>&lt;b&gt;</code>'), `code span not escaped: ${html}`);
    check(html.includes('<blockquote>') && html.includes('<ol><li>eins</li><li>zwei</li></ol>'), `blockquote/list missing: ${html}`);
  });

  const siteOrigin = new URL(SITE_URL).origin;
  const apiParam = new URL(SITE_URL).searchParams.get('api');
  const allowedOrigins = new Set([siteOrigin, apiParam ? new URL(apiParam).origin : siteOrigin]);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const blocked = [];
  const pageErrors = [];
  const newContext = async (viewport = { width: 1280, height: 900 }, deviceScaleFactor = 1) => {
    const context = await browser.newContext({ viewport, deviceScaleFactor, locale: 'de-DE', timezoneId: 'Europe/Berlin' });
    // No request may leave for the internet: only the site and the API are reachable. Images
    // (logos, story images, event photos) come from the API's /assets/, so nothing is blocked.
    await context.route('**/*', (route) => {
      const req = route.request();
      const u = new URL(req.url());
      if (u.protocol === 'data:' || allowedOrigins.has(u.origin) || u.origin === DEAD_API) return route.continue();
      blocked.push({ url: req.url(), type: req.resourceType() });
      return route.abort('blockedbyclient');
    });
    return context;
  };
  const watch = (page) => {
    page.on('pageerror', (err) => pageErrors.push(`${page.url()}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/Failed to load resource|ERR_BLOCKED_BY_CLIENT|ERR_CONNECTION_REFUSED/.test(msg.text())) {
        pageErrors.push(`${page.url()}: console.error: ${msg.text()}`);
      }
    });
    currentPage = page;
    return page;
  };

  const context = await newContext();
  const page = watch(await context.newPage());
  page.setDefaultTimeout(TIMEOUT);
  defaultPage = page;

  // ---- Start ----
  await step('Startseite: Einleitung, neueste 3 Geschichten, nächste Veranstaltungen', async () => {
    await go(page, '#/');
    const header = await page.locator('header.site-header').innerText();
    check(header.includes('Cluster IT Mitteldeutschland') && header.includes('Mitgliederplattform'), `header: ${header}`);
    equal(await texts(page.locator('nav a')), ['Start', 'Mitglieder', 'Geschichten', 'Veranstaltungen', 'Kooperationen', 'Suche'], 'navigation');
    const footer = await page.locator('footer').innerText();
    check(/Impressum/.test(footer) && /Datenschutz/.test(footer), `footer without Impressum/Datenschutz: ${footer}`);
    check((await page.locator('#inhalt h1').count()) === 1, 'start page has no (or more than one) h1');
    const statsText = await page.locator('[data-testid="stats"]').innerText();
    check(statsText.includes(`${members.length} Mitglieder`), `stats do not show ${members.length} members: ${statsText}`);
    equal(
      await texts(page.locator('[data-testid="home-stories"] [data-testid="story-title"]')),
      stories.slice(0, 3).map((s) => s.title),
      'newest 3 stories on the start page',
    );
    const evTitles = await texts(page.locator('[data-testid="home-events"] [data-testid="event-title"]'));
    equal(evTitles, upcoming.slice(0, 3).map((e) => e.title), 'next 3 events on the start page');
    for (const t of await texts(page.locator('[data-testid="home-events"] [data-testid="event-time"]'))) {
      check(GERMAN_EVENT_TIME.test(t), `event time not in German format: "${t}"`);
    }
    await checkImages(
      page,
      '[data-testid="home-stories"] [data-testid="story-card"] img',
      await pictureIds('story', stories.slice(0, 3).map((s) => s.title)),
      'story images on the start page',
    );
    await assertNoDrafts(page);
    await shot(page, '01-start');
  });

  // ---- Members ----
  const thuringian = members.filter((m) => m.state_region === 'Thüringen');
  const narrowTopic =
    ['software-entwicklung', ...Object.keys(TOPIC_LABELS)].find((t) => {
      const n = thuringian.filter((m) => m.services.includes(t)).length;
      return n > 0 && n < thuringian.length;
    }) || 'software-entwicklung';
  const thuringianWithTopic = thuringian.filter((m) => m.services.includes(narrowTopic));

  await step('Mitglieder: Verzeichnis mit allen veröffentlichten Mitgliedern', async () => {
    await go(page, '#/mitglieder');
    await waitList(page, 'member-results');
    const names = await texts(page.locator('[data-testid="member-card"] [data-testid="member-name"]'));
    check(names.length >= 8, `only ${names.length} member cards`);
    equal(names, members.map((m) => m.name).sort(byGerman), 'member names (sorted by name)');
    check(names.some((n) => /[äöüß]/i.test(n)), 'no German names with umlauts shown');
    const kompetenzOptions = await texts(page.locator('[data-testid="filter-kompetenz"] option'));
    for (const [slug, text] of Object.entries(TOPIC_LABELS)) {
      if (members.some((m) => m.services.includes(slug))) {
        check(kompetenzOptions.some((o) => o.startsWith(text)), `competence "${text}" (${slug}) missing in the filter: ${kompetenzOptions.join(' | ')}`);
      }
      check(!kompetenzOptions.some((o) => o.startsWith(slug)), `raw slug ${slug} shown as filter option`);
    }
    const chipsText = await texts(page.locator('[data-testid="member-card"] .chip'));
    check(chipsText.includes('IT-Sicherheit') && !chipsText.includes('it-sicherheit'), `competences not shown with German labels: ${chipsText.slice(0, 8)}`);
    // Every member's logo (the API's `assets`), in the order of the cards.
    await checkImages(page, '[data-testid="member-card"] img', await pictureIds('member', names), 'member logos in the directory');
    await page.evaluate(() => window.scrollTo(0, 0));
    await assertNoDrafts(page);
    await shot(page, '02-mitglieder');
  });

  await step('Mitglieder: Filter Bundesland Thüringen', async () => {
    const before = await page.locator('[data-testid="member-card"]').count();
    await page.selectOption('[data-testid="filter-land"]', 'Thüringen');
    await waitList(page, 'member-results');
    const places = await texts(page.locator('[data-testid="member-card"] [data-testid="member-place"]'));
    equal(places.length, thuringian.length, 'number of Thuringian members');
    check(places.length < before, `the filter did not narrow the list (${before} → ${places.length})`);
    for (const p of places) check(p.includes('Thüringen'), `a non-Thuringian member is shown: ${p}`);
    check(decodeURIComponent(new URL(page.url()).hash).includes('land=Thüringen'), `filter not in the URL: ${page.url()}`);
    await shot(page, '03-mitglieder-thueringen');
  });

  await step(`Mitglieder: Filter Kompetenz (${narrowTopic}) grenzt weiter ein`, async () => {
    await page.selectOption('[data-testid="filter-kompetenz"]', narrowTopic);
    await waitList(page, 'member-results');
    const names = await texts(page.locator('[data-testid="member-card"] [data-testid="member-name"]'));
    equal(names, thuringianWithTopic.map((m) => m.name).sort(byGerman), `Thuringian members with ${narrowTopic}`);
    const hash = decodeURIComponent(new URL(page.url()).hash);
    check(hash.includes(`kompetenz=${narrowTopic}`), `competence not in the URL: ${hash}`);
    // Filters survive a reload.
    await page.reload({ waitUntil: 'domcontentloaded' });
    await waitRendered(page);
    await waitList(page, 'member-results');
    equal(await page.inputValue('[data-testid="filter-land"]'), 'Thüringen', 'Bundesland after reload');
    equal(await page.inputValue('[data-testid="filter-kompetenz"]'), narrowTopic, 'competence after reload');
    equal(await page.locator('[data-testid="member-card"]').count(), thuringianWithTopic.length, 'cards after reload');
  });

  await step('Mitglieder: Namenssuche', async () => {
    await page.click('[data-testid="filter-reset"]');
    await waitList(page, 'member-results');
    equal(await page.locator('[data-testid="member-card"]').count(), members.length, 'cards after reset');
    // The field searches through the search API: the members it finds, in its order.
    const memberHits = async (params) => {
      const { hits } = await searchApi({ type: 'member', ...params });
      const names = new Set(hits.map((h) => h.title));
      return members.filter((m) => names.has(m.name)).map((m) => m.name).sort(byGerman);
    };
    const target = members.find((m) => m.slug === 'wartburg-cloud-services') || members[0];
    const query = target.name.split(' ')[0].toLowerCase();
    await page.fill('[data-testid="search"]', query);
    const expected = await memberHits({ q: query });
    check(expected.includes(target.name), `the search API does not find ${target.name} for "${query}": ${expected}`);
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid="member-card"]').length === n, expected.length, { timeout: TIMEOUT }).catch(() => {});
    equal((await texts(page.locator('[data-testid="member-card"] [data-testid="member-name"]'))).sort(byGerman), expected, `search "${query}"`);
    // Its first card is the member whose name matched.
    equal((await texts(page.locator('[data-testid="member-card"] [data-testid="member-name"]')))[0], target.name, `first hit for "${query}"`);
    check(decodeURIComponent(new URL(page.url()).hash).includes(`q=${query}`), `search not in the URL: ${page.url()}`);
    // Umlauts: "pleissen" finds "Pleißenland".
    const umlaut = members.find((m) => m.name.includes('ß'));
    if (umlaut) {
      const q = fold(umlaut.name.split(' ')[0]).slice(0, 8);
      await page.fill('[data-testid="search"]', q);
      await page.waitForFunction((name) => [...document.querySelectorAll('[data-testid="member-name"]')].some((e) => e.textContent.trim() === name), umlaut.name, { timeout: TIMEOUT }).catch(() => {});
      const names = await texts(page.locator('[data-testid="member-card"] [data-testid="member-name"]'));
      check(names.includes(umlaut.name), `search "${q}" does not find ${umlaut.name}: ${names}`);
    }
    // Filters and search straight from the URL.
    const q = 'netz';
    await go(page, `#/mitglieder?land=Sachsen&q=${q}`);
    await waitList(page, 'member-results');
    const want = await memberHits({ q, 'filter[state_region]': 'Sachsen' });
    check(want.length > 0, 'the search API finds no Saxon member for "netz"');
    for (const name of want) check(members.find((m) => m.name === name).state_region === 'Sachsen', `${name} is not in Saxony`);
    equal((await texts(page.locator('[data-testid="member-card"] [data-testid="member-name"]'))).sort(byGerman), want, 'members for #/mitglieder?land=Sachsen&q=netz');
    equal(await page.inputValue('[data-testid="search"]'), q, 'search field filled from the URL');
    await shot(page, '04-mitglieder-suche');
  });

  // ---- Search ----
  await step('Suche: Treffer mit Hervorhebung, Facetten, Umlaute', async () => {
    const query = 'Rechenzentrum';
    const api = await searchApi({ q: query, locale: 'de' });
    check(api.hits.length > 1, `the search API finds too little for "${query}"`);
    await go(page, `#/suche?q=${query}`);
    await waitList(page, 'search-results');
    equal(await texts(page.locator('[data-testid="search-hit"] [data-testid="hit-title"]')), api.hits.slice(0, 20).map((h) => h.title), `hits for "${query}"`);
    equal((await page.locator('[data-testid="search-count"]').innerText()).trim(), `${api.meta.total} Treffer`, 'hit count');
    check((await page.locator('[data-testid="search-hit"] mark').count()) > 0, 'no highlighted match');
    const marks = await texts(page.locator('[data-testid="search-hit"] mark'));
    for (const m of marks) check(fold(m).includes('rechenzent'), `a highlight that is not the word: ${m}`);
    // Facets: the type counts of the API; a click narrows the hits to that type.
    const types = api.meta.facets.type;
    const facetText = await page.locator('[data-testid="facet-typ"]').innerText();
    for (const f of types) check(facetText.includes(`(${f.count})`), `facet ${f.value} (${f.count}) not shown: ${facetText}`);
    const story = types.find((f) => f.value === 'story');
    check(story, 'no story among the hits');
    await clickAndWait(page, '[data-testid="facet-typ"] a[data-value="story"]');
    await waitList(page, 'search-results');
    equal(await page.locator('[data-testid="search-hit"]').count(), Math.min(story.count, 20), 'hits after the type facet');
    check(decodeURIComponent(new URL(page.url()).hash).includes('typ=story'), `facet not in the URL: ${page.url()}`);
    await shot(page, '04b-suche');
    // Umlaut spellings find the same entries, typed into the field.
    const umlaut = await searchApi({ q: 'Thüringen', locale: 'de' });
    const plain = await searchApi({ q: 'Thueringen', locale: 'de' });
    equal(plain.hits.map((h) => h.id), umlaut.hits.map((h) => h.id), 'Thueringen and Thüringen');
    await go(page, '#/suche');
    await page.fill('[data-testid="site-search"]', 'Thueringen');
    await page.waitForFunction((n) => document.querySelector('[data-testid="search-count"]')?.textContent?.trim() === n, `${umlaut.meta.total} Treffer`, { timeout: TIMEOUT }).catch(() => {});
    equal((await page.locator('[data-testid="search-count"]').innerText()).trim(), `${umlaut.meta.total} Treffer`, 'search as you type: Thueringen');
    // A hit links to its page.
    await clickAndWait(page, '[data-testid="search-hit"] [data-testid="hit-title"] >> nth=0');
    await waitRendered(page);
    equal((await page.locator('#inhalt h1').innerText()).trim(), umlaut.hits[0].title, 'the page of the first hit');
  });

  // ---- Member page ----
  const member =
    members.find((m) => m.slug === 'saalebyte-systemhaus') ||
    members.find((m) => stories.some((s) => (s.members || []).includes(m.id)) && cooperations.some((c) => c.partners.includes(m.id)));
  await step(`Mitgliedsseite: ${member.name}`, async () => {
    await go(page, `#/mitglieder/${member.slug}`);
    equal((await page.locator('#inhalt h1').innerText()).trim(), member.name, 'h1');
    const facts = await page.locator('[data-testid="member-facts"]').innerText();
    for (const v of [member.legal_form, member.city, member.state_region, germanDay(member.member_since)]) {
      check(facts.includes(v), `facts do not show "${v}": ${facts}`);
    }
    if (member.website) {
      equal(await page.getAttribute('[data-testid="member-website"]', 'href'), member.website, 'website link');
    }
    if (/\*\*/.test(member.description)) {
      check((await page.locator('[data-testid="member-description"] strong').count()) > 0, 'description Markdown not rendered (no <strong>)');
    }
    check(!(await page.locator('[data-testid="member-description"]').innerText()).includes('**'), 'raw ** in the description');
    const services = await texts(page.locator('[data-testid="member-services"] .chip'));
    for (const s of member.services) if (TOPIC_LABELS[s]) check(services.includes(TOPIC_LABELS[s]), `competence ${TOPIC_LABELS[s]} missing: ${services}`);
    const expStories = stories.filter((s) => (s.members || []).includes(member.id)).map((s) => s.title);
    const gotStories = await texts(page.locator('[data-testid="member-stories"] [data-testid="story-title"]'));
    equal(gotStories.slice().sort(), expStories.slice().sort(), "the member's stories");
    check(gotStories.length > 0, 'no stories on the member page');
    const expCoops = cooperations.filter((c) => c.partners.includes(member.id)).map((c) => c.title);
    const gotCoops = await texts(page.locator('[data-testid="member-cooperations"] [data-testid="cooperation-title"]'));
    equal(gotCoops.slice().sort(), expCoops.slice().sort(), "the member's cooperations");
    const coopText = await page.locator('[data-testid="member-cooperations"]').innerText();
    for (const c of cooperations.filter((c) => c.partners.includes(member.id))) {
      for (const id of c.partners) check(coopText.includes(memberById.get(id).name), `partner ${memberById.get(id).name} missing in the cooperation cards`);
    }
    check(!ULID.test(await mainText(page)), 'a raw entry id is shown on the member page');
    await checkImages(page, '[data-testid="member"] > header img', await pictureIds('member', [member.name]), 'logo on the member page');
    await checkImages(page, '[data-testid="member-stories"] [data-testid="story-card"] img', await pictureIds('story', gotStories), "images of the member's stories");
    await page.evaluate(() => window.scrollTo(0, 0));
    await assertNoDrafts(page);
    await shot(page, '05-mitglied');
  });

  await step('Mitgliedsseite: unbekanntes Mitglied zeigt „Nicht gefunden“', async () => {
    await go(page, '#/mitglieder/gibt-es-nicht');
    check((await page.locator('[data-testid="not-found"]').count()) === 1, 'no not-found notice');
  });

  // ---- Stories ----
  await step('Geschichten: Liste mit deutschen Arten, ohne Entwurf und Übersetzung', async () => {
    await go(page, '#/geschichten');
    await waitList(page, 'story-results');
    // Load all pages if the list is paginated.
    while ((await page.locator('[data-testid="load-more"]').count()) > 0) {
      const n = await page.locator('[data-testid="story-card"]').count();
      await page.click('[data-testid="load-more"]');
      await page.waitForFunction((k) => document.querySelectorAll('[data-testid="story-card"]').length > k, n, { timeout: TIMEOUT });
    }
    equal(await texts(page.locator('[data-testid="story-title"]')), stories.map((s) => s.title), 'stories, newest first');
    equal(await texts(page.locator('[data-testid="story-card"] [data-testid="story-kind"]')), stories.map((s) => STORY_KINDS[s.kind]), 'story kinds in German');
    const text = await mainText(page);
    for (const s of otherLocaleStories) check(!text.includes(s.title), `the ${s.locale} translation "${s.title}" is shown`);
    check(!/success_story|best_practice/.test(text), 'raw story kinds shown');
    await checkImages(page, '[data-testid="story-card"] img', await pictureIds('story', stories.map((s) => s.title)), 'story images in the list');
    await page.evaluate(() => window.scrollTo(0, 0));
    await assertNoDrafts(page);
    await shot(page, '06-geschichten');
  });

  await step('Geschichten: Filter nach Thema', async () => {
    const topic = 'cloud';
    await page.selectOption('[data-testid="filter-thema"]', topic);
    await waitList(page, 'story-results');
    const expected = stories.filter((s) => s.topics.includes(topic)).map((s) => s.title);
    equal(await texts(page.locator('[data-testid="story-title"]')), expected, `stories about ${topic}`);
    check(new URL(page.url()).hash.includes(`thema=${topic}`), `topic not in the URL: ${page.url()}`);
  });

  const richStory = stories.find((s) => s.slug === 'phishing-angriff-logistiker-halle') || stories[0];
  await step(`Geschichte: ${richStory.slug} (Markdown, Autor, Lessons Learned, Mitglieder)`, async () => {
    await go(page, `#/geschichten/${richStory.slug}`);
    equal((await page.locator('#inhalt h1').innerText()).trim(), richStory.title, 'h1');
    const body = page.locator('article [data-testid="story-body"]');
    const h2s = richStory.body.split('\n').filter((l) => /^##\s/.test(l)).map((l) => l.replace(/^##\s+/, '').trim());
    equal(await texts(body.locator('h2')), h2s, 'h2 headings of the body');
    check(h2s.length > 0, 'the story has no ## headings to check');
    const bodyText = await body.innerText();
    check(!/(^|\n)\s*##/.test(bodyText) && !bodyText.includes('##'), 'raw ## in the rendered story');
    check(!bodyText.includes('**'), 'raw ** in the rendered story');
    if (/^- /m.test(richStory.body)) check((await body.locator('ul > li').count()) > 0, 'no list rendered');
    if (/^> /m.test(richStory.body)) check((await body.locator('blockquote').count()) > 0, 'no blockquote rendered');
    if (/\*\*/.test(richStory.body)) check((await body.locator('strong').count()) > 0, 'no bold text rendered');
    check((await body.locator('script, iframe, [onerror], [onclick]').count()) === 0, 'active content in the story body');
    if (richStory.author) {
      const byline = await page.locator('[data-testid="story-byline"]').innerText();
      check(byline.includes(richStory.author.name), `author missing: ${byline}`);
    }
    if (richStory.lessons_learned) {
      equal(await texts(page.locator('[data-testid="lessons-learned"] li')), richStory.lessons_learned, 'lessons learned');
    }
    equal(
      await texts(page.locator('[data-testid="story-members"] [data-testid="member-name"]')),
      (richStory.members || []).map((id) => memberById.get(id).name),
      'related members (include=members)',
    );
    const lead = await pictureIds('story', [richStory.title]);
    await checkImages(page, '[data-testid="story-image"]', lead, 'lead image of the story');
    await checkCredits(page, '[data-testid="story-figure"] [data-testid="image-credit"]', lead, 'the lead image');
    await page.evaluate(() => window.scrollTo(0, 0));
    await assertNoDrafts(page);
    await shot(page, '07-geschichte');
  });

  const listStory = stories.find((s) => /^\d+\. /m.test(s.body) && s.slug !== richStory.slug);
  if (listStory) {
    await step(`Geschichte: ${listStory.slug} (nummerierte Liste, mehrere Mitglieder)`, async () => {
      await go(page, `#/geschichten/${listStory.slug}`);
      const body = page.locator('article [data-testid="story-body"]');
      const items = listStory.body.split('\n').filter((l) => /^\d+\. /.test(l)).length;
      equal(await body.locator('ol > li').count(), items, 'ordered list items');
      check((await body.locator('h2').count()) > 0, 'no h2 in the story');
      equal(
        (await texts(page.locator('[data-testid="story-members"] [data-testid="member-name"]'))).sort(),
        (listStory.members || []).map((id) => memberById.get(id).name).sort(),
        'related members',
      );
    });
  }

  for (const draft of draftStories) {
    await step(`Geschichte: Entwurf „${draft.title}“ ist nicht abrufbar`, async () => {
      await go(page, `#/geschichten/${draft.slug}`);
      check((await page.locator('[data-testid="not-found"]').count()) === 1, 'the draft story is not answered with "Nicht gefunden"');
      await assertNoDrafts(page);
    });
  }

  // ---- Events ----
  await step('Veranstaltungen: kommende Termine mit deutschen Daten', async () => {
    await go(page, '#/veranstaltungen');
    const titles = await texts(page.locator('[data-testid="event-card"] [data-testid="event-title"]'));
    equal(titles, upcoming.map((e) => e.title), 'upcoming events, by start');
    if (!upcoming.length) check((await page.locator('[data-testid="empty"]').count()) === 1, 'no "no events" message');
    const times = await texts(page.locator('[data-testid="event-card"] [data-testid="event-time"]'));
    upcoming.forEach((ev, i) => {
      check(GERMAN_EVENT_TIME.test(times[i]), `not a German date with weekday and "Uhr": "${times[i]}"`);
      check(times[i].startsWith(germanStart(ev)), `time of ${ev.title}: expected "${germanStart(ev)}…", got "${times[i]}"`);
    });
    const cards = page.locator('[data-testid="event-card"]');
    for (let i = 0; i < upcoming.length; i++) {
      const ev = upcoming[i];
      const card = cards.nth(i);
      const text = await card.innerText();
      if (ev.venue && ev.format !== 'online') check(text.includes(ev.venue.name), `venue of ${ev.title} missing`);
      if (ev.format === 'online') check(/Online/.test(text), `"Online" missing for ${ev.title}`);
      if (ev.registration_url) equal(await card.locator('[data-testid="registration"]').getAttribute('href'), ev.registration_url, `registration link of ${ev.title}`);
      if (ev.media_notice) check((await card.locator('[data-testid="media-notice"]').innerText()).includes(ev.media_notice), `media notice of ${ev.title} missing`);
    }
    const text = await mainText(page);
    for (const ev of pastEvents) check(!text.includes(ev.title), `the past event "${ev.title}" is listed`);
    // A small photo per card: the event's first.
    await checkImages(page, '[data-testid="event-card"] img', await pictureIds('event', upcoming.map((e) => e.title), { first: true }), 'event photos in the list');
    await page.evaluate(() => window.scrollTo(0, 0));
    await assertNoDrafts(page);
    await shot(page, '08-veranstaltungen');
  });

  const detailEvent = upcoming.find((e) => e.format === 'hybrid') || upcoming[0] || allEvents[0];
  if (detailEvent) {
    await step(`Veranstaltung: ${detailEvent.slug} (Programm, Anmeldung, Hinweis)`, async () => {
      await go(page, `#/veranstaltungen/${detailEvent.slug}`);
      equal((await page.locator('#inhalt h1').innerText()).trim(), detailEvent.title, 'h1');
      const time = await page.locator('[data-testid="event-time"]').first().innerText();
      check(time.startsWith(germanStart(detailEvent)), `time: expected "${germanStart(detailEvent)}…", got "${time}"`);
      const speakers = await texts(page.locator('[data-testid="programme"] [data-testid="speaker"]'));
      for (const item of detailEvent.programme || []) {
        for (const sp of item.speakers || []) check(speakers.some((s) => s.startsWith(sp.name)), `speaker ${sp.name} missing`);
      }
      const text = await mainText(page);
      for (const item of detailEvent.programme || []) check(text.includes(item.title), `programme item "${item.title}" missing`);
      if (detailEvent.media_notice) check(text.includes(detailEvent.media_notice), 'media notice missing');
      if (detailEvent.registration_url && Date.parse(detailEvent.ends_at) > Date.now()) {
        equal(await page.getAttribute('[data-testid="registration"]', 'href'), detailEvent.registration_url, 'registration link');
      }
      const photos = await pictureIds('event', [detailEvent.title]);
      await checkImages(page, '[data-testid="event-photo"]', photos, 'photos on the event page');
      await checkCredits(page, '[data-testid="event"] [data-testid="image-credit"]', photos, 'the event photos');
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, '09-veranstaltung');
    });
  }

  const mv = allEvents.find((e) => e.slug === 'mitgliederversammlung-herbst-2026');
  if (mv) {
    await step('Veranstaltung: deutsches Datum „Donnerstag, 29. Oktober 2026, 15:00 Uhr“', async () => {
      await go(page, `#/veranstaltungen/${mv.slug}`);
      const time = await page.locator('[data-testid="event-time"]').first().innerText();
      check(time.includes('Donnerstag, 29. Oktober 2026, 15:00 Uhr'), `got "${time}"`);
      if (Date.parse(mv.ends_at) < Date.now()) check((await page.locator('[data-testid="event-past"]').count()) === 1, 'past event not marked as past');
    });
  }

  // ---- Cooperations ----
  await step('Kooperationen: Beispiele mit Partnern und Herausforderung/Lösung/Ergebnis', async () => {
    await go(page, '#/kooperationen');
    const cards = page.locator('[data-testid="cooperation-card"]');
    const titles = await texts(cards.locator('[data-testid="cooperation-title"]'));
    equal(titles.slice().sort(), cooperations.map((c) => c.title).sort(), 'cooperation titles');
    for (let i = 0; i < titles.length; i++) {
      const coop = cooperations.find((c) => c.title === titles[i]);
      const card = cards.nth(i);
      equal(await texts(card.locator('[data-testid="cooperation-partner"]')), coop.partners.map((id) => memberById.get(id).name), `partners of ${coop.title}`);
      const text = await card.textContent(); // not innerText: the section titles are upper-cased by CSS
      for (const p of coop.external_partners || []) check(text.includes(p.name), `external partner ${p.name} missing in ${coop.title}`);
      for (const h of ['Herausforderung', 'Lösung', 'Ergebnis']) check(text.includes(h), `"${h}" missing in ${coop.title}`);
      check(!text.includes('**'), `raw ** in ${coop.title}`);
      check(!ULID.test(text), `a raw member id is shown in ${coop.title}`);
    }
    await assertNoDrafts(page);
    await shot(page, '10-kooperationen');
  });

  await step('Unbekannte Route zeigt „Nicht gefunden“', async () => {
    await go(page, '#/gibt-es-nicht');
    check((await page.locator('[data-testid="not-found"]').count()) === 1, 'no not-found notice');
    await go(page, '#/impressum');
    check((await mainText(page)).includes('Impressum'), 'no Impressum page');
  });

  // ---- English ----
  const siteBase = `${new URL(SITE_URL).origin}${new URL(SITE_URL).pathname}`;
  /** The `<link rel="alternate">` elements in <head>: [[hreflang, href], …], sorted. */
  const alternates = (p) =>
    p.evaluate(() => [...document.head.querySelectorAll('link[rel="alternate"]')].map((l) => [l.getAttribute('hreflang'), l.getAttribute('href')]).sort());
  const htmlLang = (p) => p.evaluate(() => document.documentElement.lang);
  const hashOf = (p) => decodeURIComponent(new URL(p.url()).hash);

  await step('Sprachumschalter: DE/EN in der Kopfzeile, Wechsel zur englischen Startseite', async () => {
    await go(page, '#/');
    equal(await htmlLang(page), 'de', '<html lang> on the German site');
    const sw = page.locator('header [data-testid="lang-switch"]');
    equal(await sw.getAttribute('aria-label'), 'Sprache / Language', 'accessible label of the language switch');
    for (const [lang, text] of [['de', 'DE'], ['en', 'EN']]) {
      const a = sw.locator(`[data-testid="lang-${lang}"]`);
      equal((await a.innerText()).trim(), text, `text of the ${lang} link`);
      equal(await a.getAttribute('hreflang'), lang, `hreflang of the ${lang} link`);
      equal(await a.getAttribute('lang'), lang, `lang of the ${lang} link`);
    }
    equal(await sw.locator('[data-testid="lang-de"]').getAttribute('aria-current'), 'true', 'DE is the current language');
    equal(await sw.locator('[data-testid="lang-en"]').getAttribute('aria-current'), null, 'EN is not the current language');
    // The German page is exactly as before: German navigation, five links.
    equal(await texts(page.locator('nav a')), ['Start', 'Mitglieder', 'Geschichten', 'Veranstaltungen', 'Kooperationen', 'Suche'], 'German navigation');

    await clickAndWait(page, '[data-testid="lang-en"]');
    equal(hashOf(page), '#/en/', 'address after switching to English');
    equal(await htmlLang(page), 'en', '<html lang> on the English site');
    equal(await sw.locator('[data-testid="lang-en"]').getAttribute('aria-current'), 'true', 'EN is the current language');
    equal(await sw.locator('[data-testid="lang-de"]').getAttribute('aria-current'), null, 'DE is no longer the current language');
    equal(await sw.locator('[data-testid="lang-de"]').getAttribute('href'), '#/', 'DE link of the English start page');
    equal(await texts(page.locator('nav a')), ['Home', 'Members', 'Stories', 'Events', 'Cooperations', 'Search'], 'English navigation');
    for (const href of await page.locator('nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')))) {
      check(href.startsWith('#/en/'), `a navigation link leaves the English site: ${href}`);
    }
    equal((await page.locator('#inhalt h1').innerText()).trim(), 'Digital expertise from Central Germany', 'h1');
    const statsText = await page.locator('[data-testid="stats"]').innerText();
    check(statsText.includes(`${members.length} members`), `stats do not show ${members.length} members: ${statsText}`);
    check((await page.title()).includes('Member platform'), `title: ${await page.title()}`);
    const footer = await page.locator('footer').innerText();
    check(/Legal notice/.test(footer) && /Privacy/.test(footer), `footer not in English: ${footer}`);
    equal(await alternates(page), [], 'hreflang links on the start page');
    // The next events: in English where translated, else German and marked; English dates.
    const evCards = page.locator('[data-testid="home-events"] [data-testid="event-card"]');
    const want = upcoming.slice(0, 3).map((e) => inEnglish('event', e));
    equal(await texts(evCards.locator('[data-testid="event-title"]')), want.map((e) => e.title), 'next 3 events on the English start page');
    for (let i = 0; i < want.length; i++) {
      const german = want[i].locale !== 'en';
      equal(await evCards.nth(i).getAttribute('lang'), german ? 'de' : null, `lang of the event card ${want[i].title}`);
      equal(await evCards.nth(i).locator('[data-testid="fallback-notice"]').count(), german ? 1 : 0, `fallback notice on ${want[i].title}`);
      const time = await evCards.nth(i).locator('[data-testid="event-time"]').innerText();
      check(ENGLISH_EVENT_TIME.test(time) && !time.includes('Uhr'), `not an English date: "${time}"`);
    }
    await assertNoDrafts(page);
    await shot(page, '16-en-start');
  });

  await step('Englisch: Mitgliederverzeichnis mit Übersetzungen und deutschen Einträgen', async () => {
    await clickAndWait(page, 'nav a[data-nav="members"]');
    equal(hashOf(page), '#/en/mitglieder', 'address of the English member directory');
    await waitList(page, 'member-results');
    const cards = page.locator('[data-testid="member-card"]');
    const want = members.map((m) => inEnglish('member', m));
    equal(await cards.count(), 12, 'member cards on the English site');
    equal(await texts(cards.locator('[data-testid="member-name"]')), want.map((m) => m.name).sort(byEnglish), 'member names');
    equal(await page.locator('[data-testid="result-count"]').innerText(), `${want.length} members`, 'result count');
    let translated = 0;
    for (let i = 0; i < want.length; i++) {
      const card = cards.nth(i);
      const name = (await card.locator('[data-testid="member-name"]').innerText()).trim();
      const m = want.find((x) => x.name === name);
      const href = await card.locator('[data-testid="member-name"]').getAttribute('href');
      equal(href, `#/en/mitglieder/${m.slug}`, `link of ${name}`);
      if (m.locale === 'en') {
        translated++;
        equal(await card.getAttribute('lang'), null, `lang of the translated ${name}`);
        equal(await card.locator('[data-testid="fallback-notice"]').count(), 0, `fallback notice on the translated ${name}`);
      } else {
        equal(await card.getAttribute('lang'), 'de', `lang of the German ${name}`);
        equal((await card.locator('[data-testid="fallback-notice"]').innerText()).trim(), 'Only available in German', `fallback notice on ${name}`);
        equal(await card.locator('[data-testid="fallback-notice"]').getAttribute('lang'), 'en', `lang of the fallback notice on ${name}`);
      }
    }
    equal(translated, english.member.length, 'English translations in the directory');
    check(translated > 0 && translated < want.length, 'the directory should mix translations and German entries');
    equal(await page.locator('label[for="filter-land"]').innerText(), 'Federal state', 'filter label');
    const options = await texts(page.locator('[data-testid="filter-kompetenz"] option'));
    check(options.some((o) => o.startsWith('IT security')), `competences not in English: ${options.join(' | ')}`);
    const chipsText = await texts(page.locator('[data-testid="member-card"] .chip'));
    check(chipsText.includes('IT security') && !chipsText.includes('IT-Sicherheit'), `chips not in English: ${chipsText.slice(0, 8)}`);
    // A filter keeps the language.
    await page.selectOption('[data-testid="filter-land"]', 'Thüringen');
    await waitList(page, 'member-results');
    check(hashOf(page).startsWith('#/en/mitglieder?') && hashOf(page).includes('land=Thüringen'), `filter address: ${hashOf(page)}`);
    equal(await cards.count(), members.filter((m) => m.state_region === 'Thüringen').length, 'Thuringian members on the English site');
    await page.click('[data-testid="filter-reset"]');
    await waitList(page, 'member-results');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, '17-en-mitglieder');
  });

  const retrofitDe = stories.find((s) => s.slug === 'retrofit-giesserei-erzgebirge');
  const retrofitEn = retrofitDe && inEnglish('story', retrofitDe);
  if (retrofitEn && retrofitEn.locale === 'en') {
    await step(`Englisch: Geschichte ${retrofitEn.slug} über den Umschalter, mit hreflang-Links`, async () => {
      const deHref = `#/de/geschichten/${retrofitDe.slug}`;
      const enHref = `#/en/geschichten/${retrofitEn.slug}`;
      // From the German story, the switch leads to its translation (its own slug).
      await go(page, `#/geschichten/${retrofitDe.slug}`);
      equal(await page.getAttribute('[data-testid="lang-en"]', 'href'), enHref, 'EN link of the German story');
      equal(await alternates(page), [['de', `${siteBase}${deHref}`], ['en', `${siteBase}${enHref}`]], 'hreflang links of the German story');
      await clickAndWait(page, '[data-testid="lang-en"]');
      equal(hashOf(page), enHref, 'address of the English story');
      const h1 = (await page.locator('#inhalt h1').innerText()).trim();
      equal(h1, retrofitEn.title, 'h1');
      check(h1.startsWith('Old machines, new data'), `not the English title: ${h1}`);
      equal(await htmlLang(page), 'en', '<html lang>');
      equal(await page.getAttribute('[data-testid="story"]', 'lang'), null, 'lang of the English story');
      equal(await page.locator('[data-testid="fallback-notice"]').count(), 0, 'fallback notices on a translated story');
      equal(await page.locator('[data-testid="outdated-notice"]').count(), 0, 'outdated notice on an up-to-date translation');
      equal(await alternates(page), [['de', `${siteBase}${deHref}`], ['en', `${siteBase}${enHref}`]], 'hreflang links of the English story');
      equal(await page.getAttribute('[data-testid="lang-de"]', 'href'), deHref, 'DE link of the English story');
      equal((await page.locator('[data-testid="story-kind"]').first().textContent()).trim(), 'Success story', 'story kind in English');
      const byline = await page.locator('[data-testid="story-byline"]').innerText();
      check(byline.startsWith(`By ${retrofitEn.author.name}`), `byline: ${byline}`);
      check(/\d{1,2} (January|February|March|April|May|June|July|August|September|October|November|December) \d{4}/.test(byline), `date not in English: ${byline}`);
      const body = page.locator('article [data-testid="story-body"]');
      const h2s = retrofitEn.body.split('\n').filter((l) => /^##\s/.test(l)).map((l) => l.replace(/^##\s+/, '').trim());
      equal(await texts(body.locator('h2')), h2s, 'h2 headings of the English body');
      equal(await texts(page.locator('[data-testid="lessons-learned"] li')), retrofitEn.lessons_learned, 'English lessons learned');
      // The related members are those of the original (references are shared).
      equal(
        (await texts(page.locator('[data-testid="story-members"] [data-testid="member-name"]'))).sort(),
        (retrofitDe.members || []).map((id) => memberById.get(id).name).sort(),
        'related members',
      );
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, '18-en-geschichte');

      // And back: the German original, on its German route.
      await clickAndWait(page, '[data-testid="lang-de"]');
      equal(hashOf(page), deHref, 'address after switching back to German');
      equal((await page.locator('#inhalt h1').innerText()).trim(), retrofitDe.title, 'German h1');
      check(retrofitDe.title.startsWith('Alte Maschinen, neue Daten'), `unexpected German title ${retrofitDe.title}`);
      equal(await htmlLang(page), 'de', '<html lang> after switching back');
      equal(await texts(page.locator('nav a')), ['Start', 'Mitglieder', 'Geschichten', 'Veranstaltungen', 'Kooperationen', 'Suche'], 'German navigation');
      // Leaving the entry removes its hreflang links.
      await go(page, '#/geschichten');
      equal(await alternates(page), [], 'hreflang links after leaving the story');
    });
  }

  const untranslated = members.find((m) => m.slug === 'amtshof-software') || members.find((m) => inEnglish('member', m) === m);
  await step(`Englisch: Mitglied ohne Übersetzung (${untranslated.slug}) deutsch, mit Hinweis`, async () => {
    await go(page, `#/en/mitglieder/${untranslated.slug}`);
    equal(await htmlLang(page), 'en', '<html lang>');
    equal((await page.locator('#inhalt h1').innerText()).trim(), untranslated.name, 'h1');
    const article = page.locator('[data-testid="member"]');
    equal(await article.getAttribute('lang'), 'de', 'lang of the German member on the English site');
    const notice = article.locator('[data-testid="fallback-notice"]').first();
    equal((await notice.innerText()).trim(), 'Only available in German', 'fallback notice');
    check(await notice.isVisible(), 'the fallback notice is not visible');
    const description = await page.locator('[data-testid="member-description"]').innerText();
    const firstWords = untranslated.description.replace(/\*\*/g, '').split(/\s+/).slice(0, 4).join(' ');
    check(description.replace(/\s+/g, ' ').startsWith(firstWords), `the German description is not shown: ${description.slice(0, 80)}`);
    const facts = await page.locator('[data-testid="member-facts"]').innerText();
    check(facts.includes('Legal form') && facts.includes('Member since'), `facts not labelled in English: ${facts}`);
    equal(await alternates(page), [], 'hreflang links of an entry without translations');
    equal(await page.getAttribute('[data-testid="lang-de"]', 'href'), `#/de/mitglieder/${untranslated.slug}`, 'DE link');
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, '19-en-mitglied-nur-deutsch');
  });

  const university = members.find((m) => m.slug === 'hochschule-digitale-technik-erfurt');
  const universityEn = university && inEnglish('member', university);
  if (universityEn && universityEn.locale === 'en') {
    await step('Englisch: Mitglied über den deutschen Slug, mit seinen Geschichten', async () => {
      await go(page, `#/en/mitglieder/${university.slug}`);
      equal(hashOf(page), `#/en/mitglieder/${universityEn.slug}`, 'the address names the English slug');
      equal(await page.getAttribute('[data-testid="member"]', 'lang'), null, 'lang of the translated member');
      equal(await page.locator('[data-testid="member"] > .language-notices').count(), 0, 'fallback or outdated notice on the translated member');
      // Stories, cooperations and events refer to the original: the English page finds them too.
      const want = stories.filter((s) => (s.members || []).includes(university.id)).map((s) => inEnglish('story', s).title);
      equal((await texts(page.locator('[data-testid="member-stories"] [data-testid="story-title"]'))).sort(), want.sort(), "the member's stories");
      check(want.length > 0, 'the university has no stories to check');
      const coops = cooperations.filter((c) => c.partners.includes(university.id)).map((c) => c.title);
      equal((await texts(page.locator('[data-testid="member-cooperations"] [data-testid="cooperation-title"]'))).sort(), coops.sort(), "the member's cooperations");
    });
  }

  await step('Englisch: Veranstaltungen mit englischen Daten', async () => {
    await go(page, '#/en/veranstaltungen');
    const want = upcoming.map((e) => inEnglish('event', e));
    equal(await texts(page.locator('[data-testid="event-card"] [data-testid="event-title"]')), want.map((e) => e.title), 'upcoming events, by start');
    const times = await texts(page.locator('[data-testid="event-card"] [data-testid="event-time"]'));
    want.forEach((ev, i) => {
      check(ENGLISH_EVENT_TIME.test(times[i]) && !times[i].includes('Uhr'), `not an English date: "${times[i]}"`);
      check(times[i].startsWith(englishStart(ev)), `time of ${ev.title}: expected "${englishStart(ev)}…", got "${times[i]}"`);
    });
    equal(await page.locator('[data-testid="event-card"][lang="de"]').count(), want.filter((e) => e.locale !== 'en').length, 'German event cards');
    await go(page, '#/en/geschichten');
    await waitList(page, 'story-results');
    const titles = await texts(page.locator('[data-testid="story-title"]'));
    equal(titles.slice().sort(), stories.map((s) => inEnglish('story', s).title).sort(), 'stories on the English site');
    const kinds = await texts(page.locator('[data-testid="story-card"] [data-testid="story-kind"]'));
    check(kinds.every((k) => ['Success story', 'Best practice', 'Interview', 'News'].includes(k)), `story kinds not in English: ${kinds}`);
    await assertNoDrafts(page);
  });

  await step('Englisch: API nicht erreichbar, englische Fehlermeldung', async () => {
    const badContext = await newContext();
    const bad = watch(await badContext.newPage());
    equal(await go(bad, '#/en/geschichten', { api: DEAD_API, expectError: true }), 'error', 'state of the page');
    const text = await bad.locator('[data-testid="error"]').innerText();
    check(text.includes('The content cannot be loaded right now') && text.includes('Try again'), `error box text: ${text}`);
    await badContext.close();
  });

  // ---- High-density screen: srcset must pick sharper files ----
  await step('Bilder auf einem Bildschirm mit doppelter Pixeldichte scharf', async () => {
    const hiContext = await newContext({ width: 1280, height: 900 }, 2);
    const hi = watch(await hiContext.newPage());
    await go(hi, `#/geschichten/${richStory.slug}`);
    await checkImages(hi, '[data-testid="story-image"]', await pictureIds('story', [richStory.title]), 'lead image of the story (2x)');
    await go(hi, '#/mitglieder');
    await waitList(hi, 'member-results');
    const names = await texts(hi.locator('[data-testid="member-card"] [data-testid="member-name"]'));
    await checkImages(hi, '[data-testid="member-card"] img', await pictureIds('member', names), 'member logos (2x)');
    await hiContext.close();
  });

  // ---- Small screen ----
  await step('Kleiner Bildschirm: Start und Mitglieder ohne waagerechtes Scrollen', async () => {
    const mobileContext = await newContext({ width: 390, height: 844 });
    const mobile = watch(await mobileContext.newPage());
    {
      for (const [hash, name] of [
        ['#/', '11-mobil-start'],
        ['#/mitglieder', '12-mobil-mitglieder'],
        ['#/veranstaltungen', '13-mobil-veranstaltungen'],
        ['#/en/mitglieder', '20-mobil-en-mitglieder'],
      ]) {
        await go(mobile, hash);
        const overflow = await mobile.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        check(overflow <= 1, `${hash} scrolls sideways by ${overflow}px at 390px width`);
        await shot(mobile, name);
      }
    }
    await mobileContext.close();
  });

  // ---- Publishing without restart ----
  if (PUBLISH_CMD) {
    await step('Veröffentlichen: neue Geschichte erscheint auf der offenen Seite, ohne Neuladen', async () => {
      await go(page, '#/geschichten');
      await waitList(page, 'story-results');
      // The page follows the change stream (Server-Sent Events).
      await page.waitForFunction(() => document.body.dataset.live === 'connected', null, { timeout: 10000 });
      const before = await texts(page.locator('[data-testid="story-title"]'));
      const marker = await page.evaluate(() => { window.__notReloaded = true; return true; });
      let out;
      try {
        out = execSync(PUBLISH_CMD, { encoding: 'utf8', shell: '/bin/sh', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120000 });
      } catch (err) {
        throw new Failure(`PUBLISH_CMD failed (exit ${err.status}): ${err.message}`);
      }
      const title = out.split('\n').map((l) => l.trim()).filter(Boolean).pop();
      check(title, 'PUBLISH_CMD printed no title');
      check(!before.includes(title), `"${title}" was already shown before publishing`);
      const appeared = await page
        .waitForFunction(
          (t) => [...document.querySelectorAll('[data-testid="story-title"]')].some((e) => e.textContent.trim() === t),
          title,
          { timeout: 15000 },
        )
        .then(() => true, () => false);
      const after = await texts(page.locator('[data-testid="story-title"]'));
      check(appeared, `the new story "${title}" does not appear on the open page; shown: ${after.join(' | ')}`);
      check(marker && (await page.evaluate(() => window.__notReloaded === true)), 'the page was reloaded instead of updated in place');
      equal(await page.textContent('#live-status'), 'Die Seite wurde mit neu veröffentlichten Inhalten aktualisiert.', 'the update is announced to screen readers');
      // After a reload it is there too (the delivery API, not only the page, has it).
      await page.reload({ waitUntil: 'domcontentloaded' });
      await waitRendered(page);
      await waitList(page, 'story-results');
      check((await texts(page.locator('[data-testid="story-title"]'))).includes(title), `the new story "${title}" is gone after a reload`);
      equal(after[0], title, 'the new story is the newest');
      await assertNoDrafts(page);
      await shot(page, '14-geschichten-nach-veroeffentlichung');
      await go(page, '#/');
      equal((await texts(page.locator('[data-testid="home-stories"] [data-testid="story-title"]')))[0], title, 'the new story leads the start page');
    });
  } else {
    console.log('skip publishing check (PUBLISH_CMD not set)');
  }

  if (DRAFT_TITLE) {
    await step('Unveröffentlichter Entwurf (DRAFT_TITLE) erscheint nicht', async () => {
      await go(page, '#/geschichten');
      await waitList(page, 'story-results');
      await assertNoDrafts(page);
      await go(page, '#/');
      await assertNoDrafts(page);
    });
  }

  // ---- A translation whose original changed ----
  const aiDe = stories.find((s) => s.slug === 'ki-kundenservice-drei-pilotprojekte');
  const aiEn = aiDe && inEnglish('story', aiDe);
  if (VERBUND_TOKEN && aiEn && aiEn.locale === 'en') {
    await step('Englisch: Hinweis, wenn das deutsche Original nach der Übersetzung geändert wurde', async () => {
      await go(page, `#/en/geschichten/${aiEn.slug}`);
      equal((await page.locator('#inhalt h1').innerText()).trim(), aiEn.title, 'h1');
      equal(await page.locator('[data-testid="outdated-notice"]').count(), 0, 'outdated notice before the original changed');
      await page.waitForFunction(() => document.body.dataset.live === 'connected', null, { timeout: 10000 });
      // Change the German original's teaser and publish it (management API).
      const api = (process.env.VERBUND_URL || API_BASE).replace(/\/+$/, '');
      const url = `${api}/api/v1/manage/story/${aiDe.id}`;
      const auth = { Authorization: `Bearer ${VERBUND_TOKEN}`, Accept: 'application/json' };
      const current = await fetch(url, { headers: auth });
      check(current.ok, `GET ${url}: HTTP ${current.status}`);
      const patched = await fetch(url, {
        method: 'PATCH',
        headers: { ...auth, 'Content-Type': 'application/merge-patch+json', 'If-Match': current.headers.get('etag') },
        body: JSON.stringify({ teaser: `${aiDe.teaser} (Vom Browsertest geändert.)` }),
      });
      check(patched.ok, `PATCH ${url}: HTTP ${patched.status} ${await patched.text()}`);
      const published = await fetch(`${url}/transitions`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ to: 'published' }),
      });
      check(published.ok, `publishing ${url}: HTTP ${published.status} ${await published.text()}`);
      // The open English page follows by itself (change stream) and says so.
      await page.waitForSelector('[data-testid="outdated-notice"]', { timeout: TIMEOUT });
      equal(
        (await page.locator('[data-testid="outdated-notice"]').innerText()).trim(),
        'The German original has been updated since this translation.',
        'outdated notice',
      );
      equal((await page.locator('#inhalt h1').innerText()).trim(), aiEn.title, 'the translation is still shown');
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, '21-en-geschichte-original-geaendert');
      // The German page has no such note.
      await clickAndWait(page, '[data-testid="lang-de"]');
      equal((await page.locator('#inhalt h1').innerText()).trim(), aiDe.title, 'German h1');
      equal(await page.locator('[data-testid="outdated-notice"]').count(), 0, 'outdated notice on the original');
    });
  } else {
    console.log('skip outdated-translation check (VERBUND_TOKEN not set)');
  }

  // ---- API down ----
  await step('API nicht erreichbar: deutsche Fehlermeldung statt leerer Seite', async () => {
    const badContext = await newContext();
    const bad = watch(await badContext.newPage());
    {
      const state = await go(bad, '#/', { api: DEAD_API, expectError: true });
      equal(state, 'error', 'state of the page');
      const box = bad.locator('[data-testid="error"]');
      equal(await box.count(), 1, 'error boxes');
      const text = await box.innerText();
      check(text.includes('Die Inhalte können gerade nicht geladen werden'), `error box text: ${text}`);
      check((await bad.locator('[data-testid="retry"]').count()) === 1, 'no retry button');
      check((await bad.locator('nav a').count()) === 6, 'navigation missing on the error page');
      await shot(bad, '15-fehler-api-nicht-erreichbar');
      // Retrying fails again, with the message again (not a blank page).
      await bad.click('[data-testid="retry"]');
      await bad.waitForSelector('#inhalt[data-state="error"] [data-testid="error"]', { timeout: TIMEOUT });
      // Every section degrades the same way.
      for (const hash of ['#/mitglieder', '#/geschichten', '#/geschichten/irgendwas', '#/veranstaltungen', '#/kooperationen']) {
        await go(bad, hash, { api: DEAD_API, expectError: true });
        check((await bad.locator('[data-testid="error"]').count()) === 1, `no error box on ${hash}`);
      }
      // The ?api= choice is remembered for the session (sessionStorage).
      await go(bad, '#/mitglieder', { noApi: true, expectError: true });
      check((await bad.locator('[data-testid="error"]').count()) === 1, 'the API chosen with ?api= is not remembered for the session');
    }
    await badContext.close();
  });

  await step('Keine Skriptfehler und keine Anfragen an andere Hosts (auch keine Bilder)', async () => {
    check(pageErrors.length === 0, `errors in the page:\n      ${pageErrors.join('\n      ')}`);
    check(blocked.length === 0, `requests to other hosts: ${blocked.map((b) => `${b.type} ${b.url}`).join(', ')}`);
  });

  await browser.close();
}

try {
  await main();
} catch (err) {
  failures.push({ name: 'setup', err, where: '' });
  console.error(`FAIL setup: ${err.stack || err}`);
}
console.log(`\n${passed} passed, ${failures.length} failed; screenshots in ${SCREENSHOT_DIR}`);
process.exit(failures.length ? 1 : 0);
