//! The `attest` subcommand of `vigie-collector`: argument parsing only; the work is done by
//! `vigie_collector::attestation` through the admin socket, or on the data directory when no
//! server holds it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use vigie_collector::admin::{self, Request};
use vigie_collector::clock::SystemClock;
use vigie_collector::datadir;
use vigie_collector::store::sled_store::SledStore;

#[derive(Subcommand, Debug)]
pub enum AttestCommand {
    /// Records that a measure holds for the whole organisation (replaces the previous one), e.g.
    /// `--measure vpn-mfa`: remote access by VPN requires a second factor (ACC-008), or there is
    /// no VPN.
    Set {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        /// `vpn-mfa`.
        #[arg(long)]
        measure: String,
        /// The person who vouches for it.
        #[arg(long)]
        by: String,
        /// YYYY-MM-DD (to the end of that day, Europe/Paris) or an RFC 3339 time; 400 days at most.
        #[arg(long)]
        until: String,
        /// What was checked (which VPN, which second factor).
        #[arg(long)]
        note: String,
    },
    /// Every attestation of an organisation: in force, expired or revoked.
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
    },
    /// Withdraws an attestation in force before its expiry.
    Revoke {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        #[arg(long)]
        measure: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(command: AttestCommand) -> Result<()> {
    let (data_dir, req) = match command {
        AttestCommand::Set {
            data_dir,
            org,
            measure,
            by,
            until,
            note,
        } => {
            let until_ms = vigie_collector::waiver::parse_until(&until)?;
            let req = Request::AttestSet {
                org,
                measure,
                by,
                note,
                until_ms,
            };
            (data_dir, req)
        }
        AttestCommand::List { data_dir, org } => (data_dir, Request::AttestList { org }),
        AttestCommand::Revoke {
            data_dir,
            org,
            measure,
            reason,
        } => (
            data_dir,
            Request::AttestRevoke {
                org,
                measure,
                reason,
            },
        ),
    };
    print!("{}", call(&data_dir, req).await?);
    Ok(())
}

async fn call(data_dir: &Path, req: Request) -> Result<String> {
    let socket = data_dir.join(datadir::ADMIN_SOCKET);
    let reply = match admin::call_socket(&socket, &req).await? {
        Some(reply) => reply,
        None => {
            let settings = datadir::load_settings(data_dir)?;
            let store = SledStore::open(
                &data_dir.join(datadir::STORE_DIR),
                settings.cache_capacity_bytes,
            )
            .with_context(|| format!("opening the store in {}", data_dir.display()))?;
            let actor = format!("uid:{}", super::uid());
            match admin::execute(&store, &SystemClock, settings.profile, &actor, req).await {
                Ok(output) => admin::Reply { ok: true, output },
                Err(e) => admin::Reply {
                    ok: false,
                    output: e.to_string(),
                },
            }
        }
    };
    if !reply.ok {
        bail!("{}", reply.output);
    }
    Ok(reply.output)
}
