//! Splitting typed or piped text into statements.
//!
//! A statement ends at a `;` outside quotes and comments. A line that starts
//! with a backslash is a meta command and ends at the end of its line. A
//! statement may also end with `\g FILE` (psql's "send this result to a
//! file").

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
/// comments; returns the state at the end.
pub fn scan(text: &str, mut on_code: impl FnMut(usize, u8)) -> Lex {
    let b = text.as_bytes();
    let mut state = Lex::Code;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match state {
            Lex::Code => match c {
                b'\'' => state = Lex::Single(i),
                b'"' => state = Lex::Double(i),
                b'-' if b.get(i + 1) == Some(&b'-') => {
                    state = Lex::LineComment;
                    i += 1;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    state = Lex::BlockComment;
                    i += 1;
                }
                _ => on_code(i, c),
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

/// Split `text` into complete items and the unfinished rest.
pub fn split(text: &str) -> (Vec<Item>, String) {
    let mut items = Vec::new();
    let mut rest = text;
    loop {
        let trimmed = rest.trim_start();
        if trimmed.is_empty() {
            return (items, String::new());
        }
        if let Some(meta) = trimmed.strip_prefix('\\') {
            let (line, after) = meta.split_once('\n').unwrap_or((meta, ""));
            items.push(Item::Meta(line.trim().to_string()));
            rest = after;
            continue;
        }
        match statement_end(trimmed) {
            Some((end, skip, to_file)) => {
                let text = trimmed[..end].trim().to_string();
                if !text.is_empty() && !only_comments(&text) {
                    items.push(Item::Sql { text, to_file });
                }
                rest = &trimmed[skip..];
            }
            None => {
                // Comments alone never need a terminator.
                if only_comments(trimmed) {
                    return (items, String::new());
                }
                return (items, trimmed.to_string());
            }
        }
    }
}

/// End of the first statement: (end of its text, where the next starts,
/// `\g` target).
fn statement_end(text: &str) -> Option<(usize, usize, Option<String>)> {
    let mut found = None;
    let mut gfile = None;
    scan(text, |i, c| {
        if found.is_some() || gfile.is_some() {
            return;
        }
        if c == b';' {
            found = Some(i);
        } else if c == b'\\' && text[i + 1..].starts_with('g') {
            let line_end = text[i..].find('\n').map_or(text.len(), |n| i + n);
            let arg = text[i + 2..line_end].trim();
            if text[i + 2..].chars().next().is_none_or(char::is_whitespace) {
                gfile = Some((i, line_end, arg.to_string()));
            }
        }
    });
    if let Some((i, line_end, arg)) = gfile {
        let to = (!arg.is_empty()).then_some(arg);
        return Some((i, line_end, to));
    }
    found.map(|i| (i, i + 1, None))
}

fn only_comments(text: &str) -> bool {
    let mut code = false;
    scan(text, |_, c| code |= !c.is_ascii_whitespace());
    !code
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
        assert_eq!(items, vec![sql("-- a; comment\nselect 1 /* ; */")]);
        assert_eq!(rest, "");
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
