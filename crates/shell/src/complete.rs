//! Tab completion and multi-line input for the line editor.
//!
//! Completion looks at where the cursor is: inside a quoted argument of a
//! KPI table function it offers KPI names or ids, inside other quotes
//! campaign ids or file paths, after FROM or JOIN tables and table
//! functions, after `alias.` that table's columns, elsewhere the columns of
//! the tables the statement names (before any FROM, the catalog's measures
//! and every column of the views and tables), then functions and keywords.

use std::path::Path;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use crate::input::{Lex, is_complete, scan};
use crate::meta;
use crate::names::SharedNames;
use sendlens_render::Format;

pub struct ShellHelper {
    names: SharedNames,
}

impl ShellHelper {
    pub fn new(names: SharedNames) -> Self {
        ShellHelper { names }
    }
}

impl Helper for ShellHelper {}
impl Hinter for ShellHelper {
    type Hint = String;
}
impl Highlighter for ShellHelper {}

impl Validator for ShellHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        Ok(if is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(self.candidates(line, pos))
    }
}

const KEYWORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "ORDER BY",
    "HAVING",
    "LIMIT",
    "OFFSET",
    "JOIN",
    "LEFT JOIN",
    "INNER JOIN",
    "FULL JOIN",
    "CROSS JOIN",
    "ON",
    "USING",
    "AS",
    "AND",
    "OR",
    "NOT",
    "IN",
    "IS NULL",
    "IS NOT NULL",
    "LIKE",
    "ILIKE",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "DISTINCT",
    "COUNT",
    "UNION ALL",
    "WITH",
    "DESC",
    "ASC",
    "NULLS LAST",
    "CAST",
    "DATE",
    "TIMESTAMP",
    "INTERVAL",
    "EXPLAIN",
    "EXPLAIN ANALYZE",
    "SHOW TABLES",
    "SHOW FUNCTIONS",
    "DESCRIBE",
    "CREATE VIEW",
    "CREATE TABLE",
    "COPY",
    "TO",
    "OVER",
    "PARTITION BY",
    "FILTER",
];

fn pair(display: impl Into<String>, replacement: impl Into<String>) -> Pair {
    Pair {
        display: display.into(),
        replacement: replacement.into(),
    }
}

/// Function names starting with `word`, completed up to the open parenthesis.
fn calls<'a>(functions: &'a [String], word: &'a str) -> impl Iterator<Item = Pair> + 'a {
    functions
        .iter()
        .filter(move |f| starts_with_ci(f, word))
        .map(|f| pair(format!("{f}()"), format!("{f}(")))
}

/// Characters of an unquoted identifier (and `.` between its parts).
fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '.'
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.to_ascii_lowercase()
        .starts_with(&prefix.to_ascii_lowercase())
}

impl ShellHelper {
    /// Start of the replaced text and the candidates.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = &line[..pos];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let current_line = &before[line_start..];
        if let Some(meta_text) = current_line.trim_start().strip_prefix('\\') {
            let offset = pos - meta_text.len();
            return self.complete_meta(meta_text, offset);
        }
        // The statement under the cursor: from the last ';' in code before it
        // to the next one after it.
        let mut stmt_start = 0;
        scan(before, |i, c| {
            if c == b';' {
                stmt_start = i + 1;
            }
            true
        });
        let stmt_before = &before[stmt_start..];
        let after = &line[pos..];
        let mut stmt_end = after.len();
        scan(after, |i, c| {
            if c == b';' {
                stmt_end = i;
                return false;
            }
            true
        });
        let statement = format!("{stmt_before}{}", &after[..stmt_end]);
        match scan(stmt_before, |_, _| true) {
            Lex::Single(q) => {
                let prefix = &stmt_before[q + 1..];
                let start = stmt_start + q + 1;
                let closed = after.starts_with('\'');
                (
                    start,
                    self.complete_quoted(&stmt_before[..q], prefix, closed),
                )
            }
            Lex::LineComment | Lex::BlockComment => (pos, Vec::new()),
            Lex::Double(_) | Lex::Code => {
                let word_start = before
                    .char_indices()
                    .rev()
                    .take_while(|(_, c)| is_ident_char(*c))
                    .last()
                    .map_or(pos, |(i, _)| i);
                let word = &before[word_start..];
                let prev = previous_word(&before[..word_start]);
                (word_start, self.complete_word(word, &prev, &statement))
            }
        }
    }

    fn complete_meta(&self, text: &str, offset: usize) -> (usize, Vec<Pair>) {
        let Some((cmd, arg)) = text.split_once(char::is_whitespace) else {
            let c = meta::COMMANDS
                .iter()
                .filter(|(name, _, _)| name.starts_with(text))
                .map(|(name, _, _)| pair(format!("\\{name}"), format!("{name} ")))
                .collect();
            return (offset, c);
        };
        let arg = arg.trim_start();
        let start = offset + text.len() - arg.len();
        let names = crate::names::read(&self.names);
        let from_list = |list: Vec<String>| -> Vec<Pair> {
            list.into_iter()
                .filter(|n| starts_with_ci(n, arg))
                .map(|n| pair(n.clone(), n))
                .collect()
        };
        let c = match cmd {
            "i" | "include" | "o" | "out" | "g" => return (start, complete_path(arg)),
            "d" => from_list(names.tables.keys().cloned().collect()),
            "df" => from_list(
                names
                    .functions
                    .iter()
                    .chain(&names.table_functions)
                    .cloned()
                    .collect(),
            ),
            "format" => from_list(Format::names().into_iter().map(String::from).collect()),
            "timing" => from_list(vec!["on".into(), "off".into()]),
            _ => Vec::new(),
        };
        (start, c)
    }

    /// Inside '...': `code` is the statement up to the quote.
    /// `closed`: a quote already follows the cursor.
    fn complete_quoted(&self, code: &str, prefix: &str, closed: bool) -> Vec<Pair> {
        if looks_like_path(prefix) {
            return complete_path(prefix);
        }
        let names = crate::names::read(&self.names);
        let call = enclosing_call(code);
        let list: &[String] = match call.as_ref().map(|(f, arg)| (f.as_str(), *arg)) {
            Some((f, 0)) if names.kpis.contains_key(f) => &names.kpis[f],
            Some(("application_kpi", 1)) => &names.ids.apps,
            Some(("journey_kpi", 1)) => &names.ids.journeys,
            _ => &names.ids.campaigns,
        };
        list.iter()
            .filter(|v| v.starts_with(prefix))
            .map(|v| pair(v.clone(), if closed { v.clone() } else { format!("{v}'") }))
            .collect()
    }

    fn complete_word(&self, word: &str, prev: &str, statement: &str) -> Vec<Pair> {
        let names = crate::names::read(&self.names);
        let tables = statement_tables(statement);
        // alias.column or table.column
        if let Some((qualifier, rest)) = word.rsplit_once('.') {
            let q = qualifier.to_ascii_lowercase();
            let table = tables
                .iter()
                .find(|(t, alias)| alias.as_deref() == Some(q.as_str()) || *t == q)
                .map_or(q.clone(), |(t, _)| t.clone());
            return names
                .tables
                .get(&table)
                .map(|info| {
                    info.columns
                        .iter()
                        .filter(|(c, _)| starts_with_ci(c, rest))
                        .map(|(c, _)| pair(c.clone(), format!("{qualifier}.{c}")))
                        .collect()
                })
                .unwrap_or_default();
        }
        let mut out: Vec<Pair> = Vec::new();
        let after_from = matches!(
            prev.to_ascii_lowercase().as_str(),
            "from" | "join" | "into" | "table" | "describe" | "update"
        );
        if after_from {
            out.extend(
                names
                    .tables
                    .iter()
                    .filter(|(t, info)| info.kind != "table function" && starts_with_ci(t, word))
                    .map(|(t, _)| pair(t.clone(), t.clone())),
            );
            out.extend(calls(&names.table_functions, word));
            return out;
        }
        let mut seen = std::collections::HashSet::new();
        let selecting = statement
            .trim_start()
            .get(..6)
            .is_some_and(|w| w.eq_ignore_ascii_case("select"));
        if tables.is_empty() && selecting {
            // The SELECT list comes before FROM: the catalog's measures and
            // rates first, then (once a letter is typed) every column of the
            // views and tables.
            let catalog = sendlens_metrics::catalog::MEASURES
                .iter()
                .map(|m| m.name)
                .chain(["endpoints_targeted"])
                .chain(sendlens_metrics::catalog::RATES.iter().map(|r| r.name));
            for c in catalog {
                if starts_with_ci(c, word) && seen.insert(c.to_string()) {
                    out.push(pair(c, c));
                }
            }
            if !word.is_empty() {
                for info in names.tables.values() {
                    for (c, _) in &info.columns {
                        if starts_with_ci(c, word) && seen.insert(c.clone()) {
                            out.push(pair(c.clone(), c.clone()));
                        }
                    }
                }
            }
        }
        for (t, _) in &tables {
            if let Some(info) = names.tables.get(t) {
                for (c, _) in &info.columns {
                    if starts_with_ci(c, word) && seen.insert(c.clone()) {
                        out.push(pair(c.clone(), c.clone()));
                    }
                }
            }
        }
        if word.is_empty() {
            return out;
        }
        out.extend(calls(&names.functions, word));
        let lower = word.chars().next().is_some_and(char::is_lowercase);
        out.extend(
            KEYWORDS
                .iter()
                .filter(|k| starts_with_ci(k, word))
                .map(|k| {
                    let k = if lower {
                        k.to_ascii_lowercase()
                    } else {
                        k.to_string()
                    };
                    pair(k.clone(), k)
                }),
        );
        out
    }
}

fn looks_like_path(s: &str) -> bool {
    s.starts_with('/')
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('~')
        || s.contains('/')
}

/// File names under the folder part of `prefix`.
fn complete_path(prefix: &str) -> Vec<Pair> {
    let (dir, file) = match prefix.rfind('/') {
        Some(i) => (&prefix[..=i], &prefix[i + 1..]),
        None => ("", prefix),
    };
    let home = std::env::var("HOME").unwrap_or_default();
    let dir_path = match dir.strip_prefix("~/") {
        Some(rest) => Path::new(&home).join(rest),
        None if dir.is_empty() => Path::new(".").to_path_buf(),
        None => Path::new(dir).to_path_buf(),
    };
    let Ok(entries) = std::fs::read_dir(&dir_path) else {
        return Vec::new();
    };
    let mut out: Vec<Pair> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(file) || (file.is_empty() && name.starts_with('.')) {
                return None;
            }
            let slash = if e.path().is_dir() { "/" } else { "" };
            Some(pair(
                format!("{name}{slash}"),
                format!("{dir}{name}{slash}"),
            ))
        })
        .collect();
    out.sort_by(|a, b| a.display.cmp(&b.display));
    out
}

/// The last word before `text`'s end (skipping spaces).
fn previous_word(text: &str) -> String {
    text.trim_end()
        .rsplit(|c: char| c.is_whitespace() || c == ',' || c == '(')
        .next()
        .unwrap_or("")
        .to_string()
}

/// The function whose argument list is open at the end of `code`, and which
/// argument (from 0) the end is in.
fn enclosing_call(code: &str) -> Option<(String, usize)> {
    let mut stack: Vec<(usize, usize)> = Vec::new(); // (position of '(', commas)
    scan(code, |i, c| {
        match c {
            b'(' => stack.push((i, 0)),
            b')' => {
                stack.pop();
            }
            b',' => {
                if let Some(top) = stack.last_mut() {
                    top.1 += 1;
                }
            }
            _ => {}
        }
        true
    });
    let (open, arg) = *stack.last()?;
    let name: String = code[..open]
        .trim_end()
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    (!name.is_empty()).then(|| (name.to_ascii_lowercase(), arg))
}

/// Tables named after FROM or JOIN (and after commas in a FROM list), with
/// their aliases.
pub fn statement_tables(statement: &str) -> Vec<(String, Option<String>)> {
    // Blank out quotes and comments, then split into words and symbols.
    let mut code = vec![b' '; statement.len()];
    scan(statement, |i, c| {
        code[i] = c;
        true
    });
    let code = String::from_utf8_lossy(&code).into_owned();
    let mut tokens: Vec<String> = Vec::new();
    let mut word = String::new();
    for c in code.chars() {
        if is_ident_char(c) {
            word.push(c);
        } else {
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            if matches!(c, ',' | '(' | ')') {
                tokens.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    const NOT_ALIAS: &[&str] = &[
        "where", "group", "order", "join", "left", "right", "inner", "full", "cross", "on",
        "using", "limit", "union", "having", "natural", "outer", "window", "offset",
    ];
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].to_ascii_lowercase();
        if t == "from" || t == "join" {
            let mut j = i + 1;
            while let Some(name) = tokens.get(j).cloned() {
                if name == "(" {
                    break;
                }
                // A table function: its name, then skip its arguments.
                if tokens.get(j + 1).is_some_and(|n| n == "(") {
                    let mut depth = 0;
                    let mut k = j + 1;
                    while let Some(t) = tokens.get(k) {
                        depth += match t.as_str() {
                            "(" => 1,
                            ")" => -1,
                            _ => 0,
                        };
                        k += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    tokens.drain(j + 1..k);
                }
                // Unquoted names are case-insensitive: DataFusion lower-cases them.
                let table = name
                    .rsplit('.')
                    .next()
                    .unwrap_or(&name)
                    .to_ascii_lowercase();
                j += 1;
                let mut alias = None;
                if tokens.get(j).is_some_and(|a| a.eq_ignore_ascii_case("as")) {
                    j += 1;
                }
                if let Some(a) = tokens.get(j)
                    && a != ","
                    && a != ")"
                    && !NOT_ALIAS.contains(&a.to_ascii_lowercase().as_str())
                {
                    alias = Some(a.to_ascii_lowercase());
                    j += 1;
                }
                out.push((table, alias));
                if tokens.get(j).is_some_and(|c| c == ",") && t == "from" {
                    j += 1;
                    continue;
                }
                break;
            }
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, RwLock};

    use super::*;
    use crate::names::{Ids, Names, TableInfo};

    fn helper() -> ShellHelper {
        let mut tables = BTreeMap::new();
        let cols = |c: &[&str]| {
            c.iter()
                .map(|s| (s.to_string(), "Utf8".to_string()))
                .collect()
        };
        tables.insert(
            "campaign_metrics".to_string(),
            TableInfo {
                kind: "view",
                columns: cols(&["campaign_id", "messages_sent", "delivery_rate"]),
            },
        );
        tables.insert(
            "events".to_string(),
            TableInfo {
                kind: "table",
                columns: cols(&["event_type", "endpoint_id"]),
            },
        );
        tables.insert(
            "campaign_daily".to_string(),
            TableInfo {
                kind: "table function",
                columns: cols(&["day", "endpoint_deliveries"]),
            },
        );
        let names = Names {
            tables,
            functions: vec!["email_open_rate".into(), "safe_rate".into()],
            table_functions: vec!["campaign_dashboard".into(), "campaign_kpi".into()],
            kpis: BTreeMap::from([(
                "campaign_kpi",
                vec![
                    "successful-delivery-rate".to_string(),
                    "unique-deliveries".to_string(),
                ],
            )]),
            ids: Ids {
                campaigns: vec!["spring-sale".into(), "summer".into()],
                ..Ids::default()
            },
        };
        ShellHelper::new(Arc::new(RwLock::new(names)))
    }

    #[test]
    fn columns_complete_in_the_select_list_before_from() {
        // Catalog measures first, then the columns of views and tables.
        let got = replacements("SELECT campaign_id, messages_s");
        assert_eq!(
            got.first().map(String::as_str),
            Some("messages_sent"),
            "{got:?}"
        );
        let got = replacements("select endp");
        assert!(
            got.starts_with(&["endpoints_targeted".to_string()]),
            "{got:?}"
        );
        assert!(
            got.contains(&"endpoint_deliveries".to_string())
                && got.contains(&"endpoint_id".to_string()),
            "{got:?}"
        );
        let got = replacements("SELECT event_t");
        assert_eq!(got, ["event_type"]);
        // Not outside a SELECT: the first word is a keyword.
        assert_eq!(replacements("sel"), ["select"]);
        // With FROM typed (after the cursor too), only that table's columns.
        let line = "SELECT endp FROM events";
        let got: Vec<String> = helper()
            .candidates(line, "SELECT endp".len())
            .1
            .into_iter()
            .map(|p| p.replacement)
            .collect();
        assert_eq!(got, ["endpoint_id"]);
    }

    fn replacements(line: &str) -> Vec<String> {
        helper()
            .candidates(line, line.len())
            .1
            .into_iter()
            .map(|p| p.replacement)
            .collect()
    }

    #[test]
    fn columns_of_the_tables_in_the_statement() {
        let line = "SELECT messages_sent, deliv FROM campaign_metrics;";
        let pos = line.find("deliv").unwrap() + 5;
        let (start, c) = helper().candidates(line, pos);
        assert_eq!(start, line.find("deliv").unwrap());
        assert_eq!(c[0].replacement, "delivery_rate");
        assert_eq!(replacements("select m.mess"), Vec::<String>::new());
        assert_eq!(
            replacements("select * from campaign_metrics m where m.mess"),
            ["m.messages_sent"]
        );
    }

    #[test]
    fn columns_of_a_table_function() {
        assert_eq!(
            replacements(
                "select * from campaign_daily('x', '2026-01-01', '2026-01-02') where endpoint_d"
            ),
            ["endpoint_deliveries"]
        );
    }

    #[test]
    fn tables_after_from() {
        assert_eq!(
            replacements("select * from camp"),
            ["campaign_metrics", "campaign_dashboard(", "campaign_kpi("]
        );
        assert_eq!(replacements("SELECT * FROM ev"), ["events"]);
    }

    #[test]
    fn kpi_names_and_ids_in_quotes() {
        assert_eq!(
            replacements("select * from campaign_kpi('succ"),
            ["successful-delivery-rate'"]
        );
        assert_eq!(
            replacements("select * from campaign_dashboard('spr"),
            ["spring-sale'"]
        );
        assert_eq!(
            replacements("select * from campaign_metrics where campaign_id = 'su"),
            ["summer'"]
        );
    }

    #[test]
    fn meta_commands_and_keywords() {
        assert!(replacements("\\fo").contains(&"format ".to_string()));
        assert_eq!(replacements("\\format cs"), ["csv"]);
        assert!(replacements("sel").contains(&"select".to_string()));
        assert!(replacements("select safe").contains(&"safe_rate(".to_string()));
    }

    #[test]
    fn file_paths_after_meta_commands_and_in_quotes() {
        let dir = std::env::temp_dir().join(format!("sendlens-complete-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("reports")).unwrap();
        std::fs::write(dir.join("report.sql"), "select 1;").unwrap();
        let d = dir.display();
        assert_eq!(
            replacements(&format!("\\i {d}/rep")),
            [format!("{d}/report.sql"), format!("{d}/reports/")]
        );
        assert_eq!(
            replacements(&format!("copy t to '{d}/reports")),
            [format!("{d}/reports/")]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tables_and_aliases() {
        assert_eq!(
            statement_tables("select * from campaign_daily('a', f(1), '2026') d where"),
            vec![("campaign_daily".into(), Some("d".into()))]
        );
        assert_eq!(
            statement_tables("select * from a x join b as y on x.k = y.k, c"),
            vec![
                ("a".into(), Some("x".into())),
                ("b".into(), Some("y".into()))
            ]
        );
        assert_eq!(
            statement_tables("select * from public.a, b where 1=1"),
            vec![("a".into(), None), ("b".into(), None)]
        );
    }
}
