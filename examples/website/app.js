// Public website of the "Cluster IT Mitteldeutschland" on top of the Verbund delivery API.
//
// A single page app with hash routes, no build step and no dependencies. Every text that
// comes from the API is put into the page as a text node (see `h`) or through the escaping
// Markdown renderer in markdown.js; nothing from the API is ever given to innerHTML as is.

import { renderMarkdown, markdownToText } from './markdown.js';

// Types of the delivery API, generated from the server's OpenAPI document (one interface per
// content type); tests/run type-checks this file against them (see README.md).
/** @typedef {import('./types/verbund-api').components['schemas']} Schemas */
/** @typedef {Schemas['StoryPublic']} Story */
/** @typedef {Schemas['MemberPublic']} Member */
/** @typedef {Schemas['EventPublic']} ClusterEvent */
/** @typedef {Schemas['CooperationPublic']} Cooperation */
/** @typedef {Schemas['Problem']} Problem */
/** @typedef {Schemas['DeliveredAsset']} MediaAsset */
/** @typedef {Record<string, MediaAsset>} Assets  the `assets` of a delivery answer, by id */

// ---------------------------------------------------------------------------------------
// Configuration: where the API is
// ---------------------------------------------------------------------------------------

const API_KEY = 'verbund-api';

function isHttpUrl(value) {
  if (typeof value !== 'string') return false;
  try {
    const u = new URL(value);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * The API base URL, in this order: `?api=…` in the page URL (remembered for the session;
 * `?api=` with an empty value forgets it), an earlier `?api=` of this session,
 * `window.VERBUND_API` (set by a script before app.js), the page's own origin.
 */
function resolveApiBase() {
  const params = new URLSearchParams(location.search);
  let stored = null;
  try {
    if (params.has('api')) {
      const fromQuery = params.get('api').trim();
      if (isHttpUrl(fromQuery)) sessionStorage.setItem(API_KEY, fromQuery);
      else sessionStorage.removeItem(API_KEY);
    }
    stored = sessionStorage.getItem(API_KEY);
  } catch {
    // sessionStorage can be unavailable (privacy settings); the query parameter still works.
    const fromQuery = params.get('api');
    if (isHttpUrl(fromQuery)) stored = fromQuery;
  }
  let base = null;
  if (isHttpUrl(stored)) base = stored;
  else if (isHttpUrl(/** @type {any} */ (window).VERBUND_API)) base = /** @type {any} */ (window).VERBUND_API;
  else if (location.protocol === 'http:' || location.protocol === 'https:') base = location.origin;
  else base = 'http://127.0.0.1:8080';
  return base.replace(/\/+$/, '');
}

const API_BASE = resolveApiBase();

// ---------------------------------------------------------------------------------------
// Languages: German (the default, routes without prefix or with #/de/…) and English (#/en/…).
// LOCALE is the language of the page being shown; render() sets it from the route.
// ---------------------------------------------------------------------------------------

/** @type {string} one of LANGS */
let LOCALE = 'de';
const LANGS = ['de', 'en'];
const INTL_LOCALES = { de: 'de-DE', en: 'en-GB' };
const intlLocale = () => INTL_LOCALES[LOCALE] || 'de-DE';
const LANGUAGE_NAMES = { de: { de: 'Deutsch', en: 'Englisch' }, en: { de: 'German', en: 'English' } };
const languageName = (code) => LANGUAGE_NAMES[LOCALE][code] || code;

/**
 * The page's texts (not the content's: that comes from the API in its own language). A value
 * is a string or a function of the arguments given to `t`. German is the default: a key
 * missing in English shows the German text.
 * @type {Record<string, Record<string, string | ((...args: any[]) => string)>>}
 */
const STRINGS = {
  de: {
    // frame (index.html: data-i18n) and router
    skip: 'Zum Inhalt springen',
    platform: 'Mitgliederplattform',
    mainNav: 'Hauptnavigation',
    home: 'Start',
    members: 'Mitglieder',
    stories: 'Geschichten',
    events: 'Veranstaltungen',
    cooperations: 'Kooperationen',
    imprint: 'Impressum',
    privacy: 'Datenschutz',
    footerAbout: '– das Netzwerk der IT-Wirtschaft in Sachsen, Sachsen-Anhalt und Thüringen (Demo, alle Inhalte fiktiv).',
    footerApi: 'Inhalte über die Verbund-API:',
    loading: 'Inhalte werden geladen …',
    liveUpdated: 'Die Seite wurde mit neu veröffentlichten Inhalten aktualisiert.',
    error: 'Fehler',
    pageMissing: 'Diese Seite gibt es nicht.',
    toHome: 'Zur Startseite',
    // languages
    onlyIn: (code) => `Nur auf ${languageName(code)} verfügbar`,
    outdated: (code) => `Das Original (${languageName(code)}) wurde seit dieser Übersetzung geändert.`,
    // errors
    errTitle: 'Die Inhalte können gerade nicht geladen werden',
    errTimeout: 'Der Server hat nicht rechtzeitig geantwortet.',
    errOffline: 'Der Server mit den Inhalten ist nicht erreichbar. Bitte prüfen Sie Ihre Internetverbindung oder versuchen Sie es in ein paar Minuten noch einmal.',
    errBusy: 'Der Server ist gerade stark ausgelastet. Bitte versuchen Sie es in einigen Augenblicken noch einmal.',
    errStatus: (status) => `Der Server hat die Anfrage mit einem Fehler beantwortet (Status ${status}).`,
    errUnexpected: 'Beim Anzeigen der Inhalte ist ein unerwarteter Fehler aufgetreten.',
    errServerSays: 'Meldung des Servers: ',
    errBadJson: 'Die Antwort des Servers ist kein gültiges JSON.',
    retry: 'Erneut versuchen',
    apiLabel: 'Schnittstelle: ',
    notFound: 'Nicht gefunden',
    // shared
    topics: 'Themen',
    photo: 'Foto',
    licence: 'Lizenz',
    member: 'Mitglied',
    time: (time) => `${time} Uhr`,
    dateTime: (date, time) => `${date}, ${time} Uhr`,
    until: 'bis',
    localTime: (zone) => `Ortszeit ${zone}`,
    venue: 'Ort',
    andOnline: 'und online',
    onlineEvent: 'Online-Veranstaltung',
    speakers: 'Mitwirkende',
    register: 'Zur Anmeldung',
    mediaNotice: 'Hinweis zu Foto-, Video- und Bildschirmaufnahmen: ',
    showProgramme: 'Programm anzeigen',
    clusterPartners: 'Partner im Cluster: ',
    otherPartners: 'Weitere Partner: ',
    coopExample: 'Kooperationsbeispiel',
    challenge: 'Herausforderung',
    solution: 'Lösung',
    outcome: 'Ergebnis',
    // start
    heroTitle: 'Digitale Kompetenz aus Mitteldeutschland',
    heroLead:
      'Im Cluster IT Mitteldeutschland arbeiten IT-Unternehmen, Hochschulen und Forschungseinrichtungen aus Sachsen, Sachsen-Anhalt und Thüringen zusammen. ' +
      'Auf dieser Plattform stellen sich die Mitglieder mit ihren Kompetenzen vor, berichten von gemeinsamen Projekten und laden zu Veranstaltungen ein.',
    statMembers: 'Mitglieder',
    statStories: 'Geschichten',
    statCoops: 'Kooperationen',
    latestStories: 'Neueste Geschichten',
    noStories: 'Noch keine Geschichten veröffentlicht.',
    allStories: 'Alle Geschichten',
    nextEvents: 'Nächste Veranstaltungen',
    noEvents: 'Zurzeit sind keine Veranstaltungen angekündigt.',
    allEvents: 'Alle Veranstaltungen',
    // members
    membersIntro: 'Unternehmen, Hochschulen und Forschungseinrichtungen im Cluster. Filtern Sie nach Bundesland und Kompetenz oder suchen Sie nach einem Namen.',
    federalState: 'Bundesland',
    allStates: 'Alle Bundesländer',
    competence: 'Kompetenz',
    allCompetences: 'Alle Kompetenzen',
    searchExample: 'z. B. Netz oder Halle',
    memberSearch: 'Name, Ort oder Stichwort',
    // search
    search: 'Suche',
    searchIntro: 'Durchsuchen Sie Mitglieder, Geschichten, Veranstaltungen und Kooperationen. Umlaute dürfen auch als ae, oe, ue und ss geschrieben werden.',
    searchLabel: 'Suchbegriffe',
    searchPlaceholder: 'z. B. Cloud Migration Halle',
    searchButton: 'Suchen',
    nHits: (n) => plural(n, 'Treffer', 'Treffer'),
    noHits: (q) => `Keine Treffer für „${q}“. Versuchen Sie andere oder weniger Wörter.`,
    searchStart: 'Geben Sie ein oder mehrere Wörter ein; mehrere Wörter in Anführungszeichen suchen den genauen Wortlaut.',
    facetType: 'Art',
    facetTopics: 'Thema',
    facetRegion: 'Bundesland',
    removeFilter: (v) => `Filter „${v}“ entfernen`,
    moreHits: 'Weitere Treffer',
    type_member: 'Mitglied',
    type_story: 'Geschichte',
    type_event: 'Veranstaltung',
    type_cooperation: 'Kooperation',
    name: 'Name',
    resetFilters: 'Filter zurücksetzen',
    filterMembers: 'Mitglieder filtern',
    nMembers: (n) => plural(n, 'Mitglied', 'Mitglieder'),
    nOfMembers: (k, n) => `${k} von ${plural(n, 'Mitglied', 'Mitgliedern')}`,
    noMembersFound: 'Keine Mitglieder gefunden. Ändern Sie die Filter oder die Suche.',
    noMatchingMembers: 'Keine passenden Mitglieder.',
    memberMissing: 'Dieses Mitglied gibt es nicht oder sein Profil ist nicht veröffentlicht.',
    toMembers: 'Zum Mitgliederverzeichnis',
    allMembers: 'Alle Mitglieder',
    legalForm: 'Rechtsform',
    memberKind: 'Art',
    seat: 'Sitz',
    size: 'Größe',
    memberSince: 'Mitglied seit',
    website: 'Website',
    competences: 'Kompetenzen',
    profile: 'Steckbrief',
    noMemberStories: 'Über dieses Mitglied gibt es noch keine Geschichten.',
    noMemberCoops: 'Noch keine veröffentlichten Kooperationsbeispiele.',
    // stories
    storiesIntro: 'Erfolgsgeschichten, Best Practices, Interviews und Meldungen aus dem Cluster und seinen Mitgliedsunternehmen.',
    topic: 'Thema',
    allTopics: 'Alle Themen',
    storyKind: 'Art',
    allKinds: 'Alle Arten',
    filterStories: 'Geschichten filtern',
    nStories: (n) => plural(n, 'Geschichte', 'Geschichten'),
    noStoriesForFilter: 'Zu dieser Auswahl gibt es noch keine Geschichten.',
    moreStories: 'Weitere Geschichten laden',
    storyMissing: 'Diese Geschichte gibt es nicht oder sie ist (noch) nicht veröffentlicht.',
    toStories: 'Zu allen Geschichten',
    by: 'Von ',
    lessons: 'Lessons Learned: Was andere mitnehmen können',
    involvedMembers: 'Beteiligte Mitglieder',
    // events
    eventsIntro: 'Kommende Termine des Clusters und seiner Mitglieder: vor Ort, online und hybrid. Alle Zeiten in der Ortszeit der Veranstaltung.',
    nEvents: (n) => plural(n, 'Veranstaltung', 'Veranstaltungen'),
    noEventsLong: 'Zurzeit sind keine Veranstaltungen angekündigt. Schauen Sie bald wieder vorbei.',
    eventMissing: 'Diese Veranstaltung gibt es nicht oder sie ist nicht veröffentlicht.',
    toEvents: 'Zu allen Veranstaltungen',
    eventPast: 'Diese Veranstaltung hat bereits stattgefunden.',
    programme: 'Programm',
    morePhotos: 'Weitere Fotos',
    atAGlance: 'Auf einen Blick',
    when: 'Wann',
    format: 'Format',
    online: 'Online',
    onlineRoom: 'Zum Online-Raum',
    accessAfterRegistration: 'Zugang nach Anmeldung',
    organisers: 'Veranstalter',
    // cooperations
    coopsIntro: 'Wie Mitglieder gemeinsam Aufgaben lösen: Beispiele mit Ausgangslage, Lösung und Ergebnis – oft zusammen mit Verwaltungen, Hochschulen und Verbänden.',
    nCoops: (n) => plural(n, 'Kooperationsbeispiel', 'Kooperationsbeispiele'),
    noCoops: 'Noch keine Kooperationsbeispiele veröffentlicht.',
    coopMissing: 'Dieses Kooperationsbeispiel gibt es nicht oder es ist nicht veröffentlicht.',
    toCoops: 'Zu allen Kooperationen',
    allCoops: 'Alle Kooperationen',
    // legal
    imprintPlaceholder: 'Platzhalter: Hier stehen die Anbieterangaben nach § 5 DDG (Name und Anschrift des Vereins, Vertretungsberechtigte, Kontakt, Registereintrag).',
    fictional: 'Cluster IT Mitteldeutschland e. V. ist ein fiktiver Verein. Alle Unternehmen, Personen und Projekte auf dieser Demo-Seite sind erfunden.',
    privacyPlaceholder: 'Platzhalter: Hier steht die Datenschutzerklärung des Betreibers.',
    privacyText:
      'Diese Seite setzt keine Cookies und bindet keine Schriften, Skripte oder Stile von Drittanbietern ein. ' +
      'Die Adresse der Inhalte-Schnittstelle wird, falls über die Adresszeile gewählt, nur für die laufende Sitzung im Browser gespeichert. ' +
      'Logos, Fotos und Bilder kommen vom selben Server wie die Inhalte; es werden keine Bilder von anderen Anbietern geladen.',
  },
  en: {
    skip: 'Skip to content',
    platform: 'Member platform',
    mainNav: 'Main navigation',
    home: 'Home',
    members: 'Members',
    stories: 'Stories',
    events: 'Events',
    cooperations: 'Cooperations',
    imprint: 'Legal notice',
    privacy: 'Privacy',
    footerAbout: '– the network of the IT industry in Saxony, Saxony-Anhalt and Thuringia (demo, all content fictional).',
    footerApi: 'Content from the Verbund API:',
    loading: 'Loading content …',
    liveUpdated: 'The page has been updated with newly published content.',
    error: 'Error',
    pageMissing: 'This page does not exist.',
    toHome: 'To the home page',
    onlyIn: (code) => `Only available in ${languageName(code)}`,
    outdated: (code) => `The ${languageName(code)} original has been updated since this translation.`,
    errTitle: 'The content cannot be loaded right now',
    errTimeout: 'The server did not answer in time.',
    errOffline: 'The content server cannot be reached. Please check your internet connection or try again in a few minutes.',
    errBusy: 'The server is very busy right now. Please try again in a few moments.',
    errStatus: (status) => `The server answered the request with an error (status ${status}).`,
    errUnexpected: 'An unexpected error occurred while showing the content.',
    errServerSays: 'Message from the server: ',
    errBadJson: "The server's answer is not valid JSON.",
    retry: 'Try again',
    apiLabel: 'API: ',
    notFound: 'Not found',
    topics: 'Topics',
    photo: 'Photo',
    licence: 'Licence',
    member: 'Member',
    time: (time) => time,
    dateTime: (date, time) => `${date}, ${time}`,
    until: 'to',
    localTime: (zone) => `local time ${zone}`,
    venue: 'Venue',
    andOnline: 'and online',
    onlineEvent: 'Online event',
    speakers: 'Speakers',
    register: 'Register',
    mediaNotice: 'Note on photo, video and screen recordings: ',
    showProgramme: 'Show programme',
    clusterPartners: 'Partners in the cluster: ',
    otherPartners: 'Further partners: ',
    coopExample: 'Cooperation example',
    challenge: 'Challenge',
    solution: 'Solution',
    outcome: 'Outcome',
    heroTitle: 'Digital expertise from Central Germany',
    heroLead:
      'In the Cluster IT Mitteldeutschland, IT companies, universities and research institutes from Saxony, Saxony-Anhalt and Thuringia work together. ' +
      'On this platform the members present their expertise, report on joint projects and invite you to events.',
    statMembers: 'members',
    statStories: 'stories',
    statCoops: 'cooperations',
    latestStories: 'Latest stories',
    noStories: 'No stories published yet.',
    allStories: 'All stories',
    nextEvents: 'Upcoming events',
    noEvents: 'No events are announced at the moment.',
    allEvents: 'All events',
    membersIntro: 'Companies, universities and research institutes in the cluster. Filter by federal state and expertise or search for a name.',
    federalState: 'Federal state',
    allStates: 'All federal states',
    competence: 'Expertise',
    allCompetences: 'All areas of expertise',
    searchExample: 'e.g. Netz or Halle',
    memberSearch: 'Name, place or keyword',
    search: 'Search',
    searchIntro: 'Search members, stories, events and cooperations in English and German.',
    searchLabel: 'Search terms',
    searchPlaceholder: 'e.g. cloud migration Halle',
    searchButton: 'Search',
    nHits: (n) => plural(n, 'result', 'results'),
    noHits: (q) => `No results for “${q}”. Try other or fewer words.`,
    searchStart: 'Enter one or more words; words in quotes find the exact phrase.',
    facetType: 'Type',
    facetTopics: 'Topic',
    facetRegion: 'Federal state',
    removeFilter: (v) => `Remove the filter “${v}”`,
    moreHits: 'More results',
    type_member: 'Member',
    type_story: 'Story',
    type_event: 'Event',
    type_cooperation: 'Cooperation',
    name: 'Name',
    resetFilters: 'Reset filters',
    filterMembers: 'Filter members',
    nMembers: (n) => plural(n, 'member', 'members'),
    nOfMembers: (k, n) => `${k} of ${plural(n, 'member', 'members')}`,
    noMembersFound: 'No members found. Change the filters or the search.',
    noMatchingMembers: 'No matching members.',
    memberMissing: 'This member does not exist or its profile is not published.',
    toMembers: 'To the member directory',
    allMembers: 'All members',
    legalForm: 'Legal form',
    memberKind: 'Type',
    seat: 'Based in',
    size: 'Size',
    memberSince: 'Member since',
    website: 'Website',
    competences: 'Expertise',
    profile: 'Fact sheet',
    noMemberStories: 'There are no stories about this member yet.',
    noMemberCoops: 'No published cooperation examples yet.',
    storiesIntro: 'Success stories, best practices, interviews and news from the cluster and its member companies.',
    topic: 'Topic',
    allTopics: 'All topics',
    storyKind: 'Type',
    allKinds: 'All types',
    filterStories: 'Filter stories',
    nStories: (n) => plural(n, 'story', 'stories'),
    noStoriesForFilter: 'There are no stories for this selection yet.',
    moreStories: 'Load more stories',
    storyMissing: 'This story does not exist or is not published (yet).',
    toStories: 'To all stories',
    by: 'By ',
    lessons: 'Lessons learned: what others can take away',
    involvedMembers: 'Members involved',
    eventsIntro: 'Upcoming events of the cluster and its members: on site, online and hybrid. All times in the local time of the event.',
    nEvents: (n) => plural(n, 'event', 'events'),
    noEventsLong: 'No events are announced at the moment. Do come back soon.',
    eventMissing: 'This event does not exist or is not published.',
    toEvents: 'To all events',
    eventPast: 'This event has already taken place.',
    programme: 'Programme',
    morePhotos: 'More photos',
    atAGlance: 'At a glance',
    when: 'When',
    format: 'Format',
    online: 'Online',
    onlineRoom: 'Join online',
    accessAfterRegistration: 'Access after registration',
    organisers: 'Organisers',
    coopsIntro: 'How members solve problems together: examples with challenge, solution and outcome – often together with public administrations, universities and associations.',
    nCoops: (n) => plural(n, 'cooperation example', 'cooperation examples'),
    noCoops: 'No cooperation examples published yet.',
    coopMissing: 'This cooperation example does not exist or is not published.',
    toCoops: 'To all cooperations',
    allCoops: 'All cooperations',
    imprintPlaceholder: 'Placeholder: the provider information required by § 5 DDG goes here (name and address of the association, authorised representatives, contact, register entry).',
    fictional: 'Cluster IT Mitteldeutschland e. V. is a fictional association. All companies, people and projects on this demo site are made up.',
    privacyPlaceholder: "Placeholder: the operator's privacy policy goes here.",
    privacyText:
      'This site sets no cookies and loads no fonts, scripts or styles from third parties. ' +
      'The address of the content API, if chosen in the address bar, is stored in the browser for the current session only. ' +
      'Logos, photos and pictures come from the same server as the content; no pictures are loaded from other providers.',
  },
};

/** The page's text `key` in LOCALE (else German), with `args` for the texts that take some. */
function t(key, ...args) {
  const value = STRINGS[LOCALE][key] ?? STRINGS.de[key];
  if (typeof value === 'function') return value(...args);
  return value ?? key;
}

// ---------------------------------------------------------------------------------------
// Labels of enum values: topics, kinds, formats. They are written once per locale, in the
// schemas (`x-verbund.labels`), and read from GET /api/v1/schemas/{type} before the first
// page renders (see loadLabels), so the website, the server and the plugins agree.
// ---------------------------------------------------------------------------------------

const TOPICS = {};
const STORY_KINDS = {};
const MEMBER_KINDS = {};
const PARTNER_KINDS = {};
const EVENT_FORMATS = {};
const EMPLOYEES = {};

/** The labels in LOCALE (a missing one in German) of a schema property (for a list: of its items). */
function labelsOf(prop) {
  const own = prop && prop['x-verbund'] && prop['x-verbund'].labels;
  const items = prop && prop.items && prop.items['x-verbund'] && prop.items['x-verbund'].labels;
  const labels = own || items || {};
  return { ...labels.de, ...labels[LOCALE] };
}

/** Replaces the contents of a label map. */
const setLabels = (map, labels) => {
  for (const key of Object.keys(map)) delete map[key];
  Object.assign(map, labels);
};

let labelsLoading = null;
let labelsLocale = null;
/** Reads the schemas, once (again after a failure), and fills the label maps in LOCALE. */
async function loadLabels() {
  if (!labelsLoading) {
    const schema = async (type) => (await apiGet(`schemas/${type}`)).data.schema.properties || {};
    labelsLoading = Promise.all(['story', 'member', 'event', 'cooperation'].map(schema)).catch((e) => {
      labelsLoading = null;
      throw e;
    });
    labelsLocale = null;
  }
  const [story, member, event, cooperation] = await labelsLoading;
  if (labelsLocale === LOCALE) return;
  setLabels(TOPICS, labelsOf(story.topics));
  setLabels(STORY_KINDS, labelsOf(story.kind));
  setLabels(MEMBER_KINDS, labelsOf(member.kind));
  setLabels(EMPLOYEES, labelsOf(member.employees));
  setLabels(EVENT_FORMATS, labelsOf(event.format));
  const partners = cooperation.external_partners;
  setLabels(PARTNER_KINDS, labelsOf(partners && partners.items && partners.items.properties && partners.items.properties.kind));
  labelsLocale = LOCALE;
}

const label = (map, key) => (key != null && map[key]) || key || '';
const topicLabel = (slug) => label(TOPICS, slug);
const byLocale = (a, b) => a.localeCompare(b, LOCALE, { sensitivity: 'base' });

// ---------------------------------------------------------------------------------------
// DOM helpers: text only, never HTML (except renderMarkdown's escaped output)
// ---------------------------------------------------------------------------------------

/**
 * Creates an element. `props`: `class`, `text`, `on` ({event: handler}), any other key is
 * an attribute (null/false/undefined skip it, true sets it empty). Children: nodes,
 * strings (as text), arrays, null/false (skipped).
 */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false || child === '') continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** A container with rendered (escaped, sanitised) Markdown. */
function markdown(source, props = {}) {
  const el = h('div', { class: 'prose', ...props });
  el.innerHTML = renderMarkdown(source); // safe: renderMarkdown escapes all input first
  return el;
}

/** An external link, only for http(s) URLs; otherwise the plain text. */
function extLink(url, text, props = {}) {
  if (!isHttpUrl(url)) return text ? h('span', {}, text) : null;
  return h('a', { href: url, rel: 'noopener noreferrer', target: '_blank', ...props }, text || url);
}

// ---- images: from the `assets` of a delivery answer ----

/**
 * A URL of the delivery API (`/assets/…`: relative to the API's origin, which is not the
 * page's with `?api=`) as an absolute URL; null for anything but http(s).
 */
function apiUrl(path) {
  if (typeof path !== 'string' || !path) return null;
  try {
    const u = new URL(path, `${API_BASE}/`);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  } catch {
    return null;
  }
}

/** An asset's `srcset` ("URL 320w, URL 640w, …") with its URLs resolved by apiUrl; null if malformed. */
function assetSrcset(srcset) {
  if (typeof srcset !== 'string') return null;
  const out = [];
  for (const candidate of srcset.split(',')) {
    const [url, width, ...rest] = candidate.trim().split(/\s+/);
    const abs = apiUrl(url);
    if (!abs || !/^\d+w$/.test(width || '') || rest.length) return null;
    out.push(`${abs} ${width}`);
  }
  return out.length ? out.join(', ') : null;
}

/**
 * The alternative text of an image in the page's language, else German; '' only for an image
 * marked decorative; null when a described image has none (it is not shown then).
 * @param {MediaAsset} asset
 */
function altText(asset) {
  if (asset.decorative) return '';
  const alt = asset.alt || {};
  const text = (alt[LOCALE] || alt.de || '').trim();
  return text || null;
}

/** @typedef {Array<[string | null, string]>} Sizes */

/**
 * How wide the layout shows an image, for `sizes`: [media condition, width] pairs, the last
 * without a condition. Keep in step with style.css.
 * @type {Record<'gridCard' | 'homeCard' | 'story' | 'eventMain', Sizes>}
 */
const SIZES = {
  // a card in .grid (3 columns from ~65rem, 2 from 45rem): the card's inner width
  gridCard: [['(min-width: 65rem)', '22rem'], ['(min-width: 45rem)', '50vw'], [null, '100vw']],
  // a card in the wide column of the start page
  homeCard: [['(min-width: 72rem)', '40rem'], ['(min-width: 60rem)', '56vw'], [null, '100vw']],
  // the story page (.story, 48rem)
  story: [['(min-width: 51rem)', '48rem'], [null, '100vw']],
  // the main column of an event page (2 of 3 columns from 56rem)
  eventMain: [['(min-width: 72rem)', '45rem'], ['(min-width: 56rem)', '64vw'], [null, '100vw']],
};

/**
 * An image of the `assets` sidecar as `<img>`: `src` is the preset (for browsers without
 * srcset), `srcset` the asset's signed widths (the server picks WebP or AVIF by `Accept`),
 * `sizes` how wide the layout shows it. The width and height attributes are the preset's
 * (the size the server renders, never more than the original's), scaled down to fit `box`
 * ([width, height] in CSS pixels) if given; CSS only ever shrinks them (max-width: 100%), so
 * a picture is never stretched beyond its pixels. A cover preset (card, hero, thumb) keeps its
 * aspect ratio with the focal point in view. Null if there is no image or no alt text although
 * the image is not decorative. An image that cannot be loaded removes itself (or its
 * `[data-image-box]`).
 * @param {MediaAsset | undefined} asset
 * @param {string} preset  thumb, card, hero or logo (the server's presets)
 * @param {{sizes?: Sizes, box?: [number, number], cover?: boolean} & Record<string, any>} [options]
 */
function assetImage(asset, preset, { sizes = [[null, '100vw']], box, cover = false, ...props } = {}) {
  if (!asset || asset.kind !== 'image' || !asset.presets || !asset.presets[preset]) return null;
  const p = asset.presets[preset];
  const src = apiUrl(p.url);
  const alt = altText(asset);
  if (!src || alt == null || !(p.width > 0 && p.height > 0)) return null;
  const scale = box ? Math.min(1, box[0] / p.width, box[1] / p.height) : 1;
  const width = Math.max(1, Math.round(p.width * scale));
  const height = Math.max(1, Math.round(p.height * scale));
  // With object-fit: cover a picture wider than its box is shown wider than the box: ask for
  // that many pixels (the srcset candidates have the original's aspect ratio).
  const stretch = cover && asset.width && asset.height ? Math.max(1, asset.width / asset.height / (p.width / p.height)) : 1;
  const length = (l) => (stretch > 1.01 ? `calc(${l} * ${stretch.toFixed(3)})` : l);
  const el = h('img', {
    src,
    srcset: assetSrcset(asset.srcset),
    sizes: box ? `${Math.ceil(width * stretch)}px` : sizes.map(([cond, l]) => (cond ? `${cond} ${length(l)}` : length(l))).join(', '),
    width,
    height,
    alt,
    loading: 'lazy',
    decoding: 'async',
    ...props,
  });
  if (cover) {
    // CSSOM, not a style attribute: allowed by the site's CSP (style-src 'self').
    el.classList.add('img-cover');
    el.style.aspectRatio = `${width} / ${height}`;
    if (asset.focal) el.style.objectPosition = `${Math.round(asset.focal.x * 100)}% ${Math.round(asset.focal.y * 100)}%`;
  }
  el.addEventListener('error', () => {
    const boxEl = el.closest('[data-image-box]') || el;
    boxEl.remove();
  });
  return el;
}

/** "Foto: Redaktion … · Lizenz: CC BY 4.0" for an image's credit line; '' without credit and licence. */
function creditLine(asset) {
  return [asset.credit ? `${t('photo')}: ${asset.credit}` : null, asset.license ? `${t('licence')}: ${asset.license}` : null].filter(Boolean).join(' · ');
}

/**
 * A figure: the image and under it the asset's caption and credit line.
 * @param {MediaAsset | undefined} asset
 * @param {HTMLElement | null} img  from assetImage
 */
function assetFigure(asset, img, props = {}) {
  if (!asset || !img) return null;
  const credit = creditLine(asset);
  return h(
    'figure',
    { 'data-image-box': '', ...props, class: ['figure', props.class].filter(Boolean).join(' ') },
    img,
    asset.caption || credit
      ? h(
          'figcaption',
          {},
          asset.caption ? h('span', { class: 'figure-caption' }, asset.caption) : null,
          credit ? h('small', { class: 'credit', 'data-testid': 'image-credit' }, credit) : null,
        )
      : null,
  );
}

function chips(slugs, hrefFor, lang = null) {
  if (!Array.isArray(slugs) || !slugs.length) return null;
  return h(
    'ul',
    { class: 'chips', 'aria-label': t('topics'), lang },
    slugs.map((s) =>
      h('li', {}, hrefFor ? h('a', { class: 'chip', href: hrefFor(s) }, topicLabel(s)) : h('span', { class: 'chip' }, topicLabel(s))),
    ),
  );
}

/** The route prefix of a language: none for German (the routes as they always were), `/en` for English. */
const langPrefix = (lang = LOCALE) => (lang === 'de' ? '' : `/${lang}`);
/** A link to a route of the site in the page's language: route('/mitglieder', {land}) → "#/en/mitglieder?land=…". */
const route = (path, params) => {
  const qs = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString() : '';
  return `#${langPrefix()}${path}${qs ? `?${qs}` : ''}`;
};
const slugPath = (base, slug) => route(`/${base}/${encodeURIComponent(slug)}`);

// ---- entries in another language than the page's ----

/**
 * The language of an entry shown on a page in another one (a German original on the English
 * site, where there is no English translation), for its container's `lang`; null otherwise.
 * @param {{locale?: string} | null | undefined} entry
 */
const otherLang = (entry) => (entry && entry.locale && entry.locale !== LOCALE ? entry.locale : null);
/** `lang` for the page's own texts (labels, headings) inside such an entry's container; null elsewhere. */
const uiLang = (entry) => (otherLang(entry) ? LOCALE : null);

/**
 * "Only available in German": the visible mark of an entry shown in another language (else null).
 * @param {{locale?: string}} entry
 */
function fallbackNotice(entry, tag = 'span', className = 'fallback-notice') {
  const lang = otherLang(entry);
  return lang ? h(tag, { class: className, lang: LOCALE, 'data-testid': 'fallback-notice' }, t('onlyIn', lang)) : null;
}

/**
 * The note on a translation some of whose fields changed in the original since it was
 * translated (its `outdated`); null otherwise.
 * @param {{outdated?: string[], translation_of?: string, translations?: Array<{id: string, locale: string}>}} entry
 */
function outdatedNotice(entry) {
  if (!Array.isArray(entry.outdated) || !entry.outdated.length) return null;
  const original = (entry.translations || []).find((v) => v.id === entry.translation_of);
  return h('p', { class: 'notice notice-info notice-small', 'data-testid': 'outdated-notice' }, t('outdated', original ? original.locale : 'de'));
}

// ---------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------

function validTimeZone(tz) {
  try {
    new Intl.DateTimeFormat('de-DE', { timeZone: tz });
    return tz;
  } catch {
    return 'Europe/Berlin';
  }
}

/** "1. März 2011" for a calendar date (YYYY-MM-DD). */
function formatDay(date) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date || '');
  if (!m) return date || '';
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return new Intl.DateTimeFormat(intlLocale(), { timeZone: 'UTC', day: 'numeric', month: 'long', year: 'numeric' }).format(d);
}

/** "5. November 2026" for an instant, in German time. */
function formatPublished(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return new Intl.DateTimeFormat(intlLocale(), { timeZone: 'Europe/Berlin', day: 'numeric', month: 'long', year: 'numeric' }).format(d);
}

function eventParts(iso, tz) {
  const d = new Date(iso);
  const zone = validTimeZone(tz);
  const locale = intlLocale();
  const date = new Intl.DateTimeFormat(locale, {
    timeZone: zone,
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    year: 'numeric',
  }).format(d);
  const time = new Intl.DateTimeFormat(locale, { timeZone: zone, hour: '2-digit', minute: '2-digit' }).format(d);
  const day = new Intl.DateTimeFormat(locale, { timeZone: zone, day: 'numeric' }).format(d);
  const month = new Intl.DateTimeFormat(locale, { timeZone: zone, month: 'short' }).format(d);
  return { date, time, day, month };
}

/**
 * "Donnerstag, 29. Oktober 2026, 15:00 Uhr – 19:30 Uhr" ("Thursday, 29 October 2026, 15:00 –
 * 19:30" in English) in the event's own time zone.
 */
function formatEventTime(ev) {
  const start = eventParts(ev.starts_at, ev.timezone);
  let text = t('dateTime', start.date, start.time);
  if (ev.ends_at) {
    const end = eventParts(ev.ends_at, ev.timezone);
    text += end.date === start.date ? ` – ${t('time', end.time)}` : ` ${t('until')} ${t('dateTime', end.date, end.time)}`;
  }
  const zone = validTimeZone(ev.timezone);
  if (zone !== 'Europe/Berlin') text += ` (${t('localTime', zone)})`;
  return text;
}

function isPast(ev) {
  const end = new Date(ev.ends_at || ev.starts_at);
  return !Number.isNaN(end.getTime()) && end.getTime() < Date.now();
}

/** Now, rounded down to the minute: the same URL for a minute keeps the API's caches warm. */
function nowIso() {
  const d = new Date();
  d.setUTCSeconds(0, 0);
  return d.toISOString().replace('.000Z', 'Z');
}

// ---------------------------------------------------------------------------------------
// API access
// ---------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem, url) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status; // 0: no answer at all
    this.problem = problem || {};
    this.url = String(url);
  }
}

const TIMEOUT_MS = 15000;

/**
 * GET from the delivery API. `cache: 'no-cache'` makes the browser revalidate its cached
 * copy with the ETag on every load (304 when nothing changed), so newly published content
 * shows up at once.
 */
async function apiGet(path, params = {}) {
  const url = new URL(`${API_BASE}/api/v1/${path}`);
  // Content in the page's language; where an entry has no translation into it, its German version.
  if (path.startsWith('content/') && LOCALE !== 'de') {
    url.searchParams.set('locale', LOCALE);
    url.searchParams.set('fallback', 'de');
  }
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
  let res;
  try {
    res = await fetch(url, { cache: 'no-cache', headers: { Accept: 'application/json' }, signal: abort.signal });
  } catch (e) {
    clearTimeout(timer);
    throw new ApiError(0, { detail: e && e.name === 'AbortError' ? 'timeout' : null }, url);
  }
  try {
    if (!res.ok) {
      let problem = {};
      try {
        problem = await res.json();
      } catch {
        /* not problem+json */
      }
      throw new ApiError(res.status, problem, url);
    }
    try {
      return await res.json();
    } catch {
      throw new ApiError(res.status, { detail: t('errBadJson') }, url);
    }
  } finally {
    clearTimeout(timer);
  }
}

/**
 * All pages of a list (follows meta.next_cursor), with `included` and `assets` merged.
 * @returns {Promise<{data: any[], included: Record<string, any[]>, assets: Assets}>}
 */
async function apiAll(type, params = {}, maxPages = 20) {
  const data = [];
  /** @type {Record<string, any[]>} */
  const included = {};
  /** @type {Assets} */
  const assets = {};
  let cursor = null;
  for (let page = 0; page < maxPages; page++) {
    const res = await apiGet(`content/${type}`, { ...params, limit: 100, cursor });
    data.push(...(res.data || []));
    Object.assign(assets, res.assets);
    for (const [t, list] of Object.entries(res.included || {})) {
      const have = (included[t] ||= []);
      for (const item of list) if (!have.some((x) => x.id === item.id)) have.push(item);
    }
    cursor = res.meta && res.meta.next_cursor;
    if (!cursor) break;
  }
  return { data, included, assets };
}

/** Entries by id; a translation also by its original's id (what references hold). */
const byId = (list) => new Map((list || []).flatMap((x) => (x.translation_of ? [[x.translation_of, x], [x.id, x]] : [[x.id, x]])));

// ---------------------------------------------------------------------------------------
// Shared views
// ---------------------------------------------------------------------------------------

function errorBox(err, retry) {
  const status = err instanceof ApiError ? err.status : -1;
  const detail = err instanceof ApiError ? err.problem.detail : null;
  let why;
  if (status === 0 && detail === 'timeout') {
    why = t('errTimeout');
  } else if (status === 0) {
    why = t('errOffline');
  } else if (status === 429 || status === 503) {
    why = t('errBusy');
  } else if (status > 0) {
    why = t('errStatus', status);
  } else {
    why = t('errUnexpected');
  }
  return h(
    'section',
    { class: 'notice notice-error', role: 'alert', 'data-testid': 'error' },
    h('h2', { text: t('errTitle') }),
    h('p', { text: why }),
    status > 0 && detail && detail !== 'timeout'
      ? h('p', { class: 'notice-detail' }, h('strong', { text: t('errServerSays') }), h('span', { lang: 'en' }, detail))
      : null,
    status === -1 && err && err.message ? h('p', { class: 'notice-detail', text: err.message }) : null,
    h(
      'p',
      { class: 'notice-actions' },
      h('button', { type: 'button', class: 'button', 'data-testid': 'retry', on: { click: retry } }, t('retry')),
    ),
    h('p', { class: 'notice-meta' }, t('apiLabel'), h('code', { text: API_BASE })),
  );
}

function notFound(what, backHref, backText) {
  return h(
    'section',
    { class: 'notice', 'data-testid': 'not-found' },
    h('h1', { text: t('notFound'), tabindex: '-1' }),
    h('p', { text: what }),
    h('p', {}, h('a', { href: backHref }, backText)),
  );
}

function pageHeader(title, intro) {
  return h(
    'header',
    { class: 'page-header' },
    h('h1', { tabindex: '-1' }, title),
    intro ? h('p', { class: 'lead' }, intro) : null,
  );
}

function back(href, text, lang = null) {
  return h('p', { class: 'back', lang }, h('a', { href }, `← ${text}`));
}

/** On an entry's page: "Only available in German" and the note on an outdated translation (each only if so). */
function languageNotices(entry) {
  const outdated = outdatedNotice(entry);
  const fallback = fallbackNotice(entry, 'p', 'notice notice-info notice-small');
  return fallback || outdated ? h('div', { class: 'language-notices', lang: LOCALE }, fallback, outdated) : null;
}

function section(title, testid, ...children) {
  return h('section', { class: 'section', 'data-testid': testid }, h('h2', {}, title), ...children);
}

function empty(text) {
  return h('p', { class: 'empty', 'data-testid': 'empty' }, text);
}

function plural(n, one, many) {
  return `${n.toLocaleString(intlLocale())} ${n === 1 ? one : many}`;
}

function excerpt(markdownSource, max = 170) {
  const text = markdownToText(markdownSource);
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), max - 20))} …`;
}

// ---- cards ----

/**
 * @param {Member} m
 * @param {{headingLevel?: string, compact?: boolean, assets?: Assets}} [options]  `assets`: where its logo is
 */
function memberCard(m, { headingLevel = 'h2', compact = false, assets = {} } = {}) {
  const H = headingLevel;
  const logo = compact ? null : assetImage(assets[m.logo], 'logo', { box: [160, 64], class: 'card-logo', 'data-testid': 'member-logo' });
  // A compact card (the members a story names, from `include`: the originals) shows only the
  // name and the place, no text in the member's language: no language mark.
  const marked = compact ? null : m;
  return h(
    'article',
    { class: 'card member-card', 'data-testid': 'member-card', lang: otherLang(marked) },
    logo ? h('div', { class: 'card-logo-box', 'data-image-box': '' }, logo) : null,
    h('p', { class: 'eyebrow', lang: uiLang(marked) }, label(MEMBER_KINDS, m.kind) || t('member'), fallbackNotice(marked)),
    h(H, { class: 'card-title' }, h('a', { href: slugPath('mitglieder', m.slug), 'data-testid': 'member-name' }, m.name)),
    h('p', { class: 'card-meta', 'data-testid': 'member-place' }, [m.city, m.state_region].filter(Boolean).join(' · ')),
    compact || !m.description ? null : h('p', { class: 'card-text' }, excerpt(m.description)),
    compact ? null : chips(m.services, null, uiLang(m)),
  );
}

/**
 * @param {Story} s
 * @param {{headingLevel?: string, assets?: Assets, sizes?: Sizes}} [options]
 *   `assets`: where its image is; `sizes`: how wide the card is (SIZES)
 */
function storyCard(s, { headingLevel = 'h2', assets = {}, sizes = SIZES.gridCard } = {}) {
  const H = headingLevel;
  const img = assetImage(assets[s.image], 'card', { sizes, cover: true, class: 'card-image', 'data-testid': 'story-card-image' });
  return h(
    'article',
    { class: 'card story-card', 'data-testid': 'story-card', lang: otherLang(s) },
    img ? h('div', { class: 'card-image-box', 'data-image-box': '' }, img) : null,
    h(
      'p',
      { class: 'eyebrow', lang: uiLang(s) },
      h('span', { class: `kind kind-${s.kind || 'news'}`, 'data-testid': 'story-kind' }, label(STORY_KINDS, s.kind)),
      s.published_at ? h('time', { datetime: s.published_at }, formatPublished(s.published_at)) : null,
      fallbackNotice(s),
    ),
    h(H, { class: 'card-title' }, h('a', { href: slugPath('geschichten', s.slug), 'data-testid': 'story-title' }, s.title)),
    s.teaser ? h('p', { class: 'card-text' }, s.teaser) : null,
    chips(s.topics, null, uiLang(s)),
  );
}

/** @param {ClusterEvent} ev */
function eventDateBadge(ev) {
  const p = eventParts(ev.starts_at, ev.timezone);
  return h(
    'div',
    { class: 'date-badge', 'aria-hidden': 'true' },
    h('span', { class: 'date-badge-day' }, p.day),
    h('span', { class: 'date-badge-month' }, p.month.replace('.', '')),
  );
}

/** @param {ClusterEvent} ev */
function eventPlace(ev) {
  const parts = [];
  if (ev.venue && (ev.format === 'on_site' || ev.format === 'hybrid' || !ev.format)) {
    const v = ev.venue;
    const street = [v.street, [v.postal_code, v.city].filter(Boolean).join(' ')].filter(Boolean).join(', ');
    parts.push(h('span', {}, v.name + (street ? `, ${street}` : '')));
  }
  if (ev.format === 'online' || ev.format === 'hybrid') {
    parts.push(h('span', { lang: uiLang(ev) }, ev.format === 'hybrid' ? t('andOnline') : t('onlineEvent')));
  }
  return parts.length ? h('p', { class: 'event-place', 'data-testid': 'event-place' }, h('span', { class: 'sr-label', lang: uiLang(ev) }, `${t('venue')}: `), parts.map((p, i) => [i ? ' ' : '', p])) : null;
}

/** @param {ClusterEvent} ev */
function programme(ev) {
  if (!Array.isArray(ev.programme) || !ev.programme.length) return null;
  return h(
    'ol',
    { class: 'programme', 'data-testid': 'programme' },
    ev.programme.map((item) =>
      h(
        'li',
        {},
        h('span', { class: 'programme-time', lang: uiLang(ev) }, t('time', item.time)),
        h(
          'div',
          { class: 'programme-body' },
          h('span', { class: 'programme-title' }, item.title),
          Array.isArray(item.speakers) && item.speakers.length
            ? h(
                'ul',
                { class: 'speakers', 'aria-label': t('speakers') },
                item.speakers.map((sp) =>
                  h('li', { 'data-testid': 'speaker' }, sp.name, sp.organisation ? h('span', { class: 'speaker-org' }, `, ${sp.organisation}`) : null),
                ),
              )
            : null,
        ),
      ),
    ),
  );
}

/** @param {ClusterEvent} ev */
function registration(ev) {
  const past = isPast(ev);
  return h(
    'div',
    { class: 'registration' },
    !past && isHttpUrl(ev.registration_url)
      ? h('p', { lang: uiLang(ev) }, extLink(ev.registration_url, t('register'), { class: 'button', 'data-testid': 'registration' }))
      : null,
    ev.media_notice
      ? h(
          'p',
          { class: 'media-notice', 'data-testid': 'media-notice' },
          h('strong', { lang: uiLang(ev) }, t('mediaNotice')),
          ev.media_notice,
        )
      : null,
  );
}

/**
 * @param {ClusterEvent} ev
 * @param {{headingLevel?: string, compact?: boolean, assets?: Assets}} [options]  `assets`: where its photos are
 */
function eventCard(ev, { headingLevel = 'h2', compact = false, assets = {} } = {}) {
  const H = headingLevel;
  const photo = compact || !Array.isArray(ev.photos) ? null : assetImage(assets[ev.photos[0]], 'thumb', { box: [128, 128], cover: true, class: 'event-thumb', 'data-testid': 'event-thumb' });
  return h(
    'article',
    { class: `card event-card${compact ? ' event-card-compact' : ''}`, 'data-testid': 'event-card', lang: otherLang(ev) },
    eventDateBadge(ev),
    h(
      'div',
      { class: 'event-main' },
      h('p', { class: 'eyebrow', lang: uiLang(ev) }, label(EVENT_FORMATS, ev.format), fallbackNotice(ev)),
      h(H, { class: 'card-title' }, h('a', { href: slugPath('veranstaltungen', ev.slug), 'data-testid': 'event-title' }, ev.title)),
      h('p', { class: 'event-time', 'data-testid': 'event-time', lang: uiLang(ev) }, h('time', { datetime: ev.starts_at }, formatEventTime(ev))),
      eventPlace(ev),
      !compact && ev.summary ? h('p', { class: 'card-text' }, ev.summary) : null,
      !compact && ev.programme && ev.programme.length
        ? h('details', { class: 'programme-details' }, h('summary', { lang: uiLang(ev) }, t('showProgramme')), programme(ev))
        : null,
      compact ? null : registration(ev),
    ),
    photo ? h('div', { class: 'event-thumb-box', 'data-image-box': '' }, photo) : null,
  );
}

/**
 * @param {Cooperation} coop
 * @param {Map<string, Member>} members
 */
function partnerList(coop, members) {
  const partners = (coop.partners || []).map((id) => members.get(id)).filter(Boolean);
  const external = Array.isArray(coop.external_partners) ? coop.external_partners : [];
  return h(
    'div',
    { class: 'partners' },
    partners.length
      ? h(
          'p',
          {},
          h('strong', { lang: uiLang(coop) }, t('clusterPartners')),
          partners.map((m, i) => [
            i ? ', ' : '',
            h('a', { href: slugPath('mitglieder', m.slug), 'data-testid': 'cooperation-partner' }, m.name),
          ]),
        )
      : null,
    external.length
      ? h(
          'p',
          { 'data-testid': 'external-partners' },
          h('strong', { lang: uiLang(coop) }, t('otherPartners')),
          external.map((p, i) => [i ? ', ' : '', p.name, p.kind ? ` (${label(PARTNER_KINDS, p.kind)})` : '']),
        )
      : null,
  );
}

/**
 * @param {Cooperation} coop
 * @param {Map<string, Member>} members
 */
function cooperationCard(coop, members, { headingLevel = 'h2', full = true } = {}) {
  const H = headingLevel;
  const sub = headingLevel === 'h1' ? 'h2' : 'h3';
  return h(
    'article',
    { class: `card cooperation-card${full ? ' cooperation-full' : ''}`, 'data-testid': 'cooperation-card', lang: otherLang(coop) },
    h('p', { class: 'eyebrow', lang: uiLang(coop) }, t('coopExample'), coop.year ? ` · ${coop.year}` : '', fallbackNotice(coop)),
    h(H, { class: 'card-title', tabindex: headingLevel === 'h1' ? '-1' : null }, headingLevel === 'h1' ? coop.title : h('a', { href: slugPath('kooperationen', coop.slug), 'data-testid': 'cooperation-title' }, coop.title)),
    coop.summary ? h('p', { class: 'card-text lead-small' }, coop.summary) : null,
    partnerList(coop, members),
    full
      ? h(
          'div',
          { class: 'csr' },
          [
            [t('challenge'), coop.challenge],
            [t('solution'), coop.solution],
            [t('outcome'), coop.outcome],
          ]
            .filter(([, text]) => text)
            .map(([title, text]) => h('section', { class: 'csr-part' }, h(sub, { lang: uiLang(coop) }, title), markdown(text))),
        )
      : null,
    chips(coop.topics, null, uiLang(coop)),
  );
}

// ---------------------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------------------

const STORY_CARD_FIELDS = 'title,slug,kind,teaser,topics,published_at,image';

async function pageHome() {
  const [stories, events, members, stories_, coops] = await Promise.all([
    apiGet('content/story', { limit: 3, sort: '-published_at', fields: STORY_CARD_FIELDS }),
    apiGet('content/event', { 'filter[ends_at][gte]': nowIso(), sort: 'starts_at', limit: 3 }),
    apiGet('content/member', { limit: 1, fields: 'slug' }),
    apiGet('content/story', { limit: 1, fields: 'slug' }),
    apiGet('content/cooperation', { limit: 1, fields: 'slug' }),
  ]);
  const total = (r) => (r.meta && typeof r.meta.total === 'number' ? r.meta.total : (r.data || []).length);
  return h(
    'div',
    { class: 'home' },
    h(
      'section',
      { class: 'hero' },
      h('h1', { tabindex: '-1' }, t('heroTitle')),
      h('p', { class: 'lead' }, t('heroLead')),
      h(
        'ul',
        { class: 'stats', 'data-testid': 'stats' },
        h('li', {}, h('a', { href: route('/mitglieder') }, h('strong', {}, String(total(members))), ` ${t('statMembers')}`)),
        h('li', {}, h('a', { href: route('/geschichten') }, h('strong', {}, String(total(stories_))), ` ${t('statStories')}`)),
        h('li', {}, h('a', { href: route('/kooperationen') }, h('strong', {}, String(total(coops))), ` ${t('statCoops')}`)),
      ),
    ),
    h(
      'div',
      { class: 'home-columns' },
      section(
        t('latestStories'),
        'home-stories',
        stories.data.length
          ? h('div', { class: 'stack' }, stories.data.map((s) => storyCard(s, { headingLevel: 'h3', assets: stories.assets, sizes: SIZES.homeCard })))
          : empty(t('noStories')),
        h('p', { class: 'more' }, h('a', { href: route('/geschichten') }, `${t('allStories')} →`)),
      ),
      section(
        t('nextEvents'),
        'home-events',
        events.data.length
          ? h('div', { class: 'stack' }, events.data.map((ev) => eventCard(ev, { headingLevel: 'h3', compact: true })))
          : empty(t('noEvents')),
        h('p', { class: 'more' }, h('a', { href: route('/veranstaltungen') }, `${t('allEvents')} →`)),
      ),
    ),
  );
}

/** Lower case, without diacritics, ß as ss: "Pleißenland" matches "pleissen". */
function fold(text) {
  return String(text || '')
    .toLocaleLowerCase('de-DE')
    .replace(/ß/g, 'ss')
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '');
}

/** A labelled <select>. */
function selectField({ id, labelText, testid, options, value, allLabel }) {
  const select = h(
    'select',
    { id, name: id, 'data-testid': testid },
    h('option', { value: '' }, allLabel),
    options.map((o) => h('option', { value: o.value, selected: o.value === value ? true : null }, o.text)),
  );
  return { select, field: h('div', { class: 'field' }, h('label', { for: id }, labelText), select) };
}

/** Replaces the hash without a hashchange event (filters update in place). */
function setHashQuiet(hash) {
  if (location.hash !== hash) history.replaceState(history.state, '', hash);
}

async function pageMembers(ctx) {
  const land = ctx.params.get('land') || '';
  const kompetenz = ctx.params.get('kompetenz') || '';
  const q = ctx.params.get('q') || '';

  // All members (two small fields) for the filter options and their counts.
  const all = await apiAll('member', { fields: 'state_region,services', sort: 'name' });
  const stateCounts = new Map();
  const topicCounts = new Map();
  for (const m of all.data) {
    if (m.state_region) stateCounts.set(m.state_region, (stateCounts.get(m.state_region) || 0) + 1);
    for (const s of m.services || []) topicCounts.set(s, (topicCounts.get(s) || 0) + 1);
  }
  if (land && !stateCounts.has(land)) stateCounts.set(land, 0);
  if (kompetenz && !topicCounts.has(kompetenz)) topicCounts.set(kompetenz, 0);

  const landField = selectField({
    id: 'filter-land',
    labelText: t('federalState'),
    testid: 'filter-land',
    allLabel: t('allStates'),
    value: land,
    options: [...stateCounts.keys()].sort(byLocale).map((s) => ({ value: s, text: `${s} (${stateCounts.get(s)})` })),
  });
  const topicField = selectField({
    id: 'filter-kompetenz',
    labelText: t('competence'),
    testid: 'filter-kompetenz',
    allLabel: t('allCompetences'),
    value: kompetenz,
    options: [...topicCounts.keys()]
      .map((t) => ({ value: t, text: topicLabel(t), n: topicCounts.get(t) }))
      .sort((a, b) => byLocale(a.text, b.text))
      .map((o) => ({ value: o.value, text: `${o.text} (${o.n})` })),
  });
  const search = h('input', {
    id: 'search',
    name: 'q',
    type: 'search',
    value: q,
    placeholder: t('searchExample'),
    autocomplete: 'off',
    'data-testid': 'search',
  });
  const reset = h('button', { type: 'reset', class: 'button button-secondary', 'data-testid': 'filter-reset' }, t('resetFilters'));
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': t('filterMembers'), on: { submit: (e) => e.preventDefault() } },
    landField.field,
    topicField.field,
    h('div', { class: 'field field-grow' }, h('label', { for: 'search' }, t('memberSearch')), search),
    h('div', { class: 'field field-button' }, reset),
  );
  const status = h('p', { class: 'result-count', role: 'status', 'aria-live': 'polite', 'data-testid': 'result-count' });
  const results = h('div', { class: 'results', 'data-testid': 'member-results' });

  let loaded = []; // members matching the API filters
  /** @type {Assets} */
  let logos = {}; // their logos
  let seq = 0;

  const state = () => ({
    land: landField.select.value,
    kompetenz: topicField.select.value,
    q: search.value.trim(),
  });

  // The name field searches through the search API (name, place and profile; umlaut spellings,
  // inflections, the beginning of a word): the members it finds, in its order.
  /** @type {Map<string, number> | null} hit rank by entry id, null without a query */
  let ranks = null;
  const rankOf = (m) => {
    if (!ranks) return 0;
    const ids = [m.id, ...(m.translations || []).map((tr) => tr.id)];
    const found = ids.map((id) => ranks.get(id)).filter((r) => r !== undefined);
    return found.length ? Math.min(...found) : -1;
  };
  const runSearch = async () => {
    const s = state();
    if (!s.q) {
      ranks = null;
      return;
    }
    const hits = await searchAll({ q: s.q, type: 'member', 'filter[state_region]': s.land, 'filter[services]': s.kompetenz });
    ranks = new Map();
    hits.forEach((hit, i) => {
      if (!ranks.has(hit.id)) ranks.set(hit.id, i);
    });
  };

  const show = () => {
    const shown = ranks ? loaded.filter((m) => rankOf(m) >= 0).sort((a, b) => rankOf(a) - rankOf(b)) : loaded;
    status.textContent = shown.length
      ? shown.length === all.data.length
        ? t('nMembers', shown.length)
        : t('nOfMembers', shown.length, all.data.length)
      : t('noMembersFound');
    results.replaceChildren(
      shown.length ? h('ul', { class: 'grid' }, shown.map((m) => h('li', {}, memberCard(m, { assets: logos })))) : empty(t('noMatchingMembers')),
    );
    results.dataset.state = 'ready';
  };

  const load = async () => {
    const mine = ++seq;
    const s = state();
    results.dataset.state = 'loading';
    results.setAttribute('aria-busy', 'true');
    try {
      const [res] = await Promise.all([
        apiAll('member', { 'filter[state_region]': s.land, 'filter[services]': s.kompetenz, sort: 'name' }),
        runSearch(),
      ]);
      if (mine !== seq || !ctx.current()) return;
      loaded = res.data.slice().sort((a, b) => byLocale(a.name || '', b.name || ''));
      logos = res.assets;
      show();
    } catch (err) {
      if (mine !== seq || !ctx.current()) return;
      status.textContent = '';
      results.replaceChildren(errorBox(err, load));
      results.dataset.state = 'error';
    } finally {
      if (mine === seq) results.removeAttribute('aria-busy');
    }
  };

  const syncHash = () => {
    const s = state();
    setHashQuiet(route('/mitglieder', { land: s.land, kompetenz: s.kompetenz, q: s.q }));
  };

  landField.select.addEventListener('change', () => {
    syncHash();
    load();
  });
  topicField.select.addEventListener('change', () => {
    syncHash();
    load();
  });
  let typing = 0;
  search.addEventListener('input', () => {
    syncHash();
    clearTimeout(typing);
    typing = setTimeout(load, 150);
  });
  form.addEventListener('reset', (e) => {
    e.preventDefault();
    landField.select.value = '';
    topicField.select.value = '';
    search.value = '';
    syncHash();
    load();
  });

  await load();

  return h(
    'div',
    { class: 'members' },
    pageHeader(t('members'), t('membersIntro')),
    form,
    status,
    results,
  );
}

async function pageMember(ctx, slug) {
  let member;
  /** @type {Assets} */
  let assets = {};
  try {
    const res = await apiGet(`content/member/${encodeURIComponent(slug)}`);
    member = res.data;
    assets = res.assets || {};
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return notFound(t('memberMissing'), route('/mitglieder'), t('toMembers'));
    }
    throw err;
  }
  showEntry(ctx, member, 'mitglieder', slug);
  // References hold the original's id (a translation's is its own).
  const ref = member.translation_of || member.id;
  const [stories, coops, events] = await Promise.all([
    apiAll('story', { 'filter[members]': ref, fields: STORY_CARD_FIELDS }),
    apiAll('cooperation', { 'filter[partners]': ref, include: 'partners' }),
    apiAll('event', { 'filter[organisers]': ref, 'filter[ends_at][gte]': nowIso(), sort: 'starts_at' }),
  ]);
  const coopMembers = byId((coops.included.member || []).concat([member]));
  ctx.title = member.name;

  const logo = assetImage(assets[member.logo], 'logo', { box: [240, 96], class: 'member-logo', 'data-testid': 'member-logo' });
  const facts = [
    [t('legalForm'), member.legal_form],
    [t('memberKind'), label(MEMBER_KINDS, member.kind)],
    [t('seat'), member.city],
    [t('federalState'), member.state_region ? h('a', { href: route('/mitglieder', { land: member.state_region }) }, member.state_region) : null],
    [t('size'), label(EMPLOYEES, member.employees)],
    [t('memberSince'), member.member_since ? h('time', { datetime: member.member_since }, formatDay(member.member_since)) : null],
    [t('website'), extLink(member.website, member.website ? member.website.replace(/^https?:\/\//, '').replace(/\/$/, '') : '', { 'data-testid': 'member-website' })],
  ].filter(([, v]) => v);

  return h(
    'article',
    { class: 'member', 'data-testid': 'member', lang: otherLang(member) },
    back(route('/mitglieder'), t('allMembers'), uiLang(member)),
    languageNotices(member),
    h(
      'header',
      { class: 'member-header' },
      logo ? h('div', { class: 'member-logo-box', 'data-image-box': '' }, logo) : null,
      h('div', {}, h('p', { class: 'eyebrow', lang: uiLang(member) }, label(MEMBER_KINDS, member.kind) || t('member')), h('h1', { tabindex: '-1' }, member.name)),
    ),
    h(
      'div',
      { class: 'member-layout' },
      h(
        'div',
        { class: 'member-main' },
        member.description ? markdown(member.description, { 'data-testid': 'member-description' }) : null,
        member.services && member.services.length
          ? h(
              'section',
              { class: 'section', 'data-testid': 'member-services', lang: uiLang(member) },
              h('h2', {}, t('competences')),
              chips(member.services, (s) => route('/mitglieder', { kompetenz: s })),
            )
          : null,
      ),
      h(
        'aside',
        { class: 'facts', 'aria-label': t('profile'), lang: uiLang(member) },
        h('h2', { class: 'facts-title' }, t('profile')),
        h('dl', { 'data-testid': 'member-facts' }, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      ),
    ),
    section(
      t('stories'),
      'member-stories',
      stories.data.length
        ? h('div', { class: 'grid' }, stories.data.map((s) => storyCard(s, { headingLevel: 'h3', assets: stories.assets })))
        : empty(t('noMemberStories')),
    ),
    section(
      t('cooperations'),
      'member-cooperations',
      coops.data.length
        ? h('div', { class: 'grid' }, coops.data.map((c) => cooperationCard(c, coopMembers, { headingLevel: 'h3', full: false })))
        : empty(t('noMemberCoops')),
    ),
    events.data.length
      ? section(
          t('events'),
          'member-events',
          h('div', { class: 'stack' }, events.data.map((ev) => eventCard(ev, { headingLevel: 'h3', compact: true }))),
        )
      : null,
  );
}

async function pageStories(ctx) {
  const thema = ctx.params.get('thema') || '';
  const art = ctx.params.get('art') || '';
  const PAGE = 12;

  const topicField = selectField({
    id: 'filter-thema',
    labelText: t('topic'),
    testid: 'filter-thema',
    allLabel: t('allTopics'),
    value: thema,
    options: Object.entries(TOPICS)
      .map(([value, text]) => ({ value, text }))
      .sort((a, b) => byLocale(a.text, b.text)),
  });
  const kindField = selectField({
    id: 'filter-art',
    labelText: t('storyKind'),
    testid: 'filter-art',
    allLabel: t('allKinds'),
    value: art,
    options: Object.entries(STORY_KINDS).map(([value, text]) => ({ value, text })),
  });
  const form = h(
    'form',
    { class: 'filters', 'aria-label': t('filterStories'), on: { submit: (e) => e.preventDefault() } },
    topicField.field,
    kindField.field,
  );
  const status = h('p', { class: 'result-count', role: 'status', 'aria-live': 'polite', 'data-testid': 'result-count' });
  const list = h('div', { class: 'grid', 'data-testid': 'story-results' });
  const more = h('p', { class: 'more-row' });
  let seq = 0;

  const load = async (cursor) => {
    const mine = cursor ? seq : ++seq;
    list.dataset.state = 'loading';
    try {
      const res = await apiGet('content/story', {
        'filter[topics]': topicField.select.value,
        'filter[kind]': kindField.select.value,
        sort: '-published_at',
        fields: STORY_CARD_FIELDS,
        limit: PAGE,
        cursor,
      });
      if (mine !== seq || !ctx.current()) return;
      const total = res.meta ? res.meta.total : res.data.length;
      if (!cursor) list.replaceChildren();
      append(list, res.data.map((s) => storyCard(s, { assets: res.assets })));
      status.textContent = total ? t('nStories', total) : '';
      if (!total) list.replaceChildren(empty(t('noStoriesForFilter')));
      const next = res.meta && res.meta.next_cursor;
      more.replaceChildren(
        next
          ? h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'load-more', on: { click: () => load(next) } }, t('moreStories'))
          : '',
      );
      list.dataset.state = 'ready';
    } catch (err) {
      if (mine !== seq || !ctx.current()) return;
      status.textContent = '';
      more.replaceChildren();
      list.replaceChildren(errorBox(err, () => load()));
      list.dataset.state = 'error';
    }
  };

  const onChange = () => {
    setHashQuiet(route('/geschichten', { thema: topicField.select.value, art: kindField.select.value }));
    load();
  };
  topicField.select.addEventListener('change', onChange);
  kindField.select.addEventListener('change', onChange);

  await load();
  return h(
    'div',
    { class: 'stories' },
    pageHeader(t('stories'), t('storiesIntro')),
    form,
    status,
    list,
    more,
  );
}

async function pageStory(ctx, slug) {
  let res;
  try {
    res = await apiGet(`content/story/${encodeURIComponent(slug)}`, { include: 'members' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return notFound(t('storyMissing'), route('/geschichten'), t('toStories'));
    }
    throw err;
  }
  const s = res.data;
  ctx.title = s.title;
  showEntry(ctx, s, 'geschichten', slug);
  const members = byId(res.included && res.included.member);
  const related = (s.members || []).map((id) => members.get(id)).filter(Boolean);
  const author = s.author && s.author.name ? [s.author.name, s.author.role].filter(Boolean).join(', ') : null;
  const assets = res.assets || {};
  const lead = assets[s.image];
  const img = assetImage(lead, 'hero', { sizes: SIZES.story, cover: true, 'data-testid': 'story-image' });

  return h(
    'article',
    { class: 'story', 'data-testid': 'story', lang: otherLang(s) },
    back(route('/geschichten'), t('allStories'), uiLang(s)),
    languageNotices(s),
    h(
      'header',
      { class: 'story-header' },
      h('p', { class: 'eyebrow', lang: uiLang(s) }, h('span', { class: `kind kind-${s.kind || 'news'}`, 'data-testid': 'story-kind' }, label(STORY_KINDS, s.kind))),
      h('h1', { tabindex: '-1' }, s.title),
      h(
        'p',
        { class: 'byline', 'data-testid': 'story-byline' },
        author ? [h('span', { lang: uiLang(s) }, t('by')), h('span', { 'data-testid': 'story-author' }, author)] : null,
        author && s.published_at ? ' · ' : null,
        s.published_at ? h('time', { datetime: s.published_at }, formatPublished(s.published_at)) : null,
      ),
      s.teaser ? h('p', { class: 'lead' }, s.teaser) : null,
    ),
    assetFigure(lead, img, { class: 'story-figure', 'data-testid': 'story-figure' }),
    markdown(s.body, { 'data-testid': 'story-body' }),
    Array.isArray(s.lessons_learned) && s.lessons_learned.length
      ? h(
          'aside',
          { class: 'lessons', 'data-testid': 'lessons-learned', 'aria-labelledby': 'lessons-title' },
          h('h2', { id: 'lessons-title', lang: uiLang(s) }, t('lessons')),
          h('ul', {}, s.lessons_learned.map((l) => h('li', {}, l))),
        )
      : null,
    s.topics && s.topics.length
      ? h('section', { class: 'section', lang: uiLang(s) }, h('h2', {}, t('topics')), chips(s.topics, (topic) => route('/geschichten', { thema: topic })))
      : null,
    related.length
      ? section(
          t('involvedMembers'),
          'story-members',
          h('div', { class: 'grid' }, related.map((m) => memberCard(m, { headingLevel: 'h3', compact: true }))),
        )
      : null,
  );
}

async function pageEvents() {
  const res = await apiAll('event', { 'filter[ends_at][gte]': nowIso(), sort: 'starts_at' });
  return h(
    'div',
    { class: 'events' },
    pageHeader(t('events'), t('eventsIntro')),
    h('p', { class: 'result-count', role: 'status', 'data-testid': 'result-count' }, res.data.length ? t('nEvents', res.data.length) : ''),
    res.data.length
      ? h('div', { class: 'stack' }, res.data.map((ev) => eventCard(ev, { assets: res.assets })))
      : empty(t('noEventsLong')),
  );
}

async function pageEvent(ctx, slug) {
  let res;
  try {
    res = await apiGet(`content/event/${encodeURIComponent(slug)}`, { include: 'organisers' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return notFound(t('eventMissing'), route('/veranstaltungen'), t('toEvents'));
    }
    throw err;
  }
  const ev = res.data;
  ctx.title = ev.title;
  showEntry(ctx, ev, 'veranstaltungen', slug);
  const members = byId(res.included && res.included.member);
  const organisers = (ev.organisers || []).map((id) => members.get(id)).filter(Boolean);
  const past = isPast(ev);
  const v = ev.venue;
  // The first photo large above the description, the others as a gallery below.
  const assets = res.assets || {};
  const photos = (Array.isArray(ev.photos) ? ev.photos : [])
    .map((id, i) => {
      const asset = assets[id];
      const img = assetImage(asset, i ? 'card' : 'hero', { sizes: i ? SIZES.gridCard : SIZES.eventMain, cover: true, 'data-testid': 'event-photo' });
      return assetFigure(asset, img, { class: i ? 'gallery-figure' : 'event-figure' });
    })
    .filter(Boolean);

  return h(
    'article',
    { class: 'event', 'data-testid': 'event', lang: otherLang(ev) },
    back(route('/veranstaltungen'), t('allEvents'), uiLang(ev)),
    languageNotices(ev),
    h(
      'header',
      { class: 'event-header' },
      h('p', { class: 'eyebrow', lang: uiLang(ev) }, label(EVENT_FORMATS, ev.format)),
      h('h1', { tabindex: '-1' }, ev.title),
      h('p', { class: 'event-time event-time-large', 'data-testid': 'event-time', lang: uiLang(ev) }, h('time', { datetime: ev.starts_at }, formatEventTime(ev))),
      past ? h('p', { class: 'notice notice-info', 'data-testid': 'event-past', lang: uiLang(ev) }, t('eventPast')) : null,
      ev.summary ? h('p', { class: 'lead' }, ev.summary) : null,
    ),
    h(
      'div',
      { class: 'event-layout' },
      h(
        'div',
        { class: 'event-main' },
        photos[0] || null,
        ev.description ? markdown(ev.description, { 'data-testid': 'event-description' }) : null,
        ev.programme && ev.programme.length ? h('section', { class: 'section' }, h('h2', { lang: uiLang(ev) }, t('programme')), programme(ev)) : null,
        photos.length > 1 ? section(t('morePhotos'), 'event-photos', h('div', { class: 'gallery' }, photos.slice(1))) : null,
      ),
      h(
        'aside',
        { class: 'facts', 'aria-label': t('atAGlance'), lang: uiLang(ev) },
        h('h2', { class: 'facts-title' }, t('atAGlance')),
        h(
          'dl',
          {},
          h('dt', {}, t('when')),
          h('dd', {}, formatEventTime(ev)),
          h('dt', {}, t('format')),
          h('dd', {}, label(EVENT_FORMATS, ev.format)),
          v && ev.format !== 'online'
            ? [
                h('dt', {}, t('venue')),
                h('dd', { 'data-testid': 'event-venue', lang: otherLang(ev) }, v.name, v.street ? [h('br'), v.street] : null, v.city ? [h('br'), [v.postal_code, v.city].filter(Boolean).join(' ')] : null),
              ]
            : null,
          ev.format === 'online' || ev.format === 'hybrid'
            ? [h('dt', {}, t('online')), h('dd', {}, !past && isHttpUrl(ev.online_url) ? extLink(ev.online_url, t('onlineRoom')) : t('accessAfterRegistration'))]
            : null,
          organisers.length
            ? [
                h('dt', {}, t('organisers')),
                h('dd', { 'data-testid': 'event-organisers' }, organisers.map((m, i) => [i ? ', ' : '', h('a', { href: slugPath('mitglieder', m.slug) }, m.name)])),
              ]
            : null,
        ),
        registration(ev),
      ),
    ),
    ev.topics && ev.topics.length ? h('section', { class: 'section', lang: uiLang(ev) }, h('h2', {}, t('topics')), chips(ev.topics)) : null,
  );
}

async function pageCooperations() {
  const res = await apiAll('cooperation', { include: 'partners' });
  const members = byId(res.included.member);
  return h(
    'div',
    { class: 'cooperations' },
    pageHeader(t('cooperations'), t('coopsIntro')),
    h('p', { class: 'result-count', role: 'status', 'data-testid': 'result-count' }, res.data.length ? t('nCoops', res.data.length) : ''),
    res.data.length
      ? h('div', { class: 'stack' }, res.data.map((c) => cooperationCard(c, members)))
      : empty(t('noCoops')),
  );
}

async function pageCooperation(ctx, slug) {
  let res;
  try {
    res = await apiGet(`content/cooperation/${encodeURIComponent(slug)}`, { include: 'partners' });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      return notFound(t('coopMissing'), route('/kooperationen'), t('toCoops'));
    }
    throw err;
  }
  ctx.title = res.data.title;
  showEntry(ctx, res.data, 'kooperationen', slug);
  return h(
    'div',
    { class: 'cooperation' },
    back(route('/kooperationen'), t('allCoops')),
    outdatedNotice(res.data),
    cooperationCard(res.data, byId(res.included && res.included.member), { headingLevel: 'h1' }),
  );
}

function pageImprint() {
  return h(
    'div',
    { class: 'legal' },
    pageHeader(t('imprint')),
    h('p', { class: 'notice notice-info' }, t('imprintPlaceholder')),
    h('p', {}, t('fictional')),
  );
}

function pagePrivacy() {
  return h(
    'div',
    { class: 'legal' },
    pageHeader(t('privacy')),
    h('p', { class: 'notice notice-info' }, t('privacyPlaceholder')),
    h('p', {}, t('privacyText')),
  );
}

// ---------------------------------------------------------------------------------------
// Router
// ---------------------------------------------------------------------------------------

/** @type {Array<[RegExp, (ctx: any, ...args: string[]) => Promise<Node>, string]>} */
// The route after the language prefix (#/en/…, #/de/…, none: German); the third value names
// the section (the `data-nav` of its link, the key of its name in STRINGS).

/** Every hit of a search (up to 5 pages of 50), for lists that show all of them. */
async function searchAll(params) {
  const hits = [];
  let cursor = null;
  for (let page = 0; page < 5; page++) {
    const res = await apiGet('search', { ...params, limit: 50, cursor });
    hits.push(...res.data);
    cursor = res.meta.next_cursor;
    if (!cursor) break;
  }
  return hits;
}

/**
 * A highlight of the search API (HTML-escaped text with <mark> around matches) as nodes:
 * only text and <mark> are made, whatever the string holds.
 */
function highlighted(html) {
  const decode = (text) => {
    const area = document.createElement('textarea');
    area.innerHTML = text;
    return area.value;
  };
  const out = [];
  let marked = false;
  for (const part of String(html || '').split(/(<mark>|<\/mark>)/)) {
    if (part === '<mark>') marked = true;
    else if (part === '</mark>') marked = false;
    else if (part) out.push(marked ? h('mark', {}, decode(part)) : decode(part));
  }
  return out;
}

/** The site route of a hit: its `path` (/de/geschichten/…), as a hash. */
function hitHref(hit) {
  return hit.path ? `#${hit.path}` : route(`/${{ member: 'mitglieder', story: 'geschichten', event: 'veranstaltungen', cooperation: 'kooperationen' }[hit.type] || ''}/${encodeURIComponent(hit.slug || hit.id)}`);
}

async function pageSearch(ctx) {
  const q = ctx.params.get('q') || '';
  const filters = { typ: ctx.params.get('typ') || '', thema: ctx.params.get('thema') || '', land: ctx.params.get('land') || '' };
  const input = h('input', {
    id: 'site-search',
    name: 'q',
    type: 'search',
    value: q,
    placeholder: t('searchPlaceholder'),
    autocomplete: 'off',
    'data-testid': 'site-search',
  });
  const status = h('p', { class: 'result-count', role: 'status', 'aria-live': 'polite', 'data-testid': 'search-count' });
  const facetsBox = h('div', { class: 'facets', 'data-testid': 'search-facets' });
  const results = h('div', { class: 'results', 'data-testid': 'search-results' });
  let seq = 0;
  let cursor = null;

  const hashFor = (query, f) => route('/suche', { q: query, typ: f.typ, thema: f.thema, land: f.land });

  const hitItem = (hit) =>
    h(
      'li',
      { class: 'search-hit', 'data-testid': 'search-hit', lang: hit.locale !== LOCALE ? hit.locale : null },
      h('p', { class: 'hit-type' }, t(`type_${hit.type}`)),
      h('h2', {}, h('a', { href: hitHref(hit), 'data-testid': 'hit-title' }, highlighted(hit.title_html))),
      h('p', { class: 'hit-snippet', 'data-testid': 'hit-snippet' }, highlighted(hit.snippet)),
    );

  const facetGroup = (label, key, values, name) => {
    if (!values || !values.length) return null;
    return h(
      'div',
      { class: 'facet', 'data-testid': `facet-${key}` },
      h('h2', {}, label),
      h(
        'ul',
        {},
        values.map((v) => {
          const active = filters[key] === v.value;
          const next = { ...filters, [key]: active ? '' : v.value };
          const text = name(v.value);
          return h(
            'li',
            {},
            h(
              'a',
              {
                href: hashFor(input.value.trim(), next),
                class: active ? 'facet-value active' : 'facet-value',
                'aria-current': active ? 'true' : null,
                'aria-label': active ? t('removeFilter', text) : null,
                'data-value': v.value,
              },
              `${text} (${v.count})`,
            ),
          );
        }),
      ),
    );
  };

  const run = async (more = false) => {
    const mine = ++seq;
    const query = input.value.trim();
    if (!query) {
      status.textContent = t('searchStart');
      results.replaceChildren();
      facetsBox.replaceChildren();
      results.dataset.state = 'ready';
      return;
    }
    results.dataset.state = 'loading';
    results.setAttribute('aria-busy', 'true');
    try {
      const res = await apiGet('search', {
        q: query,
        // The German site searches German entries; the English one both languages (it shows
        // German entries where there is no translation).
        locale: LOCALE === 'de' ? 'de' : null,
        type: filters.typ,
        'filter[topics]': filters.thema,
        'filter[state_region]': filters.land,
        limit: 20,
        cursor: more ? cursor : null,
      });
      if (mine !== seq || !ctx.current()) return;
      cursor = res.meta.next_cursor || null;
      const list = more ? results.querySelector('ul.search-hits') : null;
      const items = res.data.map(hitItem);
      if (list) append(list, items);
      else results.replaceChildren(res.data.length ? h('ul', { class: 'search-hits' }, items) : empty(t('noHits', query)));
      const moreButton = results.querySelector('[data-testid="search-more"]');
      if (moreButton) moreButton.remove();
      if (cursor) {
        results.append(h('button', { type: 'button', class: 'button button-secondary', 'data-testid': 'search-more', on: { click: () => run(true) } }, t('moreHits')));
      }
      status.textContent = t('nHits', res.meta.total);
      const f = res.meta.facets || {};
      facetsBox.replaceChildren(
        ...[
          facetGroup(t('facetType'), 'typ', f.type, (v) => t(`type_${v}`)),
          facetGroup(t('facetTopics'), 'thema', f.topics, topicLabel),
          facetGroup(t('facetRegion'), 'land', f.state_region, (v) => v),
        ].filter(Boolean),
      );
      results.dataset.state = 'ready';
    } catch (err) {
      if (mine !== seq || !ctx.current()) return;
      status.textContent = '';
      results.replaceChildren(errorBox(err, () => run()));
      results.dataset.state = 'error';
    } finally {
      if (mine === seq) results.removeAttribute('aria-busy');
    }
  };

  let typing = 0;
  input.addEventListener('input', () => {
    setHashQuiet(hashFor(input.value.trim(), filters));
    clearTimeout(typing);
    typing = setTimeout(() => run(), 200);
  });
  const form = h(
    'form',
    { class: 'filters', role: 'search', 'aria-label': t('search'), on: { submit: (e) => { e.preventDefault(); clearTimeout(typing); run(); } } },
    h('div', { class: 'field field-grow' }, h('label', { for: 'site-search' }, t('searchLabel')), input),
    h('div', { class: 'field field-button' }, h('button', { type: 'submit', class: 'button' }, t('searchButton'))),
  );
  await run();
  return h('div', { class: 'search-page' }, pageHeader(t('search'), t('searchIntro')), form, status, h('div', { class: 'search-layout' }, facetsBox, results));
}

/** @type {Array<[RegExp, (ctx: any, slug?: any) => Promise<any> | any, string]>} */
const ROUTES = [
  [/^\/?$/, pageHome, 'home'],
  [/^\/mitglieder\/?$/, pageMembers, 'members'],
  [/^\/mitglieder\/([^/]+)$/, pageMember, 'members'],
  [/^\/geschichten\/?$/, pageStories, 'stories'],
  [/^\/geschichten\/([^/]+)$/, pageStory, 'stories'],
  [/^\/veranstaltungen\/?$/, pageEvents, 'events'],
  [/^\/veranstaltungen\/([^/]+)$/, pageEvent, 'events'],
  [/^\/kooperationen\/?$/, pageCooperations, 'cooperations'],
  [/^\/kooperationen\/([^/]+)$/, pageCooperation, 'cooperations'],
  [/^\/impressum\/?$/, pageImprint, 'imprint'],
  [/^\/datenschutz\/?$/, pagePrivacy, 'privacy'],
  [/^\/suche\/?$/, pageSearch, 'search'],
];

const SITE_NAME = 'Cluster IT Mitteldeutschland';
const main = document.getElementById('inhalt');
let renderSeq = 0;
let firstRender = true;

/**
 * The hash as language (its prefix: #/en/…, #/de/…; none is German), route path and query;
 * `rest` is the route as it stands in the hash, without the prefix ("/mitglieder?land=…").
 */
function parseHash() {
  const raw = location.hash.replace(/^#/, '');
  const prefix = /^\/(de|en)(?=[/?]|$)/.exec(raw);
  const lang = prefix ? prefix[1] : 'de';
  const rest = prefix ? raw.slice(prefix[0].length) : raw;
  const [pathPart, query = ''] = rest.split('?', 2);
  let path = pathPart || '/';
  try {
    path = decodeURIComponent(path);
  } catch {
    /* keep as is */
  }
  return { lang, rest: rest.startsWith('/') ? rest : `/${rest}`, path, params: new URLSearchParams(query) };
}

/** The frame of index.html in LOCALE: `lang`, texts (data-i18n), labels (data-i18n-label), links (data-route). */
function localizeFrame() {
  document.documentElement.lang = LOCALE;
  for (const el of document.querySelectorAll('[data-i18n]')) {
    if (el instanceof HTMLElement) el.textContent = t(el.dataset.i18n);
  }
  for (const el of document.querySelectorAll('[data-i18n-label]')) {
    if (el instanceof HTMLElement) el.setAttribute('aria-label', t(el.dataset.i18nLabel));
  }
  for (const el of document.querySelectorAll('a[data-route]')) {
    if (el instanceof HTMLElement) el.setAttribute('href', route(el.dataset.route));
  }
}

/**
 * Notes the entry an entry page shows (`segment`: its route, e.g. "geschichten") for the
 * language switch and the hreflang links: its language versions, itself and its
 * `translations` (each with the website path the API names). An entry reached by the slug of
 * another language version, or by its id, gets its own slug in the address.
 * @param {any} ctx
 * @param {{locale?: string, slug?: string, translations?: Array<{locale: string, path?: string}>}} entry
 * @param {string} segment
 * @param {string} slug  the one in the address
 */
function showEntry(ctx, entry, segment, slug) {
  const locale = entry.locale || 'de';
  ctx.versions = [
    { locale, path: `/${locale}/${segment}/${encodeURIComponent(entry.slug)}` },
    ...(entry.translations || []).filter((v) => v.path).map((v) => ({ locale: v.locale, path: v.path })),
  ];
  if (locale === LOCALE && entry.slug && entry.slug !== slug && ctx.current()) setHashQuiet(slugPath(segment, entry.slug));
}

/**
 * The language switch in the header and the `<link rel="alternate" hreflang>` of the page.
 * The current language links to the page itself; the other one to the entry's version in it
 * (`versions`, from showEntry) if there is one, else to the same route in that language
 * (where an entry has no English translation, the English site shows the German version).
 * The hreflang links name every language version of an entry that has translations; other
 * pages have none.
 * @param {Array<{locale: string, path: string}> | null} versions
 */
function setLanguageLinks(versions) {
  const { rest } = parseHash();
  for (const a of document.querySelectorAll('.lang-switch a[data-lang]')) {
    if (!(a instanceof HTMLElement)) continue;
    const lang = a.dataset.lang;
    const version = versions ? versions.find((v) => v.locale === lang) : null;
    const here = lang === LOCALE ? location.hash || '#/' : null;
    a.setAttribute('href', here || (version ? `#${version.path}` : `#${langPrefix(lang)}${rest}`));
    if (lang === LOCALE) a.setAttribute('aria-current', 'true');
    else a.removeAttribute('aria-current');
  }
  for (const link of document.head.querySelectorAll('link[data-alternate]')) link.remove();
  if (versions && versions.length > 1) {
    const base = `${location.origin}${location.pathname}`;
    for (const v of versions) {
      if (LANGS.includes(v.locale)) document.head.append(h('link', { rel: 'alternate', hreflang: v.locale, href: `${base}#${v.path}`, 'data-alternate': '' }));
    }
  }
}

function markNav(section) {
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (!(a instanceof HTMLElement)) continue;
    if (a.dataset.nav === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

/**
 * Renders the page the hash names. `live` re-renders the open page in place after a
 * publication (see connectLive): no loading placeholder, the scroll position and focus stay.
 * @param {{ live?: boolean }} [options]
 */
async function render({ live = false } = {}) {
  const seq = ++renderSeq;
  const { lang, path, params } = parseHash();
  LOCALE = lang;
  localizeFrame();
  let handler = null;
  let args = [];
  let section = null;
  for (const [re, fn, name] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      handler = fn;
      args = m.slice(1);
      section = name;
      break;
    }
  }
  markNav(section);
  const ctx = { params, title: section ? t(section) : null, current: () => seq === renderSeq, versions: null };

  if (!live) {
    setLanguageLinks(null);
    main.dataset.state = 'loading';
    main.setAttribute('aria-busy', 'true');
    main.replaceChildren(h('p', { class: 'loading', role: 'status', 'data-testid': 'loading' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), t('loading')));
  }

  let view;
  let state = 'ready';
  try {
    await loadLabels();
    view = handler
      ? await handler(ctx, ...args)
      : notFound(t('pageMissing'), route('/'), t('toHome'));
  } catch (err) {
    if (!(err instanceof ApiError)) console.error(err);
    view = errorBox(err, render);
    ctx.title = t('error');
    ctx.versions = null;
    state = 'error';
  }
  if (seq !== renderSeq) return; // a newer navigation has taken over
  if (live && state === 'error') return; // keep what is shown; the next change tries again
  main.replaceChildren(view);
  main.dataset.state = state;
  main.removeAttribute('aria-busy');
  setLanguageLinks(ctx.versions);
  document.title = ctx.title && ctx.title !== t('home') ? `${ctx.title} – ${SITE_NAME}` : `${SITE_NAME} – ${t('platform')}`;
  if (live) {
    main.dataset.updated = String(Date.now());
    const status = document.getElementById('live-status');
    if (status) status.textContent = t('liveUpdated');
  } else if (!firstRender) {
    window.scrollTo(0, 0);
    const heading = main.querySelector('h1, h2');
    if (heading instanceof HTMLElement) {
      if (!heading.hasAttribute('tabindex')) heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: true });
    }
  }
  firstRender = false;
}

// The skip link must not change the hash (that would be a route).
const skip = document.querySelector('.skip-link');
if (skip) {
  skip.addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
}
const apiInfo = document.getElementById('api-info');
if (apiInfo) apiInfo.textContent = API_BASE;

// ---------------------------------------------------------------------------------------
// Live updates: the change stream of the API (Server-Sent Events) tells the open page when
// content was published, changed or unpublished, and the page renders itself again in place.
// EventSource reconnects by itself and resumes with Last-Event-ID, so no change is missed.
// ---------------------------------------------------------------------------------------

let liveTimer = 0;
let livePending = false;

function refreshLive() {
  const active = document.activeElement;
  // Someone typing in a filter keeps their field; the page follows when they leave it.
  if (active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) {
    livePending = true;
    return;
  }
  livePending = false;
  render({ live: true });
}

function connectLive() {
  if (typeof EventSource === 'undefined') return;
  const source = new EventSource(`${API_BASE}/api/v1/changes/stream`);
  source.addEventListener('open', () => {
    document.body.dataset.live = 'connected';
  });
  source.addEventListener('error', () => {
    document.body.dataset.live = 'reconnecting';
  });
  source.addEventListener('change', () => {
    // Several changes in a burst (an import, a publication with its assets) render once.
    clearTimeout(liveTimer);
    liveTimer = window.setTimeout(refreshLive, 300);
  });
}

document.addEventListener('focusout', () => {
  if (livePending) window.setTimeout(refreshLive, 0);
});
window.addEventListener('hashchange', () => render());
render();
connectLive();
