//! Full-text search for the in-memory store: a small equivalent of PostgreSQL's
//! `to_tsvector('english', text) @@ websearch_to_tsquery('english', q)`, which the
//! PostgreSQL store runs on `listing.document`.
//!
//! What it shares with PostgreSQL, so that the same queries find the same rows:
//! - words are runs of letters and digits, lowercased; PostgreSQL's English stop words
//!   (`the`, `and`, `or`...) are dropped;
//! - words are stemmed, so `painting`, `painted` and `paints` all find `paint`, and
//!   `fences` finds `fence` (a light suffix stripper, not full Snowball: it conflates a
//!   little more or less than PostgreSQL on rarer words);
//! - the query syntax of `websearch_to_tsquery`: words are ANDed, `or` between words
//!   separates alternatives (AND binds tighter), `-word` excludes; a query of stop words
//!   only matches nothing.
//!
//! What it does not do: a `"quoted phrase"` matches its words anywhere, not only
//! adjacent; and there is no ranking (lists are newest first anyway).

use std::collections::HashSet;

/// PostgreSQL's `english.stop` list.
const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "can",
    "will",
    "just",
    "don",
    "should",
    "now",
];

fn is_stop_word(word: &str) -> bool {
    STOP_WORDS.contains(&word)
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

/// A light English stemmer (plural, -ed, -ing, final -e and -y), applied alike to
/// documents and queries, so its stems only need to agree with themselves.
pub fn stem(word: &str) -> String {
    let mut w = word.to_lowercase();
    if w.len() <= 3 || !w.bytes().all(|b| b.is_ascii_lowercase()) {
        return w;
    }
    if w.ends_with("sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with("ies") {
        w.truncate(w.len() - 3);
        w.push('i');
    } else if w.ends_with('s') && !(w.ends_with("ss") || w.ends_with("us") || w.ends_with("is")) {
        w.pop();
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.len() >= 3
            && base.bytes().any(is_vowel)
        {
            let base = base.as_bytes();
            let n = base.len();
            // running → run, but fill → fill, pass → pass, buzz → buzz
            let undouble = base[n - 1] == base[n - 2]
                && !is_vowel(base[n - 1])
                && !matches!(base[n - 1], b'l' | b's' | b'z');
            w.truncate(if undouble { n - 1 } else { n });
            break;
        }
    }
    let b = w.as_bytes();
    let n = b.len();
    if n > 2 && b[n - 1] == b'y' && !is_vowel(b[n - 2]) {
        w.pop();
        w.push('i');
    } else if n > 3 && b[n - 1] == b'e' {
        w.pop();
    }
    w
}

/// The stems of a document (title and description).
pub fn lexemes(text: &str) -> HashSet<String> {
    words(text)
        .filter(|w| !is_stop_word(w))
        .map(|w| stem(&w))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Term {
    stem: String,
    negated: bool,
}

/// The query when it is one plain word (ASCII letters and digits only), which PostgreSQL
/// reads as exactly one lexeme or none (a stop word): such a search is a lookup of that
/// lexeme in `listing_word`, in listing id order, instead of a fetch of every match
/// through the GIN index (issue 14). Anything else (`old bike`, `-baby`, `"a b"`, `e-bike`,
/// non-ASCII) keeps the full `websearch_to_tsquery` path.
pub fn single_word(q: &str) -> Option<&str> {
    let word = q.trim();
    (!word.is_empty() && word.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(word)
}

/// A parsed `websearch_to_tsquery`-style query: alternatives of ANDed terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextQuery {
    alternatives: Vec<Vec<Term>>,
}

impl TextQuery {
    pub fn parse(q: &str) -> Self {
        let mut alternatives = vec![Vec::new()];
        for chunk in q.split_whitespace() {
            let negated = chunk.starts_with('-');
            // Quotes only group words in PostgreSQL; here they are separators.
            for word in words(chunk) {
                if word == "or" && !negated {
                    alternatives.push(Vec::new());
                } else if !is_stop_word(&word)
                    && let Some(current) = alternatives.last_mut()
                {
                    current.push(Term {
                        stem: stem(&word),
                        negated,
                    });
                }
            }
        }
        // `the or fridge` is just `fridge`: alternatives that lost every word are gone.
        alternatives.retain(|a| !a.is_empty());
        Self { alternatives }
    }

    /// Whether a document with these lexemes matches. A query with no words left
    /// (stop words only) matches nothing, as in PostgreSQL.
    pub fn matches(&self, lexemes: &HashSet<String>) -> bool {
        self.alternatives
            .iter()
            .any(|terms| terms.iter().all(|t| lexemes.contains(&t.stem) != t.negated))
    }

    pub fn matches_text(&self, text: &str) -> bool {
        self.matches(&lexemes(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_plain_ascii_word_is_a_single_word() {
        for (q, word) in [
            ("bike", "bike"),
            ("  FRIDGES ", "FRIDGES"),
            ("e30", "e30"),
            ("2024", "2024"),
        ] {
            assert_eq!(single_word(q), Some(word), "{q:?}");
        }
        for q in [
            "", "  ", "old bike", "-baby", "\"cot\"", "e-bike", "zoë", "a_b", "cot or",
        ] {
            assert_eq!(single_word(q), None, "{q:?}");
        }
    }

    #[test]
    fn inflections_share_a_stem() {
        for group in [
            &["paint", "painting", "painted", "paints"][..],
            &["fence", "fences", "fenced", "fencing"],
            &["clean", "cleaning", "cleaned", "cleans"],
            &["puppy", "puppies"],
            &["run", "running"],
            &["service", "services"],
            &["box", "boxes"],
            &["glass", "glasses"],
        ] {
            let stems: HashSet<_> = group.iter().map(|w| stem(w)).collect();
            assert_eq!(stems.len(), 1, "{group:?} → {stems:?}");
        }
        assert_ne!(stem("paint"), stem("painter"));
        assert_eq!(stem("2023"), "2023");
        assert_eq!(stem("bus"), "bus");
    }

    #[test]
    fn websearch_syntax() {
        let doc = "Painting fence in North Ryde. Bring your own brushes!";
        let q = |s: &str| TextQuery::parse(s).matches_text(doc);
        assert!(q("paint"));
        assert!(q("PAINTED fences"));
        assert!(q("paint -fridge"));
        assert!(!q("paint -fence"));
        assert!(!q("paint fridge"), "words are ANDed");
        assert!(q("fridge or paint"), "or separates alternatives");
        assert!(q("fridge or the fence paint"));
        assert!(q("\"north ryde\""));
        assert!(!q("the"), "stop words only: nothing matches");
        assert!(!q(""));
        assert!(q("brush"));
    }
}
