//! A workspace folder: where its parts live, creating and opening it.

use std::fs::File;
use std::path::{Path, PathBuf};

use deltalake::DeltaTable;
use sendlens_events::PiiScrubber;

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::table;

pub const CONFIG_FILE: &str = "sendlens.toml";
pub const TABLE_DIR: &str = "events";
pub const REJECTED_DIR: &str = "rejected";
pub const STATE_DIR: &str = ".sendlens";

/// An opened workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    root: PathBuf,
    config: Config,
}

impl Workspace {
    /// Create a workspace in `dir` (created if missing) with `config`.
    pub async fn init(dir: &Path, config: Config) -> Result<Workspace> {
        std::fs::create_dir_all(dir).at(dir)?;
        let root = dir.canonicalize().at(dir)?;
        let config_path = root.join(CONFIG_FILE);
        if config_path.exists() {
            return Err(Error::AlreadyAWorkspace(root));
        }
        config.validate().map_err(|message| Error::Config {
            path: config_path.clone(),
            message,
        })?;
        let state = root.join(STATE_DIR);
        std::fs::create_dir_all(state.join("tmp")).at(&state)?;
        std::fs::create_dir_all(root.join(REJECTED_DIR)).at(root.join(REJECTED_DIR))?;
        write_salt(&state.join("salt"))?;
        table::create(&root.join(TABLE_DIR)).await?;
        // The config file is written last: its presence marks a complete workspace.
        let tmp = state.join("tmp").join(CONFIG_FILE);
        std::fs::write(&tmp, config.to_toml()).at(&tmp)?;
        std::fs::rename(&tmp, &config_path).at(&config_path)?;
        Ok(Workspace { root, config })
    }

    /// Open the workspace in `dir`.
    pub fn open(dir: &Path) -> Result<Workspace> {
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(Error::NotAWorkspace(dir.to_path_buf()));
        }
        let root = dir.canonicalize().at(dir)?;
        let config = Config::load(&config_path)?;
        Ok(Workspace { root, config })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn table_path(&self) -> PathBuf {
        self.root.join(TABLE_DIR)
    }

    pub fn rejected_dir(&self) -> PathBuf {
        self.root.join(REJECTED_DIR)
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    pub fn tmp_dir(&self) -> Result<PathBuf> {
        let dir = self.state_dir().join("tmp");
        std::fs::create_dir_all(&dir).at(&dir)?;
        Ok(dir)
    }

    /// The events table at its latest committed version.
    pub async fn open_table(&self) -> Result<DeltaTable> {
        table::open(&self.table_path()).await
    }

    /// The PII scrubber configured for this workspace.
    pub fn pii_scrubber(&self) -> Result<PiiScrubber> {
        let policy = self.config.pii_policy().map_err(|message| Error::Config {
            path: self.root.join(CONFIG_FILE),
            message,
        })?;
        let salt_path = self.state_dir().join("salt");
        let salt = match std::fs::read(&salt_path) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                write_salt(&salt_path)?;
                std::fs::read(&salt_path).at(&salt_path)?
            }
            Err(e) => {
                return Err(Error::Io {
                    path: salt_path,
                    source: e,
                });
            }
        };
        Ok(PiiScrubber::new(policy, salt))
    }

    /// Take the workspace's write lock: one ingest or maintenance at a time.
    /// Held until the returned guard is dropped; the OS releases it if the
    /// process dies.
    pub fn lock(&self) -> Result<WorkspaceLock> {
        let path = self.state_dir().join("lock");
        std::fs::create_dir_all(self.state_dir()).at(self.state_dir())?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(WorkspaceLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Other(format!(
                "another sendlens ingest or maintenance command is running on {}; wait for it to finish",
                self.root.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
        }
    }
}

/// The workspace's write lock (see [`Workspace::lock`]).
pub struct WorkspaceLock {
    _file: File,
}

fn write_salt(path: &Path) -> Result<()> {
    // 32 random bytes from the OS, without a dependency for it.
    let mut salt = [0u8; 32];
    let mut f = File::open("/dev/urandom").at("/dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut salt).at("/dev/urandom")?;
    let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(path, hex).at(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).at(path)?;
    }
    Ok(())
}
