//! Backslash commands: what they are called and what they do.

/// (name, arguments, help), in the order `\?` shows them.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("?", "", "this help"),
    ("d", "[NAME]", "list tables and views, or describe one"),
    (
        "df",
        "[PATTERN]",
        "list functions with their one-line docs, or show one in full",
    ),
    (
        "metrics",
        "[PATTERN]",
        "the metric catalog: every measure and rate with its definition",
    ),
    (
        "format",
        "[table|csv|tsv|json|ndjson|markdown]",
        "show or set the output format",
    ),
    (
        "timing",
        "[on|off]",
        "show elapsed time after each result (on by default)",
    ),
    (
        "maxrows",
        "[N]",
        "rows shown in table format (0: all); files get every row",
    ),
    (
        "x",
        "[on|off|auto]",
        "records one field per line: on, off, or auto (when a table is wider than the terminal; the default); \\x alone toggles",
    ),
    (
        "o",
        "[FILE]",
        "send every following result to FILE; without FILE, back to the terminal",
    ),
    (
        "g",
        "FILE",
        "end a statement with \\g FILE to send that one result to FILE",
    ),
    ("i", "FILE", "run the statements and commands of FILE"),
    (
        "refresh",
        "",
        "move the session to the workspace's newest data (it reads the version it opened), and reload names",
    ),
    ("q", "", "quit (or Ctrl-D)"),
];

/// When results show as records, one field per line, instead of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Expanded {
    Off,
    On,
    /// When the table is wider than the terminal.
    #[default]
    Auto,
}

impl Expanded {
    pub fn name(self) -> &'static str {
        match self {
            Expanded::Off => "off",
            Expanded::On => "on",
            Expanded::Auto => "auto",
        }
    }
}

/// A parsed meta command.
#[derive(Debug, PartialEq, Eq)]
pub enum Meta {
    Help,
    Describe(Option<String>),
    Functions(Option<String>),
    Metrics(Option<String>),
    Format(Option<String>),
    Timing(Option<bool>),
    MaxRows(Option<usize>),
    Expanded(Option<Expanded>),
    Output(Option<String>),
    Include(String),
    Refresh,
    Quit,
}

/// Parse the text after the backslash.
pub fn parse(text: &str) -> Result<Meta, String> {
    let (cmd, arg) = match text.split_once(char::is_whitespace) {
        Some((c, a)) => (c, Some(a.trim()).filter(|a| !a.is_empty())),
        None => (text, None),
    };
    let arg_string = arg.map(str::to_string);
    Ok(match cmd {
        "?" | "h" | "help" => Meta::Help,
        "d" | "dt" | "dv" => Meta::Describe(arg_string),
        "df" => Meta::Functions(arg_string),
        "metrics" | "m" => Meta::Metrics(arg_string),
        "format" | "f" => Meta::Format(arg_string),
        "timing" => Meta::Timing(match arg {
            None => None,
            Some("on") => Some(true),
            Some("off") => Some(false),
            Some(other) => return Err(format!("\\timing takes on or off, not {other}")),
        }),
        "maxrows" => {
            Meta::MaxRows(match arg {
                None => None,
                Some(n) => Some(n.parse().map_err(|_| {
                    format!("\\maxrows takes a number of rows (0 for all), not {n}")
                })?),
            })
        }
        "x" => Meta::Expanded(match arg {
            None => None,
            Some("on") => Some(Expanded::On),
            Some("off") => Some(Expanded::Off),
            Some("auto") => Some(Expanded::Auto),
            Some(other) => return Err(format!("\\x takes on, off or auto, not {other}")),
        }),
        "o" | "out" => Meta::Output(arg_string),
        "g" => {
            return Err(
                "\\g FILE ends a statement: type the statement, then \\g FILE instead of ;".into(),
            );
        }
        "i" | "include" => Meta::Include(arg_string.ok_or("\\i needs a file name")?),
        "refresh" => Meta::Refresh,
        "q" | "quit" | "exit" => Meta::Quit,
        other => return Err(format!("unknown command \\{other}; \\? lists the commands")),
    })
}

/// The `\?` text.
pub fn help() -> String {
    let mut out = String::from("Meta commands:\n");
    for (name, args, help) in COMMANDS {
        let call = format!("\\{name} {args}");
        out.push_str(&format!("  {call:<48} {help}\n"));
    }
    out.push_str(
        "\nStatements end with ; and may span lines. Tab completes keywords, tables,\n\
         columns, functions, KPI names and ids in quotes, and file paths.\n\
         Ctrl-C cancels a running query (or clears the line); Ctrl-D quits.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            parse("d campaign_metrics"),
            Ok(Meta::Describe(Some("campaign_metrics".into())))
        );
        assert_eq!(parse("timing off"), Ok(Meta::Timing(Some(false))));
        assert_eq!(parse("maxrows 0"), Ok(Meta::MaxRows(Some(0))));
        assert_eq!(parse("o"), Ok(Meta::Output(None)));
        assert!(parse("maxrows many").unwrap_err().contains("number"));
        assert!(parse("zz").unwrap_err().contains("\\?"));
        assert!(help().contains("\\metrics"));
    }
}
