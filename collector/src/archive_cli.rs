//! The `waiver` and `snapshot` subcommands of `vigie-collector`: argument parsing and file I/O only;
//! the work is done by `archive_admin` (through the admin socket or on the data directory) and, for
//! `snapshot verify`, offline by `snapshot::verify`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use ed25519_dalek::pkcs8::DecodePublicKey;
use vigie_collector::admin::Request;
use vigie_collector::archive_admin::Exported;
use vigie_collector::datadir;
use vigie_collector::snapshot::{self, minisign};

#[derive(Subcommand, Debug)]
pub enum WaiverCommand {
    /// Accepts a failing check for a while, with a reason and an owner.
    Add {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        #[arg(long)]
        check: String,
        /// One host (its id); every host of the organisation when neither this nor --group is given.
        #[arg(long, conflicts_with = "group")]
        host: Option<String>,
        /// Every host of this group (see `host group`), as it is at each evaluation.
        #[arg(long)]
        group: Option<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        owner: String,
        /// YYYY-MM-DD (to the end of that day, Europe/Paris) or an RFC 3339 time.
        #[arg(long)]
        until: String,
    },
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
    },
    Revoke {
        #[arg(long)]
        data_dir: PathBuf,
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Json,
    Html,
    Pdf,
    Csv,
}

#[derive(Subcommand, Debug)]
pub enum SnapshotCommand {
    /// Creates, signs and stores the organisation's next snapshot; prints only its id.
    Create {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        #[arg(long)]
        profile: Option<String>,
    },
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
    },
    /// `json`: writes the signed document to OUT and its signature to OUT.minisig, unchanged.
    /// `html`, `pdf`, `csv`: verifies the signed document, then writes a French report of it to OUT.
    Export {
        #[arg(long)]
        data_dir: PathBuf,
        id: String,
        #[arg(long, value_enum, default_value = "json")]
        format: ExportFormat,
        #[arg(long)]
        out: PathBuf,
        /// Directory of DejaVuSans.ttf and DejaVuSans-Bold.ttf, for `--format pdf`.
        #[arg(long, default_value = snapshot::report::pdf::DEFAULT_FONT_DIR)]
        font_dir: PathBuf,
    },
    /// Prints the snapshot public key in minisign format.
    Pubkey {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Verifies an exported snapshot offline: signature, structure, chain, agent signatures.
    Verify {
        file: PathBuf,
        #[arg(long)]
        pubkey: PathBuf,
        #[arg(long)]
        previous: Option<PathBuf>,
    },
    /// Better, worse, new hosts, gone hosts, changed keys: two snapshot ids, or two exported files.
    Diff {
        #[arg(long)]
        data_dir: Option<PathBuf>,
        a: String,
        b: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// The admin audit trail, oldest first (every organisation's, or one's).
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: Option<String>,
        /// One JSON object per line (index, entry, prev_hash, hash) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Re-walks the hash chain from its first record; fails naming the first bad record.
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

pub async fn audit(command: AuditCommand) -> Result<()> {
    let (data_dir, req) = match command {
        AuditCommand::List {
            data_dir,
            org,
            json,
        } => (data_dir, Request::AuditList { org, json }),
        AuditCommand::Verify { data_dir } => (data_dir, Request::AuditVerify),
    };
    print!("{}", super::admin_output(&data_dir, req).await?);
    Ok(())
}

/// The data directory's snapshot public key as a minisign public key file.
fn public_key_file(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(datadir::SNAPSHOT_PUB);
    let pem =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(&pem)
        .map_err(|e| anyhow::anyhow!("{}: not an Ed25519 public key: {e}", path.display()))?;
    Ok(minisign::public_key_file(&key))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

fn minisig_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".minisig");
    PathBuf::from(name)
}

pub async fn waiver(command: WaiverCommand) -> Result<()> {
    let (data_dir, req) = match command {
        WaiverCommand::Add {
            data_dir,
            org,
            check,
            host,
            group,
            reason,
            owner,
            until,
        } => {
            let until_ms = vigie_collector::waiver::parse_until(&until)?;
            let req = Request::WaiverAdd {
                org,
                check,
                host,
                reason,
                owner,
                until_ms,
                group,
            };
            (data_dir, req)
        }
        WaiverCommand::List { data_dir, org } => (data_dir, Request::WaiverList { org }),
        WaiverCommand::Revoke {
            data_dir,
            id,
            reason,
        } => (data_dir, Request::WaiverRevoke { id, reason }),
    };
    print!("{}", super::admin_output(&data_dir, req).await?);
    Ok(())
}

pub async fn snapshot(command: SnapshotCommand) -> Result<()> {
    match command {
        SnapshotCommand::Create {
            data_dir,
            org,
            profile,
        } => {
            let absolute = std::fs::canonicalize(&data_dir)
                .with_context(|| format!("data directory {}", data_dir.display()))?;
            let req = Request::SnapshotCreate {
                org,
                profile,
                data_dir: absolute.to_string_lossy().into_owned(),
            };
            print!("{}", super::admin_output(&data_dir, req).await?);
        }
        SnapshotCommand::List { data_dir, org } => {
            print!(
                "{}",
                super::admin_output(&data_dir, Request::SnapshotList { org }).await?
            );
        }
        SnapshotCommand::Export {
            data_dir,
            id,
            format,
            out,
            font_dir,
        } => {
            let text = super::admin_output(&data_dir, Request::SnapshotExport { id }).await?;
            let exported: Exported =
                serde_json::from_str(&text).context("reading the exported snapshot")?;
            let rendering = match format {
                ExportFormat::Json => None,
                ExportFormat::Html => Some(snapshot::report::Format::Html),
                ExportFormat::Pdf => Some(snapshot::report::Format::Pdf),
                ExportFormat::Csv => Some(snapshot::report::Format::Csv),
            };
            match rendering {
                None => {
                    std::fs::write(&out, exported.document.as_bytes())
                        .with_context(|| format!("writing {}", out.display()))?;
                    let sig = minisig_path(&out);
                    std::fs::write(&sig, exported.minisig.as_bytes())
                        .with_context(|| format!("writing {}", sig.display()))?;
                }
                Some(rendering) => {
                    let bytes = snapshot::report::render_verified(
                        exported.document.as_bytes(),
                        &exported.minisig,
                        &public_key_file(&data_dir)?,
                        rendering,
                        &font_dir,
                    )
                    .with_context(|| format!("rendering snapshot {}", exported.id))?;
                    std::fs::write(&out, bytes)
                        .with_context(|| format!("writing {}", out.display()))?;
                }
            }
        }
        SnapshotCommand::Pubkey { data_dir } => {
            print!("{}", public_key_file(&data_dir)?);
        }
        SnapshotCommand::Verify {
            file,
            pubkey,
            previous,
        } => {
            let document = read(&file)?;
            let sig_path = minisig_path(&file);
            let minisig = String::from_utf8(read(&sig_path)?)
                .with_context(|| format!("{} is not text", sig_path.display()))?;
            let public = String::from_utf8(read(&pubkey)?)
                .with_context(|| format!("{} is not text", pubkey.display()))?;
            let previous = previous.as_deref().map(read).transpose()?;
            let verified =
                snapshot::verify::verify(&document, &minisig, &public, previous.as_deref())
                    .with_context(|| format!("{} does not verify", file.display()))?;
            print!("{}", verified.render());
        }
        SnapshotCommand::Diff { data_dir, a, b } => {
            let (pa, pb) = (Path::new(&a), Path::new(&b));
            let out = if pa.is_file() && pb.is_file() {
                let da = snapshot::verify::parse_canonical(&read(pa)?)?;
                let db = snapshot::verify::parse_canonical(&read(pb)?)?;
                snapshot::diff::diff(&da, &db)?
            } else {
                let Some(data_dir) = data_dir else {
                    bail!("give --data-dir to diff stored snapshots by id, or two exported files");
                };
                super::admin_output(&data_dir, Request::SnapshotDiff { a, b }).await?
            };
            print!("{out}");
        }
    }
    Ok(())
}
