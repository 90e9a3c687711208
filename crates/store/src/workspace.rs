//! A workspace folder: where its parts live, creating and opening it.

use std::fs::File;
use std::path::{Path, PathBuf};

use deltalake::DeltaTable;
use sendlens_events::PiiScrubber;
use sendlens_events::hash::IdentityKey;

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::table;

pub const CONFIG_FILE: &str = "sendlens.toml";
pub const TABLE_DIR: &str = "events";
pub const REJECTED_DIR: &str = "rejected";
pub const STATE_DIR: &str = ".sendlens";
/// The secret salt, in the state folder.
pub const SALT_FILE: &str = "salt";

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
        write_salt(&state.join(SALT_FILE))?;
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

    /// The workspace's secret salt. PII hashes and record identities are
    /// keyed with it, so a missing salt is an error, never replaced: a new
    /// one would hash every address differently and let every record in
    /// again as new.
    pub fn salt(&self) -> Result<Vec<u8>> {
        let salt_path = self.state_dir().join(SALT_FILE);
        match std::fs::read(&salt_path) {
            Ok(s) if !s.is_empty() => Ok(s),
            Ok(_) => Err(Error::Other(format!(
                "{} is empty: the workspace's salt is lost. Restore {SALT_FILE} from a backup of \
                 the workspace; without it, create a new workspace and ingest the exports again",
                salt_path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::Other(format!(
                "{} is missing: PII hashes and record identities are keyed with this salt. \
                 Restore it from a backup of the workspace; without it, create a new workspace \
                 (`sendlens init DIR`) and ingest the exports again",
                salt_path.display()
            ))),
            Err(e) => Err(Error::Io {
                path: salt_path,
                source: e,
            }),
        }
    }

    /// The PII scrubber configured for this workspace.
    pub fn pii_scrubber(&self) -> Result<PiiScrubber> {
        let policy = self.config.pii_policy().map_err(|message| Error::Config {
            path: self.root.join(CONFIG_FILE),
            message,
        })?;
        Ok(PiiScrubber::new(policy, self.salt()?))
    }

    /// The key of record identities (see `sendlens_events::hash`).
    pub fn identity_key(&self) -> Result<IdentityKey> {
        Ok(IdentityKey::from_salt(&self.salt()?))
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

/// A new salt: 32 random bytes from the OS, as hex, in a file that only
/// its owner can read from the moment it exists.
fn write_salt(path: &Path) -> Result<()> {
    let mut salt = [0u8; 32];
    let mut f = File::open("/dev/urandom").at("/dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut salt).at("/dev/urandom")?;
    let hex: String = salt.iter().map(|b| format!("{b:02x}")).collect();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(path).at(path)?;
    std::io::Write::write_all(&mut out, hex.as_bytes()).at(path)?;
    out.sync_all().at(path)?;
    Ok(())
}
