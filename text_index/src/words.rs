//! What a text's words are, and what a query asks for, the same way on both sides: tantivy's
//! default analyzer (split at anything not alphanumeric, lower-cased) is mirrored here, so
//! a hit can be checked against the store's own text, and its words marked, without the
//! index's word for it.

/// A text's words with their byte ranges, lower-cased, as the index's analyzer makes them.
pub fn words(text: &str) -> Vec<(std::ops::Range<usize>, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s..i, text[s..i].to_lowercase()));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s..text.len(), text[s..].to_lowercase()));
    }
    out
}

/// One part of a query: every part must match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A word.
    Word(String),
    /// Words that start so (`bond*`).
    Prefix(String),
    /// Words in this order, next to each other (`"bond at par"`).
    Phrase(Vec<String>),
}

/// Reads a query: words, `prefix*`, `"a phrase"`. Punctuation splits words as in the text;
/// an empty query asks for nothing.
pub fn parse(query: &str) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut rest = query;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let (inside, next) = after.split_once('"').unwrap_or((after, ""));
            let phrase: Vec<String> = words(inside).into_iter().map(|(_, w)| w).collect();
            match phrase.len() {
                0 => {}
                1 => parts.extend(phrase.into_iter().map(Part::Word)),
                _ => parts.push(Part::Phrase(phrase)),
            }
            rest = next;
            continue;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (token, next) = rest.split_at(end);
        let prefix = token.ends_with('*');
        let mut found: Vec<String> = words(token).into_iter().map(|(_, w)| w).collect();
        if prefix && let Some(last) = found.pop() {
            parts.extend(found.into_iter().map(Part::Word));
            parts.push(Part::Prefix(last));
        } else {
            parts.extend(found.into_iter().map(Part::Word));
        }
        rest = next.trim_start();
    }
    parts
}

/// Where in `text` the query's parts match, if every part does: the byte ranges to mark.
/// `None` when some part does not match (a stale or altered index entry).
pub fn matches(text: &str, parts: &[Part]) -> Option<Vec<std::ops::Range<usize>>> {
    let found = words(text);
    let mut marks = Vec::new();
    for part in parts {
        let before = marks.len();
        match part {
            Part::Word(w) => {
                marks.extend(found.iter().filter(|(_, x)| x == w).map(|(r, _)| r.clone()))
            }
            Part::Prefix(p) => {
                marks.extend(
                    found
                        .iter()
                        .filter(|(_, x)| x.starts_with(p.as_str()))
                        .map(|(r, _)| r.clone()),
                );
            }
            Part::Phrase(phrase) => {
                for window in found.windows(phrase.len()) {
                    if window.iter().zip(phrase).all(|((_, x), w)| x == w)
                        && let (Some(first), Some(last)) = (window.first(), window.last())
                    {
                        marks.push(first.0.start..last.0.end);
                    }
                }
            }
        }
        if marks.len() == before {
            return None;
        }
    }
    marks.sort_by_key(|r| r.start);
    Some(marks)
}

/// `text` cut into pieces, each marked or not, for showing a hit with its words marked (the
/// page escapes every piece).
pub fn highlighted(text: &str, marks: &[std::ops::Range<usize>]) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    for mark in marks {
        if mark.start < at || mark.end > text.len() {
            continue;
        }
        if mark.start > at {
            out.push((text[at..mark.start].to_owned(), false));
        }
        out.push((text[mark.clone()].to_owned(), true));
        at = mark.end;
    }
    if at < text.len() {
        out.push((text[at..].to_owned(), false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_words_prefixes_and_phrases() {
        assert_eq!(
            parse(r#"Bond* "at  PAR" deal-flow"#),
            [
                Part::Prefix("bond".into()),
                Part::Phrase(vec!["at".into(), "par".into()]),
                Part::Word("deal".into()),
                Part::Word("flow".into()),
            ]
        );
        assert_eq!(parse("  "), []);
        assert_eq!(
            parse(r#""unclosed phrase here"#),
            [Part::Phrase(vec![
                "unclosed".into(),
                "phrase".into(),
                "here".into()
            ])]
        );
    }

    #[test]
    fn every_part_must_match_and_the_matches_are_marked() {
        let text = "Buy <b>Bonds</b> at par, not at a premium";
        let marks = matches(text, &parse(r#"bond* "at par""#)).unwrap();
        let shown = highlighted(text, &marks);
        let marked: Vec<&str> = shown
            .iter()
            .filter(|(_, m)| *m)
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(marked, ["Bonds", "at par"]);
        assert_eq!(
            shown.iter().map(|(t, _)| t.as_str()).collect::<String>(),
            text
        );
        assert!(matches(text, &parse("par premium")).is_some());
        assert!(matches(text, &parse("par discount")).is_none());
        assert!(matches(text, &parse(r#""par at""#)).is_none());
    }
}
