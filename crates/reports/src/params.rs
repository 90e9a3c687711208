//! Typed report parameters, bound into the parsed statement.
//!
//! A report's SQL names its parameters as `$start`, `$campaign_id`, ... The
//! statement is parsed first and each placeholder in the syntax tree is then
//! replaced by a typed value (a string, a `DATE`, a number), so a value is
//! never read as SQL: a campaign id with a quote in it stays one string.
//! Binding happens before planning, because the table functions need their
//! arguments while the query is planned (DataFusion's own parameter values
//! bind after planning).

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use chrono::NaiveDate;
use datafusion::sql::sqlparser::ast::{
    self, CastKind, Expr, Value as SqlValue, visit_expressions_mut,
};
use serde::{Deserialize, Serialize};

/// The type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Text.
    String,
    /// A calendar day, `2026-11-26`.
    Date,
    /// A whole number.
    Integer,
    /// A number.
    Float,
    /// true or false.
    Boolean,
}

/// A parameter value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// true or false.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A number.
    Float(f64),
    /// Text or a day (days are kept as text until bound).
    String(String),
}

impl ParamType {
    /// Check and convert `text` (from the command line or a definition).
    pub fn parse(self, name: &str, text: &str) -> Result<Value, String> {
        let bad = |what: &str| format!("parameter {name} = '{text}' is not {what}");
        Ok(match self {
            ParamType::String => Value::String(text.to_string()),
            ParamType::Date => {
                NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
                    .map_err(|_| bad("a date like 2026-11-26"))?;
                Value::String(text.trim().to_string())
            }
            ParamType::Integer => {
                Value::Integer(text.trim().parse().map_err(|_| bad("a whole number"))?)
            }
            ParamType::Float => Value::Float(text.trim().parse().map_err(|_| bad("a number"))?),
            ParamType::Boolean => Value::Boolean(match text.trim() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err(bad("true or false")),
            }),
        })
    }

    /// Check a value written in TOML.
    pub fn check(self, name: &str, v: &Value) -> Result<Value, String> {
        match (self, v) {
            (ParamType::Float, Value::Integer(i)) => Ok(Value::Float(*i as f64)),
            (ParamType::String | ParamType::Date, Value::String(s)) => self.parse(name, s),
            (ParamType::Integer, Value::Integer(_))
            | (ParamType::Float, Value::Float(_))
            | (ParamType::Boolean, Value::Boolean(_)) => Ok(v.clone()),
            _ => Err(format!("parameter {name}: {v} is not of type {self:?}").to_lowercase()),
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Boolean(b) => write!(f, "{b}"),
            Value::Integer(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s}"),
        }
    }
}

/// Values by name, with their types.
pub type Bindings = BTreeMap<String, (ParamType, Value)>;

/// Replace every `$name` placeholder of `statement` by its typed value.
/// An unknown name or a positional `$1` is an error that lists the names
/// the report has.
pub fn bind(statement: &mut ast::Statement, values: &Bindings) -> Result<(), String> {
    let flow = visit_expressions_mut(statement, |expr: &mut Expr| {
        let Expr::Value(v) = expr else {
            return ControlFlow::Continue(());
        };
        let SqlValue::Placeholder(p) = &v.value else {
            return ControlFlow::Continue(());
        };
        let name = p.trim_start_matches(['$', ':', '?']);
        match values.get(name) {
            Some((ty, value)) => {
                *expr = typed(*ty, value);
                ControlFlow::Continue(())
            }
            None => ControlFlow::Break(p.clone()),
        }
    });
    match flow {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(p) => {
            let known: Vec<String> = values.keys().map(|k| format!("${k}")).collect();
            Err(format!(
                "the SQL uses {p}, which is not a parameter of this report (it has {}); declare it under [params]",
                known.join(", ")
            ))
        }
    }
}

fn typed(ty: ParamType, value: &Value) -> Expr {
    let v = match value {
        Value::Boolean(b) => SqlValue::Boolean(*b),
        Value::Integer(i) => SqlValue::Number(i.to_string(), false),
        Value::Float(x) => SqlValue::Number(format!("{x:?}"), false),
        Value::String(s) => SqlValue::SingleQuotedString(s.clone()),
    };
    let e = Expr::value(v);
    if ty == ParamType::Date {
        Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(e),
            data_type: ast::DataType::Date,
            array: false,
            format: None,
        }
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::GenericDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn bound(sql: &str, values: &[(&str, ParamType, Value)]) -> Result<String, String> {
        let mut stmts = Parser::parse_sql(&GenericDialect {}, sql).unwrap();
        let b: Bindings = values
            .iter()
            .map(|(n, t, v)| (n.to_string(), (*t, v.clone())))
            .collect();
        bind(&mut stmts[0], &b)?;
        Ok(stmts[0].to_string())
    }

    #[test]
    fn placeholders_become_typed_values_everywhere() {
        let sql = bound(
            "SELECT * FROM campaign_dashboard($campaign_id, $start, $end) WHERE x > $n AND y = $ok",
            &[
                (
                    "campaign_id",
                    ParamType::String,
                    Value::String("it's".into()),
                ),
                ("start", ParamType::Date, Value::String("2026-11-01".into())),
                ("end", ParamType::Date, Value::String("2026-11-30".into())),
                ("n", ParamType::Integer, Value::Integer(3)),
                ("ok", ParamType::Boolean, Value::Boolean(true)),
            ],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT * FROM campaign_dashboard('it''s', CAST('2026-11-01' AS DATE), CAST('2026-11-30' AS DATE)) WHERE x > 3 AND y = true"
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        let e = bound(
            "SELECT $nope",
            &[("start", ParamType::Date, Value::String("2026-01-01".into()))],
        )
        .unwrap_err();
        assert!(e.contains("$nope") && e.contains("$start"), "{e}");
    }

    #[test]
    fn values_are_checked_against_types() {
        assert!(ParamType::Date.parse("start", "2026-02-30").is_err());
        assert_eq!(
            ParamType::Integer.parse("n", " 7 ").unwrap(),
            Value::Integer(7)
        );
        assert!(ParamType::Boolean.parse("b", "maybe").is_err());
        assert_eq!(
            ParamType::Float.check("x", &Value::Integer(2)).unwrap(),
            Value::Float(2.0)
        );
        assert!(
            ParamType::Integer
                .check("n", &Value::String("x".into()))
                .is_err()
        );
    }
}
