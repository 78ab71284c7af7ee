#!/usr/bin/env node
// Creates a new story through the management API, publishes it (unless --draft) and prints
// its title on the last line of stdout. Meant as PUBLISH_CMD for site.mjs:
//
//   PUBLISH_CMD="node tests/browser/publish-story.mjs" \
//   VERBUND_URL=http://127.0.0.1:8080 VERBUND_TOKEN=<editor token> node tests/browser/site.mjs
//
// and, with --draft, to make a draft whose title the site must never show (DRAFT_TITLE):
//
//   DRAFT_TITLE=$(node tests/browser/publish-story.mjs --draft | tail -n 1)
//
// Environment: VERBUND_TOKEN (an editor or admin token, required); VERBUND_URL (the API
// base; default: the ?api= of SITE_URL, else the origin of SITE_URL, else
// http://127.0.0.1:8080).

const draftOnly = process.argv.includes('--draft');
const token = process.env.VERBUND_TOKEN;
if (!token) {
  console.error('VERBUND_TOKEN is not set (create one with: verbund token create --role editor)');
  process.exit(2);
}

function apiBase() {
  if (process.env.VERBUND_URL) return process.env.VERBUND_URL;
  if (process.env.SITE_URL) {
    const site = new URL(process.env.SITE_URL);
    return site.searchParams.get('api') || site.origin;
  }
  return 'http://127.0.0.1:8080';
}
const base = apiBase().replace(/\/+$/, '');

async function call(method, path, body) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    console.error(`${method} ${path}: HTTP ${res.status}\n${text}`);
    process.exit(1);
  }
  return JSON.parse(text);
}

const now = new Date();
const stamp = new Intl.DateTimeFormat('de-DE', {
  timeZone: 'Europe/Berlin',
  day: '2-digit',
  month: '2-digit',
  year: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
}).format(now);
const suffix = `${now.getTime().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
const title = draftOnly
  ? `Entwurf: Noch nicht freigegebene Meldung (${stamp})`
  : `Neu im Cluster: Meldung vom ${stamp}`;

const created = await call('POST', '/api/v1/manage/story', {
  kind: 'news',
  title,
  slug: `${draftOnly ? 'entwurf' : 'meldung'}-${suffix}`,
  teaser: draftOnly
    ? 'Dieser Entwurf wurde vom Browsertest angelegt und darf auf der Website nicht erscheinen.'
    : 'Diese Meldung wurde vom Browsertest über die Verwaltungs-Schnittstelle angelegt und sofort veröffentlicht.',
  body:
    '## Worum es geht\n\nDie Website lädt ihre Inhalte bei jedem Aufruf neu und prüft dabei das **ETag** der Antwort.\n\n' +
    '- Neue Inhalte erscheinen ohne Neustart.\n- Entwürfe bleiben unsichtbar.',
  topics: ['fachkraefte'],
  author: { name: 'Browsertest', role: 'Redaktion' },
});
const id = created.data && created.data.id;
if (!id) {
  console.error(`no id in the answer: ${JSON.stringify(created)}`);
  process.exit(1);
}
if (!draftOnly) await call('POST', `/api/v1/manage/story/${id}/transitions`, { to: 'published' });
console.error(`${draftOnly ? 'created draft' : 'published'} story ${id}`);
console.log(title);
