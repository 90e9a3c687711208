//! Report definitions: `reports/NAME.toml` in a workspace, with the SQL in
//! `queries/reports/` (or inline), read and checked.
//!
//! ```toml
//! title = "Campaign page"
//! sql = "campaign_page.sql"          # under queries/reports/, or query = "SELECT ..."
//! formats = ["html", "csv"]
//! catch_up = true                    # run periods missed while the scheduler was down
//! skip_if_empty = true               # no output when every section is empty
//!
//! [schedule]
//! cron = "0 6 * * *"                 # minute hour day-of-month month day-of-week
//! time_zone = "Europe/Berlin"        # default: the workspace's
//!
//! [period]
//! every = "day"                      # day, week, month, month_to_date, trailing_days (+ days = N)
//! lookback = 2                       # also re-run the 2 periods before, for late events
//!
//! [params.campaign_id]
//! type = "string"
//! each = "SELECT campaign_id FROM campaign_comparison($start, $end, $time_zone)"
//!
//! [[sections]]
//! name = "deliveries"                # a `-- name: deliveries` statement of the SQL file
//! show = "bars"                      # tiles, table, bars or lines
//! x = "day"
//! y = ["endpoint_deliveries"]
//!
//! [[sections]]
//! name = "engagement"                # another view of the same result
//! statement = "deliveries"
//! show = "lines"
//! x = "day"
//! y = ["unique_opens", "links_clicked"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono_tz::Tz;
use serde::Deserialize;

use crate::cron::Cron;
use crate::output::OutputFormat;
use crate::params::{ParamType, Value};
use crate::period::Every;

/// Folder of report definitions in a workspace.
pub const REPORTS_DIR: &str = "reports";
/// Folder of report SQL in a workspace.
pub const QUERIES_DIR: &str = "queries/reports";

/// Parameters every report has, set by the run.
pub const BUILTIN_PARAMS: &[(&str, ParamType, &str)] = &[
    ("start", ParamType::Date, "first day of the period"),
    ("end", ParamType::Date, "last day of the period (inclusive)"),
    (
        "time_zone",
        ParamType::String,
        "the report's time zone (day boundaries)",
    ),
    (
        "period",
        ParamType::String,
        "the period's name, e.g. 2026-11-26 or 2026-W47",
    ),
];

/// A checked report definition.
#[derive(Debug, Clone)]
pub struct Report {
    /// Name (the file name without `.toml`).
    pub name: String,
    /// Title for people.
    pub title: String,
    /// What the report is for.
    pub description: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// The named statements, in order.
    pub statements: Vec<Statement>,
    /// How each statement is shown (one per statement, in order).
    pub sections: Vec<Section>,
    /// Declared parameters.
    pub params: Vec<Param>,
    /// When it runs, if it is scheduled.
    pub schedule: Option<Cron>,
    /// The time zone of the schedule and of the days.
    pub time_zone: String,
    /// What a run covers.
    pub every: Every,
    /// How many earlier periods each scheduled run re-runs.
    pub lookback: u32,
    /// First scheduled run considered when the report has no history.
    pub start: Option<NaiveDate>,
    /// Output formats.
    pub formats: Vec<OutputFormat>,
    /// Run periods missed while no scheduler ran.
    pub catch_up: bool,
    /// Write nothing when every section is empty.
    pub skip_if_empty: bool,
}

/// One query of a report.
#[derive(Debug, Clone)]
pub struct Statement {
    /// Its `-- name:`.
    pub name: String,
    /// The SQL.
    pub sql: String,
}

/// How a statement's result is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its name (the statement's, unless it shows another view of one).
    pub name: String,
    /// The statement whose result it shows.
    pub statement: String,
    /// Heading.
    pub title: String,
    /// The shape.
    pub show: Show,
    /// Column along the x axis of a chart.
    pub x: Option<String>,
    /// Columns drawn in a chart.
    pub y: Vec<String>,
}

/// Shapes of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Show {
    /// The first row as headline tiles.
    Tiles,
    /// A table.
    Table,
    /// A bar chart (and its table in machine formats).
    Bars,
    /// A line chart.
    Lines,
}

/// A declared parameter.
#[derive(Debug, Clone)]
pub struct Param {
    /// Name (`$name` in the SQL).
    pub name: String,
    /// Type.
    pub ty: ParamType,
    /// Value when the run gives none.
    pub default: Option<Value>,
    /// A query whose values each get their own output.
    pub each: Option<String>,
    /// What it is.
    pub description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    title: Option<String>,
    description: Option<String>,
    sql: Option<String>,
    query: Option<String>,
    formats: Option<Vec<String>>,
    #[serde(default)]
    catch_up: bool,
    #[serde(default)]
    skip_if_empty: bool,
    schedule: Option<ScheduleFile>,
    period: PeriodFile,
    #[serde(default)]
    params: BTreeMap<String, ParamFile>,
    #[serde(default)]
    sections: Vec<SectionFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    cron: String,
    time_zone: Option<String>,
    start: Option<NaiveDate>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeriodFile {
    every: String,
    days: Option<u32>,
    #[serde(default)]
    lookback: u32,
    time_zone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParamFile {
    #[serde(rename = "type")]
    ty: ParamType,
    default: Option<Value>,
    each: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SectionFile {
    name: String,
    statement: Option<String>,
    title: Option<String>,
    show: Option<Show>,
    x: Option<String>,
    #[serde(default)]
    y: Vec<String>,
}

/// A definition that could not be read, with the reason.
#[derive(Debug, Clone)]
pub struct Invalid {
    /// The report's name.
    pub name: String,
    /// Its file.
    pub path: PathBuf,
    /// What is wrong.
    pub error: String,
}

/// Every report of the workspace at `root`, sorted by name, and the
/// definitions that are broken (each broken one is reported, the others
/// still run).
pub fn load_all(root: &Path, default_tz: &str) -> (Vec<Report>, Vec<Invalid>) {
    let dir = root.join(REPORTS_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for path in files {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        match load(root, &path, default_tz) {
            Ok(r) => ok.push(r),
            Err(error) => bad.push(Invalid { name, path, error }),
        }
    }
    (ok, bad)
}

/// Read one definition.
pub fn load(root: &Path, path: &Path, default_tz: &str) -> Result<Report, String> {
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!(
            "report file name '{name}' must use letters, digits, '_' or '-' only (it names output folders)"
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let sql_text =
        match (&file.sql, &file.query) {
            (Some(f), None) => {
                let p = root.join(QUERIES_DIR).join(f);
                std::fs::read_to_string(&p)
                    .map_err(|e| format!("sql = \"{f}\": cannot read {}: {e}", p.display()))?
            }
            (None, Some(q)) => q.clone(),
            _ => return Err(
                "give either sql = \"FILE.sql\" (under queries/reports/) or query = \"SELECT ...\""
                    .into(),
            ),
        };
    let statements = split_statements(&sql_text)?;

    let time_zone = file
        .schedule
        .as_ref()
        .and_then(|s| s.time_zone.clone())
        .or(file.period.time_zone.clone())
        .unwrap_or_else(|| default_tz.to_string());
    time_zone.parse::<Tz>().map_err(|_| {
        format!("time zone '{time_zone}' is not an IANA time zone like Europe/Berlin")
    })?;
    let schedule = file
        .schedule
        .as_ref()
        .map(|s| Cron::parse(&s.cron))
        .transpose()?;
    let every = Every::parse(&file.period.every, file.period.days)?;
    if file.period.lookback > 366 {
        return Err(format!(
            "lookback = {} is more than a year of periods",
            file.period.lookback
        ));
    }

    let formats = match &file.formats {
        None => vec![OutputFormat::Html, OutputFormat::Csv],
        Some(list) => list
            .iter()
            .map(|f| OutputFormat::parse(f))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if formats.is_empty() {
        return Err(
            "formats is empty: name at least one of csv, json, parquet, markdown, html".into(),
        );
    }

    let mut params = Vec::new();
    for (pname, p) in &file.params {
        if BUILTIN_PARAMS.iter().any(|(b, _, _)| b == pname) {
            return Err(format!(
                "parameter {pname} is set by every run; choose another name"
            ));
        }
        let default = p
            .default
            .as_ref()
            .map(|v| p.ty.check(pname, v))
            .transpose()?;
        params.push(Param {
            name: pname.clone(),
            ty: p.ty,
            default,
            each: p.each.clone(),
            description: p.description.clone(),
        });
    }
    if params.iter().filter(|p| p.each.is_some()).count() > 1 {
        return Err("only one parameter may have `each`".into());
    }

    // Each statement's own section, then the sections that show its result
    // another way (`statement = "..."`), so one query can feed a table and
    // a chart.
    for s in &file.sections {
        let target = s.statement.as_deref().unwrap_or(&s.name);
        if !statements.iter().any(|st| st.name == target) {
            let names: Vec<&str> = statements.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "section {} has no statement {target} (the SQL has {}); name statements with a `-- name: NAME` line",
                s.name,
                names.join(", ")
            ));
        }
        if statements.iter().any(|st| st.name == s.name) && target != s.name {
            return Err(format!(
                "section {} is also a statement's name; give the section another name",
                s.name
            ));
        }
        if file.sections.iter().filter(|o| o.name == s.name).count() > 1 {
            return Err(format!("two sections are named {}", s.name));
        }
    }
    let section = |name: &str, statement: &str| -> Result<Section, String> {
        let given = file.sections.iter().find(|s| s.name == name);
        let show = given.and_then(|s| s.show).unwrap_or(Show::Table);
        let section = Section {
            name: name.to_string(),
            statement: statement.to_string(),
            title: given
                .and_then(|s| s.title.clone())
                .unwrap_or_else(|| humanize(name)),
            show,
            x: given.and_then(|s| s.x.clone()),
            y: given.map(|s| s.y.clone()).unwrap_or_default(),
        };
        if matches!(show, Show::Bars | Show::Lines) && (section.x.is_none() || section.y.is_empty())
        {
            return Err(format!(
                "section {name}: a chart needs x = \"COLUMN\" and y = [\"COLUMN\", ...]"
            ));
        }
        Ok(section)
    };
    let mut sections = Vec::new();
    for st in &statements {
        sections.push(section(&st.name, &st.name)?);
        for extra in file
            .sections
            .iter()
            .filter(|s| s.statement.as_deref() == Some(st.name.as_str()) && s.name != st.name)
        {
            sections.push(section(&extra.name, &st.name)?);
        }
    }

    Ok(Report {
        title: file.title.unwrap_or_else(|| humanize(&name)),
        name,
        description: file.description.unwrap_or_default(),
        path: path.to_path_buf(),
        statements,
        sections,
        params,
        schedule,
        time_zone,
        every,
        lookback: file.period.lookback,
        start: file.schedule.as_ref().and_then(|s| s.start),
        formats,
        catch_up: file.catch_up,
        skip_if_empty: file.skip_if_empty,
    })
}

impl Report {
    /// The time zone, parsed.
    pub fn tz(&self) -> Tz {
        self.time_zone.parse().expect("checked when loaded")
    }

    /// The parameter whose values each get their own output.
    pub fn each(&self) -> Option<&Param> {
        self.params.iter().find(|p| p.each.is_some())
    }
}

/// Split a SQL file into statements named by `-- name: NAME` lines (the
/// convention of yesql and aiosql). A file without such lines is one
/// statement named `result`.
pub fn split_statements(text: &str) -> Result<Vec<Statement>, String> {
    let mut out: Vec<Statement> = Vec::new();
    let mut current: Option<Statement> = None;
    let mut preamble = String::new();
    for line in text.lines() {
        let marker = line
            .trim()
            .strip_prefix("--")
            .map(str::trim)
            .and_then(|l| l.strip_prefix("name:"));
        if let Some(name) = marker {
            let name = name.trim().to_string();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!(
                    "'-- name: {name}': a statement name uses letters, digits and '_'"
                ));
            }
            if out.iter().chain(current.as_ref()).any(|s| s.name == name) {
                return Err(format!("two statements are named {name}"));
            }
            out.extend(current.take());
            current = Some(Statement {
                name,
                sql: String::new(),
            });
            continue;
        }
        match current.as_mut() {
            Some(s) => {
                s.sql.push_str(line);
                s.sql.push('\n');
            }
            None => {
                preamble.push_str(line);
                preamble.push('\n');
            }
        }
    }
    out.extend(current);
    if out.is_empty() {
        out.push(Statement {
            name: "result".into(),
            sql: preamble,
        });
    }
    for s in &mut out {
        let trimmed = s.sql.trim().trim_end_matches(';').trim_end().to_string();
        if trimmed
            .lines()
            .all(|l| l.trim().is_empty() || l.trim().starts_with("--"))
        {
            return Err(format!("statement {} is empty", s.name));
        }
        s.sql = trimmed;
    }
    Ok(out)
}

/// `endpoint_deliveries` → `Endpoint deliveries`.
pub fn humanize(name: &str) -> String {
    let words = name.replace('_', " ");
    let mut c = words.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_split_on_name_lines() {
        let s = split_statements(
            "-- The campaign page\n-- name: headline\nSELECT 1;\n\n-- name: daily\n-- a comment\nSELECT 2\nFROM t;\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name.as_str(), s[0].sql.as_str()),
            ("headline", "SELECT 1")
        );
        assert_eq!(s[1].sql, "-- a comment\nSELECT 2\nFROM t");
        let one = split_statements("SELECT 3;").unwrap();
        assert_eq!(one[0].name, "result");
        assert!(split_statements("-- name: a\n\n-- name: b\nSELECT 1").is_err());
        assert!(split_statements("-- name: a\nSELECT 1\n-- name: a\nSELECT 2").is_err());
    }

    fn write(dir: &Path, name: &str, toml: &str) -> PathBuf {
        std::fs::create_dir_all(dir.join(REPORTS_DIR)).unwrap();
        let p = dir.join(REPORTS_DIR).join(format!("{name}.toml"));
        std::fs::write(&p, toml).unwrap();
        p
    }

    #[test]
    fn definitions_are_checked_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let ok = write(
            dir.path(),
            "daily",
            r#"
query = "-- name: headline\nSELECT 1 AS a\n-- name: chart\nSELECT 1 AS day, 2 AS n"
formats = ["html", "json"]
[schedule]
cron = "0 6 * * *"
[period]
every = "trailing_days"
days = 7
lookback = 1
[params.campaign_id]
type = "string"
default = "C1"
[[sections]]
name = "chart"
show = "bars"
x = "day"
y = ["n"]
[[sections]]
name = "chart_as_lines"
statement = "chart"
show = "lines"
x = "day"
y = ["n"]
"#,
        );
        let r = load(dir.path(), &ok, "UTC").unwrap();
        assert_eq!(r.title, "Daily");
        assert_eq!(r.every, Every::TrailingDays(7));
        assert_eq!(r.sections[0].show, Show::Table);
        assert_eq!(r.sections[1].show, Show::Bars);
        assert_eq!(r.sections.len(), 3, "a second view of the chart statement");
        assert_eq!(
            (
                r.sections[2].name.as_str(),
                r.sections[2].statement.as_str()
            ),
            ("chart_as_lines", "chart")
        );
        assert_eq!(r.params[0].default, Some(Value::String("C1".into())));

        let cases = [
            (
                "query = \"SELECT 1\"\n[period]\nevery = \"fortnight\"",
                "unknown period",
            ),
            (
                "query = \"SELECT 1\"\n[schedule]\ncron = \"0 6 * *\"\n[period]\nevery = \"day\"",
                "five",
            ),
            (
                "query = \"SELECT 1\"\n[schedule]\ncron = \"0 6 * * *\"\ntime_zone = \"Mars/Base\"\n[period]\nevery = \"day\"",
                "IANA",
            ),
            (
                "sql = \"missing.sql\"\n[period]\nevery = \"day\"",
                "cannot read",
            ),
            (
                "query = \"SELECT 1\"\nformats = [\"pdf\"]\n[period]\nevery = \"day\"",
                "pdf",
            ),
            (
                "query = \"SELECT 1\"\n[period]\nevery = \"day\"\n[[sections]]\nname = \"other\"",
                "no statement",
            ),
            (
                "query = \"SELECT 1\"\n[period]\nevery = \"day\"\n[[sections]]\nname = \"x\"\nstatement = \"nope\"",
                "no statement nope",
            ),
            (
                "query = \"SELECT 1\"\n[period]\nevery = \"day\"\n[params.start]\ntype = \"date\"",
                "set by every run",
            ),
            (
                "query = \"SELECT 1\"\n[period]\nevery = \"day\"\n[params.n]\ntype = \"integer\"\ndefault = \"x\"",
                "not of type",
            ),
            ("query = \"SELECT 1\"\nperiod = 3", "period"),
            (
                "query = \"SELECT 1\"\n[period]\nevery = \"day\"\ncolour = 1",
                "unknown field",
            ),
        ];
        for (i, (text, expected)) in cases.iter().enumerate() {
            let p = write(dir.path(), &format!("bad{i}"), text);
            let e = load(dir.path(), &p, "UTC").unwrap_err();
            assert!(e.contains(expected), "case {i}: {e}");
        }
        let (ok, bad) = load_all(dir.path(), "UTC");
        assert_eq!(ok.len(), 1);
        assert_eq!(bad.len(), cases.len());
    }

    #[test]
    fn definitions_lie_in_the_folders_a_workspace_in_s3_shares() {
        for dir in [REPORTS_DIR, QUERIES_DIR] {
            let top = dir.split('/').next().unwrap();
            assert!(
                sendlens_store::workspace::SHARED_DIRS.contains(&top),
                "{dir} is not copied between hosts"
            );
        }
    }
}
