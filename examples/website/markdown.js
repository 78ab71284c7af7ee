// A small, safe Markdown renderer for the texts that come from the Verbund API.
//
// Safety model: the whole source is HTML-escaped FIRST, so no tag, attribute or entity
// from the content survives as markup. Only the constructs below are turned into HTML,
// and every piece of HTML in the output is written by this file:
//
//   ## / ### headings (a single # becomes h2 as well: the page owns the h1),
//   paragraphs, "-", "*", "+" lists, "1." lists, > blockquotes, ``` code blocks,
//   **bold**, __bold__, *italic*, _italic_, `code`,
//   [text](https://…) links — only http and https URLs; anything else stays plain text.
//
// No DOM access: the module runs in the browser and in Node (the browser test imports it).

/** Escapes the five characters that matter in HTML text and attribute values. */
export function escapeHtml(text) {
  return String(text ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

// Placeholders for already rendered inline pieces (code spans, links). U+E000/U+E001 are
// private-use characters; any in the source are removed before rendering.
const PH_OPEN = '\uE000';
const PH_CLOSE = '\uE001';

/** Renders inline Markdown of one already-escaped text block. */
function inline(escaped) {
  const stash = [];
  const keep = (html) => `${PH_OPEN}${stash.push(html) - 1}${PH_CLOSE}`;

  let s = escaped;
  // Code spans: their content is shown literally (it is already escaped).
  s = s.replace(/`([^`\n]+)`/g, (_, code) => keep(`<code>${code}</code>`));
  // Links: only absolute http(s) URLs. The URL is escaped text, so it cannot contain a
  // quote or an angle bracket; it must not contain spaces or parentheses either.
  s = s.replace(/\[([^\]\n]+)\]\(([^()\s]+)\)/g, (whole, text, url) => {
    if (!/^https?:\/\/[^\s]+$/i.test(url)) return text;
    return keep(
      `<a href="${url}" rel="noopener noreferrer" target="_blank">${emphasis(text)}</a>`,
    );
  });
  s = emphasis(s);
  // Restore the stash (links may contain stashed code spans, so loop until stable).
  const restore = /\uE000(\d+)\uE001/g;
  for (let i = 0; i < 3 && restore.test(s); i++) {
    s = s.replace(restore, (_, n) => stash[Number(n)] ?? '');
  }
  return s;
}

function emphasis(s) {
  return s
    .replace(/\*\*(?=\S)([\s\S]*?\S)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^\w])__(?=\S)([\s\S]*?\S)__(?!\w)/g, '$1<strong>$2</strong>')
    .replace(/\*(?=\S)([^*]*?\S)\*/g, '<em>$1</em>')
    .replace(/(^|[^\w])_(?=\S)([^_]*?\S)_(?!\w)/g, '$1<em>$2</em>');
}

const RE_HEADING = /^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$/;
const RE_UL = /^[ \t]{0,3}[-*+][ \t]+(.*)$/;
const RE_OL = /^[ \t]{0,3}(\d{1,9})[.)][ \t]+(.*)$/;
const RE_QUOTE = /^[ \t]{0,3}&gt;[ \t]?(.*)$/;
const RE_FENCE = /^[ \t]{0,3}(```|~~~)/;
const RE_RULE = /^[ \t]{0,3}([-*_])([ \t]*\1){2,}[ \t]*$/;
const RE_INDENTED = /^([ \t]{2,})(\S.*)$/;

/** Renders block Markdown of already-escaped lines. */
function blocks(lines) {
  const out = [];
  let para = [];
  const flush = () => {
    if (para.length) out.push(`<p>${inline(para.join('\n')).replace(/\n/g, ' ')}</p>`);
    para = [];
  };

  for (let i = 0; i < lines.length; ) {
    const line = lines[i];
    if (!line.trim()) {
      flush();
      i++;
      continue;
    }
    const fence = line.match(RE_FENCE);
    if (fence) {
      flush();
      const code = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) code.push(lines[i++]);
      i++; // the closing fence (or the end)
      out.push(`<pre><code>${code.join('\n')}</code></pre>`);
      continue;
    }
    const h = line.match(RE_HEADING);
    if (h) {
      flush();
      const level = Math.min(Math.max(h[1].length, 2), 4);
      out.push(`<h${level}>${inline(h[2])}</h${level}>`);
      i++;
      continue;
    }
    if (RE_RULE.test(line)) {
      flush();
      out.push('<hr>');
      i++;
      continue;
    }
    if (RE_QUOTE.test(line)) {
      flush();
      const inner = [];
      while (i < lines.length && lines[i].trim()) {
        const q = lines[i].match(RE_QUOTE);
        inner.push(q ? q[1] : lines[i]);
        i++;
      }
      out.push(`<blockquote>${blocks(inner)}</blockquote>`);
      continue;
    }
    const ul = line.match(RE_UL);
    const ol = ul ? null : line.match(RE_OL);
    if (ul || ol) {
      flush();
      const re = ul ? RE_UL : RE_OL;
      const items = [];
      while (i < lines.length) {
        const m = lines[i].match(re);
        if (m) {
          items.push([ul ? m[1] : m[2]]);
          i++;
          continue;
        }
        // A continuation line of the current item (indented, or lazy paragraph text).
        const cont = lines[i].match(RE_INDENTED);
        const isOther =
          !lines[i].trim() ||
          RE_UL.test(lines[i]) ||
          RE_OL.test(lines[i]) ||
          RE_HEADING.test(lines[i]) ||
          RE_QUOTE.test(lines[i]);
        if (!isOther && (cont || items.length)) {
          items[items.length - 1].push(cont ? cont[2] : lines[i].trim());
          i++;
          continue;
        }
        // A blank line followed by another item of the same list keeps the list going.
        if (!lines[i].trim() && i + 1 < lines.length && re.test(lines[i + 1])) {
          i++;
          continue;
        }
        break;
      }
      const lis = items.map((it) => `<li>${inline(it.join('\n')).replace(/\n/g, ' ')}</li>`);
      if (ul) {
        out.push(`<ul>${lis.join('')}</ul>`);
      } else {
        const start = Number(ol[1]);
        out.push(`<ol${start !== 1 ? ` start="${start}"` : ''}>${lis.join('')}</ol>`);
      }
      continue;
    }
    para.push(line.trim());
    i++;
  }
  flush();
  return out.join('\n');
}

/**
 * Renders Markdown to an HTML string that is safe to assign to innerHTML: every character
 * of the source is escaped before any markup is added.
 */
export function renderMarkdown(source) {
  const clean = String(source ?? '')
    .replace(/\r\n?/g, '\n')
    .replace(/[\uE000\uE001\u0000]/g, '');
  return blocks(escapeHtml(clean).split('\n'));
}

/** Plain text of a Markdown source (for teasers): markup characters removed, not rendered. */
export function markdownToText(source) {
  return String(source ?? '')
    .replace(/^#{1,6}\s+/gm, '')
    .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
    .replace(/[*_`>]/g, '')
    .replace(/\s+/g, ' ')
    .trim();
}
