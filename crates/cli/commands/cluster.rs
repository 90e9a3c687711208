//! `sendlens cluster scheduler|executor`: the processes of a sendlens
//! cluster (Apache DataFusion Ballista with every sendlens function).

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use sendlens_cluster::nodes::{self, ExecutorOptions, SchedulerOptions};
use sendlens_store::Workspace;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Node,
}

#[derive(clap::Subcommand)]
pub enum Node {
    /// Plan the queries clients send (df://HOST:PORT) and hand their tasks to executors.
    Scheduler {
        /// Address to listen on; clients and executors connect here.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        bind: SocketAddr,
        /// Also answer Arrow Flight SQL clients (BI tools, ADBC) on the same
        /// port, with the workspace's tables, views and table functions.
        #[arg(long)]
        flight_sql: bool,
        /// Seconds an executor may stay silent before its tasks run elsewhere.
        #[arg(long, value_name = "SECONDS")]
        executor_timeout: Option<u64>,
    },
    /// Run the tasks a scheduler hands out.
    Executor {
        /// The scheduler's address.
        #[arg(long, default_value = "127.0.0.1:50050", value_name = "HOST:PORT")]
        scheduler: String,
        /// Address to listen on for results and shuffles (the next port
        /// serves the scheduler's calls); the host is advertised as is.
        #[arg(long, default_value = "127.0.0.1:50051", value_name = "HOST:PORT")]
        bind: SocketAddr,
        /// Tasks run at once (default: the number of cores).
        #[arg(long, value_name = "N")]
        concurrent_tasks: Option<usize>,
        /// Where shuffle files and spills go (default: a new temporary folder).
        #[arg(long, value_name = "DIR")]
        work_dir: Option<std::path::PathBuf>,
        /// Seconds between heartbeats to the scheduler; keep it well under
        /// the scheduler's --executor-timeout.
        #[arg(long, value_name = "SECONDS")]
        heartbeat_interval: Option<u64>,
    },
}

pub fn run(workspace: &Path, args: Args) -> anyhow::Result<()> {
    let rt = super::runtime()?;
    match args.command {
        Node::Scheduler {
            bind,
            flight_sql,
            executor_timeout,
        } => {
            let workspace = match flight_sql {
                true => Some(Workspace::open(workspace)?),
                false => None,
            };
            let served = workspace.as_ref().map_or(String::new(), |ws| {
                format!(", Flight SQL over {}", ws.location())
            });
            eprintln!("sendlens scheduler on df://{bind}{served}");
            let options = SchedulerOptions {
                workspace,
                flight_sql,
                executor_timeout,
            };
            rt.block_on(nodes::scheduler(bind, options))
                .with_context(|| format!("scheduler on {bind}"))
        }
        Node::Executor {
            scheduler,
            bind,
            concurrent_tasks,
            work_dir,
            heartbeat_interval,
        } => {
            let (host, port) = scheduler
                .trim_start_matches(sendlens_cluster::SCHEME)
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .with_context(|| format!("--scheduler {scheduler}: expected HOST:PORT"))?;
            let temp;
            let work_dir = match work_dir {
                Some(dir) => dir,
                None => {
                    temp = tempfile::tempdir().context("creating a work folder")?;
                    temp.path().to_path_buf()
                }
            };
            let concurrent_tasks = concurrent_tasks
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            eprintln!(
                "sendlens executor on {bind} ({concurrent_tasks} tasks at once), scheduler {host}:{port}"
            );
            rt.block_on(nodes::executor(ExecutorOptions {
                scheduler: (host, port),
                host: bind.ip().to_string(),
                port: bind.port(),
                concurrent_tasks,
                work_dir: work_dir.display().to_string(),
                heartbeat_interval,
            }))
            .context("executor")
        }
    }
}
