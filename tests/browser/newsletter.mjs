#!/usr/bin/env node
// Renders a newsletter issue (newsletter.html from `verbund newsletter export`) in headless
// Chromium, as a mail program would show it: no network, a narrow and a wide window. Checks
// that it fits in 600 px without horizontal scrolling, that the expected titles are visible
// and that no image or remote resource is needed, and saves screenshots.
//
// Environment: NEWSLETTER_HTML (the file), EXPECT (titles, separated by "|"),
// SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium).

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

const file = path.resolve(process.env.NEWSLETTER_HTML);
const expect = (process.env.EXPECT || '').split('|').filter(Boolean);
const shots = path.resolve(process.env.SCREENSHOT_DIR || 'screenshots');
fs.mkdirSync(shots, { recursive: true });
const failures = [];

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (const [name, width] of [['schmal', 375], ['breit', 1024]]) {
    const context = await browser.newContext({ viewport: { width, height: 900 }, locale: 'de-DE' });
    const requests = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) return route.continue();
      requests.push(url);
      return route.abort();
    });
    const page = await context.newPage();
    await page.goto('file://' + file);
    // The content column: the narrowest table that holds the first expected title (the
    // usual outer table spans the window only for its background).
    const m = await page.evaluate((first) => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
      text: document.body.innerText,
      images: document.images.length,
      widest: Math.min(...[...document.querySelectorAll('table')]
        .filter((t) => !first || t.innerText.includes(first))
        .map((t) => t.getBoundingClientRect().width)),
    }), expect[0] || '');
    if (m.scroll > m.client + 1) failures.push(`${name}: scrolls sideways (${m.scroll} > ${m.client})`);
    if (m.widest > 601) failures.push(`${name}: the content is ${m.widest}px wide, more than 600`);
    if (requests.length) failures.push(`${name}: it loads remote resources: ${requests.join(', ')}`);
    for (const t of expect) if (!m.text.includes(t)) failures.push(`${name}: "${t}" is not shown`);
    await page.screenshot({ path: path.join(shots, `newsletter-${name}.png`), fullPage: true });
    await context.close();
  }
} finally {
  await browser.close();
}
if (failures.length) {
  for (const f of failures) console.log('FAIL ' + f);
  process.exit(1);
}
console.log(`ok   the newsletter renders in 375 and 1024 px, fits 600 px, loads nothing remote; screenshots in ${shots}`);
