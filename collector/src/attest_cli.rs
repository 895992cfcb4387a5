//! The `attest` subcommand of `vigie-collector`: argument parsing only; the work is done by
//! `vigie_collector::attestation` through the admin socket, or on the data directory when no
//! server holds it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use vigie_collector::admin::Request;

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
    print!("{}", super::admin_output(&data_dir, req).await?);
    Ok(())
}
