//! The reference of everything the extension defines, one entry per
//! function, table function, view, measure and rate, with a one-line summary
//! and the full text. The CLI's `functions` command, the shell's `\df`,
//! `\d` and `\metrics`, and `queries/REFERENCE.md` all read it.

use datafusion::logical_expr::Documentation;

use crate::{catalog, table_fns, udaf, udf, views};

/// One documented thing.
#[derive(Debug, Clone)]
pub struct Entry {
    /// SQL name.
    pub name: String,
    /// scalar, aggregate, table, view, metric or rate.
    pub kind: &'static str,
    /// What it is, in a few sentences.
    pub description: String,
    /// Syntax, description, arguments and example, as `\\df NAME` shows them.
    pub full: String,
}

impl Entry {
    /// The first sentence of the description.
    pub fn summary(&self) -> &str {
        let first = self
            .description
            .split(". ")
            .next()
            .unwrap_or(&self.description);
        first.trim_end_matches('.')
    }
}

/// The kinds, in the order listings show them.
pub const KINDS: &[&str] = &["scalar", "aggregate", "table", "view", "metric", "rate"];

/// Syntax, description, arguments and example of a documented function.
pub fn full_text(d: &Documentation) -> String {
    let mut full = format!("{}\n\n{}\n", d.syntax_example, d.description);
    for (a, desc) in d.arguments.iter().flatten() {
        full.push_str(&format!("  {a}: {desc}\n"));
    }
    if let Some(ex) = &d.sql_example {
        full.push_str(&format!("\nExample:\n{ex}\n"));
    }
    full
}

/// Every entry of the extension.
pub fn entries() -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut push = |name: &str, kind, description: &str, full: String| {
        entries.push(Entry {
            name: name.to_string(),
            kind,
            description: description.to_string(),
            full,
        })
    };
    for f in udf::all() {
        if let Some(d) = f.documentation() {
            push(f.name(), "scalar", &d.description, full_text(d));
        }
    }
    for f in udaf::all() {
        if let Some(d) = f.documentation() {
            push(f.name(), "aggregate", &d.description, full_text(d));
        }
    }
    for (name, usage, doc, _) in table_fns::TABLE_FUNCTIONS {
        push(name, "table", doc, format!("{usage}\n\n{doc}\n"));
    }
    for v in views::all("UTC") {
        push(
            v.name,
            "view",
            v.doc,
            format!("view {}\n\n{}\n", v.name, v.doc),
        );
    }
    for m in catalog::MEASURES {
        push(
            m.name,
            "metric",
            m.doc,
            format!(
                "metric {}\n\n{}\n\nSQL over message_facts m: {}\n",
                m.name,
                m.doc,
                m.sql()
            ),
        );
    }
    for r in catalog::RATES {
        push(
            r.name,
            "rate",
            r.doc,
            format!(
                "rate {}\n\n{}\n\nsafe_rate({}, {})\n",
                r.name, r.doc, r.numerator, r.denominator
            ),
        );
    }
    entries
}
