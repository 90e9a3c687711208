//! Errors as the shell shows them: the message, where in the statement it
//! is (a caret under the line), and for an unknown table the nearest names.

use datafusion::error::DataFusionError;

use crate::names::{Names, did_you_mean, nearest};

/// The text to print for an error of `sql`.
pub fn describe(err: &DataFusionError, sql: &str, names: &Names) -> String {
    let message = err.strip_backtrace().trim().to_string();
    // DataFusion lists every column of the tables after an unknown one: name
    // the nearest instead.
    let (message, columns) = match message.split_once("\nValid fields are ") {
        Some((head, fields)) => (
            head.to_string(),
            Some(fields.trim_end_matches('.').to_string()),
        ),
        None => (message, None),
    };
    let mut out = format!("error: {message}");
    if let Some((line, column)) = location(err) {
        out.push('\n');
        out.push_str(&caret(sql, line, column));
    }
    if let (Some(fields), Some(wanted)) = (columns, unknown_column(&message)) {
        let names: Vec<&str> = fields
            .split(", ")
            .map(|f| f.rsplit('.').next().unwrap_or(f))
            .collect();
        // DataFusion sometimes names the nearest column itself.
        if !message.contains("Did you mean") {
            let hint = did_you_mean(&nearest(&wanted, names.into_iter()))
                .unwrap_or_else(|| "\\d NAME lists the columns of a table or view".into());
            out.push_str(&format!("\nhint: {hint}"));
        }
    }
    if let Some(table) = missing_table(&err.to_string()) {
        let hint = did_you_mean(&nearest(&table, names.table_names()))
            .unwrap_or_else(|| "\\d lists the tables and views".into());
        out.push_str(&format!("\nhint: {hint}"));
    }
    out
}

/// (line, column), both from 1, of the error in the statement.
fn location(err: &DataFusionError) -> Option<(usize, usize)> {
    if let Some(span) = err.diagnostic().and_then(|d| d.span) {
        return Some((span.start.line as usize, span.start.column as usize));
    }
    // sqlparser: "... at Line: 2, Column: 8"
    let s = err.to_string();
    let i = s.rfind("Line: ")?;
    let rest = &s[i + 6..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let col: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, col.parse().ok()?))
}

/// The statement's line with a caret under the column.
pub fn caret(sql: &str, line: usize, column: usize) -> String {
    let Some(text) = sql.lines().nth(line.saturating_sub(1)) else {
        return String::new();
    };
    let label = format!("LINE {line}: ");
    let pad: String = text
        .chars()
        .take(column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    format!("{label}{text}\n{}{pad}^", " ".repeat(label.len()))
}

/// The name in "No field named x."
fn unknown_column(msg: &str) -> Option<String> {
    let rest = &msg[msg.find("No field named ")? + 15..];
    let name = rest.trim_end_matches('.').trim_matches('"');
    Some(
        name.rsplit('.')
            .next()
            .unwrap_or(name)
            .trim_matches('"')
            .to_string(),
    )
}

/// The name in "table '...' not found".
fn missing_table(msg: &str) -> Option<String> {
    let i = msg.find("table '")?;
    let rest = &msg[i + 7..];
    let (name, tail) = rest.split_once('\'')?;
    if !tail.trim_start().starts_with("not found") {
        return None;
    }
    Some(name.rsplit('.').next().unwrap_or(name).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_points_at_the_column() {
        assert_eq!(
            caret("select\n  foo from t", 2, 3),
            "LINE 2:   foo from t\n          ^"
        );
    }

    #[test]
    fn finds_the_missing_table() {
        assert_eq!(
            missing_table("Error during planning: table 'datafusion.public.campain' not found"),
            Some("campain".into())
        );
        assert_eq!(missing_table("something else"), None);
    }
}
