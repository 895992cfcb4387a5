//! `vigie-agent`: parses the command line and runs one subcommand; the logic lives in the library.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use vigie_agent::config::AgentConfig;
use vigie_agent::{check, enroll, now_ms, run};

const DEFAULT_STATE_DIR: &str = "/var/lib/vigie-agent";
const DEFAULT_CONFIG: &str = "/etc/vigie/agent.toml";

#[derive(Parser, Debug)]
#[command(
    name = "vigie-agent",
    version,
    about = "Vigie agent: read-only probes, signed reports"
)]
struct Cli {
    /// Configuration file (default /etc/vigie/agent.toml when it exists).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Enroll with a collector: the token comes from a file or standard input, never the command line.
    Enroll {
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Enrollment URL, https://HOST:PORT.
        #[arg(long)]
        collector: String,
        /// File holding the token, or `-` for standard input.
        #[arg(long)]
        token_file: PathBuf,
        /// `sha256:` pin of the collector's CA (`vigie-collector ca-fingerprint`).
        #[arg(long)]
        ca_fingerprint: String,
    },
    /// Run the agent.
    Run {
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Only probe, into STATE/spool/probed: no network, no key (the prober unit).
        #[arg(long, conflicts_with = "ship_only")]
        probe_only: bool,
        /// Only sign and ship what the prober left, and renew the certificate (the shipper unit).
        #[arg(long)]
        ship_only: bool,
    },
    /// Check this installation: configuration, permissions, enrollment and certificate expiry,
    /// reaching the collector, clock skew, disk space, outbox. Prints what is wrong and how to fix
    /// it, in French when LC_ALL, LC_MESSAGES or LANG starts with `fr`. Exit status 1 on a problem.
    Doctor {
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// The service's user: when run as root, permissions are judged for it (if it exists).
        #[arg(long, default_value = "vigie")]
        service_user: String,
        /// Seconds allowed to reach the collector.
        #[arg(long, default_value_t = 10)]
        timeout_secs: u64,
    },
    /// Run every probe once and print the evidence; needs no collector.
    Check {
        /// Print the public JSON format (vigie.v1.Report, proto3 JSON mapping).
        #[arg(long)]
        json: bool,
        /// Evaluate a mounted tree instead of this host.
        #[arg(long, default_value = "/")]
        root: PathBuf,
        /// Read (never write) first-seen dates from this state directory.
        #[arg(long)]
        state_dir: Option<PathBuf>,
    },
    /// Record the end (or start) of a backup run, for a job declared in `probes.backups.jobs`.
    /// Called by the backup job itself; works while the agent is stopped and reads no config.
    BackupDone {
        /// The job's name, as declared in the agent config.
        #[arg(long)]
        job: String,
        /// How the run ended, or `started` when it begins.
        #[arg(long, value_parser = ["ok", "failed", "started"])]
        status: String,
        /// What was run: a backup, an integrity check (`restic check`, `borg check`) or a restore test.
        #[arg(long, default_value = "backup", value_parser = ["backup", "integrity-check", "restore-test"])]
        kind: String,
        /// A short message (at most 1 KiB is kept), e.g. the error of a failed run. Not a secret:
        /// other users see the command line.
        #[arg(long, default_value = "")]
        message: String,
        /// Bytes backed up by the run.
        #[arg(long)]
        size: Option<u64>,
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
    },
    /// Test a restore of a restic or borg job: restore a random sample of files unchanged since
    /// the newest restore point into a private temporary directory, compare them byte for byte
    /// (SHA-256) with the source, remove the directory and record the result for the backups probe.
    ///
    /// Needs the backup's decryption secret (the job's password_file or password_command) and read
    /// access to the backed-up sources; writes nothing but its temporary directory and the record
    /// STATE/backups/restore-tests/JOB.json. Run it from a timer, e.g. monthly. Exit status 0 when
    /// the test passes, 1 otherwise; a one-line French summary on standard output.
    BackupVerify {
        /// The job's name, as declared in `probes.backups.jobs`.
        #[arg(long)]
        job: String,
        /// Agent state directory: the record goes there, and the temporary directory under
        /// STATE/backups ($TMPDIR when the directory does not exist).
        #[arg(long, default_value = DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Number of files compared (1 to 1000).
        #[arg(long, default_value_t = vigie_agent::probe::backups::verify::DEFAULT_SAMPLE)]
        sample: usize,
        /// Bytes restored at most, in total.
        #[arg(long, default_value_t = vigie_agent::probe::backups::verify::DEFAULT_MAX_BYTES)]
        max_bytes: u64,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: journald and log files keep greppable `peer=…` fields.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<PathBuf>) -> Result<AgentConfig> {
    let path = path.or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        default.exists().then_some(default)
    });
    if let Some(path) = &path {
        vigie_agent::perms::refuse_unsafe(&vigie_agent::perms::config_paths(path))?;
    }
    Ok(AgentConfig::load(path.as_deref())?)
}

async fn dispatch(cli: Cli) -> Result<()> {
    // backup-done runs as the backup job's user, who may not read the root-owned agent config.
    if let Command::BackupDone { .. } = &cli.command {
        return backup_done(cli.command);
    }
    // doctor reports a bad configuration instead of stopping at it.
    if let Command::Doctor {
        state_dir,
        service_user,
        timeout_secs,
    } = cli.command
    {
        return doctor(cli.config, state_dir, service_user, timeout_secs).await;
    }
    let cfg = load_config(cli.config)?;
    match cli.command {
        Command::Enroll {
            state_dir,
            collector,
            token_file,
            ca_fingerprint,
        } => {
            let mut token = String::new();
            if token_file.as_os_str() == "-" {
                std::io::stdin()
                    .take(4096)
                    .read_to_string(&mut token)
                    .context("reading the token from standard input")?;
            } else {
                token = std::fs::read_to_string(&token_file)
                    .with_context(|| format!("reading the token from {}", token_file.display()))?;
            }
            let hostname = sysinfo::System::host_name().unwrap_or_default();
            let id =
                enroll::enroll(&state_dir, &collector, &token, &ca_fingerprint, &hostname).await?;
            eprintln!(
                "enrolled as host {} in organisation {}; reports go to {}",
                id.enrollment.host_id, id.enrollment.org_id, id.enrollment.collector
            );
            Ok(())
        }
        Command::Run {
            state_dir,
            probe_only,
            ship_only,
        } => {
            vigie_agent::perms::refuse_unsafe(&vigie_agent::perms::state_paths(&state_dir))?;
            let mode = match (probe_only, ship_only) {
                (true, _) => run::Mode::ProbeOnly,
                (_, true) => run::Mode::ShipOnly,
                _ => run::Mode::All,
            };
            let stop = tokio_util::sync::CancellationToken::new();
            let s = stop.clone();
            tokio::spawn(async move {
                wait_for_signal().await;
                s.cancel();
            });
            run::run_mode(&state_dir, cfg, mode, stop).await
        }
        Command::Check {
            json,
            root,
            state_dir,
        } => {
            if !root.is_dir() {
                bail!("--root {}: not a directory", root.display());
            }
            let report = check::check(&cfg, &root, state_dir.as_deref(), now_ms()).await?;
            if json {
                println!("{}", vigie_proto::json::report_to_json(&report)?);
            } else {
                print!("{}", check::summary(&report));
            }
            Ok(())
        }
        cmd @ (Command::BackupDone { .. } | Command::Doctor { .. }) => backup_done(cmd),
        Command::BackupVerify {
            job,
            state_dir,
            sample,
            max_bytes,
        } => {
            use vigie_agent::probe::backups::verify;
            let opts = verify::Options {
                job,
                state_dir,
                sample,
                max_bytes,
            };
            // A signal drops the test, whose temporary directory is removed on drop.
            let outcome = tokio::select! {
                o = verify::verify(&cfg.probes.backups, &opts, now_ms()) => o?,
                () = wait_for_signal() => bail!("interrupted; temporary directory removed, nothing recorded"),
            };
            println!("{}", outcome.summary_fr);
            if let Some(p) = &outcome.path {
                eprintln!("recorded in {}", p.display());
            }
            if outcome.record.ok && outcome.path.is_some() {
                Ok(())
            } else {
                bail!("restore test not passed")
            }
        }
    }
}

/// `doctor`: every check, printed in the locale's language; fails when one check failed.
async fn doctor(
    config: Option<PathBuf>,
    state_dir: PathBuf,
    service_user: String,
    timeout_secs: u64,
) -> Result<()> {
    use vigie_agent::doctor;
    use vigie_proto::diag::{self, Lang, Level};
    let config = config.or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG);
        default.exists().then_some(default)
    });
    let opts = doctor::Options {
        config,
        state_dir,
        service_user,
        timeout: std::time::Duration::from_secs(timeout_secs.max(1)),
    };
    let items = doctor::diagnose(&opts, now_ms()).await;
    let lang = Lang::from_env();
    print!("{}", diag::render(&items, lang));
    if items.iter().any(|i| i.level == Level::Fail) {
        bail!(match lang {
            Lang::Fr => "des problèmes ont été trouvés",
            Lang::En => "problems found",
        });
    }
    Ok(())
}

/// `backup-done`: one push record into `STATE/spool/incoming/` (see `probe::backups::push`).
fn backup_done(command: Command) -> Result<()> {
    use vigie_agent::probe::backups::{write_push_record, PushKind, PushRecord, PushStatus};
    let Command::BackupDone {
        job,
        status,
        kind,
        message,
        size,
        state_dir,
    } = command
    else {
        bail!("not a backup-done command");
    };
    let status = match status.as_str() {
        "ok" => PushStatus::Ok,
        "failed" => PushStatus::Failed,
        _ => PushStatus::Started,
    };
    let kind = match kind.as_str() {
        "integrity-check" => PushKind::IntegrityCheck,
        "restore-test" => PushKind::RestoreTest,
        _ => PushKind::Backup,
    };
    let record = PushRecord {
        v: 1,
        job,
        kind,
        status,
        message,
        size_bytes: size,
    };
    let path = write_push_record(&state_dir, record, now_ms())?;
    eprintln!("recorded in {}", path.display());
    Ok(())
}

async fn wait_for_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
