//! `sendlens functions [NAME]`: the extension's functions, table functions,
//! views and metric catalog with their documentation.

use std::io::Write;

use sendlens_metrics::{catalog, table_fns, udaf, udf, views};

#[derive(clap::Args)]
pub struct Args {
    /// Show one function, view or metric in full (else list them all).
    pub name: Option<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let scalars = udf::all();
    let aggregates = udaf::all();
    let mut entries: Vec<(String, &str, String, String)> = Vec::new();
    for f in &scalars {
        if let Some(d) = f.documentation() {
            let mut full = format!("{}\n\n{}\n", d.syntax_example, d.description);
            for (a, desc) in d.arguments.iter().flatten() {
                full.push_str(&format!("  {a}: {desc}\n"));
            }
            if let Some(ex) = &d.sql_example {
                full.push_str(&format!("\nExample:\n{ex}\n"));
            }
            entries.push((f.name().to_string(), "scalar", d.description.clone(), full));
        }
    }
    for f in &aggregates {
        if let Some(d) = f.documentation() {
            let full = format!("{}\n\n{}\n", d.syntax_example, d.description);
            entries.push((
                f.name().to_string(),
                "aggregate",
                d.description.clone(),
                full,
            ));
        }
    }
    for (name, usage, doc, _) in table_fns::TABLE_FUNCTIONS {
        entries.push((
            name.to_string(),
            "table",
            doc.to_string(),
            format!("{usage}\n\n{doc}\n"),
        ));
    }
    for v in views::metric_views("UTC")
        .into_iter()
        .chain(views::due_views())
    {
        entries.push((
            v.name.to_string(),
            "view",
            v.doc.to_string(),
            format!("view {}\n\n{}\n", v.name, v.doc),
        ));
    }
    for m in catalog::MEASURES {
        entries.push((
            m.name.to_string(),
            "metric",
            m.doc.to_string(),
            format!(
                "metric {}\n\n{}\n\nSQL over message_facts m: {}\n",
                m.name, m.doc, m.sql
            ),
        ));
    }
    for r in catalog::RATES {
        entries.push((
            r.name.to_string(),
            "rate",
            r.doc.to_string(),
            format!(
                "rate {}\n\n{}\n\nsafe_rate({}, {})\n",
                r.name, r.doc, r.numerator, r.denominator
            ),
        ));
    }
    match args.name {
        Some(name) => {
            let found: Vec<_> = entries
                .iter()
                .filter(|e| e.0.eq_ignore_ascii_case(&name))
                .collect();
            if found.is_empty() {
                let near: Vec<&str> = entries
                    .iter()
                    .filter(|e| e.0.contains(&name.to_ascii_lowercase()))
                    .map(|e| e.0.as_str())
                    .collect();
                anyhow::bail!(
                    "no function, view or metric named '{name}'{}",
                    if near.is_empty() {
                        String::new()
                    } else {
                        format!("; did you mean: {}", near.join(", "))
                    }
                );
            }
            for e in found {
                writeln!(out, "[{}] {}", e.1, e.3)?;
            }
        }
        None => {
            for kind in ["scalar", "aggregate", "table", "view", "metric", "rate"] {
                writeln!(out, "{kind}:")?;
                for e in entries.iter().filter(|e| e.1 == kind) {
                    let first = e.2.split(". ").next().unwrap_or(&e.2);
                    writeln!(out, "  {:<32} {}", e.0, first.trim_end_matches('.'))?;
                }
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
