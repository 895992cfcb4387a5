//! The `maintenance` subcommand of `vigie-collector`: argument parsing only; the work is done by
//! `vigie_collector::maintenance` through the admin socket, or on the data directory when no
//! server holds it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Subcommand;
use vigie_collector::admin::Request;
use vigie_collector::maintenance::parse_instant;

#[derive(Subcommand, Debug)]
pub enum MaintenanceCommand {
    /// Declares a maintenance window for an organisation's hosts (or one group of them): file
    /// changes seen inside it are tagged with it and graded low (FIM-002), never excused.
    Add {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        /// Only the hosts of this group (`host group`).
        #[arg(long)]
        group: Option<String>,
        /// Start, RFC 3339 (e.g. 2026-12-05T08:00:00+01:00); at most an hour ago.
        #[arg(long)]
        from: String,
        /// End, RFC 3339, after `--from`; 7 days at most after it.
        #[arg(long)]
        until: String,
        /// What the work is.
        #[arg(long)]
        reason: String,
        /// The person responsible for it.
        #[arg(long)]
        owner: String,
    },
    /// Every maintenance window of an organisation: planned, in force, ended or revoked.
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
    },
    /// Ends a window now (a planned one never starts).
    Revoke {
        #[arg(long)]
        data_dir: PathBuf,
        /// The window's id (`m-…`, see `maintenance list`).
        id: String,
        #[arg(long)]
        reason: String,
    },
}

pub async fn run(command: MaintenanceCommand) -> Result<()> {
    let (data_dir, req) = match command {
        MaintenanceCommand::Add {
            data_dir,
            org,
            group,
            from,
            until,
            reason,
            owner,
        } => {
            let req = Request::MaintenanceAdd {
                org,
                group,
                from_ms: parse_instant("from", &from)?,
                until_ms: parse_instant("until", &until)?,
                reason,
                owner,
            };
            (data_dir, req)
        }
        MaintenanceCommand::List { data_dir, org } => (data_dir, Request::MaintenanceList { org }),
        MaintenanceCommand::Revoke {
            data_dir,
            id,
            reason,
        } => (data_dir, Request::MaintenanceRevoke { id, reason }),
    };
    print!("{}", super::admin_output(&data_dir, req).await?);
    Ok(())
}
