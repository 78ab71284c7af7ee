//! Analysers: how text becomes the terms of the index, per language.
//!
//! German (`de`): words split at anything that is not a letter or digit, lower-cased, German
//! stop words dropped, umlauts and ß folded to their two-letter spellings (ä → ae, ö → oe,
//! ü → ue, ß → ss, so that "Müller" and "Mueller", "Straße" and "Strasse" are the same word)
//! and other accents removed, compounds split into the platform's vocabulary
//! ([`COMPOUND_WORDS`]: "Softwareentwicklung" is indexed as itself *and* as "software" and
//! "entwicklung", at the same position), then Snowball-stemmed. English (`en`): the same
//! without compounds, with English stop words and stemmer. Other locales: words folded and
//! lower-cased, no stemming.
//!
//! Each language also has a *words* analyser: the same words unstemmed and with stop words
//! kept, which prefix matching (search as you type) and typo tolerance run against.

use std::collections::HashSet;
use std::sync::Arc;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer, Token, TokenFilter, TokenStream, Tokenizer, TokenizerManager,
};

/// The analyser groups: every locale is indexed with one of these.
pub const GROUPS: [&str; 3] = ["de", "en", "xx"];

/// The analyser group of a locale (`de-AT` is German).
pub fn group_of(locale: &str) -> &'static str {
    match locale.split('-').next().unwrap_or("") {
        "de" => "de",
        "en" => "en",
        _ => "xx",
    }
}

/// The words compounds are split into: the vocabulary of an IT cluster's stories, events and
/// member profiles (folded spelling: ae/oe/ue/ss). A compound is split when it is made of these
/// words entirely (with the linking s/es/n/en/e between them), or when it ends in one of them
/// (of 4 letters or more) after at least 3 other letters: then that last word is added.
pub const COMPOUND_WORDS: &str = include_str!("compound_words_de.txt");

/// Terms longer than this (in bytes) are dropped: no word is, and a long token is noise.
const MAX_TERM: usize = 40;

/// Registers the analysers `{group}` and `{group}_words` of every group.
pub fn register(manager: &TokenizerManager) {
    let dict: Arc<HashSet<String>> = Arc::new(
        COMPOUND_WORDS
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(fold)
            .collect(),
    );
    manager.register("de", german(dict.clone(), true));
    manager.register("de_words", german(dict, false));
    manager.register(
        "en",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(MAX_TERM))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .filter(StopWordFilter::new(Language::English).expect("English stop words"))
            .filter(Stemmer::new(Language::English))
            .build(),
    );
    manager.register(
        "pairs",
        TextAnalyzer::builder(tantivy::tokenizer::WhitespaceTokenizer::default()).build(),
    );
    for name in ["en_words", "xx", "xx_words"] {
        manager.register(
            name,
            TextAnalyzer::builder(SimpleTokenizer::default())
                .filter(RemoveLongFilter::limit(MAX_TERM))
                .filter(LowerCaser)
                .filter(AsciiFoldingFilter)
                .build(),
        );
    }
}

fn german(dict: Arc<HashSet<String>>, stem: bool) -> TextAnalyzer {
    let base = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TERM))
        .filter(LowerCaser);
    if stem {
        base.filter(StopWordFilter::new(Language::German).expect("German stop words"))
            .filter(GermanWords { dict })
            .filter(AsciiFoldingFilter)
            .filter(Stemmer::new(Language::German))
            .build()
    } else {
        base.filter(GermanWords { dict })
            .filter(AsciiFoldingFilter)
            .build()
    }
}

/// Folds a lower-case German word: umlauts and ß to their two-letter spellings (other
/// accents are removed by the ASCII folding after it).
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    for c in word.chars() {
        match c {
            'ä' | 'Ä' => out.push_str("ae"),
            'ö' | 'Ö' => out.push_str("oe"),
            'ü' | 'Ü' => out.push_str("ue"),
            'ß' | 'ẞ' => out.push_str("ss"),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Splits a folded word into dictionary words (with linking elements between them); `None`
/// when it is not made of them entirely.
pub fn split_compound(word: &str, dict: &HashSet<String>) -> Option<Vec<String>> {
    fn go(rest: &str, dict: &HashSet<String>, out: &mut Vec<String>, depth: usize) -> bool {
        if rest.is_empty() {
            return out.len() > 1;
        }
        if depth > 6 {
            return false;
        }
        // Longest part first, so that "entwicklung" is not "entwick" + "lung".
        let mut ends: Vec<usize> = rest
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .filter(|&e| e >= 3)
            .collect();
        ends.reverse();
        for end in ends {
            let part = &rest[..end];
            if !dict.contains(part) {
                continue;
            }
            out.push(part.to_string());
            let tail = &rest[end..];
            if go(tail, dict, out, depth + 1) {
                return true;
            }
            if !out.is_empty() && !tail.is_empty() {
                for link in ["s", "es", "n", "en", "e"] {
                    if let Some(after) = tail.strip_prefix(link)
                        && !after.is_empty()
                        && go(after, dict, out, depth + 1)
                    {
                        return true;
                    }
                }
            }
            out.pop();
        }
        false
    }
    let mut out = Vec::new();
    go(word, dict, &mut out, 0).then_some(out)
}

/// The parts a word is indexed under besides itself: its dictionary words, or the dictionary
/// word it ends in.
pub fn compound_parts(word: &str, dict: &HashSet<String>) -> Vec<String> {
    if word.len() < 7 || !word.is_ascii() {
        return Vec::new();
    }
    if let Some(parts) = split_compound(word, dict) {
        return parts;
    }
    // The head (last part) of a compound with an unknown first part: "saalebytesystemhaus".
    for (i, _) in word.char_indices().skip(3) {
        let tail = &word[i..];
        if tail.len() >= 4 && dict.contains(tail) {
            return vec![tail.to_string()];
        }
    }
    Vec::new()
}

/// The German word filter: folds each word and adds its compound parts after it, at the same
/// position and with the same offsets (a highlight marks the whole word).
#[derive(Clone)]
pub struct GermanWords {
    dict: Arc<HashSet<String>>,
}

impl TokenFilter for GermanWords {
    type Tokenizer<T: Tokenizer> = GermanWordsFilter<T>;
    fn transform<T: Tokenizer>(self, inner: T) -> GermanWordsFilter<T> {
        GermanWordsFilter {
            dict: self.dict,
            inner,
        }
    }
}

#[derive(Clone)]
pub struct GermanWordsFilter<T> {
    dict: Arc<HashSet<String>>,
    inner: T,
}

impl<T: Tokenizer> Tokenizer for GermanWordsFilter<T> {
    type TokenStream<'a> = GermanWordsStream<'a, T::TokenStream<'a>>;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        GermanWordsStream {
            dict: &self.dict,
            tail: self.inner.token_stream(text),
            parts: Vec::new(),
            current: None,
        }
    }
}

pub struct GermanWordsStream<'a, S> {
    dict: &'a HashSet<String>,
    tail: S,
    /// Parts still to yield, in reverse order.
    parts: Vec<Token>,
    current: Option<Token>,
}

impl<S: TokenStream> TokenStream for GermanWordsStream<'_, S> {
    fn advance(&mut self) -> bool {
        if let Some(part) = self.parts.pop() {
            self.current = Some(part);
            return true;
        }
        if !self.tail.advance() {
            return false;
        }
        let mut token = self.tail.token().clone();
        token.text = fold(&token.text);
        for part in compound_parts(&token.text, self.dict).into_iter().rev() {
            self.parts.push(Token {
                text: part,
                ..token.clone()
            });
        }
        self.current = Some(token);
        true
    }
    fn token(&self) -> &Token {
        self.current.as_ref().expect("advanced")
    }
    fn token_mut(&mut self) -> &mut Token {
        self.current.as_mut().expect("advanced")
    }
}

/// The pairs of consecutive words of `text` under the analyser `group`, separated by spaces:
/// `a_b` for neighbours, `a__b` with a stop word between them (one `_` more per word left
/// out), so that a phrase matches only words in that order and distance. What a phrase of two
/// words is looked up as; a compound's parts, which share its position, are left out.
pub fn pairs(manager: &TokenizerManager, group: &str, text: &str) -> String {
    let Some(mut a) = manager.get(group) else {
        return String::new();
    };
    let mut stream = a.token_stream(text);
    let mut out = String::new();
    let mut last: Option<(usize, String)> = None;
    while stream.advance() {
        let t = stream.token();
        if last.as_ref().is_some_and(|(p, _)| *p == t.position) {
            continue;
        }
        if let Some((p, prev)) = &last {
            let gap = t.position.saturating_sub(*p);
            // More than three words left out: no phrase of a search spans that.
            if (1..=4).contains(&gap) {
                out.push_str(prev);
                out.push_str(&"_".repeat(gap));
                out.push_str(&t.text);
                out.push(' ');
            }
        }
        last = Some((t.position, t.text.clone()));
    }
    out
}

/// The terms an analyser makes of a text.
#[cfg(test)]
pub fn terms(manager: &TokenizerManager, analyser: &str, text: &str) -> Vec<String> {
    let Some(mut a) = manager.get(analyser) else {
        return Vec::new();
    };
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manager() -> TokenizerManager {
        let m = TokenizerManager::default();
        register(&m);
        m
    }

    #[test]
    fn umlauts_and_sharp_s_fold_to_their_two_letter_spellings() {
        let m = manager();
        assert_eq!(terms(&m, "de", "Müller"), terms(&m, "de", "Mueller"));
        assert_eq!(terms(&m, "de", "Straße"), terms(&m, "de", "Strasse"));
        assert_eq!(terms(&m, "de", "GRÖSSE"), terms(&m, "de", "Größe"));
        assert_eq!(terms(&m, "de_words", "Café"), ["cafe"]);
    }

    #[test]
    fn german_words_are_stemmed_and_stop_words_dropped() {
        let m = manager();
        assert_eq!(
            terms(&m, "de", "Entwicklungen"),
            terms(&m, "de", "Entwicklung")
        );
        assert_eq!(terms(&m, "de", "die und der"), Vec::<String>::new());
        // The words analyser keeps every word, unstemmed.
        assert_eq!(
            terms(&m, "de_words", "die Entwicklungen"),
            ["die", "entwicklungen"]
        );
    }

    #[test]
    fn compounds_keep_the_whole_word_and_add_their_parts() {
        let m = manager();
        let whole = terms(&m, "de", "Softwareentwicklung");
        let part = terms(&m, "de", "Entwicklung");
        assert_eq!(whole.len(), 3, "{whole:?}");
        assert!(whole.contains(&part[0]), "{whole:?} lacks {part:?}");
        assert!(whole.contains(&terms(&m, "de", "Software")[0]));
        // With a linking s, and a compound of three.
        let three = terms(&m, "de_words", "Datenschutzbeauftragte");
        assert_eq!(three[0], "datenschutzbeauftragte");
        assert!(three.contains(&"schutz".to_string()), "{three:?}");
        let linked = terms(&m, "de_words", "Sicherheitskonzept");
        assert!(linked.contains(&"konzept".to_string()), "{linked:?}");
        // An unknown first part: the known head is still found.
        let head = terms(&m, "de_words", "Saalebytesystemhaus");
        assert_eq!(head, ["saalebytesystemhaus", "systemhaus"]);
        // Short and plain words are left alone.
        assert_eq!(terms(&m, "de_words", "Cloud Halle"), ["cloud", "halle"]);
    }

    #[test]
    fn pairs_keep_the_distance_of_left_out_stop_words() {
        let m = manager();
        assert_eq!(
            pairs(&m, "de", "Müller in der Großen Straße"),
            format!(
                "{}___{} {}_{} ",
                terms(&m, "de", "Müller")[0],
                terms(&m, "de", "Großen")[0],
                terms(&m, "de", "Großen")[0],
                terms(&m, "de", "Straße")[0]
            )
        );
        // A compound's parts are not pairs of their own.
        assert_eq!(
            pairs(&m, "de", "Softwareentwicklung heute")
                .split(' ')
                .count(),
            2
        );
    }

    #[test]
    fn english_is_stemmed_the_english_way() {
        let m = manager();
        assert_eq!(terms(&m, "en", "migrations"), terms(&m, "en", "migration"));
        assert_eq!(terms(&m, "en", "the and of"), Vec::<String>::new());
        assert_eq!(group_of("de-AT"), "de");
        assert_eq!(group_of("fr"), "xx");
    }
}
