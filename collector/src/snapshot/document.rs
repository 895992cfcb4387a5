//! The snapshot document of DESIGN decision 21, built as a JSON value from what the store holds and
//! then canonicalised (`jcs`). Pure: the caller gathers the inputs and supplies the time.
//!
//! Shape (`format` = `vigie-snapshot-v1`; every id, hash, time and integer is a string):
//! `organisation`, `sequence`, `created_at`, `profile`, `catalogue_version`, `previous_sha256`
//! (64 zeros for the first), `audit_head`, `signing_key_id`, `checks` (the catalogue's checks
//! the findings name: title, severity, references, remediation, so the document is read alone),
//! `hosts` (each with `enrollment`, `key_history`, `groups`, `reports` and `findings`),
//! `waivers` (those in force), `maintenance` (the maintenance windows some finding names, absent
//! when none does), `ping_jobs` (absent when the organisation has none) and `measures`.
//!
//! A host's `reports` are the stored reports its findings rest on, each once: epoch, seq, the
//! collector's receive time, and the agent's signed header and signature in base64. A finding's
//! `evidence` names them by epoch and seq. One report usually backs many findings, so embedding it
//! once per host keeps a 10,000-host document and its verification proportionate.
//!
//! A ping job (a backup of a machine with no agent, `crate::ping`) is a pseudo-host `ping:<name>`
//! with its declaration, its findings at snapshot time and the evidence they rest on: the receive
//! times of the newest pings of each kind. No agent signed them, and the document says so in each
//! job's `provenance` ([`PING_PROVENANCE`]); a finding's `evidence` names the ping by kind and
//! receive time. Only the snapshot's own signature covers them.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::Serialize;
use vigie_policies::Catalogue;

use crate::store::{FindingRecord, HostRecord, KeyEvent, Org, PingJob, WaiverRecord};

pub const FORMAT: &str = "vigie-snapshot-v1";
/// `previous_sha256` of an organisation's first snapshot.
pub const NO_PREVIOUS: &str = crate::store::audit::GENESIS;
/// The `provenance` of every ping job's evidence: what an auditor must know about it.
pub const PING_PROVENANCE: &str =
    "unsigned, received by the collector over HTTPS: no agent signature exists";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DocumentError {
    #[error("encoding the document: {0}")]
    Encode(String),
    #[error(
        "finding {check} of host {host} rests on report ({epoch}, {seq}), which is not stored"
    )]
    MissingReport {
        host: String,
        check: String,
        epoch: u64,
        seq: u64,
    },
    #[error("finding {check} of ping job {job} rests on a ping received at {at_ms} ms, which the job does not record")]
    MissingPing {
        job: String,
        check: String,
        at_ms: u64,
    },
}

/// One stored report as a snapshot embeds it: what the agent signed, and when the collector
/// received it (the time its key must have been valid at, see `verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedReport {
    pub header: Vec<u8>,
    pub signature: Vec<u8>,
    pub received_at_ms: i64,
}

/// One host and what the snapshot says about it.
#[derive(Debug, Clone)]
pub struct HostInput {
    pub host: HostRecord,
    pub key_history: Vec<KeyEvent>,
    /// Groups the admin assigned the host to (`host group`), sorted.
    pub groups: Vec<String>,
    pub findings: Vec<FindingRecord>,
    /// (epoch, seq) → the stored report the findings rest on.
    pub reports: BTreeMap<(u64, u64), EmbeddedReport>,
}

/// One ping job and what the snapshot says about it.
#[derive(Debug, Clone)]
pub struct PingJobInput {
    pub job: PingJob,
    /// Its findings at the snapshot's time (BKP-001 and BKP-002), under the pseudo-host.
    pub findings: Vec<FindingRecord>,
}

/// Everything a snapshot is made of.
#[derive(Debug)]
pub struct Inputs<'a> {
    pub org: &'a Org,
    pub seq: u64,
    pub created_at_ms: i64,
    pub profile: &'a str,
    pub catalogue: &'a Catalogue,
    pub previous_sha256: &'a str,
    /// Index and hash of the newest audit record, `None` when the trail is empty.
    pub audit_head: Option<(u64, String)>,
    pub key_id: &'a str,
    pub hosts: &'a [HostInput],
    pub waivers: &'a [WaiverRecord],
    /// The organisation's maintenance windows; the document keeps those a finding names.
    pub maintenance: &'a [crate::maintenance::MaintenanceRecord],
    /// The organisation's ping jobs, by name.
    pub ping_jobs: &'a [PingJobInput],
}

/// RFC 3339 UTC with milliseconds; times before 1970 are clamped to the epoch.
pub fn time_text(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0).unsigned_abs());
    humantime::format_rfc3339_millis(t).to_string()
}

// The document's types. serde writes struct fields in declaration order and escapes strings as
// RFC 8785 does, so with every field declared in sorted order (all names are ASCII, where UTF-16
// order is byte order) and no number but small integers, `serde_json::to_vec` of a `Document` *is*
// its canonical form: no intermediate `Value` tree of a 100 MB document, and no second pass. A test
// checks the bytes against `jcs::canonical`, and `verify` re-checks every document it reads.

#[derive(Serialize)]
struct Document<'a> {
    audit_head: Option<AuditHead<'a>>,
    catalogue_version: &'a str,
    checks: Vec<CheckDoc<'a>>,
    created_at: String,
    format: &'static str,
    hosts: Vec<HostDoc<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    maintenance: Vec<MaintenanceDoc<'a>>,
    measures: Vec<super::rollup::Measure>,
    organisation: OrgDoc<'a>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    ping_jobs: Vec<PingJobDoc<'a>>,
    previous_sha256: &'a str,
    profile: &'a str,
    sequence: String,
    signing_key_id: &'a str,
    waivers: Vec<WaiverDoc<'a>>,
}

#[derive(Serialize)]
struct MaintenanceDoc<'a> {
    created_at: String,
    created_by: &'a str,
    from: String,
    group: Option<&'a str>,
    id: &'a str,
    owner: &'a str,
    reason: &'a str,
    revoked: Option<MaintenanceRevokedDoc<'a>>,
    until: String,
}

#[derive(Serialize)]
struct MaintenanceRevokedDoc<'a> {
    at: String,
    by: &'a str,
    reason: &'a str,
}

#[derive(Serialize)]
struct AuditHead<'a> {
    hash: &'a str,
    index: String,
}

#[derive(Serialize)]
struct OrgDoc<'a> {
    id: &'a str,
    name: &'a str,
}

#[derive(Serialize)]
struct CheckDoc<'a> {
    id: &'a str,
    references: &'a [String],
    remediation_en: &'a str,
    remediation_fr: &'a str,
    severity: String,
    title_en: &'a str,
    title_fr: &'a str,
}

#[derive(Serialize)]
struct HostDoc<'a> {
    current_key: String,
    enrollment: EnrollmentDoc<'a>,
    findings: Vec<FindingDoc<'a, EvidenceDoc>>,
    groups: &'a [String],
    hostname: &'a str,
    id: &'a str,
    key_history: Vec<KeyEventDoc<'a>>,
    last_seen: Option<String>,
    reports: Vec<ReportDoc>,
    revoked: Option<RevokedDoc<'a>>,
}

#[derive(Serialize)]
struct EnrollmentDoc<'a> {
    agent_version: &'a str,
    enrolled_at: String,
    enrolled_from: &'a str,
    hostname: &'a str,
}

/// A finding; `E` is what its evidence names: a signed report of the host, or a ping.
#[derive(Serialize)]
struct FindingDoc<'a, E> {
    check_id: &'a str,
    detail: &'a str,
    evaluated_at: String,
    evidence: Vec<E>,
    outcome: &'a str,
    severity: &'a str,
}

impl<'a, E> FindingDoc<'a, E> {
    /// The finding `f` as the document shows it, resting on `evidence`.
    fn new(f: &'a FindingRecord, evidence: Vec<E>) -> Self {
        FindingDoc {
            check_id: &f.check_id,
            detail: &f.detail,
            evaluated_at: time_text(f.evaluated_at_ms),
            evidence,
            outcome: &f.outcome,
            severity: &f.severity,
        }
    }
}

#[derive(Serialize)]
struct PingJobDoc<'a> {
    created_at: String,
    findings: Vec<FindingDoc<'a, PingEvidenceDoc>>,
    grace_secs: String,
    id: String,
    name: &'a str,
    offline: bool,
    period_secs: String,
    pings: Vec<PingDoc<'a>>,
    provenance: &'static str,
    site: &'a str,
}

/// The newest ping of one kind the collector received for a job.
#[derive(Serialize)]
struct PingDoc<'a> {
    kind: &'static str,
    /// What the newest `/fail` said; only on the failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    received_at: String,
}

/// The ping a finding of a ping job rests on.
#[derive(Serialize)]
struct PingEvidenceDoc {
    kind: &'static str,
    received_at: String,
}

#[derive(Serialize)]
struct EvidenceDoc {
    epoch: String,
    seq: String,
}

#[derive(Serialize)]
struct ReportDoc {
    epoch: String,
    header: String,
    received_at: String,
    seq: String,
    signature: String,
}

#[derive(Serialize)]
#[serde(untagged)]
enum KeyEventDoc<'a> {
    Key {
        at: String,
        cert_serial: &'a str,
        event: &'static str,
        not_after: String,
        public_key: String,
    },
    Revoked {
        at: String,
        event: &'static str,
        reason: &'a str,
    },
}

#[derive(Serialize)]
struct RevokedDoc<'a> {
    at: String,
    reason: &'a str,
}

#[derive(Serialize)]
struct WaiverDoc<'a> {
    check_id: &'a str,
    created_at: String,
    created_by: &'a str,
    expires_at: String,
    group: Option<&'a str>,
    host_id: Option<&'a str>,
    id: &'a str,
    owner: &'a str,
    reason: &'a str,
}

/// The document's RFC 8785 canonical bytes.
pub fn canonical(inputs: &Inputs<'_>) -> Result<Vec<u8>, DocumentError> {
    let hosts = inputs
        .hosts
        .iter()
        .map(host_doc)
        .collect::<Result<Vec<_>, _>>()?;
    let ping_jobs = inputs
        .ping_jobs
        .iter()
        .map(ping_job_doc)
        .collect::<Result<Vec<_>, _>>()?;
    let all_findings = || {
        inputs
            .hosts
            .iter()
            .flat_map(|h| &h.findings)
            .chain(inputs.ping_jobs.iter().flat_map(|j| &j.findings))
    };
    let named: std::collections::BTreeSet<&str> = all_findings().map(|f| &*f.check_id).collect();
    let checks = inputs
        .catalogue
        .checks()
        .iter()
        .filter(|c| named.contains(c.id()))
        .map(|c| CheckDoc {
            id: c.id(),
            references: c.references(),
            remediation_en: c.remediation_en().trim(),
            remediation_fr: c.remediation_fr().trim(),
            severity: c.severity().to_string(),
            title_en: c.title_en(),
            title_fr: c.title_fr(),
        })
        .collect();
    let doc = Document {
        audit_head: inputs.audit_head.as_ref().map(|(index, hash)| AuditHead {
            hash,
            index: index.to_string(),
        }),
        catalogue_version: inputs.catalogue.version(),
        checks,
        created_at: time_text(inputs.created_at_ms),
        format: FORMAT,
        hosts,
        maintenance: inputs
            .maintenance
            .iter()
            .filter(|w| {
                inputs
                    .hosts
                    .iter()
                    .flat_map(|h| &h.findings)
                    .any(|f| f.detail.contains(w.id.as_str()))
            })
            .map(maintenance_doc)
            .collect(),
        measures: super::rollup::rollup(inputs.catalogue, all_findings()),
        organisation: OrgDoc {
            id: &inputs.org.id,
            name: &inputs.org.name,
        },
        ping_jobs,
        previous_sha256: inputs.previous_sha256,
        profile: inputs.profile,
        sequence: inputs.seq.to_string(),
        signing_key_id: inputs.key_id,
        waivers: inputs.waivers.iter().map(waiver_doc).collect(),
    };
    serde_json::to_vec(&doc).map_err(|e| DocumentError::Encode(e.to_string()))
}

fn host_doc(input: &HostInput) -> Result<HostDoc<'_>, DocumentError> {
    let h = &input.host;
    let findings = input
        .findings
        .iter()
        .map(|f| finding_doc(input, f))
        .collect::<Result<Vec<_>, _>>()?;
    let reports = input
        .reports
        .iter()
        .map(|((epoch, seq), r)| ReportDoc {
            epoch: epoch.to_string(),
            header: B64.encode(&r.header),
            received_at: time_text(r.received_at_ms),
            seq: seq.to_string(),
            signature: B64.encode(&r.signature),
        })
        .collect();
    Ok(HostDoc {
        current_key: hex::encode(h.current_key),
        enrollment: EnrollmentDoc {
            agent_version: &h.agent_version,
            enrolled_at: time_text(h.enrolled_at_ms),
            enrolled_from: &h.enrolled_from,
            hostname: &h.hostname,
        },
        findings,
        groups: &input.groups,
        hostname: &h.hostname,
        id: &h.id,
        key_history: input.key_history.iter().map(key_event_doc).collect(),
        last_seen: (h.last_seen_ms > 0).then(|| time_text(h.last_seen_ms)),
        reports,
        revoked: h.revoked.as_ref().map(|r| RevokedDoc {
            at: time_text(r.at_ms),
            reason: &r.reason,
        }),
    })
}

fn key_event_doc(event: &KeyEvent) -> KeyEventDoc<'_> {
    match event {
        KeyEvent::Enrolled {
            at_ms,
            public_key,
            cert_serial,
            not_after_ms,
        }
        | KeyEvent::Renewed {
            at_ms,
            public_key,
            cert_serial,
            not_after_ms,
        } => KeyEventDoc::Key {
            at: time_text(*at_ms),
            cert_serial,
            event: if matches!(event, KeyEvent::Enrolled { .. }) {
                "enrolled"
            } else {
                "renewed"
            },
            not_after: time_text(*not_after_ms),
            public_key: hex::encode(public_key),
        },
        KeyEvent::Revoked { at_ms, reason } => KeyEventDoc::Revoked {
            at: time_text(*at_ms),
            event: "revoked",
            reason,
        },
    }
}

fn finding_doc<'a>(
    host: &HostInput,
    f: &'a FindingRecord,
) -> Result<FindingDoc<'a, EvidenceDoc>, DocumentError> {
    let evidence = f
        .evidence
        .iter()
        .map(|&(epoch, seq)| {
            if !host.reports.contains_key(&(epoch, seq)) {
                return Err(DocumentError::MissingReport {
                    host: host.host.id.clone(),
                    check: f.check_id.to_string(),
                    epoch,
                    seq,
                });
            }
            Ok(EvidenceDoc {
                epoch: epoch.to_string(),
                seq: seq.to_string(),
            })
        })
        .collect::<Result<Vec<_>, DocumentError>>()?;
    Ok(FindingDoc::new(f, evidence))
}

/// The kind of the newest ping a job received at `at_ms`, as `ping::evidence` ranks a tie: a
/// failure before a success before a start.
fn ping_kind_at(job: &PingJob, at_ms: i64) -> Option<&'static str> {
    if at_ms <= 0 {
        None
    } else if job.last_failure_ms == at_ms {
        Some("failure")
    } else if job.last_success_ms == at_ms {
        Some("success")
    } else if job.last_start_ms == at_ms {
        Some("start")
    } else {
        None
    }
}

fn ping_job_doc(input: &PingJobInput) -> Result<PingJobDoc<'_>, DocumentError> {
    let job = &input.job;
    let pings = [
        ("start", job.last_start_ms),
        ("success", job.last_success_ms),
        ("failure", job.last_failure_ms),
    ]
    .into_iter()
    .filter(|(_, at)| *at > 0)
    .map(|(kind, at)| PingDoc {
        kind,
        message: (kind == "failure").then_some(job.last_failure_message.as_str()),
        received_at: time_text(at),
    })
    .collect();
    let findings = input
        .findings
        .iter()
        .map(|f| {
            // `ping::evidence` names the newest signal as (0, its receive time); (0, 0) is "no
            // signal yet", which rests on no ping.
            let evidence = f
                .evidence
                .iter()
                .filter(|&&(epoch, at)| epoch != 0 || at != 0)
                .map(|&(epoch, at)| {
                    let missing = || DocumentError::MissingPing {
                        job: job.name.clone(),
                        check: f.check_id.to_string(),
                        at_ms: at,
                    };
                    let at_ms = i64::try_from(at).map_err(|_| missing())?;
                    let kind = ping_kind_at(job, at_ms)
                        .filter(|_| epoch == 0)
                        .ok_or_else(missing)?;
                    Ok(PingEvidenceDoc {
                        kind,
                        received_at: time_text(at_ms),
                    })
                })
                .collect::<Result<Vec<_>, DocumentError>>()?;
            Ok(FindingDoc::new(f, evidence))
        })
        .collect::<Result<Vec<_>, DocumentError>>()?;
    Ok(PingJobDoc {
        created_at: time_text(job.created_at_ms),
        findings,
        grace_secs: job.grace_secs.to_string(),
        id: job.pseudo_host(),
        name: &job.name,
        offline: job.offline,
        period_secs: job.period_secs.to_string(),
        pings,
        provenance: PING_PROVENANCE,
        site: &job.site,
    })
}

fn waiver_doc(w: &WaiverRecord) -> WaiverDoc<'_> {
    WaiverDoc {
        check_id: &w.check_id,
        created_at: time_text(w.created_at_ms),
        created_by: &w.created_by,
        expires_at: time_text(w.expires_at_ms),
        group: w.group.as_deref(),
        host_id: w.host_id.as_deref(),
        id: &w.id,
        owner: &w.owner,
        reason: &w.reason,
    }
}

fn maintenance_doc(w: &crate::maintenance::MaintenanceRecord) -> MaintenanceDoc<'_> {
    MaintenanceDoc {
        created_at: time_text(w.created_at_ms),
        created_by: &w.created_by,
        from: time_text(w.from_ms),
        group: w.group.as_deref(),
        id: &w.id,
        owner: &w.owner,
        reason: &w.reason,
        revoked: w.revoked.as_ref().map(|r| MaintenanceRevokedDoc {
            at: time_text(r.at_ms),
            by: &r.by,
            reason: &r.reason,
        }),
        until: time_text(w.until_ms),
    }
}

/// The trusted comment of a snapshot's signature: what `minisign -V` shows, signed.
pub fn trusted_comment(org: &str, seq: u64, at: &str, previous: &str, key_id: &str) -> String {
    format!("vigie-snapshot org={org} seq={seq} at={at} prev={previous} key={key_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Revocation;

    fn host(id: &str, hostname: &str, revoked: bool) -> HostRecord {
        HostRecord {
            id: id.into(),
            org: "mairie".into(),
            hostname: hostname.into(),
            agent_version: "0.1.0".into(),
            enrolled_at_ms: 1_790_000_000_000,
            enrolled_from: "192.0.2.7:50000".into(),
            current_key: [7; 32],
            cert_serial: "0a".into(),
            cert_not_after_ms: 1_795_000_000_000,
            revoked: revoked.then(|| Revocation {
                at_ms: 1_791_000_000_000,
                reason: "volé \"hier\"".into(),
            }),
            last_seen_ms: if revoked { 0 } else { 1_790_500_000_000 },
            current_epoch: 3,
            clock_skew_ms: 0,
        }
    }

    fn finding(host: &str, check: &str, outcome: &str, detail: &str) -> FindingRecord {
        FindingRecord {
            org: "mairie".into(),
            host_id: host.into(),
            hostname: host.into(),
            check_id: check.into(),
            outcome: outcome.into(),
            severity: "high".into(),
            title_fr: "".into(),
            title_en: "".into(),
            detail: detail.into(),
            evaluated_at_ms: 1_790_600_000_000,
            evidence: vec![(3, 41)],
        }
    }

    fn waiver(id: &str, host: Option<&str>, group: Option<&str>) -> WaiverRecord {
        WaiverRecord {
            id: id.into(),
            org: "mairie".into(),
            check_id: "PAT-001".into(),
            host_id: host.map(str::to_owned),
            group: group.map(str::to_owned),
            reason: "migration « prévue »\t".into(),
            owner: "dsi@mairie.fr".into(),
            created_at_ms: 1_790_000_000_000,
            created_by: "uid:0".into(),
            expires_at_ms: 1_800_000_000_000,
            revoked: None,
        }
    }

    /// The typed document serialises to exactly its RFC 8785 form, hostile text included.
    #[test]
    fn the_document_keeps_the_maintenance_windows_a_finding_names() {
        let catalogue = Catalogue::builtin().unwrap();
        let org = Org {
            id: "mairie".into(),
            name: "Mairie".into(),
            created_at_ms: 0,
        };
        let window = |id: &str, revoked: bool| crate::maintenance::MaintenanceRecord {
            id: id.into(),
            org: "mairie".into(),
            group: Some("serveurs".into()),
            from_ms: 1_790_600_000_000,
            until_ms: 1_790_610_000_000,
            reason: "migration \"samba\"".into(),
            owner: "J. Martin".into(),
            created_at_ms: 1_790_590_000_000,
            created_by: "uid:0".into(),
            revoked: revoked.then(|| crate::maintenance::MaintenanceRevocation {
                at_ms: 1_790_605_000_000,
                by: "uid:0".into(),
                reason: "fini plus tôt".into(),
            }),
        };
        let windows = [
            window("m-00000000000000aa", true),
            window("m-00000000000000bb", false),
        ];
        let mut named = finding(
            "h1",
            "FIM-002",
            "fail",
            "1 modification non expliquée en 1 j, faite pendant une maintenance déclarée : /etc/a (contenu, pendant la maintenance m-00000000000000aa (migration, J. Martin))",
        );
        named.evidence.clear();
        let hosts = [HostInput {
            host: host("h1", "srv", false),
            key_history: Vec::new(),
            groups: vec!["serveurs".into()],
            findings: vec![named],
            reports: BTreeMap::new(),
        }];
        let mut inputs = Inputs {
            org: &org,
            seq: 1,
            created_at_ms: 1_790_700_000_000,
            profile: "standard",
            catalogue: &catalogue,
            previous_sha256: NO_PREVIOUS,
            audit_head: None,
            key_id: "0123456789ABCDEF",
            hosts: &hosts,
            waivers: &[],
            maintenance: &windows,
            ping_jobs: &[],
        };
        let bytes = canonical(&inputs).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            String::from_utf8(super::super::jcs::canonical(&value).unwrap()).unwrap(),
            String::from_utf8(bytes).unwrap()
        );
        let listed = value["maintenance"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["id"], "m-00000000000000aa");
        assert_eq!(listed[0]["group"], "serveurs");
        assert_eq!(listed[0]["owner"], "J. Martin");
        assert_eq!(listed[0]["from"], "2026-09-28T12:53:20.000Z");
        assert_eq!(listed[0]["revoked"]["reason"], "fini plus tôt");
        // No finding names a window: the key is absent, so earlier documents are unchanged.
        inputs.maintenance = &windows[1..];
        let value: serde_json::Value =
            serde_json::from_slice(&canonical(&inputs).unwrap()).unwrap();
        assert!(value.get("maintenance").is_none());
    }

    /// A ping job is in the document with its declaration, its findings at snapshot time and the
    /// pings they rest on, said unsigned; its findings count in the roll-up.
    #[test]
    fn a_ping_job_is_a_pseudo_host_with_unsigned_evidence() {
        let catalogue = Catalogue::builtin().unwrap();
        let org = Org {
            id: "mairie".into(),
            name: "Mairie".into(),
            created_at_ms: 0,
        };
        let t0 = 1_790_000_000_000;
        let mut job = PingJob {
            org: "mairie".into(),
            name: "nas".into(),
            secret_hash: [0; 32],
            period_secs: 86_400,
            grace_secs: 7_200,
            site: "mairie".into(),
            offline: false,
            created_at_ms: t0,
            last_start_ms: t0 + 1_000,
            last_success_ms: t0 + 2_000,
            last_failure_ms: t0 + 3_000,
            last_failure_message: "disque \"plein\"".into(),
        };
        let now = t0 + 3_600_000;
        let findings = crate::ping::findings(
            &catalogue,
            vigie_policies::Profile::Standard,
            &job,
            &[],
            now,
        );
        let jobs = [PingJobInput {
            job: job.clone(),
            findings: findings.clone(),
        }];
        let mut inputs = Inputs {
            org: &org,
            seq: 1,
            created_at_ms: now,
            profile: "standard",
            catalogue: &catalogue,
            previous_sha256: NO_PREVIOUS,
            audit_head: None,
            key_id: "0123456789ABCDEF",
            hosts: &[],
            waivers: &[],
            maintenance: &[],
            ping_jobs: &jobs,
        };
        let bytes = canonical(&inputs).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(super::super::jcs::canonical(&value).unwrap(), bytes);
        let j = &value["ping_jobs"][0];
        assert_eq!(j["id"], "ping:nas");
        assert_eq!(j["provenance"], PING_PROVENANCE);
        assert_eq!(j["period_secs"], "86400");
        assert_eq!(j["pings"].as_array().unwrap().len(), 3);
        assert_eq!(j["pings"][2]["kind"], "failure");
        assert_eq!(j["pings"][2]["message"], "disque \"plein\"");
        assert!(j["pings"][1].get("message").is_none());
        assert!(j.get("reports").is_none() && j["pings"][0].get("signature").is_none());
        let bkp2 = &j["findings"][1];
        assert_eq!(bkp2["check_id"], "BKP-002");
        assert_eq!(bkp2["outcome"], "fail");
        assert_eq!(
            bkp2["evidence"],
            serde_json::json!([{"kind": "failure", "received_at": time_text(t0 + 3_000)}])
        );
        assert!(value["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == "BKP-002"));
        let failed: u64 = value["measures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["fail"].as_str().unwrap().parse::<u64>().unwrap())
            .sum();
        assert!(failed > 0, "the ping job's failures are in the roll-up");

        // A finding naming a ping the job does not record is refused.
        job.last_failure_ms = t0 + 4_000;
        let jobs = [PingJobInput { job, findings }];
        inputs.ping_jobs = &jobs;
        assert!(matches!(
            canonical(&inputs),
            Err(DocumentError::MissingPing { at_ms, .. }) if at_ms == 1_790_000_003_000
        ));
        // No ping job: no key, so earlier documents are unchanged.
        inputs.ping_jobs = &[];
        let value: serde_json::Value =
            serde_json::from_slice(&canonical(&inputs).unwrap()).unwrap();
        assert!(value.get("ping_jobs").is_none());
    }

    #[test]
    fn serialising_the_document_is_canonicalising_it() {
        let catalogue = Catalogue::builtin().unwrap();
        let org = Org {
            id: "mairie".into(),
            name: "Mairie d'Évry 😀".into(),
            created_at_ms: 0,
        };
        let report = EmbeddedReport {
            header: vec![1, 2, 3, 250],
            signature: vec![9; 64],
            received_at_ms: 1_790_400_000_000,
        };
        let hostile = "<script>\u{1}\u{1f}\u{7f}\\\"\n\r\u{8}\u{c}é€\u{2028}😀";
        let hosts: Vec<HostInput> = [("h1", hostile, false), ("h2", "poste-2", true)]
            .into_iter()
            .map(|(id, name, revoked)| HostInput {
                host: host(id, name, revoked),
                key_history: vec![
                    KeyEvent::Enrolled {
                        at_ms: 1_790_000_000_000,
                        public_key: [7; 32],
                        cert_serial: "0a".into(),
                        not_after_ms: 1_795_000_000_000,
                    },
                    KeyEvent::Renewed {
                        at_ms: 1_790_100_000_000,
                        public_key: [8; 32],
                        cert_serial: "0b".into(),
                        not_after_ms: 1_796_000_000_000,
                    },
                    KeyEvent::Revoked {
                        at_ms: 1_791_000_000_000,
                        reason: hostile.into(),
                    },
                ],
                groups: vec!["écoles".into(), "serveurs".into()],
                findings: vec![
                    finding(id, "PAT-001", "fail", hostile),
                    finding(id, "BKP-001", "waived", "ok"),
                ],
                reports: BTreeMap::from([((3, 41), report.clone())]),
            })
            .collect();
        let waivers = [
            waiver("w-1", Some("h1"), None),
            waiver("w-2", None, Some("serveurs")),
            waiver("w-3", None, None),
        ];
        for audit_head in [None, Some((12, "ab".repeat(32)))] {
            let inputs = Inputs {
                org: &org,
                seq: 2,
                created_at_ms: 1_790_700_000_000,
                profile: "standard",
                catalogue: &catalogue,
                previous_sha256: NO_PREVIOUS,
                audit_head,
                key_id: "0123456789ABCDEF",
                hosts: &hosts,
                waivers: &waivers,
                maintenance: &[],
                ping_jobs: &[],
            };
            let bytes = canonical(&inputs).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(
                String::from_utf8(super::super::jcs::canonical(&value).unwrap()).unwrap(),
                String::from_utf8(bytes).unwrap()
            );
            assert_eq!(value["hosts"][0]["hostname"], hostile);
            assert_eq!(value["measures"][0]["measure"], "HYG 1");
        }
        // A finding resting on a report that was not gathered is refused, not silently dropped.
        let mut orphan = hosts[0].clone();
        orphan.reports.clear();
        let inputs = Inputs {
            org: &org,
            seq: 1,
            created_at_ms: 0,
            profile: "standard",
            catalogue: &catalogue,
            previous_sha256: NO_PREVIOUS,
            audit_head: None,
            key_id: "0123456789ABCDEF",
            hosts: std::slice::from_ref(&orphan),
            waivers: &[],
            maintenance: &[],
            ping_jobs: &[],
        };
        assert!(matches!(
            canonical(&inputs),
            Err(DocumentError::MissingReport {
                epoch: 3,
                seq: 41,
                ..
            })
        ));
    }
}
