//! `sendlens sql -c SQL`: the shell's non-interactive mode under its older
//! name, for scripts.

use sendlens_render::Format;
use sendlens_shell::ShellArgs;

#[derive(clap::Args)]
pub struct Args {
    /// SQL to run (repeatable; run in order).
    #[arg(
        short = 'c',
        long = "command",
        required = true,
        value_name = "SQL",
        allow_hyphen_values = true
    )]
    pub commands: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Print each statement's elapsed time.
    #[arg(long)]
    pub timing: bool,
    /// Run the queries on a sendlens cluster: its scheduler's address,
    /// df://HOST:PORT (see `sendlens cluster`).
    #[arg(long, value_name = "URL", env = "SENDLENS_CLUSTER")]
    pub cluster: Option<String>,
}

impl From<Args> for ShellArgs {
    fn from(a: Args) -> ShellArgs {
        ShellArgs {
            commands: a.commands,
            format: Some(a.format),
            timing: a.timing,
            no_rc: true,
            cluster: a.cluster,
            ..ShellArgs::default()
        }
    }
}
