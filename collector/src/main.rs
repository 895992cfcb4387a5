//! `vigie-collector`: parses the command line and runs one subcommand. All the logic lives in the
//! library; this file maps errors to messages and exit codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod alerts_cli;
mod archive_cli;
mod attest_cli;
mod maintenance_cli;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use vigie_collector::admin::{self, Request};
use vigie_collector::clock::{Clock, SystemClock};
use vigie_collector::datadir::{self, InitOptions};
use vigie_collector::store::sled_store::SledStore;
use vigie_collector::store::Store;
use vigie_collector::{backup, evaluate, server};

#[derive(Parser, Debug)]
#[command(
    name = "vigie-collector",
    version,
    about = "Vigie collector: enrollment, ingest, findings"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a data directory: CA, server certificate, snapshot key, configuration.
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        /// Ingest address (mutual TLS).
        #[arg(long, default_value = "127.0.0.1:7443")]
        listen: String,
        /// Enrollment address (server-authenticated TLS).
        #[arg(long, default_value = "127.0.0.1:7444")]
        enroll_listen: String,
        /// HTTPS address for backup pings (ECDSA P-256 certificate `https.crt`).
        #[arg(long, default_value = "127.0.0.1:7445")]
        https_listen: String,
        /// DNS name or IP address for the server certificate (repeatable).
        #[arg(long = "san", required = true)]
        sans: Vec<String>,
    },
    /// Run the collector.
    Serve {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print the CA pin (`sha256:` of its SubjectPublicKeyInfo) and nothing else.
    CaFingerprint {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Enrollment tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Enrolled hosts.
    Host {
        #[command(subcommand)]
        command: HostCommand,
    },
    /// Findings per host and check.
    Findings {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        host: Option<String>,
    },
    /// Judge the JSON printed by `vigie-agent check --json`, offline (no server, no store).
    Evaluate {
        #[arg(long)]
        evidence: PathBuf,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long, default_value = "standard")]
        profile: String,
        /// Contractor window standing for the organisation's (ACC-004), e.g. "mon-fri 08:00-18:00";
        /// repeatable.
        #[arg(long = "contractor-window")]
        contractor_windows: Vec<String>,
        /// IANA time zone of the contractor windows.
        #[arg(long = "tz", default_value = "Europe/Paris")]
        contractor_tz: String,
        /// Network contractors may come from (CIDR); repeatable.
        #[arg(long = "source")]
        contractor_sources: Vec<String>,
        /// A measure attested for the organisation, standing for `attest set` (e.g. `vpn-mfa`,
        /// ACC-008's VPN half), valid for a day; repeatable.
        #[arg(long = "attest")]
        attest: Vec<String>,
        /// Who vouches for the `--attest` measures.
        #[arg(long = "attested-by", default_value = "évaluation hors ligne")]
        attested_by: String,
    },
    /// Write an encrypted backup of the whole collector (configuration, CA, keys, certificates,
    /// store) to a new file. Works while the server runs: it exports its store at one consistent
    /// point. The passphrase (12 characters or more) comes from --passphrase-file or the terminal;
    /// keep it apart from the backups, which cannot be restored without it.
    Backup {
        #[arg(long)]
        data_dir: PathBuf,
        /// The backup file to create (never overwritten).
        #[arg(long)]
        out: PathBuf,
        /// File holding the passphrase on its first line (mode 0600), or `-` for standard input.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Recreate a data directory from a backup, e.g. on another machine: same CA, keys and store,
    /// so enrolled agents reconnect unchanged. The directory must not exist or be empty.
    Restore {
        #[arg(long = "in")]
        input: PathBuf,
        #[arg(long)]
        data_dir: PathBuf,
        /// File holding the passphrase on its first line (mode 0600), or `-` for standard input.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
    /// Check this installation: configuration, permissions, keys, certificate expiry, store
    /// format, the running server and its listeners, disk space. Prints what is wrong and how to fix
    /// it, in French when LC_ALL, LC_MESSAGES or LANG starts with `fr`. Exit status 1 on a problem.
    Doctor {
        #[arg(long)]
        data_dir: PathBuf,
        /// The service's user: when run as root, permissions are judged for it (if it exists).
        #[arg(long, default_value = "vigie-collector")]
        service_user: String,
    },
    /// Recompute derived state (latest states, findings) from the stored reports.
    Rebuild {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// HTTPS ping jobs: backups of machines with no agent, judged by BKP-001 and BKP-002.
    Ping {
        #[command(subcommand)]
        command: PingCommand,
    },
    Waiver {
        #[command(subcommand)]
        command: archive_cli::WaiverCommand,
    },
    /// Organisation attestations of what no agent observes (VPN MFA for ACC-008).
    Attest {
        #[command(subcommand)]
        command: attest_cli::AttestCommand,
    },
    /// Maintenance windows of an organisation: file changes inside are tagged and graded low.
    Maintenance {
        #[command(subcommand)]
        command: maintenance_cli::MaintenanceCommand,
    },
    Snapshot {
        #[command(subcommand)]
        command: archive_cli::SnapshotCommand,
    },
    /// Alerts: list, acknowledge, test the sinks, see their health.
    Alerts {
        #[command(subcommand)]
        command: alerts_cli::AlertsCommand,
    },
    /// The hash-chained admin audit trail: list it, verify its chain.
    Audit {
        #[command(subcommand)]
        command: archive_cli::AuditCommand,
    },
}

#[derive(Subcommand, Debug)]
enum PingCommand {
    /// Create a ping job; prints only its URL (the secret is shown this once, stored hashed).
    Add {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
        /// Expected time between successes, e.g. `1d`, `12h`.
        #[arg(long, default_value = "1d")]
        period: humantime::Duration,
        /// Time after the period (or after a start) before the job is down, e.g. `2h`.
        #[arg(long, default_value = "2h")]
        grace: humantime::Duration,
        /// Declared site of the copy, e.g. `mairie`.
        #[arg(long)]
        site: Option<String>,
        /// Declared: the copy is kept offline.
        #[arg(long)]
        offline: bool,
    },
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
    },
    Remove {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum OrgCommand {
    Add {
        #[arg(long)]
        data_dir: PathBuf,
        /// Short id, e.g. `mairie-test`.
        id: String,
        #[arg(long)]
        name: String,
    },
    List {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Declare when and from where contractors may log in (ACC-004); replaces the previous policy.
    ContractorPolicy {
        #[arg(long)]
        data_dir: PathBuf,
        /// Organisation id.
        org: String,
        /// Allowed window, e.g. "mon-fri 08:00-18:00" (or "lun-ven 08:00-18:00"); repeatable.
        #[arg(long = "window")]
        windows: Vec<String>,
        /// IANA time zone of the windows.
        #[arg(long, default_value = "Europe/Paris")]
        tz: String,
        /// Allowed source network (CIDR); repeatable.
        #[arg(long = "source")]
        sources: Vec<String>,
    },
}

#[derive(Subcommand, Debug)]
enum TokenCommand {
    /// Create a one-time enrollment token; prints only the token.
    Create {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: String,
        /// Lifetime, e.g. `1h`, `30m`, `2days`.
        #[arg(long)]
        ttl: humantime::Duration,
    },
}

#[derive(Subcommand, Debug)]
enum HostCommand {
    List {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long)]
        org: Option<String>,
    },
    Show {
        #[arg(long)]
        data_dir: PathBuf,
        host: String,
    },
    Revoke {
        #[arg(long)]
        data_dir: PathBuf,
        host: String,
        #[arg(long)]
        reason: String,
    },
    History {
        #[arg(long)]
        data_dir: PathBuf,
        host: String,
    },
    /// Recent file-integrity events of a host, with the content diffs of allowlisted files
    /// (secrets masked by the agent; host text escaped).
    FimEvents {
        #[arg(long)]
        data_dir: PathBuf,
        host: String,
    },
    /// Puts a host in a group (waivers can target a group), or takes it out with --remove.
    Group {
        #[arg(long)]
        data_dir: PathBuf,
        host: String,
        group: String,
        #[arg(long)]
        remove: bool,
    },
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Table,
    Json,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: journald and log files keep greppable `peer=…` fields.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn run(cli: Cli) -> Result<()> {
    let clock = SystemClock;
    match cli.command {
        Command::Init {
            data_dir,
            listen,
            enroll_listen,
            https_listen,
            sans,
        } => {
            datadir::init(
                &data_dir,
                &InitOptions {
                    listen,
                    enroll_listen,
                    https_listen,
                    server_names: sans,
                },
                clock.now_ms(),
            )?;
            eprintln!("initialised {}", data_dir.display());
            Ok(())
        }
        Command::CaFingerprint { data_dir } => {
            let der = datadir::ca_cert_der(&data_dir)?;
            println!("{}", vigie_proto::pin::spki_fingerprint(&der)?);
            Ok(())
        }
        Command::Serve { data_dir } => serve(&data_dir).await,
        Command::Evaluate {
            evidence,
            format,
            profile,
            contractor_windows,
            contractor_tz,
            contractor_sources,
            attest,
            attested_by,
        } => {
            let policy = contractor_policy(contractor_windows, contractor_tz, contractor_sources)?;
            if let Some(bad) = attest
                .iter()
                .find(|m| !vigie_policies::ATTESTATION_MEASURES.contains(&m.as_str()))
            {
                bail!(
                    "--attest {bad:?}: expected one of {}",
                    vigie_policies::ATTESTATION_MEASURES.join(", ")
                );
            }
            let attestations: Vec<vigie_policies::Attestation> = attest
                .into_iter()
                .map(|measure| vigie_policies::Attestation {
                    measure,
                    by: attested_by.clone(),
                    note: String::new(),
                    expires_at_ms: clock.now_ms().saturating_add(86_400_000),
                })
                .collect();
            let text = std::fs::read_to_string(&evidence)
                .with_context(|| format!("reading {}", evidence.display()))?;
            let profile: vigie_policies::Profile = profile
                .parse()
                .map_err(|e| anyhow::anyhow!("--profile: {e}"))?;
            let out = evaluate::offline(
                &text,
                profile,
                policy,
                attestations,
                clock.now_ms(),
                format == Format::Json,
            )
            .with_context(|| format!("evaluating {}", evidence.display()))?;
            print!("{out}");
            Ok(())
        }
        Command::Org {
            command: OrgCommand::Add { data_dir, id, name },
        } => admin_call(&data_dir, Request::OrgAdd { id, name }).await,
        Command::Org {
            command: OrgCommand::List { data_dir },
        } => admin_call(&data_dir, Request::OrgList).await,
        Command::Org {
            command:
                OrgCommand::ContractorPolicy {
                    data_dir,
                    org,
                    windows,
                    tz,
                    sources,
                },
        } => {
            admin_call(
                &data_dir,
                Request::OrgContractorPolicy {
                    org,
                    windows,
                    time_zone: tz,
                    sources,
                },
            )
            .await
        }
        Command::Token {
            command: TokenCommand::Create { data_dir, org, ttl },
        } => {
            admin_call(
                &data_dir,
                Request::TokenCreate {
                    org,
                    ttl_secs: ttl.as_secs(),
                },
            )
            .await
        }
        Command::Host { command } => {
            let (data_dir, req) = match command {
                HostCommand::List { data_dir, org } => (data_dir, Request::HostList { org }),
                HostCommand::Show { data_dir, host } => (data_dir, Request::HostShow { host }),
                HostCommand::Revoke {
                    data_dir,
                    host,
                    reason,
                } => (data_dir, Request::HostRevoke { host, reason }),
                HostCommand::FimEvents { data_dir, host } => {
                    (data_dir, Request::HostFimEvents { host })
                }
                HostCommand::History { data_dir, host } => {
                    (data_dir, Request::HostHistory { host })
                }
                HostCommand::Group {
                    data_dir,
                    host,
                    group,
                    remove,
                } => (
                    data_dir,
                    Request::HostGroup {
                        host,
                        group,
                        remove,
                    },
                ),
            };
            admin_call(&data_dir, req).await
        }
        Command::Findings {
            data_dir,
            format,
            org,
            host,
        } => {
            admin_call(
                &data_dir,
                Request::Findings {
                    org,
                    host,
                    json: format == Format::Json,
                },
            )
            .await
        }
        Command::Rebuild { data_dir } => admin_call(&data_dir, Request::Rebuild).await,
        Command::Backup {
            data_dir,
            out,
            passphrase_file,
        } => {
            let pass = backup::read_passphrase(passphrase_file.as_deref(), true)?;
            let done = backup::backup(&data_dir, &out, &pass, clock.now_ms()).await?;
            eprintln!(
                "backup written to {}: {} files, store of {} records{}",
                out.display(),
                done.files,
                done.store.pairs,
                if done.online {
                    " (exported by the running server)"
                } else {
                    ""
                }
            );
            Ok(())
        }
        Command::Restore {
            input,
            data_dir,
            passphrase_file,
        } => {
            let pass = backup::read_passphrase(passphrase_file.as_deref(), false)?;
            let (manifest, done) = backup::restore(&input, &data_dir, &pass)?;
            eprintln!(
                "restored {} into {}: {} files, store of {} records, backed up at {} by vigie-collector {}",
                input.display(),
                data_dir.display(),
                done.files,
                done.store.pairs,
                admin::fmt_time(manifest.created_at_ms),
                manifest.collector_version
            );
            if vigie_proto::perms::effective_uid().ok() == Some(0) {
                eprintln!(
                    "restored as root: before starting the service, run `chown -R vigie-collector:vigie-collector {}`",
                    data_dir.display()
                );
            }
            Ok(())
        }
        Command::Doctor {
            data_dir,
            service_user,
        } => {
            use vigie_proto::diag::{self, Lang, Level};
            let items =
                vigie_collector::doctor::diagnose(&data_dir, &service_user, clock.now_ms()).await;
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
        Command::Waiver { command } => archive_cli::waiver(command).await,
        Command::Attest { command } => attest_cli::run(command).await,
        Command::Maintenance { command } => maintenance_cli::run(command).await,
        Command::Snapshot { command } => archive_cli::snapshot(command).await,
        Command::Alerts { command } => alerts_cli::run(command).await,
        Command::Audit { command } => archive_cli::audit(command).await,
        Command::Ping { command } => {
            let (data_dir, req) = match command {
                PingCommand::Add {
                    data_dir,
                    org,
                    name,
                    period,
                    grace,
                    site,
                    offline,
                } => {
                    let base_url = ping_base_url(&data_dir)?;
                    let req = Request::PingAdd {
                        org,
                        name,
                        period_secs: period.as_secs(),
                        grace_secs: grace.as_secs(),
                        site,
                        offline,
                        base_url,
                    };
                    (data_dir, req)
                }
                PingCommand::List { data_dir, org } => (data_dir, Request::PingList { org }),
                PingCommand::Remove {
                    data_dir,
                    org,
                    name,
                } => (data_dir, Request::PingRemove { org, name }),
            };
            admin_call(&data_dir, req).await
        }
    }
}

/// `https://<first server name>:<configured HTTPS port>`, the base of a ping job's URL. With port 0
/// in the configuration (tests), the real port is the one `serve` prints.
fn ping_base_url(data_dir: &Path) -> Result<String> {
    let settings = datadir::load_settings(data_dir)?;
    let Some(addr) = settings.https_listen else {
        bail!(
            "no `https_listen` in the configuration: the collector has no HTTPS listener for pings"
        );
    };
    let host = settings
        .server_names
        .first()
        .cloned()
        .unwrap_or_else(|| addr.ip().to_string());
    let host = match host.parse::<std::net::Ipv6Addr>() {
        Ok(_) => format!("[{host}]"),
        Err(_) => host,
    };
    Ok(format!("https://{host}:{}", addr.port()))
}

/// Sends the request to a running server, or runs it on the data directory when none runs, and
/// prints its output.
async fn admin_call(data_dir: &Path, req: Request) -> Result<()> {
    print!("{}", admin_output(data_dir, req).await?);
    Ok(())
}

/// Sends the request to a running server, or runs it on the data directory when none runs (after
/// refusing a store written by a newer collector); returns its output. Every admin subcommand goes
/// through here.
async fn admin_output(data_dir: &Path, req: Request) -> Result<String> {
    let socket = data_dir.join(datadir::ADMIN_SOCKET);
    let reply = match admin::call_socket(&socket, &req).await? {
        Some(reply) => reply,
        None => {
            backup::store_format::check_and_stamp(data_dir)?;
            let settings = datadir::load_settings(data_dir)?;
            let store = SledStore::open(
                &data_dir.join(datadir::STORE_DIR),
                settings.cache_capacity_bytes,
            )
            .with_context(|| {
                format!(
                    "opening the store in {} (is a server running without its admin socket?)",
                    data_dir.display()
                )
            })?;
            match admin::execute(
                &store,
                &SystemClock,
                settings.profile,
                &format!("uid:{}", uid()),
                req,
            )
            .await
            {
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

fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

async fn serve(data_dir: &Path) -> Result<()> {
    vigie_collector::perms::refuse_unsafe(&vigie_collector::perms::data_paths(data_dir))?;
    backup::store_format::check_and_stamp(data_dir)?;
    let loaded = datadir::load(data_dir)?;
    let settings = loaded.settings.clone();
    let store: Arc<dyn Store> = Arc::new(
        SledStore::open(
            &data_dir.join(datadir::STORE_DIR),
            settings.cache_capacity_bytes,
        )
        .with_context(|| format!("opening the store in {}", data_dir.display()))?,
    );
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // Sinks are built (and their secrets read) before any port opens: a bad sink stops the start.
    let alerts = vigie_collector::alerts::service::AlertService::start(
        store.clone(),
        clock.clone(),
        settings.alerts.clone(),
        std::time::Duration::from_secs(u64::from(settings.reevaluate_interval_secs)),
    )
    .with_context(|| {
        format!(
            "starting alerts from {}",
            data_dir
                .join(vigie_collector::config::CONFIG_FILE)
                .display()
        )
    })?;
    let running = server::start(loaded, store.clone(), clock.clone()).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let schedule_task = tokio::spawn(vigie_collector::snapshot::schedule::run(
        store.clone(),
        clock.clone(),
        data_dir.to_path_buf(),
        settings.snapshot_schedules.clone(),
        settings.profile,
        stop.clone(),
    ));
    let admin_task = admin::serve_socket(
        &data_dir.join(datadir::ADMIN_SOCKET),
        store,
        clock,
        settings.profile,
        stop.clone(),
        Some(running.ctx.clone()),
    )
    .await
    .context("opening the admin socket")?;
    tracing::info!(ingest = %running.bound.ingest, enroll = %running.bound.enroll, "Collector serving.");
    println!("ingest (mTLS): {}", running.bound.ingest);
    println!("enrollment:    {}", running.bound.enroll);
    if let Some(https) = running.bound.https {
        println!("https:         {https}");
    }
    if let Err(error) = vigie_collector::sdnotify::notify("READY=1") {
        tracing::warn!(%error, "Could not tell systemd that the collector is ready.");
    }
    wait_for_signal().await;
    tracing::info!("Shutting down.");
    let _ = vigie_collector::sdnotify::notify("STOPPING=1");
    stop.cancel();
    let _ = admin_task.await;
    let _ = schedule_task.await;
    alerts.shutdown().await;
    running.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// A contractor policy from the command line (none when neither a window nor a source is given),
/// checked before use so that a typo is an error, not a silently empty policy.
fn contractor_policy(
    windows: Vec<String>,
    time_zone: String,
    sources: Vec<String>,
) -> anyhow::Result<Option<vigie_policies::ContractorPolicy>> {
    if windows.is_empty() && sources.is_empty() {
        return Ok(None);
    }
    let policy = vigie_policies::ContractorPolicy {
        windows,
        time_zone,
        sources,
    };
    if let Err(errors) = policy.compile() {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::bail!("contractor policy: {}", text.join("; "));
    }
    Ok(Some(policy))
}
