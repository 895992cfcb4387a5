//! Admin commands (`org`, `token`, `host`, `findings`, `rebuild`, `ping`, `waiver`, `snapshot`, `attest`): one request type executed against the
//! store, either inside a running server through a local socket that authenticates its caller by
//! SO_PEERCRED, or directly on the data directory when no server holds it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::server::enroll::{token_hash, TOKEN_PREFIX};
use crate::store::{
    AuditEntry, FindingRecord, KeyEvent, Org, PingJob, Store, StoreError, TokenRecord,
};

const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// One admin request; the command line builds it, the socket carries it as one JSON line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Alerts of one organisation or all, optionally in one state (`open`, `acked`, `resolved`).
    AlertsList {
        org: Option<String>,
        state: Option<String>,
        json: bool,
    },
    /// Acknowledges an alert (`a-…`) or every open alert of a group (`g-…`); `data_dir` holds the
    /// configuration whose sinks are told.
    AlertsAck {
        id: String,
        comment: String,
        data_dir: String,
    },
    /// Sends a test message through each sink of an organisation, directly, and reports each result.
    AlertsTest {
        org: String,
        data_dir: String,
    },
    /// Delivery counters and pending notifications per sink.
    AlertsSinks,
    OrgAdd {
        id: String,
        name: String,
    },
    OrgList,
    /// Replaces an organisation's contractor policy (ACC-004): windows, their zone, sources.
    OrgContractorPolicy {
        org: String,
        windows: Vec<String>,
        time_zone: String,
        sources: Vec<String>,
    },
    /// Records that a measure holds for the whole organisation (`attestation`); `until_ms` is
    /// parsed by the client.
    AttestSet {
        org: String,
        measure: String,
        by: String,
        note: String,
        until_ms: i64,
    },
    AttestList {
        org: String,
    },
    AttestRevoke {
        org: String,
        measure: String,
        reason: String,
    },
    /// Declares a maintenance window (`maintenance`); the times are parsed by the client.
    MaintenanceAdd {
        org: String,
        group: Option<String>,
        from_ms: i64,
        until_ms: i64,
        reason: String,
        owner: String,
    },
    MaintenanceList {
        org: String,
    },
    /// Ends a window now (a planned one never starts).
    MaintenanceRevoke {
        id: String,
        reason: String,
    },
    TokenCreate {
        org: String,
        ttl_secs: u64,
    },
    HostList {
        org: Option<String>,
    },
    HostShow {
        host: String,
    },
    HostRevoke {
        host: String,
        reason: String,
    },
    HostHistory {
        host: String,
    },
    /// A host's recent file-integrity events, with their content diffs (escaped host text).
    HostFimEvents {
        host: String,
    },
    Findings {
        org: Option<String>,
        host: Option<String>,
        json: bool,
    },
    Rebuild,
    /// `backup`: the server exports its store, at one consistent point, to the new file `path`
    /// (a temporary `backup-export-*` file the client reads, encrypts and removes).
    StoreExport {
        path: String,
    },
    /// A new HTTPS ping job; the reply is only its URL, `base_url` + `/ping/<secret>`.
    PingAdd {
        org: String,
        name: String,
        period_secs: u64,
        grace_secs: u64,
        site: Option<String>,
        offline: bool,
        base_url: String,
    },
    PingList {
        org: String,
    },
    PingRemove {
        org: String,
        name: String,
    },
    /// Waivers and snapshots: executed by `archive_admin`. `until_ms` is parsed by the client.
    WaiverAdd {
        org: String,
        check: String,
        host: Option<String>,
        reason: String,
        owner: String,
        until_ms: i64,
        /// Every host of this group (`host group`); exclusive with `host`.
        #[serde(default)]
        group: Option<String>,
    },
    WaiverList {
        org: String,
    },
    WaiverRevoke {
        id: String,
        reason: String,
    },
    /// `data_dir` names the directory holding the snapshot key (the socket's own, or the one opened).
    SnapshotCreate {
        org: String,
        profile: Option<String>,
        data_dir: String,
    },
    SnapshotList {
        org: String,
    },
    /// The reply is the JSON of `archive_admin::Exported`.
    SnapshotExport {
        id: String,
    },
    SnapshotDiff {
        a: String,
        b: String,
    },
    /// Adds a host to a group (or removes it with `remove`); executed by `archive_admin`.
    HostGroup {
        host: String,
        group: String,
        remove: bool,
    },
    /// The audit trail, optionally of one organisation; executed by `archive_admin`.
    AuditList {
        org: Option<String>,
        json: bool,
    },
    /// Re-walks the whole hash chain of the audit trail; an error names the first bad record.
    AuditVerify,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    pub output: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// Runs a request. `actor` goes into the audit trail (`uid:N`).
pub async fn execute(
    store: &dyn Store,
    clock: &dyn Clock,
    profile: vigie_policies::Profile,
    actor: &str,
    req: Request,
) -> Result<String, AdminError> {
    let now = clock.now_ms();
    let audit = |action: &str, org: Option<&str>, detail: String| AuditEntry {
        at_ms: now,
        actor: actor.to_owned(),
        action: action.to_owned(),
        org: org.map(Into::into),
        detail,
    };
    match req {
        Request::OrgAdd { id, name } => {
            if id.is_empty()
                || id.len() > 64
                || !id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                return Err(AdminError::Invalid(format!(
                    "organisation id {id:?}: use 1 to 64 lower-case letters, digits or dashes"
                )));
            }
            store
                .add_org(Org {
                    id: id.clone(),
                    name: name.clone(),
                    created_at_ms: now,
                })
                .await?;
            store
                .append_audit(audit("org.add", Some(&id), name))
                .await?;
            Ok(format!("organisation {id} added\n"))
        }
        Request::OrgContractorPolicy {
            org,
            windows,
            time_zone,
            sources,
        } => {
            let policy = vigie_policies::ContractorPolicy {
                windows,
                time_zone,
                sources,
            };
            if let Err(errors) = policy.compile() {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return Err(AdminError::Invalid(format!(
                    "contractor policy: {}",
                    text.join("; ")
                )));
            }
            let summary = format!(
                "windows [{}] {}; sources [{}]",
                policy.windows.join(", "),
                policy.time_zone,
                policy.sources.join(", ")
            );
            store
                .set_contractor_policy(crate::store::ContractorPolicyRecord {
                    org: org.clone(),
                    windows: policy.windows,
                    time_zone: policy.time_zone,
                    sources: policy.sources,
                    set_at_ms: now,
                })
                .await?;
            store
                .append_audit(audit("org.contractor_policy", Some(&org), summary.clone()))
                .await?;
            // ACC-003 and ACC-004 depend on the policy: the organisation's hosts are judged again
            // now, not at their next report (inside a server, the derivation worker is also asked
            // to, after whatever it was judging with the old policy: `serve_socket`).
            let hosts = crate::derive::reevaluate_org(store, profile, &org, now).await?;
            Ok(format!(
                "contractor policy of {org}: {summary}; findings of {hosts} host(s) judged again\n"
            ))
        }
        Request::OrgList => Ok(store
            .orgs()
            .await?
            .into_iter()
            .map(|o| format!("{}\t{}\n", o.id, o.name))
            .collect()),
        Request::TokenCreate { org, ttl_secs } => {
            if ttl_secs == 0 || ttl_secs > 30 * 86_400 {
                return Err(AdminError::Invalid(
                    "token lifetime must be between 1 s and 30 days".into(),
                ));
            }
            let mut secret = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut secret);
            let token = format!("{TOKEN_PREFIX}{}", hex::encode(secret));
            let ttl_ms = i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            store
                .add_token(TokenRecord {
                    hash: token_hash(&token),
                    org: org.clone(),
                    created_at_ms: now,
                    expires_at_ms: now.saturating_add(ttl_ms),
                    redeemed_by: None,
                })
                .await?;
            let hash_prefix = hex::encode(token_hash(&token))
                .chars()
                .take(12)
                .collect::<String>();
            store
                .append_audit(audit(
                    "token.create",
                    Some(&org),
                    format!("sha256 {hash_prefix}…, ttl {ttl_secs} s"),
                ))
                .await?;
            Ok(format!("{token}\n"))
        }
        Request::HostList { org } => {
            let mut out = String::from("HOST\tORG\tHOSTNAME\tLAST SEEN\tCLOCK SKEW\tSTATE\n");
            for h in store.hosts(org.as_deref()).await? {
                out.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{:+.1} s\t{}\n",
                    h.id,
                    h.org,
                    h.hostname,
                    fmt_time(h.last_seen_ms),
                    h.clock_skew_ms as f64 / 1000.0,
                    if h.revoked.is_some() {
                        "revoked"
                    } else {
                        "active"
                    }
                ));
            }
            Ok(out)
        }
        Request::HostShow { host } => {
            let h = store
                .host(&host)
                .await?
                .ok_or(StoreError::NoSuchHost(host))?;
            serde_json::to_string_pretty(&h)
                .map(|s| s + "\n")
                .map_err(|e| AdminError::Invalid(e.to_string()))
        }
        Request::HostRevoke { host, reason } => {
            let h = store
                .host(&host)
                .await?
                .ok_or_else(|| StoreError::NoSuchHost(host.clone()))?;
            store
                .record_key_event(
                    &host,
                    KeyEvent::Revoked {
                        at_ms: now,
                        reason: reason.clone(),
                    },
                )
                .await?;
            store
                .append_audit(audit(
                    "host.revoke",
                    Some(&h.org),
                    format!("{host}: {reason}"),
                ))
                .await?;
            tracing::warn!(target: "security", host = %host, actor, "Host revoked.");
            Ok(format!("host {host} revoked\n"))
        }
        Request::HostFimEvents { host } => {
            store
                .host(&host)
                .await?
                .ok_or_else(|| StoreError::NoSuchHost(host.clone()))?;
            Ok(crate::fim::events_text(store, &host).await?)
        }
        Request::HostHistory { host } => {
            let events = store.key_history(&host).await?;
            serde_json::to_string_pretty(&events)
                .map(|s| s + "\n")
                .map_err(|e| AdminError::Invalid(e.to_string()))
        }
        Request::Findings { org, host, json } => {
            let findings = store.findings(org.as_deref(), host.as_deref()).await?;
            Ok(render_findings(&findings, json))
        }
        Request::Rebuild => {
            let catalogue = vigie_policies::Catalogue::builtin()
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            let n = crate::derive::rebuild(store, &catalogue, profile, now).await?;
            Ok(format!("derived state rebuilt from {n} stored reports\n"))
        }
        Request::PingAdd {
            org,
            name,
            period_secs,
            grace_secs,
            site,
            offline,
            base_url,
        } => {
            if !crate::ping::valid_name(&name) {
                return Err(AdminError::Invalid(format!(
                    "ping job name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
                )));
            }
            if !(1..=366 * 86_400).contains(&period_secs) || grace_secs > 30 * 86_400 {
                return Err(AdminError::Invalid(
                    "period must be between 1 s and 366 days, grace at most 30 days".into(),
                ));
            }
            let site = site.unwrap_or_default();
            if site.chars().count() > 64 || site.chars().any(char::is_control) {
                return Err(AdminError::Invalid(
                    "site: at most 64 characters, no control characters".into(),
                ));
            }
            let secret = crate::ping::new_secret();
            let hash = crate::ping::secret_hash(&secret);
            store
                .add_ping_job(PingJob {
                    org: org.clone(),
                    name: name.clone(),
                    secret_hash: hash,
                    period_secs,
                    grace_secs,
                    site: site.trim().to_owned(),
                    offline,
                    created_at_ms: now,
                    last_start_ms: 0,
                    last_success_ms: 0,
                    last_failure_ms: 0,
                    last_failure_message: String::new(),
                })
                .await?;
            let hash_prefix: String = hex::encode(hash).chars().take(12).collect();
            store
                .append_audit(audit(
                    "ping.add",
                    Some(&org),
                    format!(
                        "{name}: period {period_secs} s, grace {grace_secs} s, sha256 {hash_prefix}…"
                    ),
                ))
                .await?;
            Ok(format!(
                "{}/ping/{secret}\n",
                base_url.trim_end_matches('/')
            ))
        }
        Request::PingList { org } => {
            let rows: Vec<[String; 8]> = store
                .ping_jobs(Some(&org))
                .await?
                .into_iter()
                .map(|j| {
                    [
                        j.name,
                        format!("{} s", j.period_secs),
                        format!("{} s", j.grace_secs),
                        format!("{}{}", j.site, if j.offline { " (offline)" } else { "" }),
                        fmt_time(j.last_start_ms),
                        fmt_time(j.last_success_ms),
                        fmt_time(j.last_failure_ms),
                        j.last_failure_message,
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "NAME",
                    "PERIOD",
                    "GRACE",
                    "SITE",
                    "LAST START",
                    "LAST SUCCESS",
                    "LAST FAILURE",
                    "MESSAGE",
                ],
                &rows,
            ))
        }
        Request::PingRemove { org, name } => {
            store.remove_ping_job(&org, &name).await?;
            store
                .append_audit(audit("ping.remove", Some(&org), name.clone()))
                .await?;
            Ok(format!("ping job {name} removed\n"))
        }
        Request::StoreExport { path } => {
            let stats = crate::backup::export_for_admin(store, &path)
                .await
                .map_err(|e| AdminError::Invalid(e.to_string()))?;
            store
                .append_audit(audit("store.export", None, stats.clone()))
                .await?;
            Ok(stats)
        }
        req @ (Request::AttestSet { .. }
        | Request::AttestList { .. }
        | Request::AttestRevoke { .. }) => {
            crate::attestation::execute(store, profile, actor, now, req).await
        }
        req @ (Request::MaintenanceAdd { .. }
        | Request::MaintenanceList { .. }
        | Request::MaintenanceRevoke { .. }) => {
            crate::maintenance::execute(store, profile, actor, now, req).await
        }
        req @ (Request::AlertsList { .. }
        | Request::AlertsAck { .. }
        | Request::AlertsTest { .. }
        | Request::AlertsSinks) => crate::alerts::admin::execute(store, actor, now, req).await,
        req @ (Request::WaiverAdd { .. }
        | Request::WaiverList { .. }
        | Request::WaiverRevoke { .. }
        | Request::SnapshotCreate { .. }
        | Request::SnapshotList { .. }
        | Request::SnapshotExport { .. }
        | Request::SnapshotDiff { .. }
        | Request::HostGroup { .. }
        | Request::AuditList { .. }
        | Request::AuditVerify) => {
            crate::archive_admin::execute(store, profile, actor, now, req).await
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC), or `never`.
pub fn fmt_time(ms: i64) -> String {
    if ms <= 0 {
        return "never".into();
    }
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.unsigned_abs());
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Findings as JSON (an array) or as an aligned table.
pub fn render_findings(findings: &[FindingRecord], json: bool) -> String {
    if json {
        return serde_json::to_string_pretty(findings)
            .map(|s| s + "\n")
            .unwrap_or_default();
    }
    // Only the last cell is built; the others borrow from the records (410,000 rows for 10,000
    // hosts: one allocation per row instead of six).
    let rows: Vec<[std::borrow::Cow<'_, str>; 6]> = findings
        .iter()
        .map(|f| {
            [
                f.org.as_ref().into(),
                if f.hostname.is_empty() {
                    f.host_id.as_ref().into()
                } else {
                    f.hostname.as_ref().into()
                },
                f.check_id.as_ref().into(),
                f.outcome.as_ref().into(),
                f.severity.as_ref().into(),
                format!("{} — {}", f.title_fr, f.detail).into(),
            ]
        })
        .collect();
    table(
        &["ORG", "HOST", "CHECK", "OUTCOME", "SEVERITY", "FINDING"],
        &rows,
    )
}

/// A plain aligned text table: each column but the last padded to its widest cell (in characters)
/// and two spaces, trailing white space trimmed from each line.
pub fn table<const N: usize, S: AsRef<str>>(head: &[&str; N], rows: &[[S; N]]) -> String {
    let mut widths = head.map(|h| h.chars().count());
    let mut total = 0;
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            let cell = cell.as_ref();
            *w = (*w).max(cell.chars().count());
            total += cell.len() + 2;
        }
    }
    let mut out = String::with_capacity(total + widths.iter().sum::<usize>() * (rows.len() + 1));
    push_line(&mut out, head.iter().copied(), &widths);
    for row in rows {
        push_line(&mut out, row.iter().map(AsRef::as_ref), &widths);
    }
    out
}

/// Appends one table line to `out`.
fn push_line<'a, const N: usize>(
    out: &mut String,
    cells: impl Iterator<Item = &'a str>,
    widths: &[usize; N],
) {
    let start = out.len();
    for (i, (cell, w)) in cells.zip(widths).enumerate() {
        out.push_str(cell);
        if i + 1 < N {
            let pad = w.saturating_sub(cell.chars().count()) + 2;
            out.extend(std::iter::repeat_n(' ', pad));
        }
    }
    let kept = out.get(start..).map_or(0, |line| line.trim_end().len());
    out.truncate(start + kept);
    out.push('\n');
}

fn own_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// Serves admin requests on `path` until `stop`; only root and the server's own user may call.
/// `derive` is the running server's context: requests that change what findings depend on (an
/// organisation's contractor policy) queue their hosts in its derivation worker.
pub async fn serve_socket(
    path: &Path,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    profile: vigie_policies::Profile,
    stop: CancellationToken,
    derive: Option<Arc<crate::server::Ctx>>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let me = own_uid();
    let path = path.to_path_buf();
    Ok(tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                _ = stop.cancelled() => break,
                s = listener.accept() => match s { Ok((s, _)) => s, Err(_) => continue },
            };
            let uid = stream.peer_cred().map(|c| c.uid()).ok();
            if uid != Some(0) && uid != Some(me) {
                tracing::warn!(target: "security", uid = ?uid, "Admin socket caller refused.");
                continue;
            }
            let (store, clock, derive) = (store.clone(), clock.clone(), derive.clone());
            tokio::spawn(async move {
                let _ = handle(
                    stream,
                    store.as_ref(),
                    clock.as_ref(),
                    profile,
                    uid.unwrap_or(u32::MAX),
                    derive.as_deref(),
                )
                .await;
            });
        }
        let _ = std::fs::remove_file(&path);
    }))
}

async fn handle(
    stream: UnixStream,
    store: &dyn Store,
    clock: &dyn Clock,
    profile: vigie_policies::Profile,
    uid: u32,
    derive: Option<&crate::server::Ctx>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST_BYTES as u64);
    reader.read_line(&mut line).await?;
    let reply = match serde_json::from_str::<Request>(&line) {
        Ok(req) => match execute(store, clock, profile, &format!("uid:{uid}"), req.clone()).await {
            Ok(output) => {
                // Requests that change how the organisation's hosts are judged.
                if let (
                    Request::OrgContractorPolicy { org, .. }
                    | Request::AttestSet { org, .. }
                    | Request::AttestRevoke { org, .. },
                    Some(ctx),
                ) = (&req, derive)
                {
                    if let Err(error) = crate::derive::queue_org(ctx, org).await {
                        tracing::error!(%error, org = %org, "Could not queue the organisation's hosts for judgement.");
                    }
                }
                Reply { ok: true, output }
            }
            Err(e) => Reply {
                ok: false,
                output: e.to_string(),
            },
        },
        Err(e) => Reply {
            ok: false,
            output: format!("malformed admin request: {e}"),
        },
    };
    let mut text = serde_json::to_string(&reply).unwrap_or_default();
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    write.shutdown().await
}

/// Sends a request to a running server; `Ok(None)` when no server listens on the socket.
pub async fn call_socket(path: &Path, req: &Request) -> std::io::Result<Option<Reply>> {
    let stream = match UnixStream::connect(path).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let (read, mut write) = stream.into_split();
    let mut text = serde_json::to_string(req).map_err(std::io::Error::other)?;
    text.push('\n');
    write.write_all(text.as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(read)
        .take(64 * 1024 * 1024)
        .read_line(&mut line)
        .await?;
    serde_json::from_str(&line)
        .map(Some)
        .map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::table;

    #[test]
    fn a_table_pads_by_characters_and_trims_each_line() {
        let rows = [
            ["mairie".to_owned(), "écoles".to_owned(), "a  ".to_owned()],
            ["x".to_owned(), "".to_owned(), "".to_owned()],
        ];
        assert_eq!(
            table(&["ORG", "HÔTE", "DETAIL"], &rows),
            "ORG     HÔTE    DETAIL\nmairie  écoles  a\nx\n"
        );
    }
}
