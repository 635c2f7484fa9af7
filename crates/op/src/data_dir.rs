//! The data directory and the secrets kept beside the database: the directory is created (or narrowed to)
//! 0700, every SQLite file (the database, its WAL and shared-memory files) 0600, and the key-encryption key
//! that seals the secrets at rest (see [`crate::store::Kek`]) is read from, in order:
//!
//! 1. the `PORTCULLIS_KEK` environment variable (its text form: 43 base64url characters);
//! 2. the file `kek_file` names (it must exist: a PostgreSQL deployment gives every node the same one);
//! 3. `portcullis.kek` in the data directory, created 0600 on first run.
//!
//! A key file readable by anyone but its owner is refused. [`rotate_kek`] re-seals every secret under a new key
//! and replaces the file; an interrupted rotation is finished at the next start.
//!
//! Must not: create a file or directory readable by other users, or accept a key file that is.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::store::{Kek, Store};

/// The environment variable that can carry the key-encryption key.
pub const KEK_ENV: &str = "PORTCULLIS_KEK";
/// The environment variable that carries the new key when rotating a key given by [`KEK_ENV`].
pub const NEW_KEK_ENV: &str = "PORTCULLIS_NEW_KEK";
/// The key file's name in the data directory.
pub const KEK_FILE: &str = "portcullis.kek";

/// Where the key-encryption key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekSource {
    /// [`KEK_ENV`].
    Env,
    /// A file (the configured `kek_file`, or [`KEK_FILE`] in the data directory).
    File(PathBuf),
}

/// Where the configuration says the key comes from.
pub fn kek_source(cfg: &Config) -> KekSource {
    if std::env::var_os(KEK_ENV).is_some() {
        return KekSource::Env;
    }
    KekSource::File(
        cfg.kek_file
            .clone()
            .unwrap_or_else(|| cfg.data_dir.join(KEK_FILE)),
    )
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the permissions of {}: {e}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> Result<(), String> {
    Ok(())
}

/// Creates the data directory 0700 (narrowing an existing one to 0700).
pub fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    set_mode(dir, 0o700)
}

/// The SQLite database file a URL names, if it names one.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates the database file 0600 before SQLite does (SQLite gives its WAL and shared-memory files the
/// database file's permissions), and narrows the files that exist already to 0600.
pub fn secure_sqlite_files(db: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        if !db.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(db)
                .map_err(|e| format!("cannot create {}: {e}", db.display()))?;
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let p = PathBuf::from(name);
        if p.exists() {
            set_mode(&p, 0o600)?;
        }
    }
    Ok(())
}

/// Reads a key file, refusing one that group or others can read.
fn read_key_file(path: &Path) -> Result<Kek, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "{} is readable by other users: chmod 600 it",
                path.display()
            ));
        }
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Kek::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a key file 0600, failing if it exists.
fn write_key_file(path: &Path, kek: &Kek) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    use std::io::Write as _;
    let mut f = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    writeln!(f, "{}", kek.text())
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn pending_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// The configured key-encryption key: from the environment, the configured file, or the data directory's
/// file (created on first run).
pub fn load_kek(cfg: &Config) -> Result<Kek, String> {
    match kek_source(cfg) {
        KekSource::Env => {
            let text = std::env::var(KEK_ENV).map_err(|_| format!("{KEK_ENV} is not UTF-8"))?;
            Kek::from_text(&text).map_err(|e| format!("{KEK_ENV}: {e}"))
        }
        KekSource::File(path) if path.exists() => read_key_file(&path),
        KekSource::File(path) if cfg.kek_file.is_some() => Err(format!(
            "the key-encryption key file {} does not exist",
            path.display()
        )),
        KekSource::File(path) => {
            prepare_data_dir(&cfg.data_dir)?;
            let kek = Kek::generate().map_err(|e| e.to_string())?;
            write_key_file(&path, &kek)?;
            Ok(kek)
        }
    }
}

/// Opens the store's secrets with the configured key: finishes a rotation a crash interrupted (the new key
/// file is there, and the secrets are sealed under it), refuses a key the secrets are not sealed under, and
/// seals what earlier versions stored in clear.
pub async fn unlock(cfg: &Config, store: Store) -> Result<Store, String> {
    let mut kek = load_kek(cfg)?;
    let sealed_under = store.sealed_kek_id().await.map_err(|e| e.to_string())?;
    if let (Some(id), KekSource::File(path)) = (&sealed_under, kek_source(cfg))
        && id != kek.id()
    {
        let pending = pending_path(&path);
        if pending.exists() {
            let new = read_key_file(&pending)?;
            if new.id() == id {
                std::fs::rename(&pending, &path)
                    .map_err(|e| format!("cannot finish the key rotation: {e}"))?;
                tracing::warn!("finished an interrupted key-encryption key rotation");
                kek = new;
            }
        }
    }
    if let Some(id) = sealed_under
        && id != kek.id()
    {
        return Err(format!(
            "the stored secrets are sealed under key-encryption key {id}, but the configured key is {}",
            kek.id()
        ));
    }
    let store = store.with_kek(kek);
    let sealed = store
        .seal_values_in_clear()
        .await
        .map_err(|e| e.to_string())?;
    if sealed > 0 {
        tracing::info!("sealed {sealed} secrets stored in clear by an earlier version");
    }
    Ok(store)
}

/// Re-seals every secret under a fresh key. With a key file: the new key is written beside it
/// (`<file>.new`), the secrets are re-sealed in one transaction, then the new file replaces the old. With
/// [`KEK_ENV`]: the new key comes from [`NEW_KEK_ENV`], and the operator swaps the variables afterwards.
/// Returns the new key's id.
pub async fn rotate_kek(cfg: &Config, store: Store) -> Result<String, String> {
    match kek_source(cfg) {
        KekSource::Env => {
            let text = std::env::var(NEW_KEK_ENV).map_err(|_| {
                format!(
                    "the key comes from {KEK_ENV}: put a new one (`kek generate`) in {NEW_KEK_ENV}"
                )
            })?;
            let new = Kek::from_text(&text).map_err(|e| format!("{NEW_KEK_ENV}: {e}"))?;
            let id = new.id().to_owned();
            store.rekey(new).await.map_err(|e| e.to_string())?;
            Ok(id)
        }
        KekSource::File(path) => {
            let pending = pending_path(&path);
            if pending.exists() {
                return Err(format!(
                    "{} exists: a rotation was interrupted; start the provider once to finish it",
                    pending.display()
                ));
            }
            let new = Kek::generate().map_err(|e| e.to_string())?;
            let id = new.id().to_owned();
            write_key_file(&pending, &new)?;
            if let Err(e) = store.rekey(new).await {
                let _ = std::fs::remove_file(&pending);
                return Err(e.to_string());
            }
            std::fs::rename(&pending, &path)
                .map_err(|e| format!("re-sealed, but cannot replace {}: {e}", path.display()))?;
            Ok(id)
        }
    }
}
