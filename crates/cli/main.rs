//! `sendlens`: campaign analytics for Amazon Pinpoint and SES event exports.

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Ingest allocates and frees batch-sized buffers over and over: mimalloc
// reuses them instead of returning pages to the kernel and faulting them in
// again (about a tenth of ingest time with the system allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (mimalloc.h, the same index in v2 and v3):
/// milliseconds before freed memory goes back to the kernel; -1 keeps it.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// For ingest: keep freed memory in the process. Returned pages come back
/// as fresh ones that the kernel zeroes on the next touch (transparent huge
/// pages, 2 MB at a time): on 1 M events, 2.7 s of system time and 15 % of
/// all samples in `clear_page`; kept, 0.6 to 0.9 s, for about 40 MB more
/// peak memory. A user's own `MIMALLOC_PURGE_DELAY` wins.
fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: mimalloc's option calls take plain integers and may be made at
    // any time.
    unsafe {
        let _ = KEPT_PURGE_DELAY.set(libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY));
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1)
    }
}

/// The purge delay [`keep_freed_memory`] replaced.
static KEPT_PURGE_DELAY: std::sync::OnceLock<std::ffi::c_long> = std::sync::OnceLock::new();

/// After ingest's commit, before its facts refresh: the memory the ingest
/// kept goes back to the kernel, and freed memory goes back as usual again.
/// The refresh allocates differently, and would otherwise add its own peak
/// on top of what the ingest kept: at 10 M events, 1,106 MB for the whole
/// command against 896 MB for the ingest and 832 MB for the refresh alone.
fn return_freed_memory() {
    if let Some(delay) = KEPT_PURGE_DELAY.get() {
        // SAFETY: as above; `mi_collect` may be called at any time.
        unsafe {
            libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, *delay);
            libmimalloc_sys::mi_collect(true);
        }
    }
}

/// No transparent huge pages, for every command. Ingest touches a few
/// hundred MB once and then reuses it; as huge pages, each first touch has
/// the kernel zero 2 MB, after compacting memory to find them
/// (`defrag = madvise`, the usual setting, stalls the faulting thread). On
/// 1 M events: 2.0 to 2.3 s of system time with them, 0.6 to 0.7 s without,
/// and about 50 MB less peak memory. A refresh after ~8 k late events into
/// 1 M peaked at 1.07–1.16 GB with them and 0.65–0.67 GB without (1.70–2.48 s
/// against 1.70–1.76 s). mimalloc's own switch is read only at start-up, so
/// this sets the process's flag, which the kernel checks at every fault. A
/// user's own `MIMALLOC_ALLOW_THP` wins.
fn no_huge_pages() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
        return;
    }
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and only sets a flag
    // of this process; a kernel without it returns an error, ignored.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

#[derive(Parser)]
#[command(
    name = "sendlens",
    version,
    about = "Campaign analytics for Amazon Pinpoint and Amazon SES event exports",
    long_about = "sendlens stores Pinpoint and SES event-stream exports in a Delta Lake table \
                  and answers campaign questions with SQL (Apache DataFusion)."
)]
struct Cli {
    /// Workspace folder (default: the current directory).
    #[arg(
        short,
        long,
        global = true,
        env = "SENDLENS_WORKSPACE",
        value_name = "DIR"
    )]
    workspace: Option<PathBuf>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Create a workspace: configuration and an empty event table.
    Init(commands::init::Args),
    /// Read event exports (files or folders, plain or gzip, JSON or Parquet) into the workspace.
    Ingest(commands::ingest::Args),
    /// The interactive SQL shell (also what `sendlens` alone opens).
    Shell(sendlens_shell::ShellArgs),
    /// Run SQL over the workspace's tables and print the result.
    Sql(commands::sql::Args),
    /// Print the campaign page: delivery counts, rates, deliveries per day, runs.
    Metrics(commands::metrics::Args),
    /// List campaigns with their headline numbers.
    Campaigns(commands::campaigns::Args),
    /// List the functions, table functions, views and metrics, or show one in full.
    Functions(commands::functions::Args),
    /// Campaign reports: list, run, backfill, retry, history.
    Report(commands::report::Args),
    /// Run reports on their schedules (a long-running scheduler, or one pass).
    Schedule(commands::schedule::Args),
    /// Compact small data files and cluster them by campaign.
    Optimize(commands::maintenance::OptimizeArgs),
    /// Rebuild the materialized message facts (ingest, optimize and vacuum do it themselves).
    Refresh(commands::maintenance::RefreshArgs),
    /// Delete data files the table no longer references.
    Vacuum(commands::maintenance::VacuumArgs),
    /// Write a deterministic synthetic Pinpoint event stream (Firehose layout).
    Generate(commands::generate::Args),
    /// Run a scheduler or an executor of a sendlens cluster (Apache DataFusion Ballista).
    Cluster(commands::cluster::Args),
    /// Serve the campaign pages to a browser, and Pinpoint's analytics API to AWS SDKs.
    Serve(commands::serve::Args),
    /// Try sendlens on the bundled sample: create a workspace, ingest, show campaigns.
    Demo(commands::demo::Args),
}

fn main() -> ExitCode {
    // A panic on one record or Parquet row reaches the user as that
    // record's rejection, not as a message on the terminal.
    sendlens_events::guard::quiet_guarded_panics();
    sendlens_store::remote::quiet_caught_upload_panics();
    no_huge_pages();
    let cli = Cli::parse();
    let workspace = cli.workspace.unwrap_or_else(|| PathBuf::from("."));
    let Some(command) = cli.command else {
        return shell(&workspace, sendlens_shell::ShellArgs::default());
    };
    let result = match command {
        Command::Init(a) => commands::init::run(&workspace, a),
        Command::Shell(a) => return shell(&workspace, a),
        Command::Ingest(a) => {
            keep_freed_memory();
            commands::ingest::run(&workspace, a, return_freed_memory)
        }
        Command::Sql(a) => return shell(&workspace, a.into()),
        Command::Metrics(a) => commands::metrics::run(&workspace, a),
        Command::Campaigns(a) => commands::campaigns::run(&workspace, a),
        Command::Functions(a) => commands::functions::run(a),
        Command::Report(a) => commands::report::run(&workspace, a),
        Command::Schedule(a) => commands::schedule::run(&workspace, a),
        Command::Optimize(a) => commands::maintenance::optimize(&workspace, a),
        Command::Refresh(a) => commands::maintenance::refresh(&workspace, a),
        Command::Vacuum(a) => commands::maintenance::vacuum(&workspace, a),
        Command::Generate(a) => commands::generate::run(a),
        Command::Demo(a) => commands::demo::run(a),
        Command::Serve(a) => commands::serve::run(&workspace, a),
        Command::Cluster(a) => commands::cluster::run(&workspace, a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Exit code 1 when a statement failed in a non-interactive run.
fn shell(workspace: &std::path::Path, args: sendlens_shell::ShellArgs) -> ExitCode {
    match sendlens_shell::run(workspace, args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freed_memory_stays_in_the_process() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        // SAFETY: reading an option takes a plain integer.
        let delay = || unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        // The index names the purge delay: mimalloc v3's default of 1000 ms
        // (an update that renumbers the options or changes it shows here).
        assert_eq!(delay(), 1000);
        keep_freed_memory();
        assert_eq!(delay(), -1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn huge_pages_are_off() {
        if std::env::var_os("MIMALLOC_ALLOW_THP").is_some() {
            return;
        }
        no_huge_pages();
        // SAFETY: PR_GET_THP_DISABLE takes plain integers and reads a flag.
        assert_eq!(
            unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) },
            1
        );
    }
}
