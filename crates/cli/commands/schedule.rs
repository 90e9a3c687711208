//! `sendlens schedule`: run reports when they are due.

use std::path::Path;

use chrono::{DateTime, Utc};
use sendlens_reports::Tick;
use sendlens_store::Workspace;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use super::report::print_run;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Keep running: start every report when due, catch up after downtime; stops cleanly on SIGTERM or Ctrl-C.
    Run,
    /// One pass: run what is due now (for cron or a systemd timer), then exit.
    Tick {
        /// Take this instant as now (RFC 3339, not later than the clock); to run past periods again use `report backfill`.
        #[arg(long, value_name = "TIME")]
        now: Option<DateTime<Utc>>,
    },
}

/// Longest sleep between passes, so that edited definitions are seen.
const MAX_SLEEP_SECS: i64 = 60;

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(workspace)?;
    let rt = super::runtime()?;
    match args.command {
        Command::Tick { now } => rt.block_on(async {
            let t = sendlens_reports::tick(&ws, now.unwrap_or_else(Utc::now), None, &mut |e| {
                print_run(e, ws.root())
            })
            .await?;
            summary(&t);
            let failed = t
                .ran
                .iter()
                .filter(|e| e.state == sendlens_reports::ledger::State::Failed)
                .count();
            if failed > 0 {
                anyhow::bail!("{failed} runs failed (see `sendlens report history`)");
            }
            Ok(())
        }),
        Command::Run => rt.block_on(serve(&ws)),
    }
}

fn summary(t: &Tick) {
    if let Some(pid) = &t.other_pass {
        println!("another scheduler pass is already running (process {pid}); nothing done");
        return;
    }
    for (r, p) in &t.busy {
        println!("{r} {p}: already running in another process; left to it");
    }
    for bad in &t.invalid {
        eprintln!(
            "warning: report {} is invalid and was not run: {}",
            bad.name, bad.error
        );
    }
    if t.ran.is_empty() && t.busy.is_empty() {
        println!("nothing due");
    }
}

async fn serve(ws: &Workspace) -> anyhow::Result<()> {
    let (tx, rx) = watch::channel(false);
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => eprintln!("SIGTERM: finishing up"),
            _ = int.recv() => eprintln!("interrupted: finishing up"),
        }
        let _ = tx.send(true);
    });
    println!(
        "scheduler started for {} (pid {})",
        ws.root().display(),
        std::process::id()
    );
    let mut rx_wait = rx.clone();
    let mut announced: Option<(DateTime<Utc>, String)> = None;
    loop {
        let now = Utc::now();
        // A pass that fails as a whole (the table being rewritten, a full
        // disk) is reported and tried again at the next wake-up.
        let t = match sendlens_reports::tick(ws, now, Some(rx.clone()), &mut |e| {
            print_run(e, ws.root())
        })
        .await
        {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: this pass failed ({e:#}); trying again in a minute");
                Tick::default()
            }
        };
        for (r, p) in &t.busy {
            println!("{r} {p}: already running in another process; left to it");
        }
        if t.cancelled || *rx.borrow() {
            break;
        }
        let (reports, invalid) = sendlens_reports::reports(ws);
        for bad in &invalid {
            eprintln!(
                "warning: report {} is invalid and is not scheduled: {}",
                bad.name, bad.error
            );
        }
        let now = Utc::now();
        let next = sendlens_reports::schedule::next_firing(&reports, now);
        let wake = match &next {
            Some((at, name)) => {
                if announced.as_ref() != next.as_ref() {
                    println!("next: {name} at {}", at.format("%Y-%m-%d %H:%M UTC"));
                    announced = next.clone();
                }
                (*at).min(now + chrono::Duration::seconds(MAX_SLEEP_SECS))
            }
            None => now + chrono::Duration::seconds(MAX_SLEEP_SECS),
        };
        let wait = (wake - now).to_std().unwrap_or_default() + std::time::Duration::from_millis(5);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = rx_wait.wait_for(|stop| *stop) => break,
        }
    }
    println!("scheduler stopped");
    Ok(())
}
