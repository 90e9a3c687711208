//! Splitting typed or piped text into statements.
//!
//! A statement ends at a `;` outside quotes and comments. A line that starts
//! with a backslash is a meta command and ends at the end of its line; typed
//! after an unfinished statement, it ends that statement too (which then
//! runs first, as a last statement without `;` at the end of a file does). A
//! statement may also end with `\g FILE` (psql's "send this result to a
//! file"). Splitting is one pass over the text.

/// One unit of input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// SQL text, without the final `;`; `to_file` when it ended with `\g FILE`.
    Sql {
        text: String,
        to_file: Option<String>,
    },
    /// A meta command line, without the backslash.
    Meta(String),
}

/// Lexical state at the end of some text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lex {
    Code,
    /// Inside '...' that started at this byte.
    Single(usize),
    /// Inside "..." that started at this byte.
    Double(usize),
    LineComment,
    BlockComment,
}

/// Scan `text` and call `on_code(i, byte)` for every byte outside quotes and
/// comments (and for each opening quote) until it returns false; returns
/// the state where the scan stopped.
pub fn scan(text: &str, mut on_code: impl FnMut(usize, u8) -> bool) -> Lex {
    let b = text.as_bytes();
    let mut state = Lex::Code;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match state {
            Lex::Code => match c {
                b'\'' | b'"' => {
                    if !on_code(i, c) {
                        return state;
                    }
                    state = if c == b'"' {
                        Lex::Double(i)
                    } else {
                        Lex::Single(i)
                    };
                }
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    state = Lex::LineComment;
                    i += 1;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    state = Lex::BlockComment;
                    i += 1;
                }
                _ => {
                    if !on_code(i, c) {
                        return state;
                    }
                }
            },
            Lex::Single(_) if c == b'\'' => state = Lex::Code,
            Lex::Double(_) if c == b'"' => state = Lex::Code,
            Lex::LineComment if c == b'\n' => state = Lex::Code,
            Lex::BlockComment if c == b'*' && b.get(i + 1) == Some(&b'/') => {
                state = Lex::Code;
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    state
}

/// Whether typed text is ready to run: a meta command, or SQL whose last
/// statement ended with `;` (or `\g FILE`). Blank text is complete too.
pub fn is_complete(text: &str) -> bool {
    let (_, rest) = split(text);
    rest.trim().is_empty()
}

/// Every item of a script: a last statement without `;` counts too.
pub fn items(text: &str) -> Vec<Item> {
    let (mut items, rest) = split(text);
    if !rest.trim().is_empty() {
        items.push(Item::Sql {
            text: rest.trim().to_string(),
            to_file: None,
        });
    }
    items
}

/// Split `text` into complete items and the unfinished rest.
pub fn split(text: &str) -> (Vec<Item>, String) {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        // Skip blanks and comments to the first byte that matters.
        let mut first = None;
        let state = scan(rest, |i, c| {
            if c.is_ascii_whitespace() {
                return true;
            }
            first = Some(i);
            false
        });
        let Some(start) = first else {
            // An unclosed block comment waits for its end.
            let rest = if state == Lex::BlockComment {
                rest.trim()
            } else {
                ""
            };
            return (items, rest.to_string());
        };
        let stmt = &rest[start..];
        if let Some(meta) = stmt.strip_prefix('\\') {
            let (line, after) = meta.split_once('\n').unwrap_or((meta, ""));
            items.push(Item::Meta(line.trim().to_string()));
            rest = after;
            continue;
        }
        match statement_end(stmt) {
            Some(End {
                text_end,
                next,
                to_file,
            }) => {
                let text = stmt[..text_end].trim().to_string();
                if !text.is_empty() {
                    items.push(Item::Sql { text, to_file });
                }
                rest = &stmt[next..];
            }
            None => return (items, stmt.to_string()),
        }
    }
}

struct End {
    /// End of the statement's text.
    text_end: usize,
    /// Where the next item starts.
    next: usize,
    /// `\g FILE`.
    to_file: Option<String>,
}

/// Where the statement at the start of `text` ends, if it does.
fn statement_end(text: &str) -> Option<End> {
    let bytes = text.as_bytes();
    let mut end = None;
    scan(text, |i, c| {
        match c {
            b';' => {
                end = Some(End {
                    text_end: i,
                    next: i + 1,
                    to_file: None,
                });
            }
            b'\\'
                if text[i + 1..].starts_with('g')
                    && text[i + 2..].chars().next().is_none_or(char::is_whitespace) =>
            {
                let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
                let arg = text[i + 2..line_end].trim().trim_end_matches(';').trim();
                end = Some(End {
                    text_end: i,
                    next: line_end,
                    to_file: (!arg.is_empty()).then(|| arg.to_string()),
                });
            }
            b'\\'
                if bytes[..i]
                    .iter()
                    .rev()
                    .take_while(|b| **b != b'\n')
                    .all(u8::is_ascii_whitespace) =>
            {
                // A meta command on its own line ends the statement before it.
                end = Some(End {
                    text_end: i,
                    next: i,
                    to_file: None,
                });
            }
            _ => {}
        }
        end.is_none()
    });
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(s: &str) -> Item {
        Item::Sql {
            text: s.into(),
            to_file: None,
        }
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes() {
        let (items, rest) = split("select ';' as a; select 2;\nselect\n 3");
        assert_eq!(items, vec![sql("select ';' as a"), sql("select 2")]);
        assert_eq!(rest, "select\n 3");
        assert!(!is_complete("select 1"));
        assert!(is_complete("select 1;"));
        assert!(is_complete("  "));
        assert!(!is_complete("select 'a;"));
    }

    #[test]
    fn comments_do_not_end_or_start_statements() {
        let (items, rest) = split("-- a; comment\nselect 1 /* ; */;\n-- done");
        assert_eq!(items, vec![sql("select 1 /* ; */")]);
        assert_eq!(rest, "");
        // An unclosed block comment is not finished.
        assert!(!is_complete("/* report\n for Q3"));
        assert_eq!(
            items_of("/* report\n for Q3 */\nselect 1;"),
            vec![sql("select 1")]
        );
        // A comment before a meta command.
        assert_eq!(
            items_of("-- settings\n\\format csv\n"),
            vec![Item::Meta("format csv".into())]
        );
    }

    fn items_of(s: &str) -> Vec<Item> {
        items(s)
    }

    #[test]
    fn a_meta_line_ends_the_statement_before_it() {
        assert_eq!(
            items("select 1\n\\q"),
            vec![sql("select 1"), Item::Meta("q".into())]
        );
        assert!(is_complete("select 1\n\\q"));
        assert_eq!(items("select 'a\\b';"), vec![sql("select 'a\\b'")]);
    }

    #[test]
    fn long_scripts_split_in_one_pass() {
        let script = "insert into t values (1);\n".repeat(50_000);
        assert_eq!(items(&script).len(), 50_000);
    }

    #[test]
    fn meta_commands_take_their_line() {
        let (items, rest) = split("\\format csv\nselect 1;\\q");
        assert_eq!(
            items,
            vec![
                Item::Meta("format csv".into()),
                sql("select 1"),
                Item::Meta("q".into())
            ]
        );
        assert_eq!(rest, "");
    }

    #[test]
    fn backslash_g_sends_one_result_to_a_file() {
        let (items, _) = split("select 1 \\g out.csv\nselect 2;");
        assert_eq!(
            items,
            vec![
                Item::Sql {
                    text: "select 1".into(),
                    to_file: Some("out.csv".into())
                },
                sql("select 2")
            ]
        );
    }
}
