//! The sendlens SQL shell.
//!
//! `sendlens shell` opens a workspace with every view, function and table
//! function of the extension registered, and reads statements from the
//! terminal (line editing, history, completion, meta commands), from `-c`
//! and `-f`, or from stdin when it is not a terminal.

pub mod complete;
pub mod errors;
pub mod input;
pub mod meta;
pub mod names;
pub mod shell;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use sendlens_store::Workspace;

use crate::complete::ShellHelper;
use crate::shell::{Flow, Settings, Shell};
use sendlens_render::Format;

/// Rows a table shows on the terminal unless `\maxrows` says otherwise.
pub const DEFAULT_MAX_ROWS: usize = 40;

/// Options of `sendlens shell`.
#[derive(Debug, clap::Args)]
pub struct ShellArgs {
    /// Run SQL or a meta command and exit (repeatable; run in order).
    // SQL may start with a `--` comment.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        allow_hyphen_values = true
    )]
    pub commands: Vec<String>,
    /// Run the statements of FILE and exit (repeatable; after -c).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format: table, csv, tsv, json, ndjson or markdown.
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// Cap the memory queries hold (e.g. 512M, 2G); sorts, aggregates and
    /// joins spill to disk beyond it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory_limit: Option<usize>,
    /// Rows shown in table format on the terminal (0: all).
    #[arg(long, default_value_t = DEFAULT_MAX_ROWS, value_name = "N")]
    pub maxrows: usize,
    /// Print the elapsed time after each result (always on in an interactive shell).
    #[arg(long)]
    pub timing: bool,
    /// Run FILE at start (default: ~/.sendlensrc in the terminal).
    #[arg(long, value_name = "FILE", conflicts_with = "no_rc")]
    pub rc: Option<PathBuf>,
    /// Do not run the rc file.
    #[arg(long)]
    pub no_rc: bool,
    /// Run the queries on a sendlens cluster: its scheduler's address,
    /// df://HOST:PORT (see `sendlens cluster`).
    #[arg(long, value_name = "URL", env = "SENDLENS_CLUSTER")]
    pub cluster: Option<String>,
}

impl Default for ShellArgs {
    fn default() -> Self {
        ShellArgs {
            commands: Vec::new(),
            files: Vec::new(),
            format: None,
            memory_limit: None,
            maxrows: DEFAULT_MAX_ROWS,
            timing: false,
            rc: None,
            no_rc: false,
            cluster: None,
        }
    }
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::parse(s).ok_or_else(|| format!("one of: {}", Format::names().join(", ")))
}

/// `512M`, `2G`, `1500K` or a number of bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: usize = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown unit in {s}: use K, M, G or T")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("not a size: {s} (try 512M or 2G)"))?;
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(format!("the memory limit must be at least 1 byte, not {s}"));
    }
    Ok(bytes as usize)
}

/// Run the shell. Returns false when a statement failed in a
/// non-interactive run (the exit code is then 1).
pub fn run(workspace: &Path, args: ShellArgs) -> anyhow::Result<bool> {
    // The store's error says how to make a workspace.
    let ws = Workspace::open(workspace)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let batch = !args.commands.is_empty() || !args.files.is_empty();
    let interactive = !batch && std::io::stdin().is_terminal();
    let settings = Settings {
        format: args.format.unwrap_or(Format::Table),
        timing: args.timing || interactive,
        max_rows: args.maxrows,
        expanded: Default::default(),
    };
    let mut shell = rt.block_on(async {
        let (ctx, version) =
            shell::session(&ws, args.memory_limit, args.cluster.as_deref()).await?;
        let mut shell = Shell::new(ctx, settings, interactive).await;
        shell.follow(ws.clone(), version);
        if let Some(url) = &args.cluster {
            shell.on_cluster(url);
        }
        if interactive {
            shell.load_ids_in_background();
        }
        anyhow::Ok(shell)
    })?;

    let rc = match (&args.rc, args.no_rc, interactive) {
        (Some(path), _, _) => Some(path.clone()),
        (None, false, true) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".sendlensrc"))
            .filter(|p| p.exists()),
        _ => None,
    };
    if let Some(path) = rc {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read rc file {}", path.display()))?;
        match rt.block_on(shell.run_text(&text, !interactive)) {
            Ok(Flow::Quit) => return Ok(true),
            Ok(Flow::Continue) => {}
            Err(()) => return Ok(false),
        }
    }

    if interactive {
        return interactive_loop(&rt, &mut shell, &ws);
    }
    let mut texts: Vec<String> = args.commands.clone();
    for f in &args.files {
        texts.push(
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?,
        );
    }
    if !batch {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        texts.push(text);
    }
    for text in texts {
        match rt.block_on(shell.run_text(&text, true)) {
            Ok(Flow::Quit) => break,
            Ok(Flow::Continue) => {}
            Err(()) => return Ok(false),
        }
    }
    Ok(true)
}

fn interactive_loop(
    rt: &tokio::runtime::Runtime,
    shell: &mut Shell,
    ws: &Workspace,
) -> anyhow::Result<bool> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .history_ignore_dups(true)?
        .max_history_size(10_000)?
        .auto_add_history(false)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ShellHelper::new(shell.names.clone())));
    let history = shell::history_path(ws.root());
    let _ = editor.load_history(&history);
    // The history is a file of the workspace: the PII policy covers it. A
    // workspace whose salt is gone keeps no history under `hash` or `drop`.
    let scrubber = ws.pii_scrubber().ok();
    let keeps = ws
        .config()
        .pii_policy()
        .is_ok_and(|p| p == sendlens_store::PiiPolicy::Keep);
    println!(
        "sendlens {} — workspace {}. \\? for help, \\q to quit; statements end with ;",
        env!("CARGO_PKG_VERSION"),
        ws.location()
    );
    let _guard = rt.enter();
    loop {
        match editor.readline("sendlens> ") {
            Ok(text) => {
                if text.trim().is_empty() {
                    continue;
                }
                let entry = match &scrubber {
                    Some(s) => Some(s.scrub_text(text.trim_end()).into_owned()),
                    None if keeps => Some(text.trim_end().to_string()),
                    None => None,
                };
                if let Some(entry) = entry {
                    let _ = editor.add_history_entry(entry);
                    let _ = editor.append_history(&history);
                }
                for item in input::items(&text) {
                    match rt.block_on(shell.run_item(&item)) {
                        Ok(Flow::Quit) => return Ok(true),
                        Ok(Flow::Continue) => {}
                        Err(msg) => eprintln!("{msg}"),
                    }
                }
                if let Some(note) = shell.newer_data_note() {
                    eprintln!("{note}");
                }
            }
            // Ctrl-C on the prompt clears the line, as in a terminal.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(true),
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12Q").is_err());
        assert!(parse_size("0").is_err());
        assert!(parse_size("0.5").is_err());
        assert!(parse_size("NaN").is_err());
    }
}
