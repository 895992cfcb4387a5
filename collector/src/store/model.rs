//! Records kept by the collector's store. Plain data with serde, versioned by the store's own encoding;
//! they are not the wire format (that is `vigie-proto`).

use serde::{Deserialize, Serialize};

mod shared_str;
pub use shared_str::SharedStr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    /// Short slug given on the command line, e.g. `mairie-test`.
    pub id: String,
    pub name: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// SHA-256 of the token text; the token itself is never stored.
    pub hash: [u8; 32],
    pub org: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// Set once redeemed.
    pub redeemed_by: Option<TokenUse>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenUse {
    pub public_key: [u8; 32],
    pub host_id: String,
    pub at_ms: i64,
    /// Whether the one retry after a lost reply has been spent.
    pub retry_spent: bool,
}

/// What enrollment asks the store to do atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub token_hash: [u8; 32],
    pub public_key: [u8; 32],
    pub hostname: String,
    pub agent_version: String,
    pub peer_address: String,
    pub now_ms: i64,
    /// Used only when the token is fresh.
    pub new_host_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one short-lived value per enrollment: boxing buys nothing
pub enum RedeemOutcome {
    Enrolled { host: HostRecord, retry: bool },
    Refused(RedeemRefusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemRefusal {
    UnknownToken,
    Expired,
    AlreadyUsed,
    KeyAlreadyEnrolled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRecord {
    /// UUID; the certificate's URI SAN is `urn:vigie:host:<id>`.
    pub id: String,
    pub org: String,
    /// Self-declared at enrollment; informative only.
    pub hostname: String,
    pub agent_version: String,
    pub enrolled_at_ms: i64,
    /// Address the enrollment came from.
    pub enrolled_from: String,
    pub current_key: [u8; 32],
    /// Hex serial and expiry of the newest certificate issued.
    pub cert_serial: String,
    pub cert_not_after_ms: i64,
    pub revoked: Option<Revocation>,
    /// Collector receive time of the newest admitted report; 0 when none.
    pub last_seen_ms: i64,
    pub current_epoch: u64,
    /// Collector receive time minus agent signing time of the newest stored report: the host's clock
    /// skew plus transit delay, itself evidence (DESIGN decision 16). Positive: the host is behind.
    #[serde(default)]
    pub clock_skew_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at_ms: i64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyEvent {
    Enrolled {
        at_ms: i64,
        public_key: [u8; 32],
        cert_serial: String,
        not_after_ms: i64,
    },
    Renewed {
        at_ms: i64,
        public_key: [u8; 32],
        cert_serial: String,
        not_after_ms: i64,
    },
    Revoked {
        at_ms: i64,
        reason: String,
    },
}

/// A report that passed identity and signature checks, offered for admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub epoch: u64,
    pub seq: u64,
    /// `vigie_proto::envelope::report_digest`.
    pub digest: [u8; 32],
    pub received_at_ms: i64,
    /// The agent's clock when it signed the report (`ReportHeader.created_at_ms`).
    pub created_at_ms: i64,
    /// The encoded `SignedReport`, header + signature + body, stored together.
    pub signed: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Stored,
    AlreadyStored,
    Stale { high_water_mark: u64 },
    Equivocation,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    /// One per candidate, in order.
    pub admissions: Vec<Admission>,
    /// The host switched back to an epoch it had already left in this batch: two live agents are
    /// sharing one identity (DESIGN decision 10).
    pub epoch_returned: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReport {
    pub host_id: String,
    pub epoch: u64,
    pub seq: u64,
    pub digest: [u8; 32],
    pub received_at_ms: i64,
    pub signed: Vec<u8>,
}

/// The newest state of one domain of one host, derived from the stored reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestDomain {
    /// `vigie.v1.Domain` as its number.
    pub domain: i32,
    pub received_at_ms: i64,
    pub epoch: u64,
    pub seq: u64,
    /// The encoded `vigie.v1.DomainState`.
    pub state: Vec<u8>,
}

impl FindingRecord {
    /// The record of one evaluator finding on one host.
    pub fn from_finding(
        org: &str,
        host_id: &str,
        hostname: &str,
        finding: vigie_policies::Finding,
        evaluated_at_ms: i64,
    ) -> FindingRecord {
        FindingRecord {
            org: org.into(),
            host_id: host_id.into(),
            hostname: hostname.into(),
            check_id: finding.check_id.into(),
            outcome: finding.outcome.as_str().into(),
            severity: finding.severity.as_str().into(),
            title_fr: finding.title_fr.into(),
            title_en: finding.title_en.into(),
            detail: finding.detail,
            evaluated_at_ms,
            evidence: finding.evidence,
        }
    }
}

/// One check's outcome on one host, as the evaluator produced it. The fields a read of many
/// findings repeats (the host's, the check's) are [`SharedStr`]: one allocation per host or per
/// distinct value, not per finding; `detail` is the finding's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub org: SharedStr,
    pub host_id: SharedStr,
    pub hostname: SharedStr,
    pub check_id: SharedStr,
    /// `pass`, `fail`, `stale`, `unknown`, `error`, `not_applicable`, `waived`.
    pub outcome: SharedStr,
    pub severity: SharedStr,
    pub title_fr: SharedStr,
    pub title_en: SharedStr,
    pub detail: String,
    pub evaluated_at_ms: i64,
    /// The (epoch, seq) of the reports the finding rests on.
    pub evidence: Vec<(u64, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityEvent {
    pub host_id: String,
    pub at_ms: i64,
    /// `equivocation`, `cloned_identity`, ...
    pub kind: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    /// `uid:0` for a local admin command, `system` for the server itself.
    pub actor: String,
    pub action: String,
    pub org: Option<String>,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub index: u64,
    pub entry: AuditEntry,
    /// Hex SHA-256 of the previous record's hash and this entry's canonical encoding.
    pub prev_hash: String,
    pub hash: String,
}

/// A backup job with no agent (a NAS, a firewall's configuration export, Windows Server Backup)
/// that signals the collector over HTTPS, healthchecks-style: `/ping/<secret>` on success,
/// `/ping/<secret>/start` and `/ping/<secret>/fail`. Scoped by organisation; judged by BKP-001 and
/// BKP-002 as the pseudo-host `ping:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingJob {
    pub org: String,
    /// Unique within the organisation: 1 to 64 letters, digits, `-`, `_` or `.`.
    pub name: String,
    /// SHA-256 of the secret in the job's URL; the secret itself is never stored.
    pub secret_hash: [u8; 32],
    /// Expected time between successes.
    pub period_secs: u64,
    /// Time after the period (or after a start) before the job counts as down.
    pub grace_secs: u64,
    /// Declared site of the copy the job makes (e.g. `mairie`), empty when not declared.
    pub site: String,
    /// Declared: the copy is kept offline.
    pub offline: bool,
    pub created_at_ms: i64,
    /// Collector receive times of the newest signals; 0 when none yet.
    pub last_start_ms: i64,
    pub last_success_ms: i64,
    pub last_failure_ms: i64,
    /// What the newest `/fail` said (sanitized, at most 1 KiB).
    pub last_failure_message: String,
}

impl PingJob {
    /// The pseudo-host id its findings are filed under, within its organisation.
    pub fn pseudo_host(&self) -> String {
        format!("ping:{}", self.name)
    }

    /// Receive time of the newest signal of any kind; 0 when the job never signalled.
    pub fn last_signal_ms(&self) -> i64 {
        self.last_start_ms
            .max(self.last_success_ms)
            .max(self.last_failure_ms)
    }
}

/// One signal received for a ping job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PingKind {
    Start,
    Success,
    Failure,
}

/// An organisation's contractor policy (ACC-004), as the admin declared it; replaced as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractorPolicyRecord {
    pub org: String,
    /// e.g. `mon-fri 08:00-18:00`.
    pub windows: Vec<String>,
    /// IANA zone of the windows, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// CIDRs contractors may come from.
    pub sources: Vec<String>,
    pub set_at_ms: i64,
}

impl ContractorPolicyRecord {
    /// The policy as the evaluator takes it.
    pub fn to_policy(&self) -> vigie_policies::ContractorPolicy {
        vigie_policies::ContractorPolicy {
            windows: self.windows.clone(),
            time_zone: self.time_zone.clone(),
            sources: self.sources.clone(),
        }
    }
}
