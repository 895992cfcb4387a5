//! `vigie-collector alerts`: the command line of the alert admin requests (`list`, `ack`, `test`,
//! `sinks`). They go to a running server through its admin socket, or run on the data directory.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;
use vigie_collector::admin::Request;

#[derive(Subcommand, Debug)]
pub enum AlertsCommand {
    /// Alerts, oldest first.
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, value_parser = ["open", "acked", "resolved"])]
        state: Option<String>,
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an alert (`a-…`) or every open alert of a group (`g-…`): reminders stop, the
    /// organisation's sinks are told, the audit trail records who and why.
    Ack {
        #[arg(long)]
        data_dir: PathBuf,
        id: String,
        #[arg(long)]
        comment: String,
    },
    /// Send a test message through each sink of an organisation and report each result.
    Test {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
    },
    /// Delivery counters, failures and pending notifications per sink.
    Sinks {
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn absolute(data_dir: &std::path::Path) -> Result<String> {
    Ok(std::path::absolute(data_dir)
        .with_context(|| format!("resolving {}", data_dir.display()))?
        .to_string_lossy()
        .into_owned())
}

pub async fn run(command: AlertsCommand) -> Result<()> {
    let (data_dir, req) = match command {
        AlertsCommand::List {
            data_dir,
            org,
            state,
            json,
        } => (data_dir, Request::AlertsList { org, state, json }),
        AlertsCommand::Ack {
            data_dir,
            id,
            comment,
        } => {
            let req = Request::AlertsAck {
                id,
                comment,
                data_dir: absolute(&data_dir)?,
            };
            (data_dir, req)
        }
        AlertsCommand::Test { data_dir, org } => {
            let req = Request::AlertsTest {
                org,
                data_dir: absolute(&data_dir)?,
            };
            (data_dir, req)
        }
        AlertsCommand::Sinks { data_dir } => (data_dir, Request::AlertsSinks),
    };
    super::admin_call(&data_dir, req).await
}
