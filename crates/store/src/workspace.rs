//! A workspace: where its parts live, creating and opening it. It is a
//! local folder, or a prefix in object storage with a local cache folder
//! (see [`crate::remote`]).

use std::fs::File;
use std::path::{Path, PathBuf};

use deltalake::DeltaTable;
use sendlens_events::PiiScrubber;
use sendlens_events::hash::IdentityKey;

use crate::config::Config;
use crate::error::{Error, IoContext, Result};
use crate::remote::{self, Remote, block_on};
use crate::table;

pub const CONFIG_FILE: &str = "sendlens.toml";
pub const TABLE_DIR: &str = "events";
pub const REJECTED_DIR: &str = "rejected";
pub const STATE_DIR: &str = ".sendlens";
/// The secret salt, in the state folder.
pub const SALT_FILE: &str = "salt";
/// Folders every host of a workspace in object storage reads (report
/// definitions and their SQL): copied from the bucket when the workspace
/// is opened, and written back by [`Workspace::publish_shared`].
pub const SHARED_DIRS: [&str; 2] = ["reports", "queries"];
/// The salt's key in a workspace in object storage.
const SALT_KEY: &str = ".sendlens/salt";

/// An opened workspace.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The folder, or the local cache folder of a workspace in object
    /// storage.
    root: PathBuf,
    config: Config,
    remote: Option<Shared>,
}

/// What a workspace in object storage keeps in the bucket.
#[derive(Debug, Clone)]
struct Shared {
    remote: Remote,
    salt: Vec<u8>,
}

impl Workspace {
    /// Create a workspace in `dir` (created if missing) with `config`;
    /// `dir` may be an `s3://bucket/prefix` URL.
    pub async fn init(dir: &Path, config: Config) -> Result<Workspace> {
        if remote::is_remote(dir) {
            let location = dir.display().to_string();
            let created = location.clone();
            tokio::task::spawn_blocking(move || init_remote(&created, config))
                .await
                .map_err(|e| Error::Other(format!("creating {location}: {e}")))??;
            let opened = location.clone();
            return tokio::task::spawn_blocking(move || Workspace::open(Path::new(&opened)))
                .await
                .map_err(|e| Error::Other(format!("opening {location}: {e}")))?;
        }
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
        Ok(Workspace {
            root,
            config,
            remote: None,
        })
    }

    /// Open the workspace in `dir`, or at an `s3://bucket/prefix` URL.
    pub fn open(dir: &Path) -> Result<Workspace> {
        if remote::is_remote(dir) {
            return open_remote(&dir.display().to_string());
        }
        let config_path = dir.join(CONFIG_FILE);
        if !config_path.is_file() {
            return Err(Error::NotAWorkspace(dir.to_path_buf()));
        }
        let root = dir.canonicalize().at(dir)?;
        let config = Config::load(&config_path)?;
        Ok(Workspace {
            root,
            config,
            remote: None,
        })
    }

    /// The folder; for a workspace in object storage, its local cache.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the workspace is: its folder or its URL.
    pub fn location(&self) -> String {
        match &self.remote {
            Some(shared) => shared.remote.url().to_string(),
            None => self.root.display().to_string(),
        }
    }

    /// The bucket of a workspace in object storage.
    pub fn remote(&self) -> Option<&Remote> {
        self.remote.as_ref().map(|s| &s.remote)
    }

    /// [`Self::publish`] every folder of [`SHARED_DIRS`] there is.
    pub fn publish_shared(&self) -> Result<Vec<String>> {
        let mut written = Vec::new();
        for dir in SHARED_DIRS {
            if self.root.join(dir).exists() {
                written.extend(self.publish(Path::new(dir))?);
            }
        }
        Ok(written)
    }

    /// Copy the file or folder `relative` (inside [`Self::root`]) to the
    /// bucket of a workspace in object storage, one PUT per file; nothing
    /// for a local workspace. Returns the URLs written.
    pub fn publish(&self, relative: &Path) -> Result<Vec<String>> {
        let Some(remote) = self.remote() else {
            return Ok(Vec::new());
        };
        let from = self.root.join(relative);
        let files: Vec<PathBuf> = if from.is_dir() {
            walkdir::WalkDir::new(&from)
                .into_iter()
                .flatten()
                .filter(|e| e.file_type().is_file())
                .map(|e| e.into_path())
                .collect()
        } else {
            vec![from]
        };
        let mut written = Vec::new();
        for file in files {
            let key = file
                .strip_prefix(&self.root)
                .unwrap_or(&file)
                .to_string_lossy()
                .replace('\\', "/");
            let data = std::fs::read(&file).at(&file)?;
            block_on(remote.put(&key, data))?;
            written.push(remote.url_of(&key));
        }
        Ok(written)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The events table's folder (of a local workspace).
    pub fn table_path(&self) -> PathBuf {
        self.root.join(TABLE_DIR)
    }

    /// The events table's URL.
    pub fn table_url(&self) -> Result<url::Url> {
        match self.remote() {
            Some(remote) => url::Url::parse(&remote.url_of(&format!("{TABLE_DIR}/")))
                .map_err(|e| Error::Other(format!("{}: {e}", remote.url()))),
            None => table::table_url(&self.table_path()),
        }
    }

    /// The newest committed version of the events table, read off its
    /// log's file names (no log is parsed).
    pub fn latest_version(&self) -> Option<u64> {
        match self.remote() {
            Some(remote) => block_on(remote.list(&format!("{TABLE_DIR}/_delta_log/")))
                .ok()?
                .iter()
                .filter_map(|key| table::commit_version(key.rsplit('/').next()?))
                .max(),
            None => table::latest_version(&self.table_path()),
        }
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
        table::open_at(self.table_url()?, &self.config.storage).await
    }

    /// The workspace's secret salt. PII hashes and record identities are
    /// keyed with it, so a missing salt is an error, never replaced: a new
    /// one would hash every address differently and let every record in
    /// again as new.
    pub fn salt(&self) -> Result<Vec<u8>> {
        if let Some(shared) = &self.remote {
            return Ok(shared.salt.clone());
        }
        let salt_path = self.state_dir().join(SALT_FILE);
        match std::fs::read(&salt_path) {
            Ok(s) if !s.is_empty() => Ok(s),
            Ok(_) => Err(Error::Other(format!(
                "{} is empty: the workspace's salt is lost. Restore {SALT_FILE} from a backup of \
                 the workspace; without it, create a new workspace and ingest the exports again",
                salt_path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(missing_salt(&salt_path.display().to_string()))
            }
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
    /// process dies. While another process holds it, waits for it (up to
    /// [`lock_wait`]), so that overlapping scheduled jobs run one after the
    /// other instead of failing.
    pub fn lock(&self) -> Result<WorkspaceLock> {
        let waited = std::time::Instant::now();
        loop {
            match self.try_lock() {
                Err(Error::Busy(holder)) => {
                    if waited.elapsed() >= lock_wait() {
                        return Err(Error::Busy(format!(
                            "{holder}; waited {} s for it to finish (SENDLENS_LOCK_WAIT \
                             sets how long)",
                            waited.elapsed().as_secs()
                        )));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                taken => return taken,
            }
        }
    }

    /// [`Self::lock`], once.
    fn try_lock(&self) -> Result<WorkspaceLock> {
        if let Some(remote) = self.remote() {
            return Ok(WorkspaceLock {
                _file: None,
                _object: Some(remote::RemoteLock::take(remote)?),
            });
        }
        let path = self.state_dir().join("lock");
        std::fs::create_dir_all(self.state_dir()).at(self.state_dir())?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .at(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(WorkspaceLock {
                _file: Some(file),
                _object: None,
            }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy(format!(
                "another sendlens ingest or maintenance command is running on {}",
                self.root.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::Io { path, source: e }),
        }
    }
}

/// How long [`Workspace::lock`] waits for another writer: ten minutes, or
/// `SENDLENS_LOCK_WAIT` seconds (0: not at all).
pub fn lock_wait() -> std::time::Duration {
    let seconds = std::env::var("SENDLENS_LOCK_WAIT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(600);
    std::time::Duration::from_secs(seconds)
}

/// The workspace's write lock (see [`Workspace::lock`]): a locked file or
/// a lock object, released when dropped.
pub struct WorkspaceLock {
    _file: Option<File>,
    _object: Option<remote::RemoteLock>,
}

/// The salt at `place` is gone. It is never replaced: a new one would hash
/// every address differently and let every record in again as new.
fn missing_salt(place: &str) -> Error {
    Error::Other(format!(
        "{place} is missing: PII hashes and record identities are keyed with this salt. \
         Restore it from a backup of the workspace; without it, create a new workspace \
         (`sendlens init DIR|s3://…`) and ingest the exports again"
    ))
}

/// A new salt: 32 random bytes from the OS, as hex.
fn new_salt() -> Result<String> {
    let mut salt = [0u8; 32];
    let mut f = File::open("/dev/urandom").at("/dev/urandom")?;
    std::io::Read::read_exact(&mut f, &mut salt).at("/dev/urandom")?;
    Ok(salt.iter().map(|b| format!("{b:02x}")).collect())
}

/// A new salt in a file that only its owner can read from the moment it
/// exists.
fn write_salt(path: &Path) -> Result<()> {
    let hex = new_salt()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(path).at(path)?;
    std::io::Write::write_all(&mut out, hex.as_bytes()).at(path)?;
    out.sync_all().at(path)?;
    Ok(())
}

/// Create a workspace in object storage: the salt (kept if an earlier
/// `init` that stopped early made one), the events table, and last the
/// configuration, whose presence marks a complete workspace.
fn init_remote(location: &str, config: Config) -> Result<()> {
    let remote = Remote::open(location, &config.storage)?;
    let config_url = PathBuf::from(remote.url_of(CONFIG_FILE));
    config.validate().map_err(|message| Error::Config {
        path: config_url.clone(),
        message,
    })?;
    block_on(async {
        if remote.get(CONFIG_FILE).await?.is_some() {
            return Err(Error::AlreadyAWorkspace(PathBuf::from(location)));
        }
        remote.create(SALT_KEY, new_salt()?).await?;
        let url = url::Url::parse(&remote.url_of(&format!("{TABLE_DIR}/")))
            .map_err(|e| Error::Other(format!("{location}: {e}")))?;
        if table::open_at(url.clone(), &config.storage).await.is_err() {
            table::create_at(url, &config.storage).await?;
        }
        remote.put(CONFIG_FILE, config.to_toml()).await
    })
}

/// Open a workspace in object storage: its configuration and salt from
/// the bucket, its report definitions copied into the local cache folder.
fn open_remote(location: &str) -> Result<Workspace> {
    let found = Remote::open(location, &Default::default())?;
    let (text, salt) = block_on(async {
        Ok::<_, Error>((found.get(CONFIG_FILE).await?, found.get(SALT_KEY).await?))
    })?;
    let Some(text) = text else {
        return Err(Error::NotAWorkspace(PathBuf::from(location)));
    };
    let salt = match salt {
        Some(salt) if !salt.is_empty() => salt.to_vec(),
        _ => return Err(missing_salt(&found.url_of(SALT_KEY))),
    };
    // Each `init` makes a new salt: a workspace made again at the same URL
    // (or one of the same name on another server) never meets the facts
    // the cache holds of another one, whose version numbers may match.
    let root = remote::cache_dir(found.url()).join(format!(
        "ws-{:016x}",
        xxhash_rust::xxh3::xxh3_64_with_seed(&salt, 0x5e4d_1e45)
    ));
    let state = root.join(STATE_DIR);
    std::fs::create_dir_all(state.join("tmp")).at(&state)?;
    let config_path = root.join(CONFIG_FILE);
    let tmp = state.join("tmp").join(CONFIG_FILE);
    std::fs::write(&tmp, &text).at(&tmp)?;
    std::fs::rename(&tmp, &config_path).at(&config_path)?;
    let config = Config::load(&config_path)?;
    let remote = if config.storage.is_empty() {
        found
    } else {
        Remote::open(location, &config.storage)?
    };
    copy_shared(&remote, &root)?;
    Ok(Workspace {
        root,
        config,
        remote: Some(Shared { remote, salt }),
    })
}

/// Make the cache's [`SHARED_DIRS`] what the bucket's are (several GETs
/// in flight: a command opens the workspace before anything else).
fn copy_shared(remote: &Remote, root: &Path) -> Result<()> {
    use futures::{StreamExt, TryStreamExt};
    let files: Vec<(String, Option<bytes::Bytes>)> = block_on(async {
        let mut keys = Vec::new();
        for dir in SHARED_DIRS {
            keys.extend(remote.list(&format!("{dir}/")).await?);
        }
        futures::stream::iter(keys)
            .map(|key| async move {
                let data = remote.get(&key).await?;
                Ok::<_, Error>((key, data))
            })
            .buffer_unordered(8)
            .try_collect()
            .await
    })?;
    for dir in SHARED_DIRS {
        let _ = std::fs::remove_dir_all(root.join(dir));
    }
    for (key, data) in files {
        // A key that would lead out of the cache folder is no definition.
        let outside = key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..");
        let Some(data) = data.filter(|_| !outside) else {
            continue;
        };
        let path = root.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).at(parent)?;
        }
        std::fs::write(&path, data).at(&path)?;
    }
    Ok(())
}
