//! Output files: formats, deterministic paths and atomic writes.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::WriterProperties;
use sendlens_render::Format;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::definition::{Report, Section, Show};
use crate::period::Period;

/// An output format of a report. Its names are clap's, from the variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum OutputFormat {
    /// One CSV file per section (with a header).
    Csv,
    /// One JSON document with every section.
    Json,
    /// One Parquet file per section.
    Parquet,
    /// One Markdown document.
    #[value(alias = "md")]
    Markdown,
    /// One self-contained HTML page with tiles, tables and SVG charts.
    Html,
}

impl OutputFormat {
    /// Every format.
    pub fn all() -> &'static [OutputFormat] {
        <OutputFormat as clap::ValueEnum>::value_variants()
    }

    /// Read a format name.
    pub fn parse(s: &str) -> Result<OutputFormat, String> {
        <OutputFormat as clap::ValueEnum>::from_str(s, false).map_err(|_| {
            let names: Vec<&str> = OutputFormat::all().iter().map(|f| f.name()).collect();
            format!("unknown output format '{s}': use {}", names.join(", "))
        })
    }

    /// Its name (and file extension, but for markdown).
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Json => "json",
            OutputFormat::Parquet => "parquet",
            OutputFormat::Markdown => "markdown",
            OutputFormat::Html => "html",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            OutputFormat::Markdown => "md",
            f => f.name(),
        }
    }

    /// One file per section (CSV, Parquet) rather than one per run.
    fn per_section(self) -> bool {
        matches!(self, OutputFormat::Csv | OutputFormat::Parquet)
    }
}

/// The result of one statement.
#[derive(Debug, Clone)]
pub struct SectionData {
    /// How it is shown.
    pub section: Section,
    /// Result schema.
    pub schema: SchemaRef,
    /// Result rows.
    pub batches: Vec<RecordBatch>,
}

impl SectionData {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Everything one output shows.
#[derive(Debug)]
pub struct Document<'a> {
    /// The definition.
    pub report: &'a Report,
    /// The days covered.
    pub period: Period,
    /// The parameter values of the run, by name (built-ins included).
    pub params: Vec<(String, String)>,
    /// The `each` parameter and its value, when the report has one.
    pub each: Option<(String, String)>,
    /// The results.
    pub sections: Vec<SectionData>,
    /// The events table version the numbers come from.
    pub table_version: Option<u64>,
}

impl Document<'_> {
    /// File name stem: the `each` value, or the report's name.
    pub fn stem(&self) -> String {
        match &self.each {
            Some((_, v)) => safe_file_name(v),
            None => self.report.name.clone(),
        }
    }
}

/// The folder of a report's outputs for one period.
pub fn period_dir(out: &Path, report: &str, period: &Period) -> PathBuf {
    out.join(report).join(period.key())
}

/// The files of `doc` in `format` under `dir`, rendered but not written,
/// so that a run writes nothing unless every output renders.
pub fn render(
    doc: &Document,
    format: OutputFormat,
    dir: &Path,
) -> anyhow::Result<Vec<(PathBuf, Vec<u8>)>> {
    let stem = doc.stem();
    let mut written = Vec::new();
    if format.per_section() {
        let single = doc.sections.len() == 1;
        for s in &doc.sections {
            let name = if single {
                format!("{stem}.{}", format.extension())
            } else {
                format!("{stem}.{}.{}", s.section.name, format.extension())
            };
            let path = dir.join(name);
            let bytes = match format {
                OutputFormat::Csv => {
                    let mut buf = Vec::new();
                    sendlens_render::write_batches(
                        &mut buf,
                        s.schema.clone(),
                        &s.batches,
                        Format::Csv,
                    )?;
                    buf
                }
                _ => parquet_bytes(s)?,
            };
            written.push((path, bytes));
        }
    } else {
        let path = dir.join(format!("{stem}.{}", format.extension()));
        let bytes = match format {
            OutputFormat::Json => json_bytes(doc)?,
            OutputFormat::Markdown => markdown(doc)?.into_bytes(),
            _ => crate::html::page(doc)?.into_bytes(),
        };
        written.push((path, bytes));
    }
    Ok(written)
}

/// Which files of a period's folder a run replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// All of them: the folder becomes this run's outputs.
    Folder,
    /// Only files of these names (one value of the `each` parameter).
    Only(std::collections::BTreeSet<String>),
}

/// Every file name a report's output for `stem` can have, whatever the
/// formats: what a run for that one output replaces.
pub fn possible_names(report: &Report, stem: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for &f in OutputFormat::all() {
        names.insert(format!("{stem}.{}", f.extension()));
        if f.per_section() {
            for s in &report.sections {
                names.insert(format!("{stem}.{}.{}", s.name, f.extension()));
            }
        }
    }
    names
}

/// Write rendered files atomically, then remove the other files of `dir`
/// that `scope` covers (outputs of an earlier run that this one no longer
/// makes, e.g. for a campaign that left the period): with
/// [`Scope::Folder`] the folder is this run's outputs.
pub fn replace_dir(
    dir: &Path,
    files: &[(PathBuf, Vec<u8>)],
    scope: &Scope,
) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    for (path, bytes) in files {
        write_atomic(path, bytes)?;
    }
    let keep: std::collections::BTreeSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
    for e in std::fs::read_dir(dir)?.flatten() {
        let p = e.path();
        let covered = match scope {
            Scope::Folder => true,
            Scope::Only(names) => names.contains(&*e.file_name().to_string_lossy()),
        };
        if covered && p.is_file() && !keep.contains(&p) {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(files.iter().map(|(p, _)| p.clone()).collect())
}

/// [`replace_dir`] for a folder in object storage (`s3://bucket/prefix/`):
/// each file one PUT, so readers see whole files.
pub async fn replace_objects(
    dir: &Path,
    files: &[(PathBuf, Vec<u8>)],
    scope: &Scope,
    storage: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Vec<PathBuf>> {
    let folder = sendlens_store::remote::Remote::open(&dir.display().to_string(), storage)?;
    let name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let mut keep = std::collections::BTreeSet::new();
    for (path, bytes) in files {
        folder.put(&name(path), bytes.clone()).await?;
        keep.insert(name(path));
    }
    for key in folder.list("").await? {
        let covered = match scope {
            Scope::Folder => true,
            Scope::Only(names) => names.contains(&key),
        };
        // Files of the folder itself, not of folders inside it.
        if covered && !key.contains('/') && !keep.contains(&key) {
            folder.delete(&key).await?;
        }
    }
    Ok(files.iter().map(|(p, _)| p.clone()).collect())
}

fn parquet_bytes(s: &SectionData) -> anyhow::Result<Vec<u8>> {
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut buf = Vec::new();
    let mut w = ArrowWriter::try_new(&mut buf, s.schema.clone(), Some(props))?;
    for b in &s.batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(buf)
}

fn rows_json(s: &SectionData) -> anyhow::Result<Box<serde_json::value::RawValue>> {
    let mut buf = Vec::new();
    {
        let mut w = ArrayWriter::new(&mut buf);
        for b in &s.batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        buf.extend_from_slice(b"[]");
    }
    Ok(serde_json::value::RawValue::from_string(
        String::from_utf8(buf)?,
    )?)
}

fn json_bytes(doc: &Document) -> anyhow::Result<Vec<u8>> {
    let sections = doc
        .sections
        .iter()
        .map(|s| {
            Ok(json!({
                "name": s.section.name,
                "title": s.section.title,
                "rows": rows_json(s)?,
            }))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let params: serde_json::Map<String, serde_json::Value> = doc
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let value = json!({
        "report": doc.report.name,
        "title": doc.report.title,
        "period": {
            "key": doc.period.key(),
            "start": doc.period.start.to_string(),
            "end": doc.period.end.to_string(),
            "time_zone": doc.report.time_zone,
        },
        "params": params,
        "table_version": doc.table_version,
        "sections": sections,
    });
    let mut out = serde_json::to_vec_pretty(&value)?;
    out.push(b'\n');
    Ok(out)
}

fn markdown(doc: &Document) -> anyhow::Result<String> {
    let mut md = String::new();
    let text = sendlens_render::markdown_text;
    writeln!(md, "# {}", text(&doc.report.title))?;
    writeln!(md)?;
    writeln!(md, "{}", text(&subtitle(doc)))?;
    if !doc.report.description.is_empty() {
        writeln!(md, "\n{}", text(&doc.report.description))?;
    }
    for s in &doc.sections {
        writeln!(md, "\n## {}\n", text(&s.section.title))?;
        let cells = sendlens_render::cells(&s.schema, &s.batches, usize::MAX)?;
        if s.section.show == Show::Tiles {
            writeln!(md, "| metric | value |\n| --- | ---: |")?;
            if let Some(row) = cells.first() {
                for (f, v) in s.schema.fields().iter().zip(row) {
                    let name = crate::definition::humanize(f.name());
                    writeln!(
                        md,
                        "| {} | {} |",
                        sendlens_render::markdown_cell(&name),
                        sendlens_render::markdown_cell(v)
                    )?;
                }
            }
        } else if cells.is_empty() {
            writeln!(md, "(no rows)")?;
        } else {
            md.push_str(&sendlens_render::markdown(&s.schema, &cells));
        }
    }
    Ok(md)
}

/// `26 Nov 2026 · Europe/Berlin · campaign_id = C1`: what a page covers.
pub fn subtitle(doc: &Document) -> String {
    let mut parts = vec![doc.period.label(), doc.report.time_zone.clone()];
    if let Some((k, v)) = &doc.each {
        parts.push(format!("{k} {v}"));
    }
    parts.join(" · ")
}

/// Write `bytes` to `path` through a temporary file in the same folder and a
/// rename, so that readers see the old file or the new one, never a part.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}{TMP_MARK}{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What temporary output files carry in their name.
pub const TMP_MARK: &str = ".tmp-";

/// Remove temporary files a killed run left in `dir`. Only call this while
/// holding the period's lock: then no live run is writing there.
pub fn remove_leftovers(dir: &Path) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') && name.contains(TMP_MARK) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// SHA-256 over the files written, in path order: the run's content hash.
pub fn content_hash(files: &[(PathBuf, Vec<u8>)]) -> String {
    let mut sorted: Vec<&(PathBuf, Vec<u8>)> = files.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut h = Sha256::new();
    for (f, bytes) in sorted {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update(name.as_bytes());
        h.update([0]);
        h.update(bytes);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A value as a file name: kept when it is plain, otherwise its unsafe
/// characters replaced and a short hash added, so two values never share a
/// file.
pub fn safe_file_name(v: &str) -> String {
    let plain = !v.is_empty()
        && v.len() <= 100
        && !v.starts_with('.')
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        return v.to_string();
    }
    let cleaned: String = v
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let digest = Sha256::digest(v.as_bytes());
    format!(
        "{cleaned}-{:02x}{:02x}{:02x}{:02x}",
        digest[0], digest[1], digest[2], digest[3]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_are_clap_s() {
        use clap::ValueEnum;
        for f in OutputFormat::all() {
            assert_eq!(f.to_possible_value().unwrap().get_name(), f.name());
            assert_eq!(OutputFormat::parse(f.name()), Ok(*f));
        }
        assert_eq!(OutputFormat::parse("md"), Ok(OutputFormat::Markdown));
        assert!(
            OutputFormat::parse("xlsx")
                .unwrap_err()
                .contains("csv, json, parquet, markdown, html")
        );
    }

    #[test]
    fn file_names_are_safe_and_distinct() {
        assert_eq!(safe_file_name("baf4c1d2"), "baf4c1d2");
        let a = safe_file_name("it's/../x");
        let b = safe_file_name("it's/../y");
        assert!(!a.contains('/') && !a.contains('\'') && a != b, "{a} {b}");
        assert_ne!(safe_file_name("a b"), safe_file_name("a_b"));
        assert!(!safe_file_name("..").starts_with('.'));
    }

    #[test]
    fn atomic_write_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.csv");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        std::fs::write(dir.path().join(format!(".r.csv{TMP_MARK}99")), b"half").unwrap();
        remove_leftovers(dir.path());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("r.csv")]);
    }
}
