//! The rows of a CSV directory file, split the way spreadsheet and HR exports write them
//! (RFC 4180): fields separated by `,`, a field in double quotes may hold `,`, line breaks
//! and `""` for a quote. Lines starting with `#` are comments; empty lines are skipped; a
//! byte-order mark at the start (Excel writes one) is not part of the first field; fields
//! are trimmed of whitespace.
//!
//! Written here rather than taken from the `csv` crate because this crate is linked into
//! the Sametime module, a library loaded into a server process that should carry as little
//! as possible, and a directory needs only this much of CSV. The `csv` crate reads the
//! same rows (a property test below checks the two against each other).
//!
//! Lenient where `csv` is lenient: text after a closing quote joins the field, a quote that
//! is never closed runs to the end of the file. Unlike `csv`, a comment on the last line
//! needs no line break after it to be a comment. A row whose field count differs from the
//! header's is for the caller to reject, with the row's line.

/// One row: the line it starts on (1-based) and its fields, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    /// The line the row's first field starts on.
    pub(crate) line: usize,
    /// The fields, in order, without quotes and trimmed.
    pub(crate) fields: Vec<String>,
}

/// Where the reader is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// Before a row: a comment, an empty line or a row may start here.
    RowStart,
    /// Inside a comment line, which only a line feed ends (as in `csv`).
    Comment,
    /// Before a field of a row already started.
    FieldStart,
    /// Inside a field without quotes.
    Plain,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a second quote is a literal quote,
    /// anything else ends the quoting.
    QuoteInQuoted,
}

/// Splits `text` into rows (the header is the first).
pub(crate) fn rows(text: &str) -> Vec<Row> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut row_line = 1;
    let mut line = 1;
    let mut at = At::RowStart;
    let end_field = |fields: &mut Vec<String>, field: &mut String| {
        fields.push(field.trim().to_owned());
        field.clear();
    };
    for c in text.chars() {
        at = match (at, c) {
            (At::RowStart, '#') => At::Comment,
            (At::RowStart, '\r' | '\n') | (At::Comment, '\n') => At::RowStart,
            (At::Comment, _) => At::Comment,
            (At::RowStart | At::FieldStart, '"') => {
                if at == At::RowStart {
                    row_line = line;
                }
                At::Quoted
            }
            (At::Quoted, '"') => At::QuoteInQuoted,
            (At::QuoteInQuoted, '"') => {
                field.push('"');
                At::Quoted
            }
            (At::Quoted, c) => {
                field.push(c);
                At::Quoted
            }
            (At::RowStart | At::FieldStart | At::Plain | At::QuoteInQuoted, ',') => {
                if at == At::RowStart {
                    row_line = line;
                }
                end_field(&mut fields, &mut field);
                At::FieldStart
            }
            (At::FieldStart | At::Plain | At::QuoteInQuoted, '\r' | '\n') => {
                end_field(&mut fields, &mut field);
                rows.push(Row {
                    line: row_line,
                    fields: std::mem::take(&mut fields),
                });
                At::RowStart
            }
            (At::RowStart | At::FieldStart | At::Plain | At::QuoteInQuoted, c) => {
                if at == At::RowStart {
                    row_line = line;
                }
                field.push(c);
                At::Plain
            }
        };
        if c == '\n' {
            line += 1;
        }
    }
    if !matches!(at, At::RowStart | At::Comment) {
        end_field(&mut fields, &mut field);
        rows.push(Row {
            line: row_line,
            fields,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Row, rows};

    fn fields(text: &str) -> Vec<Vec<String>> {
        rows(text).into_iter().map(|r| r.fields).collect()
    }

    #[test]
    fn quotes_hold_commas_line_breaks_and_quotes() {
        assert_eq!(
            fields("id,name\n\"a,1\",\"John \"\"JJ\"\"\nSmith\"\n"),
            [vec!["id", "name"], vec!["a,1", "John \"JJ\"\nSmith"]]
        );
    }

    #[test]
    fn rows_know_their_line_past_comments_blank_lines_and_crlf() {
        let text = "id\r\n\r\n# who\r\n\"a\nb\"\r\nc";
        let got = rows(text);
        assert_eq!(
            got,
            [
                Row {
                    line: 1,
                    fields: vec!["id".into()]
                },
                Row {
                    line: 4,
                    fields: vec!["a\nb".into()]
                },
                Row {
                    line: 6,
                    fields: vec!["c".into()]
                },
            ]
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_header() {
        assert_eq!(fields("\u{feff}id,name\n"), [vec!["id", "name"]]);
    }

    #[test]
    fn fields_are_trimmed_even_inside_quotes() {
        assert_eq!(
            fields(" a \t, \u{a0}b\u{a0} ,\" c \"\n"),
            [vec!["a", "b", "c"]]
        );
    }

    #[test]
    fn the_file_may_end_without_a_line_break_even_in_a_comment() {
        assert_eq!(
            fields("id,name\na,\"A"),
            [vec!["id", "name"], vec!["a", "A"]]
        );
        assert_eq!(fields("id\na\n# end"), [vec!["id"], vec!["a"]]);
    }

    /// What the `csv` crate reads from `text` with the directory's settings.
    fn csv_crate(text: &str) -> Vec<Vec<String>> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect()
    }

    proptest! {
        /// Both readers split any text made of the characters that matter the same way.
        /// The text ends with a line break: `csv` reads a comment on a last line without
        /// one as an empty row, which a directory would then reject for its field count
        /// (here, a comment is a comment wherever it is; see the test below).
        #[test]
        fn reads_what_the_csv_crate_reads(
            bom in any::<bool>(),
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(","), Just("\""), Just("\n"), Just("\r"), Just("\r\n"), Just("#"),
                    Just(" "), Just("\t"), Just("\u{a0}"), Just(";"), Just("a"), Just("Bob"),
                    Just("10.0.0.1"), Just("é"),
                ],
                0..40,
            ),
        ) {
            let text = format!("{}{}\n", if bom { "\u{feff}" } else { "" }, parts.concat());
            prop_assert_eq!(fields(&text), csv_crate(&text));
        }
    }
}
