//! Keyword and pattern rules: finding them in a message, and masking them.

use regex::{Regex, RegexBuilder};

use super::pattern::one_line;

/// A rule's keywords and patterns, compiled.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextMatcher {
    /// Every keyword in one case-insensitive alternation, longest first (so the longer of
    /// two overlapping phrases is masked whole), capture group `i + 1` for `order[i]`.
    keywords: Option<Regex>,
    /// `keywords` as written, in configuration order.
    keyword_sources: Vec<String>,
    /// Index into `keyword_sources` of each alternative of `keywords`.
    order: Vec<usize>,
    /// Each pattern as written and compiled.
    patterns: Vec<(String, Regex)>,
}

/// Which list a bad entry is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    Keywords,
    Patterns,
}

/// What was found first in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hit<'a> {
    /// A keyword, as configured.
    Keyword(&'a str),
    /// A pattern, as configured.
    Pattern(&'a str),
}

impl std::fmt::Display for Hit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keyword(k) => write!(f, "keyword {k:?}"),
            Self::Pattern(p) => write!(f, "pattern {p:?}"),
        }
    }
}

impl TextMatcher {
    /// Compiles `keywords` and `patterns`; an error names the list, the index and why.
    pub(crate) fn new(
        keywords: &[String],
        patterns: &[String],
    ) -> Result<Self, (TextField, usize, String)> {
        let mut alternatives = Vec::with_capacity(keywords.len());
        for (i, keyword) in keywords.iter().enumerate() {
            let expr = keyword_expr(keyword).map_err(|e| (TextField::Keywords, i, e))?;
            alternatives.push((i, keyword.trim().chars().count(), expr));
        }
        // Stable: equally long keywords keep their configured order.
        alternatives.sort_by_key(|(_, len, _)| std::cmp::Reverse(*len));
        let keywords_re = if alternatives.is_empty() {
            None
        } else {
            let body: Vec<String> = alternatives
                .iter()
                .map(|(_, _, e)| format!("({e})"))
                .collect();
            let re = RegexBuilder::new(&body.join("|"))
                .case_insensitive(true)
                .build()
                .map_err(|e| (TextField::Keywords, 0, one_line(&e)))?;
            Some(re)
        };
        let mut compiled = Vec::with_capacity(patterns.len());
        for (i, pattern) in patterns.iter().enumerate() {
            let expr = pattern.strip_prefix("re:").unwrap_or(pattern);
            let re = Regex::new(expr).map_err(|e| {
                (
                    TextField::Patterns,
                    i,
                    format!("{pattern:?}: not a regular expression: {}", one_line(&e)),
                )
            })?;
            if re.is_match("") {
                return Err((
                    TextField::Patterns,
                    i,
                    format!("{pattern:?} matches empty text, so it would match every message"),
                ));
            }
            compiled.push((pattern.clone(), re));
        }
        Ok(Self {
            keywords: keywords_re,
            keyword_sources: keywords.to_vec(),
            order: alternatives.iter().map(|(i, _, _)| *i).collect(),
            patterns: compiled,
        })
    }

    /// Whether the rule has no keywords and no patterns (so it does not look at the text).
    pub(crate) fn is_empty(&self) -> bool {
        self.keywords.is_none() && self.patterns.is_empty()
    }

    /// Whether a keyword or pattern is found in `text` (a pattern only by a non-empty
    /// match: `\b` alone finds nothing to act on).
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.keywords.as_ref().is_some_and(|re| re.is_match(text))
            || self
                .patterns
                .iter()
                .any(|(_, re)| non_empty_match(re, text))
    }

    /// The first keyword found (leftmost), else the first pattern (in configuration order)
    /// found.
    pub(crate) fn first_hit(&self, text: &str) -> Option<Hit<'_>> {
        if let Some(caps) = self.keywords.as_ref().and_then(|re| re.captures(text)) {
            let hit = (1..caps.len())
                .find(|g| caps.get(*g).is_some())
                .and_then(|g| self.order.get(g - 1))
                .and_then(|i| self.keyword_sources.get(*i));
            if let Some(keyword) = hit {
                return Some(Hit::Keyword(keyword));
            }
        }
        self.patterns
            .iter()
            .find(|(_, re)| non_empty_match(re, text))
            .map(|(source, _)| Hit::Pattern(source))
    }

    /// The keywords as written.
    pub(crate) fn keywords(&self) -> &[String] {
        &self.keyword_sources
    }

    /// The patterns as written.
    pub(crate) fn patterns(&self) -> impl Iterator<Item = &str> {
        self.patterns.iter().map(|(s, _)| s.as_str())
    }

    /// `text` with every character of every keyword and pattern match replaced by `mask`:
    /// the same number of characters, and no keyword or pattern left to find (unless a
    /// pattern matches the mask character itself). Masking can create new matches (a
    /// pattern's `\b` next to a masked word), so it repeats until nothing new is found;
    /// each round masks at least one more character, so it ends.
    pub(crate) fn mask(&self, text: &str, mask: char) -> String {
        let mut masked = vec![false; text.chars().count()];
        let mut current = text.to_owned();
        loop {
            // Byte offset of each character of `current`, for turning matches into
            // character positions.
            let starts: Vec<usize> = current.char_indices().map(|(b, _)| b).collect();
            let position = |byte: usize| starts.partition_point(|&s| s < byte);
            let mut changed = false;
            for re in self
                .keywords
                .iter()
                .chain(self.patterns.iter().map(|(_, re)| re))
            {
                for m in re.find_iter(&current) {
                    for flag in &mut masked[position(m.start())..position(m.end())] {
                        changed |= !*flag;
                        *flag = true;
                    }
                }
            }
            if !changed {
                return current;
            }
            current = text
                .chars()
                .zip(&masked)
                .map(|(c, &m)| if m { mask } else { c })
                .collect();
        }
    }
}

fn non_empty_match(re: &Regex, text: &str) -> bool {
    re.is_match(text) && re.find_iter(text).any(|m| !m.is_empty())
}

/// A keyword as a regular expression: literal, white space as `\s+`, and a word boundary at
/// each end that is a word character.
fn keyword_expr(keyword: &str) -> Result<String, String> {
    let trimmed = keyword.trim();
    let (Some(first), Some(last)) = (trimmed.chars().next(), trimmed.chars().next_back()) else {
        return Err("empty keyword".into());
    };
    let words: Vec<String> = trimmed.split_whitespace().map(regex::escape).collect();
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    Ok(format!(
        "{}{}{}",
        if is_word(first) { r"\b" } else { "" },
        words.join(r"\s+"),
        if is_word(last) { r"\b" } else { "" },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(keywords: &[&str], patterns: &[&str]) -> TextMatcher {
        let k: Vec<String> = keywords.iter().map(|s| (*s).to_owned()).collect();
        let p: Vec<String> = patterns.iter().map(|s| (*s).to_owned()).collect();
        TextMatcher::new(&k, &p).unwrap()
    }

    #[test]
    fn keywords_are_whole_words_in_any_case_and_spacing() {
        let m = matcher(&["insider", "guaranteed return"], &[]);
        assert!(m.is_match("That is INSIDER info"));
        assert!(!m.is_match("insiders"));
        assert!(m.is_match("a Guaranteed\n  return!"));
        assert_eq!(
            m.first_hit("guaranteed return"),
            Some(Hit::Keyword("guaranteed return"))
        );
        assert_eq!(m.first_hit("an insider"), Some(Hit::Keyword("insider")));
        assert_eq!(m.first_hit("nothing"), None);
    }

    #[test]
    fn keywords_edged_with_punctuation_need_no_word_boundary_there() {
        let m = matcher(&["$$$", "c++"], &[]);
        assert!(m.is_match("make $$$ fast"));
        assert!(m.is_match("x$$$y"));
        assert!(m.is_match("we use c++."));
        assert!(!m.is_match("abc++"));
    }

    #[test]
    fn patterns_are_regexes_with_an_optional_prefix() {
        let m = matcher(&[], &[r"re:\b\d{3}-\d{2}-\d{4}\b", "(?i)acct"]);
        assert_eq!(
            m.first_hit("ssn 123-45-6789"),
            Some(Hit::Pattern(r"re:\b\d{3}-\d{2}-\d{4}\b"))
        );
        assert_eq!(m.first_hit("ACCT 1"), Some(Hit::Pattern("(?i)acct")));
        assert!(!m.is_match("1234-5-6789"));
    }

    #[test]
    fn masking_keeps_the_length_and_masks_the_longest_phrase() {
        let m = matcher(&["guaranteed", "guaranteed return"], &[r"\d{4}"]);
        assert_eq!(
            m.mask("A guaranteed return of 1234€ is guaranteed.", '#'),
            "A ################# of ####€ is ##########."
        );
        // Characters, not bytes.
        let m = matcher(&["café"], &[]);
        assert_eq!(m.mask("un café noir", '•'), "un •••• noir");
    }

    #[test]
    fn masking_repeats_until_nothing_is_found() {
        // After "x" is masked, `\bab` finds "ab" at a new word boundary.
        let m = matcher(&["x"], &[r"\bab"]);
        assert!(!m.is_match("xab"));
        let m = matcher(&[], &["x", r"\bab"]);
        assert_eq!(m.mask("xab", '*'), "***");
    }

    #[test]
    fn bad_entries_name_their_list_and_index() {
        let k = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let e = TextMatcher::new(&k(&["ok", " "]), &[]).unwrap_err();
        assert_eq!(e, (TextField::Keywords, 1, "empty keyword".to_owned()));
        let e = TextMatcher::new(&[], &k(&["ok", "(unclosed"])).unwrap_err();
        assert_eq!((e.0, e.1), (TextField::Patterns, 1));
        assert!(
            e.2.contains("not a regular expression: unclosed group"),
            "{}",
            e.2
        );
        let e = TextMatcher::new(&[], &k(&["a*"])).unwrap_err();
        assert!(e.2.contains("matches empty text"), "{}", e.2);
    }

    #[test]
    fn a_pattern_finding_only_empty_matches_does_not_match() {
        let m = matcher(&[], &[r"\b"]);
        assert!(!m.is_match("hello"));
        assert_eq!(m.first_hit("hello"), None);
    }
}
