//! Searching: the query language, its bounds, ranking, highlights, facets and the cursor.
//!
//! A query is words and `"phrases"`. Every word must occur (in any form its analyser gives
//! the same term: stems, umlaut spellings, compound parts), in the title (weighted 3), a
//! teaser-like text (1.5) or the body (1); a word of 5 letters or more also matches words one
//! typo away (two from 9 letters on) when the index does not have it as written, and the last word, unless followed by a space, also
//! matches as the beginning of a word (search as you type) — both ranked below exact matches.
//! Among equal scores the newer publication comes first.

use std::collections::BTreeMap;

use base64::Engine as _;
use tantivy::collector::{Collector, Count, SegmentCollector, TopDocs};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, FuzzyTermQuery, Occur, Query, TermQuery,
};
use tantivy::schema::{Facet, IndexRecordOption, Value as _};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Searcher, SegmentReader, TantivyDocument, Term};

use super::analysis::{self, GROUPS};
use super::{BODY, Live, SearchIndex, TEASER, TITLE, WORDS};

/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// Most words and phrases in a query.
pub const MAX_CLAUSES: usize = 8;
/// Most words in a phrase.
pub const MAX_PHRASE_WORDS: usize = 8;
/// Largest page.
pub const MAX_LIMIT: usize = 50;
/// How deep a result list can be paged.
pub const MAX_DEPTH: usize = 1000;
/// Most facet filters.
pub const MAX_FILTERS: usize = 8;

/// What a search asks for.
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub q: String,
    /// Only these types (empty: every public type).
    pub types: Vec<String>,
    /// Only entries in this locale (none: every locale).
    pub locale: Option<String>,
    /// `filter[field]=a,b`: the entry has one of the values; all fields must match.
    pub filters: BTreeMap<String, Vec<String>>,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Why a search cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The query is malformed or too large; the message says what to change.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    UnknownField(String),
    #[error("{0}")]
    Cursor(String),
    /// No index on this node yet.
    #[error("the search index is being built; try again in a few seconds")]
    NotReady,
    #[error("search failed: {0}")]
    Index(#[from] tantivy::TantivyError),
}

/// One hit.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct Hit {
    #[serde(rename = "type")]
    #[schemars(example = &"story")]
    pub ty: String,
    #[schemars(example = &"01JEF3T9Y6M2Q8R4V5W7X0Z1AB")]
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"cloud-migration-in-halle")]
    pub slug: Option<String>,
    #[schemars(example = &"de")]
    pub locale: String,
    /// The title as plain text.
    pub title: String,
    /// The title as HTML: escaped, matches in `<mark>`.
    #[schemars(example = &"<mark>Cloud</mark>-Migration in Halle")]
    pub title_html: String,
    /// A passage of the text around the matches as HTML: escaped, matches in `<mark>`.
    #[schemars(example = &"… die <mark>Migration</mark> der Warenwirtschaft in die <mark>Cloud</mark> …")]
    pub snippet: String,
    /// Where the website shows the entry (from the type's `path`), if the type has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"/de/geschichten/cloud-migration-in-halle")]
    pub path: Option<String>,
    /// Relevance (higher is better; comparable within one result list only).
    pub score: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Editors' search only: the state of a working copy that matched (draft, review, …);
    /// absent on published entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"draft")]
    pub state: Option<String>,
}

/// A facet value and how many hits have it.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct FacetCount {
    #[schemars(example = &"cloud")]
    pub value: String,
    pub count: u64,
}

/// Counts per facet field (`type`, `topics`, `state_region`), over all hits.
pub type Facets = BTreeMap<String, Vec<FacetCount>>;

/// A page of results.
#[derive(Debug, Clone)]
pub struct SearchResults {
    pub hits: Vec<Hit>,
    pub total: u64,
    pub facets: Facets,
    pub next_cursor: Option<String>,
}

/// The facets every answer counts.
pub const COUNTED_FACETS: [&str; 3] = ["type", "topics", "state_region"];

/// A parsed query: words and phrases, and whether the last word is still being typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    Word(String),
    Phrase(Vec<String>),
}

pub(crate) fn parse(q: &str) -> Result<(Vec<Clause>, bool), SearchError> {
    let q = q.trim_start();
    if q.trim().is_empty() {
        return Err(SearchError::Invalid(
            "q is empty: give one or more words, e.g. q=Cloud Migration".into(),
        ));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(SearchError::Invalid(format!(
            "q has {} characters; a search has at most {MAX_QUERY_CHARS}",
            q.chars().count()
        )));
    }
    let mut clauses = Vec::new();
    let mut rest = q;
    let mut typing = false;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix('"') {
            let Some(end) = after.find('"') else {
                return Err(SearchError::Invalid(
                    "q has a phrase without its closing quote: close it (\"…\") or remove the quote".into(),
                ));
            };
            let words: Vec<String> = after[..end].split_whitespace().map(String::from).collect();
            if words.len() > MAX_PHRASE_WORDS {
                return Err(SearchError::Invalid(format!(
                    "a phrase has {} words; at most {MAX_PHRASE_WORDS}",
                    words.len()
                )));
            }
            if !words.is_empty() {
                clauses.push(Clause::Phrase(words));
            }
            rest = &after[end + 1..];
            typing = false;
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            clauses.push(Clause::Word(rest[..end].to_string()));
            rest = &rest[end..];
            typing = rest.is_empty();
        }
    }
    if clauses.len() > MAX_CLAUSES {
        return Err(SearchError::Invalid(format!(
            "q has {} words and phrases; a search has at most {MAX_CLAUSES}",
            clauses.len()
        )));
    }
    Ok((clauses, typing))
}

/// The terms of `text` under `analyser`, one per word position (a compound's parts, which
/// share its position, are left out: the query looks for the word as written).
fn positioned_terms(searcher: &Searcher, analyser: &str, text: &str) -> Vec<(usize, String)> {
    let Some(mut a) = searcher.index().tokenizers().get(analyser) else {
        return Vec::new();
    };
    let mut stream = a.token_stream(text);
    let mut out: Vec<(usize, String)> = Vec::new();
    while tantivy::tokenizer::TokenStream::advance(&mut stream) {
        let t = tantivy::tokenizer::TokenStream::token(&stream);
        if out.last().is_some_and(|(p, _)| *p == t.position) {
            continue;
        }
        out.push((t.position, t.text.clone()));
    }
    out
}

const BOOSTS: [f32; 3] = [3.0, 1.5, 1.0];

/// A condition that does not change the score.
fn filter(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(q, boost))
}

/// The query of one word in one analyser group.
fn word_query(
    searcher: &Searcher,
    live: &Live,
    g: usize,
    word: &str,
    typing: bool,
) -> Option<Box<dyn Query>> {
    let group = GROUPS[g];
    let fields = live.f.text[g];
    let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    // One query word may be several index words ("Cloud-Migration"): all of them.
    let stemmed = positioned_terms(searcher, group, word);
    if !stemmed.is_empty() {
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (_, t) in &stemmed {
            let per_field: Vec<(Occur, Box<dyn Query>)> = [TITLE, TEASER, BODY]
                .iter()
                .map(|&k| {
                    (
                        Occur::Should,
                        boosted(
                            Box::new(TermQuery::new(
                                Term::from_field_text(fields[k], t),
                                IndexRecordOption::WithFreqs,
                            )),
                            BOOSTS[k],
                        ),
                    )
                })
                .collect();
            must.push((Occur::Must, Box::new(BooleanQuery::new(per_field))));
        }
        should.push((Occur::Should, Box::new(BooleanQuery::new(must))));
    }
    let words = positioned_terms(searcher, &format!("{group}_words"), word);
    if let [(_, w)] = words.as_slice() {
        let chars = w.chars().count();
        let term = Term::from_field_text(fields[WORDS], w);
        // Typos are forgiven for words that do not occur as written: a word the index has is
        // not looked for in other spellings (which would cost a walk of the dictionary and
        // rank near-misses beside it).
        let known = searcher.doc_freq(&term).unwrap_or(0) > 0;
        if chars >= 5 && !known {
            let distance = if chars >= 9 { 2 } else { 1 };
            should.push((
                Occur::Should,
                boosted(
                    Box::new(FuzzyTermQuery::new(term.clone(), distance, true)),
                    0.3,
                ),
            ));
        }
        if typing && chars >= 2 {
            should.push((
                Occur::Should,
                boosted(Box::new(FuzzyTermQuery::new_prefix(term, 0, false)), 0.5),
            ));
        } else if stemmed.is_empty() {
            // A stop word ("die"): only exact, as a word.
            should.push((
                Occur::Should,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            ));
        }
    }
    (!should.is_empty()).then(|| Box::new(BooleanQuery::new(should)) as Box<dyn Query>)
}

/// The query of a phrase in one analyser group: the words in order (stop words keep their
/// place), in the title, a teaser-like text or the body.
fn phrase_query(
    searcher: &Searcher,
    live: &Live,
    g: usize,
    words: &[String],
) -> Option<Box<dyn Query>> {
    let fields = live.f.text[g];
    let terms = positioned_terms(searcher, GROUPS[g], &words.join(" "));
    if terms.is_empty() {
        return None;
    }
    if terms.len() == 1 {
        let per_field: Vec<(Occur, Box<dyn Query>)> = [TITLE, TEASER, BODY]
            .iter()
            .map(|&k| {
                let q = TermQuery::new(
                    Term::from_field_text(fields[k], &terms[0].1),
                    IndexRecordOption::WithFreqs,
                );
                (Occur::Should, boosted(Box::new(q), BOOSTS[k]))
            })
            .collect();
        return Some(Box::new(BooleanQuery::new(per_field)));
    }
    // Each pair of consecutive words is one term of the pairs field: a phrase of two words is
    // one lookup however common its words are.
    let pairs: Vec<(Occur, Box<dyn Query>)> = terms
        .windows(2)
        .map(|w| {
            let q = TermQuery::new(
                Term::from_field_text(
                    live.f.pairs[g],
                    &format!("{}{}{}", w[0].1, "_".repeat(w[1].0 - w[0].0), w[1].1),
                ),
                IndexRecordOption::WithFreqs,
            );
            (Occur::Must, Box::new(q) as Box<dyn Query>)
        })
        .collect();
    Some(boosted(Box::new(BooleanQuery::new(pairs)), 2.0))
}

/// What the cursor carries: the offset and a hash of the query it belongs to.
#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    o: usize,
    h: u64,
}

fn query_hash(r: &SearchRequest) -> u64 {
    let s = format!(
        "{}\0{:?}\0{:?}\0{:?}",
        r.q.trim(),
        r.types,
        r.locale,
        r.filters
    );
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

impl SearchIndex {
    /// Answers a search.
    pub fn search(&self, r: &SearchRequest) -> Result<SearchResults, SearchError> {
        let (clauses, typing) = parse(&r.q)?;
        let limit = r.limit.clamp(1, MAX_LIMIT);
        let hash = query_hash(r);
        let offset = match &r.cursor {
            None => 0,
            Some(c) => {
                let bad = || {
                    SearchError::Cursor(
                        "the cursor was not made by this search; start again without it".into(),
                    )
                };
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(c)
                    .map_err(|_| bad())?;
                let cur: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
                if cur.h != hash || cur.o >= MAX_DEPTH {
                    return Err(bad());
                }
                cur.o
            }
        };
        for t in &r.types {
            if !self.plans().contains_key(t) {
                return Err(SearchError::UnknownField(format!(
                    "type={t:?} is not a public content type; search one of {}",
                    self.plans().keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        if r.filters.len() > MAX_FILTERS {
            return Err(SearchError::Invalid(format!(
                "at most {MAX_FILTERS} filters"
            )));
        }
        let facet_fields = self.facet_fields();
        for f in r.filters.keys() {
            if !facet_fields.contains(f.as_str()) {
                return Err(SearchError::UnknownField(format!(
                    "filter[{f}]: search results can be filtered by {}",
                    facet_fields.iter().copied().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let live = self.live().ok_or(SearchError::NotReady)?;
        let searcher = live.reader.searcher();
        let groups: Vec<usize> = match &r.locale {
            Some(l) => vec![
                GROUPS
                    .iter()
                    .position(|g| *g == analysis::group_of(l))
                    .unwrap_or(2),
            ],
            None => (0..GROUPS.len()).collect(),
        };
        // Every clause must match, in any of the groups searched.
        let mut must: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        let last = clauses.len().saturating_sub(1);
        for (i, c) in clauses.iter().enumerate() {
            let per_group: Vec<(Occur, Box<dyn Query>)> = groups
                .iter()
                .filter_map(|&g| match c {
                    Clause::Word(w) => word_query(&searcher, &live, g, w, typing && i == last),
                    Clause::Phrase(ws) => phrase_query(&searcher, &live, g, ws),
                })
                .map(|q| (Occur::Should, q))
                .collect();
            if per_group.is_empty() {
                // Nothing searchable in it (punctuation only).
                continue;
            }
            must.push((Occur::Must, Box::new(BooleanQuery::new(per_group))));
        }
        if must.is_empty() {
            return Ok(SearchResults {
                hits: Vec::new(),
                total: 0,
                facets: Facets::new(),
                next_cursor: None,
            });
        }
        // What highlights mark: every word of the query (of phrases too) in its stemmed form.
        let mut marks: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for &g in &groups {
            for c in &clauses {
                let text = match c {
                    Clause::Word(w) => w.clone(),
                    Clause::Phrase(ws) => ws.join(" "),
                };
                for (_, t) in positioned_terms(&searcher, GROUPS[g], &text) {
                    for k in [TITLE, TEASER, BODY] {
                        marks.push((
                            Occur::Should,
                            Box::new(TermQuery::new(
                                Term::from_field_text(live.f.text[g][k], &t),
                                IndexRecordOption::Basic,
                            )),
                        ));
                    }
                }
            }
        }
        let text_query = BooleanQuery::new(marks);
        let f = live.f;
        if let Some(l) = &r.locale {
            must.push((
                Occur::Must,
                filter(Box::new(TermQuery::new(
                    Term::from_field_text(f.locale, l),
                    IndexRecordOption::Basic,
                ))),
            ));
        }
        let any_of = |terms: Vec<Term>| -> Box<dyn Query> {
            filter(Box::new(BooleanQuery::new(
                terms
                    .into_iter()
                    .map(|t| {
                        (
                            Occur::Should,
                            Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>,
                        )
                    })
                    .collect(),
            )))
        };
        if !r.types.is_empty() {
            must.push((
                Occur::Must,
                any_of(
                    r.types
                        .iter()
                        .map(|t| Term::from_field_text(f.ty, t))
                        .collect(),
                ),
            ));
        }
        for (field, values) in &r.filters {
            must.push((
                Occur::Must,
                any_of(
                    values
                        .iter()
                        .map(|v| {
                            Term::from_facet(
                                f.facets,
                                &Facet::from_path([field.as_str(), v.as_str()]),
                            )
                        })
                        .collect(),
                ),
            ));
        }
        let query = BooleanQuery::new(must);
        let published = "published";
        let top = TopDocs::with_limit(limit + 1)
            .and_offset(offset)
            .tweak_score(move |segment: &SegmentReader| {
                let col = segment.fast_fields().i64(published).ok();
                move |doc, score: f32| {
                    let at = col.as_ref().and_then(|c| c.first(doc)).unwrap_or(0);
                    // Scores within 2 % are a tie: the newer publication wins.
                    let bucket = (score.max(1e-6).ln() * 50.0).round() as i64;
                    (bucket, at, score)
                }
            });
        let (top, total, counts) = searcher.search(&query, &(top, Count, FacetCodes))?;
        let mut generators: BTreeMap<(usize, usize), SnippetGenerator> = BTreeMap::new();
        let mut hits = Vec::new();
        let more = top.len() > limit;
        for ((_, _, score), addr) in top.into_iter().take(limit) {
            hits.push(self.hit(&searcher, &live, &text_query, &mut generators, addr, score)?);
        }
        let mut out_facets = Facets::new();
        for name in COUNTED_FACETS {
            out_facets.insert(name.to_string(), Vec::new());
        }
        for (code, count) in counts {
            let Some((name, value)) = code.split_once('\u{1f}') else {
                continue;
            };
            if let Some(values) = out_facets.get_mut(name) {
                values.push(FacetCount {
                    value: value.to_string(),
                    count,
                });
            }
        }
        for values in out_facets.values_mut() {
            values.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
        }
        let next = offset + limit;
        let next_cursor = (more && next < MAX_DEPTH).then(|| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(serde_json::to_vec(&Cursor { o: next, h: hash }).unwrap_or_default())
        });
        Ok(SearchResults {
            hits,
            total: total as u64,
            facets: out_facets,
            next_cursor,
        })
    }

    fn hit(
        &self,
        searcher: &Searcher,
        live: &Live,
        query: &BooleanQuery,
        generators: &mut BTreeMap<(usize, usize), SnippetGenerator>,
        addr: DocAddress,
        score: f32,
    ) -> Result<Hit, SearchError> {
        let f = live.f;
        let doc: TantivyDocument = searcher.doc(addr)?;
        let text = |field| {
            doc.get_first(field)
                .and_then(|v| v.as_str())
                .map(String::from)
        };
        let locale = text(f.locale).unwrap_or_default();
        let g = GROUPS
            .iter()
            .position(|x| *x == analysis::group_of(&locale))
            .unwrap_or(2);
        let mut snippet_of = |k: usize, max: usize| -> Result<(String, bool), SearchError> {
            let field = f.text[g][k];
            let generator = match generators.entry((g, k)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let mut s = SnippetGenerator::create(searcher, query, field)?;
                    s.set_max_num_chars(max);
                    e.insert(s)
                }
            };
            let mut s = generator.snippet_from_doc(&doc);
            s.set_snippet_prefix_postfix("<mark>", "</mark>");
            let marked = !s.highlighted().is_empty();
            Ok((s.to_html(), marked))
        };
        let title = text(f.text[g][TITLE]).unwrap_or_default();
        let (title_html, title_marked) = snippet_of(TITLE, 1000)?;
        let title_html = if title_marked {
            title_html
        } else {
            escape(&title)
        };
        let (body, body_marked) = snippet_of(BODY, 200)?;
        let (teaser, teaser_marked) = if body_marked {
            (String::new(), false)
        } else {
            snippet_of(TEASER, 200)?
        };
        let snippet = if body_marked {
            body
        } else if teaser_marked {
            teaser
        } else {
            // Matched by a prefix or a typo (not highlighted): the beginning of the text.
            let plain = text(f.text[g][TEASER])
                .filter(|t| !t.is_empty())
                .or_else(|| text(f.text[g][BODY]))
                .unwrap_or_default();
            let mut cut: String = plain.chars().take(200).collect();
            if cut.len() < plain.len() {
                cut.push('…');
            }
            escape(&cut)
        };
        let published_at = doc
            .get_first(f.published)
            .and_then(|v| v.as_i64())
            .filter(|s| *s > 0)
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0));
        Ok(Hit {
            ty: text(f.ty).unwrap_or_default(),
            id: text(f.id).unwrap_or_default(),
            slug: text(f.slug),
            locale,
            title,
            title_html,
            snippet,
            path: text(f.path),
            score,
            published_at,
            state: None,
        })
    }
}

/// Working copies an editors' search looks through at most (per request).
const DRAFT_SCAN: usize = 20_000;

impl SearchIndex {
    /// Working copies (entries whose current version is not the published one) that match a
    /// search, looked for by reading them: they are never in the index. The second value is
    /// whether every working copy was looked at (false when the scan budget ran out).
    pub fn search_drafts(&self, r: &SearchRequest) -> Result<(Vec<Hit>, bool), SearchError> {
        let (clauses, typing) = parse(&r.q)?;
        let live = self.live().ok_or(SearchError::NotReady)?;
        let searcher = live.reader.searcher();
        let content = self.content();
        let limit = r.limit.clamp(1, MAX_LIMIT);
        let mut out = Vec::new();
        let mut scanned = 0usize;
        let mut complete = true;
        for (ty, plan) in self.plans() {
            if !r.types.is_empty() && !r.types.contains(ty) {
                continue;
            }
            let Some(ct) = content.schemas().get(ty).cloned() else {
                continue;
            };
            let mut found: Vec<crate::content::EntryRecord> = Vec::new();
            content
                .list_current_until(ty, None, usize::MAX, |rec, _| {
                    scanned += 1;
                    if scanned > DRAFT_SCAN {
                        complete = false;
                        return None;
                    }
                    if rec.published_version == Some(rec.version)
                        || r.locale.as_ref().is_some_and(|l| *l != rec.locale)
                        || out.len() + found.len() >= limit
                    {
                        return Some(false);
                    }
                    let data = serde_json::Value::Object(rec.data.clone());
                    let (title, teaser, body) = super::texts(&ct, plan, &data);
                    let group = analysis::group_of(&rec.locale);
                    let text = format!("{title}\n{teaser}\n{body}");
                    let stems: std::collections::HashSet<String> =
                        positioned_all(&searcher, group, &text)
                            .into_iter()
                            .collect();
                    let words: Vec<String> =
                        positioned_all(&searcher, &format!("{group}_words"), &text);
                    let last = clauses.len().saturating_sub(1);
                    let hit = clauses.iter().enumerate().all(|(i, c)| {
                        let query_words = match c {
                            Clause::Word(w) => vec![w.clone()],
                            Clause::Phrase(ws) => ws.clone(),
                        };
                        let terms = positioned_terms(&searcher, group, &query_words.join(" "));
                        let exact =
                            !terms.is_empty() && terms.iter().all(|(_, t)| stems.contains(t));
                        let prefix = typing && i == last && matches!(c, Clause::Word(_)) && {
                            let w = positioned_terms(
                                &searcher,
                                &format!("{group}_words"),
                                &query_words[0],
                            );
                            w.len() == 1 && words.iter().any(|x| x.starts_with(&w[0].1))
                        };
                        exact || prefix
                    });
                    if hit {
                        found.push(rec.clone());
                    }
                    Some(false)
                })
                .map_err(|e| {
                    SearchError::Index(tantivy::TantivyError::SystemError(e.to_string()))
                })?;
            for rec in found {
                let data = serde_json::Value::Object(rec.data.clone());
                let (title, teaser, body) = super::texts(&ct, plan, &data);
                let slug = ct
                    .options
                    .slug
                    .as_deref()
                    .and_then(|s| data.get(s))
                    .and_then(|v| v.as_str())
                    .map(String::from);
                let excerpt: String = if teaser.is_empty() { body } else { teaser }
                    .chars()
                    .take(200)
                    .collect();
                out.push(Hit {
                    ty: ty.clone(),
                    id: rec.id.clone(),
                    path: ct.path_of(&rec.locale, slug.as_deref(), &rec.id),
                    slug,
                    locale: rec.locale.clone(),
                    title_html: escape(&title),
                    title,
                    snippet: escape(&excerpt),
                    score: 0.0,
                    published_at: rec.published_at,
                    state: Some(rec.state.clone()),
                });
            }
            if !complete {
                break;
            }
        }
        Ok((out, complete))
    }
}

/// Every term of `text` under `analyser` (compound parts included).
fn positioned_all(searcher: &Searcher, analyser: &str, text: &str) -> Vec<String> {
    let Some(mut a) = searcher.index().tokenizers().get(analyser) else {
        return Vec::new();
    };
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while tantivy::tokenizer::TokenStream::advance(&mut stream) {
        out.push(tantivy::tokenizer::TokenStream::token(&stream).text.clone());
    }
    out
}

/// Counts the facet codes (`field\u{1f}value`) of the hits, from the fast column.
struct FacetCodes;

struct SegmentFacetCodes {
    column: Option<tantivy::columnar::StrColumn>,
    counts: Vec<u64>,
}

impl Collector for FacetCodes {
    type Fruit = BTreeMap<String, u64>;
    type Child = SegmentFacetCodes;

    fn for_segment(&self, _: u32, segment: &SegmentReader) -> tantivy::Result<SegmentFacetCodes> {
        let column = segment.fast_fields().str("facet_codes")?;
        let n = column.as_ref().map_or(0, |c| c.num_terms());
        Ok(SegmentFacetCodes {
            column,
            counts: vec![0; n],
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(
        &self,
        fruits: Vec<BTreeMap<String, u64>>,
    ) -> tantivy::Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for f in fruits {
            for (k, v) in f {
                *out.entry(k).or_insert(0) += v;
            }
        }
        Ok(out)
    }
}

impl SegmentCollector for SegmentFacetCodes {
    type Fruit = BTreeMap<String, u64>;

    fn collect(&mut self, doc: tantivy::DocId, _: tantivy::Score) {
        if let Some(c) = &self.column {
            for ord in c.term_ords(doc) {
                if let Some(n) = self.counts.get_mut(ord as usize) {
                    *n += 1;
                }
            }
        }
    }

    fn harvest(self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        if let Some(c) = &self.column {
            let mut s = String::new();
            for (ord, n) in self.counts.iter().enumerate().filter(|(_, n)| **n > 0) {
                s.clear();
                if c.ord_to_str(ord as u64, &mut s).unwrap_or(false) {
                    out.insert(s.clone(), *n);
                }
            }
        }
        out
    }
}

/// HTML-escapes text.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_words_and_phrases_and_the_last_word_may_be_unfinished() {
        let (c, typing) = parse("Cloud \"digitale Verwaltung\" Hal").unwrap();
        assert_eq!(
            c,
            [
                Clause::Word("Cloud".into()),
                Clause::Phrase(vec!["digitale".into(), "Verwaltung".into()]),
                Clause::Word("Hal".into())
            ]
        );
        assert!(typing);
        assert!(!parse("Cloud Halle ").unwrap().1);
        assert!(!parse("\"Cloud Halle\"").unwrap().1);
    }

    #[test]
    fn malformed_and_oversized_queries_say_what_to_change() {
        for (q, says) in [
            ("", "q is empty"),
            ("   ", "q is empty"),
            ("\"offen", "closing quote"),
            (&"a ".repeat(9), "at most 8"),
            (&"x".repeat(201), "at most 200"),
        ] {
            let e = parse(q).unwrap_err().to_string();
            assert!(e.contains(says), "{q:?}: {e}");
        }
    }
}
