//! Screen-name patterns: exact, wildcard or regular expression, matched against normalised
//! names.

use regex::{Regex, RegexBuilder};

use record::normalize_screen_name;

/// One pattern as written, compiled.
#[derive(Debug, Clone)]
pub(crate) struct NamePattern {
    source: String,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// A normalised name.
    Exact(String),
    /// A wildcard (translated) or a `re:` expression.
    Regex(Regex),
}

impl NamePattern {
    /// `jsmith`, `J Smith` (the same name), `trader*`, `fx?`, `re:^fx[0-9]+$`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let matcher = if let Some(expr) = text.strip_prefix("re:") {
            if expr.is_empty() {
                return Err("\"re:\" with no expression would match every screen name".into());
            }
            Matcher::Regex(
                RegexBuilder::new(expr)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| format!("{text:?}: not a regular expression: {}", one_line(&e)))?,
            )
        } else {
            let normalized = normalize_screen_name(text);
            if normalized.is_empty() {
                return Err("empty screen name".into());
            }
            if normalized.contains(['*', '?']) {
                let mut expr = String::with_capacity(normalized.len() + 8);
                expr.push('^');
                for c in normalized.chars() {
                    match c {
                        '*' => expr.push_str(".*"),
                        '?' => expr.push('.'),
                        c => expr.push_str(&regex::escape(c.encode_utf8(&mut [0; 4]))),
                    }
                }
                expr.push('$');
                Matcher::Regex(
                    RegexBuilder::new(&expr)
                        .case_insensitive(true)
                        .build()
                        .map_err(|e| format!("{text:?}: {}", one_line(&e)))?,
                )
            } else {
                Matcher::Exact(normalized)
            }
        };
        Ok(Self {
            source: text.to_owned(),
            matcher,
        })
    }

    /// Whether `normalized` (see [`normalize_screen_name`]) matches.
    pub(crate) fn matches(&self, normalized: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(name) => name == normalized,
            Matcher::Regex(re) => re.is_match(normalized),
        }
    }

    /// The pattern as written.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }
}

/// A list of patterns; a name matches the list when it matches one of them.
#[derive(Debug, Clone, Default)]
pub(crate) struct NamePatterns(Vec<NamePattern>);

impl NamePatterns {
    /// Compiles every pattern; the error names the index of the first bad one.
    pub(crate) fn parse(texts: &[String]) -> Result<Self, (usize, String)> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| NamePattern::parse(t).map_err(|e| (i, e)))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The first pattern `normalized` matches, as written.
    pub(crate) fn first_match(&self, normalized: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|p| p.matches(normalized))
            .map(NamePattern::source)
    }

    /// The patterns as written, for explanations.
    pub(crate) fn sources(&self) -> Vec<&str> {
        self.0.iter().map(NamePattern::source).collect()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A regex error on one line: the crate's messages draw the expression over several.
pub(crate) fn one_line(error: &regex::Error) -> String {
    match error {
        regex::Error::Syntax(text) => text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("error:"))
            .map(str::trim)
            .next()
            .unwrap_or_else(|| text.trim())
            .to_owned(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_compare_normalised() {
        let p = NamePattern::parse("J Smith").unwrap();
        assert!(p.matches("jsmith"));
        assert!(!p.matches("jsmith2"));
    }

    #[test]
    fn wildcards_cover_the_whole_name() {
        let p = NamePattern::parse("Trader*").unwrap();
        assert!(p.matches("trader"));
        assert!(p.matches("traderjoe"));
        assert!(!p.matches("chieftrader"));
        let q = NamePattern::parse("fx?").unwrap();
        assert!(q.matches("fx1"));
        assert!(!q.matches("fx12"));
        // Regex metacharacters in a wildcard are literal.
        let r = NamePattern::parse("a.b*").unwrap();
        assert!(r.matches("a.bc"));
        assert!(!r.matches("axbc"));
    }

    #[test]
    fn regexes_are_case_insensitive_and_unanchored_unless_written_so() {
        let p = NamePattern::parse("re:^FX[0-9]+$").unwrap();
        assert!(p.matches("fx12"));
        assert!(!p.matches("fx12a"));
        assert!(NamePattern::parse("re:desk").unwrap().matches("fxdesk9"));
    }

    #[test]
    fn bad_patterns_say_why() {
        let e = NamePattern::parse("re:fx[").unwrap_err();
        assert!(
            e.starts_with("\"re:fx[\": not a regular expression: "),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        assert_eq!(NamePattern::parse("  ").unwrap_err(), "empty screen name");
        assert!(NamePattern::parse("re:").is_err());
    }
}
