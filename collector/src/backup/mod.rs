//! `vigie-collector backup` and `restore`: the whole collector (configuration, CA, keys,
//! certificates, every other file of the data directory, and the store) in one file encrypted with
//! a passphrase the operator keeps ([`crypt`]), restored into a new data directory from which a
//! collector serves the same agents, with the same CA and host records: they reconnect unchanged.
//!
//! The store is exported at one consistent point through [`Store::export`]: by the running server
//! over the admin socket (no write lands during the export), or directly when no server holds the
//! directory. The store format stamp ([`store_format`]) travels with it; a backup from a newer
//! collector is refused on restore.

pub mod archive;
pub mod crypt;
pub mod store_format;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::admin::{self, Request};
use crate::datadir::{ADMIN_SOCKET, STORE_DIR};
use crate::store::export::ExportStats;
use crate::store::sled_store::{self, SledStore};
use crate::store::Store;
use archive::{Manifest, STORE_ENTRY};

/// Shortest passphrase accepted for a new backup.
pub const MIN_PASSPHRASE_CHARS: usize = 12;
/// Temporary store exports in the data directory start with this.
const EXPORT_PREFIX: &str = "backup-export-";

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{path}: {source}", path = path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Format(#[from] store_format::FormatError),
    #[error(transparent)]
    DataDir(#[from] crate::datadir::DataDirError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a backup or restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub files: usize,
    pub store: ExportStats,
    /// True when the running server made the store export.
    pub online: bool,
}

/// Reads the passphrase: from `file` (first line; `-` is standard input), else from the terminal
/// with echo off. A passphrase file must be readable by its owner only.
pub fn read_passphrase(file: Option<&Path>, for_new_backup: bool) -> Result<String, BackupError> {
    let text = match file {
        Some(p) if p.as_os_str() == "-" => {
            let mut line = String::new();
            BufReader::new(io::stdin().take(4096))
                .read_line(&mut line)
                .map_err(io_at(p))?;
            line
        }
        Some(p) => {
            let mode = fs::metadata(p).map_err(io_at(p))?.permissions().mode();
            if mode & 0o077 != 0 {
                return Err(BackupError::Invalid(format!(
                    "{} is readable by group or others (mode {:04o}): run `chmod 600 {}`",
                    p.display(),
                    mode & 0o7777,
                    p.display()
                )));
            }
            fs::read_to_string(p).map_err(io_at(p))?
        }
        None => prompt("Backup passphrase: ")?,
    };
    let pass = text.lines().next().unwrap_or_default().to_owned();
    if for_new_backup && pass.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(BackupError::Invalid(format!(
            "the passphrase must have at least {MIN_PASSPHRASE_CHARS} characters (keep it apart from the backups: without it they cannot be restored)"
        )));
    }
    if pass.is_empty() {
        return Err(BackupError::Invalid("empty passphrase".into()));
    }
    Ok(pass)
}

/// Asks on the terminal with echo off (`stty`), so the passphrase is neither shown nor in history.
fn prompt(question: &str) -> Result<String, BackupError> {
    let tty_path = Path::new("/dev/tty");
    let mut tty = OpenOptions::new()
        .read(true)
        .write(true)
        .open(tty_path)
        .map_err(|_| {
            BackupError::Invalid(
                "no terminal to ask the passphrase on: give --passphrase-file FILE (or - for standard input)"
                    .into(),
            )
        })?;
    let stty = |arg: &str| -> Result<(), BackupError> {
        let tty_in = File::open(tty_path).map_err(io_at(tty_path))?;
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(tty_in)
            .status()
            .map_err(io_at(Path::new("stty")))
            .map(|_| ())
    };
    tty.write_all(question.as_bytes())
        .map_err(io_at(tty_path))?;
    stty("-echo")?;
    let mut line = String::new();
    let read = BufReader::new(&tty).read_line(&mut line);
    stty("echo")?;
    let _ = tty.write_all(b"\n");
    read.map_err(io_at(tty_path))?;
    Ok(line)
}

/// Exports the store of `data_dir` to a new temporary file in it: through the running server when
/// one answers on the admin socket, else by opening the store directly.
async fn export_store(data_dir: &Path) -> Result<(PathBuf, ExportStats, bool), BackupError> {
    let name = format!("{EXPORT_PREFIX}{:016x}.tmp", rand::rngs::OsRng.next_u64());
    let path = data_dir.join(name);
    let socket = data_dir.join(ADMIN_SOCKET);
    let req = Request::StoreExport {
        path: path.display().to_string(),
    };
    match admin::call_socket(&socket, &req)
        .await
        .map_err(io_at(&socket))?
    {
        Some(reply) if reply.ok => {
            let stats: ExportStats = serde_json::from_str(reply.output.trim())
                .map_err(|e| BackupError::Invalid(format!("the server's export reply: {e}")))?;
            Ok((path, stats, true))
        }
        Some(reply) => Err(BackupError::Invalid(format!(
            "the running server could not export its store: {}",
            reply.output
        ))),
        None => {
            store_format::check_and_stamp(data_dir)?;
            let settings = crate::datadir::load_settings(data_dir)?;
            let store = SledStore::open(&data_dir.join(STORE_DIR), settings.cache_capacity_bytes)?;
            let stats = store.export(path.clone()).await?;
            drop(store);
            Ok((path, stats, false))
        }
    }
}

/// Removes the temporary export whatever happens.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Every regular file of the data directory to back up, relative, sorted: all but the store (which
/// is exported), the admin socket, temporary exports and dot-files.
fn data_files(data_dir: &Path) -> Result<Vec<(String, PathBuf, u32)>, BackupError> {
    let mut out = Vec::new();
    let mut stack = vec![(data_dir.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        for entry in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let entry = entry.map_err(io_at(&dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{prefix}{name}");
            if name.starts_with('.')
                || name.starts_with(EXPORT_PREFIX)
                || (prefix.is_empty() && (name == STORE_DIR || name == ADMIN_SOCKET))
            {
                continue;
            }
            let meta = fs::symlink_metadata(entry.path()).map_err(io_at(&entry.path()))?;
            if meta.is_dir() {
                stack.push((entry.path(), format!("{rel}/")));
            } else if meta.is_file() && archive::safe_name(&rel) {
                out.push((rel, entry.path(), meta.mode() & 0o777));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `backup`: writes the encrypted backup of `data_dir` to the new file `out` (0600).
pub async fn backup(
    data_dir: &Path,
    out: &Path,
    passphrase: &str,
    now_ms: i64,
) -> Result<Summary, BackupError> {
    if out.exists() {
        return Err(BackupError::Invalid(format!(
            "{} exists: refusing to overwrite a backup",
            out.display()
        )));
    }
    if !data_dir.join(crate::config::CONFIG_FILE).exists() {
        return Err(BackupError::Invalid(format!(
            "{} is not a collector data directory",
            data_dir.display()
        )));
    }
    let (export, stats, online) = export_store(data_dir).await?;
    let _cleanup = RemoveOnDrop(export.clone());
    // The stamp is read after the export: a running server stamped the store when it started.
    let store_format = store_format::read(data_dir)?.unwrap_or(store_format::STORE_FORMAT);
    let files = data_files(data_dir)?;
    let manifest = Manifest {
        created_at_ms: now_ms,
        collector_version: env!("CARGO_PKG_VERSION").into(),
        store_format,
        store: stats,
        files: files.iter().map(|(n, _, _)| n.clone()).collect(),
    };

    let tmp = out.with_extension("partial");
    let _ = fs::remove_file(&tmp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_at(&tmp))?;
    let _partial = RemoveOnDrop(tmp.clone());
    let mut w = crypt::EncryptWriter::new(BufWriter::new(file), passphrase.as_bytes())
        .map_err(io_at(&tmp))?;
    archive::write_manifest(&mut w, &manifest).map_err(io_at(&tmp))?;
    for (name, path, mode) in &files {
        let bytes = fs::read(path).map_err(io_at(path))?;
        archive::write_entry_header(&mut w, name, *mode, bytes.len() as u64)
            .map_err(io_at(&tmp))?;
        w.write_all(&bytes).map_err(io_at(&tmp))?;
    }
    let len = fs::metadata(&export).map_err(io_at(&export))?.len();
    archive::write_entry_header(&mut w, STORE_ENTRY, 0o600, len).map_err(io_at(&tmp))?;
    let copied = io::copy(
        &mut File::open(&export).map_err(io_at(&export))?.take(len),
        &mut w,
    )
    .map_err(io_at(&export))?;
    if copied != len {
        return Err(BackupError::Invalid(
            "the store export changed while copied".into(),
        ));
    }
    archive::write_end(&mut w).map_err(io_at(&tmp))?;
    let buf = w.finish().map_err(io_at(&tmp))?;
    let file = buf.into_inner().map_err(|e| BackupError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_at(&tmp))?;
    fs::rename(&tmp, out).map_err(io_at(out))?;
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(parent)
        .and_then(|d| d.sync_all())
        .map_err(io_at(parent))?;
    Ok(Summary {
        files: files.len(),
        store: stats,
        online,
    })
}

/// `restore`: recreates a data directory from a backup. `data_dir` must not exist or be empty; on
/// any failure what was written is removed, so a half-restored directory never serves.
pub fn restore(
    input: &Path,
    data_dir: &Path,
    passphrase: &str,
) -> Result<(Manifest, Summary), BackupError> {
    let empty = match fs::read_dir(data_dir) {
        Ok(mut rd) => rd.next().is_none(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => true,
        Err(e) => return Err(io_at(data_dir)(e)),
    };
    if !empty {
        return Err(BackupError::Invalid(format!(
            "{} is not empty: restore into a new directory",
            data_dir.display()
        )));
    }
    let existed = data_dir.exists();
    let result = restore_into(input, data_dir, passphrase);
    if result.is_err() {
        if existed {
            if let Ok(rd) = fs::read_dir(data_dir) {
                for e in rd.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        fs::remove_dir_all(&p)
                    } else {
                        fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = fs::remove_dir_all(data_dir);
        }
    }
    result
}

fn restore_into(
    input: &Path,
    data_dir: &Path,
    passphrase: &str,
) -> Result<(Manifest, Summary), BackupError> {
    let file = File::open(input).map_err(io_at(input))?;
    let mut r = BufReader::new(
        crypt::DecryptReader::new(BufReader::new(file), passphrase.as_bytes())
            .map_err(io_at(input))?,
    );
    let manifest = archive::read_manifest(&mut r).map_err(io_at(input))?;
    if manifest.store_format > store_format::STORE_FORMAT {
        return Err(store_format::FormatError::Newer {
            dir: input.to_path_buf(),
            found: manifest.store_format,
        }
        .into());
    }
    fs::create_dir_all(data_dir).map_err(io_at(data_dir))?;
    fs::set_permissions(data_dir, fs::Permissions::from_mode(0o700)).map_err(io_at(data_dir))?;
    let mut files = 0usize;
    let mut store = None;
    while let Some(entry) = archive::read_entry_header(&mut r).map_err(io_at(input))? {
        if store.is_some() {
            return Err(BackupError::Invalid("entries after the store".into()));
        }
        let mut body = (&mut r).take(entry.len);
        if entry.name == STORE_ENTRY {
            let dir = data_dir.join(STORE_DIR);
            let stats = sled_store::import_new(&dir, &mut body)?;
            // Nothing may follow the export's end marker inside its entry.
            let mut rest = Vec::new();
            body.read_to_end(&mut rest).map_err(io_at(input))?;
            if !rest.is_empty() || stats != manifest.store {
                return Err(BackupError::Invalid(
                    "the store export does not match the manifest".into(),
                ));
            }
            store = Some(stats);
            continue;
        }
        if !manifest.files.contains(&entry.name) {
            return Err(BackupError::Invalid(format!(
                "{} is not in the manifest",
                entry.name
            )));
        }
        let dest = data_dir.join(&entry.name);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent).map_err(io_at(parent))?;
        }
        // Keys stay private whatever the backup says.
        let mode = if entry.name.ends_with(".key") {
            0o600
        } else {
            entry.mode & 0o755
        };
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&dest)
            .map_err(io_at(&dest))?;
        let n = io::copy(&mut body, &mut f).map_err(io_at(input))?;
        if n != entry.len {
            return Err(BackupError::Invalid(format!("{} is truncated", entry.name)));
        }
        f.sync_all().map_err(io_at(&dest))?;
        files += 1;
    }
    // The decrypting reader authenticates the final chunk only when it reaches the end.
    let mut tail = Vec::new();
    r.read_to_end(&mut tail).map_err(io_at(input))?;
    if !tail.is_empty() {
        return Err(BackupError::Invalid(
            "data after the end of the backup".into(),
        ));
    }
    let Some(stats) = store else {
        return Err(BackupError::Invalid("the backup holds no store".into()));
    };
    if files != manifest.files.len() {
        return Err(BackupError::Invalid(
            "files listed in the manifest are missing".into(),
        ));
    }
    store_format::write(data_dir, manifest.store_format)?;
    store_format::check_and_stamp(data_dir)?;
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(io_at(data_dir))?;
    Ok((
        manifest,
        Summary {
            files,
            store: stats,
            online: false,
        },
    ))
}

/// The admin request's side, run by the server: the export into `path`, which must be a new file
/// named like a temporary export, in the directory holding the admin socket.
pub async fn export_for_admin(store: &dyn Store, path: &str) -> Result<String, BackupError> {
    let path = PathBuf::from(path);
    let named = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(EXPORT_PREFIX) && archive::safe_name(n));
    if !path.is_absolute() || !named {
        return Err(BackupError::Invalid(format!(
            "{}: not a store export path",
            path.display()
        )));
    }
    let stats = store.export(path).await?;
    serde_json::to_string(&stats).map_err(|e| BackupError::Invalid(e.to_string()))
}
