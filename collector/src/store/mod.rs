//! The collector's storage, behind one narrow, transactional trait (DESIGN decision 13).
//!
//! Ingest, enrollment, derivation and the admin commands speak only to [`Store`]; sled is the embedded
//! implementation today ([`sled_store`]) and PostgreSQL must slot in later without touching them.
//! Every method that returns `Ok` after a write has made that write durable: flushed **and** fsynced
//! (files and directory), with group commit for report admission (DESIGN decision 12).
//! Every read that lists hosts, tokens or findings is scoped by organisation (DESIGN decision 14).

pub mod alerting;
pub mod archive;
pub mod audit;
pub mod export;
pub mod inline_reads;
pub mod model;
pub mod sled_store;

use async_trait::async_trait;

pub use alerting::{
    AlertAck, AlertCommit, AlertEvent, AlertRecord, AlertState, Delivery, DeliveryResult,
    DigestMark, NotificationRecord, OutboxEntry, PendingNotice, SinkHealth,
};
pub use archive::{HostGroups, SnapshotMeta, SnapshotRecord, WaiverRecord, WaiverRevocation};
pub use model::*;

/// Errors of the storage layer. Variants name the object involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("organisation {0:?} already exists")]
    OrgExists(String),
    #[error("organisation {0:?} does not exist")]
    NoSuchOrg(String),
    #[error("host {0:?} does not exist")]
    NoSuchHost(String),
    #[error("stored record {key} is corrupt: {reason}")]
    Corrupt { key: String, reason: String },
    #[error("storage I/O on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    #[error("the store's commit task has stopped")]
    CommitterGone,
    #[error("ping job {name:?} already exists in organisation {org:?}")]
    PingJobExists { org: String, name: String },
    #[error("ping job {name:?} does not exist in organisation {org:?}")]
    NoSuchPingJob { org: String, name: String },
    #[error("waiver {0:?} does not exist or is already revoked")]
    NoSuchWaiver(String),
    #[error("snapshot {0:?} does not exist")]
    NoSuchSnapshot(String),
    #[error("snapshot {0:?} is its organisation's newest: the next snapshot chains to it")]
    SnapshotIsNewest(String),
    #[error("snapshot {seq} of organisation {org:?} is out of order: the next one is {expected}")]
    SnapshotOutOfOrder {
        org: String,
        seq: u64,
        expected: u64,
    },
}

/// The storage contract. Implementations must be safe to share between tasks.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // -- backup ----------------------------------------------------------------------------------
    /// Writes every table, raw, to a new file `path` (mode 0600, fsynced) in the [`export`] format,
    /// at one consistent point: no write of this store lands during the export.
    async fn export(&self, path: std::path::PathBuf) -> Result<export::ExportStats, StoreError>;

    // -- organisations ---------------------------------------------------------------------------
    async fn add_org(&self, org: Org) -> Result<(), StoreError>;
    async fn org(&self, id: &str) -> Result<Option<Org>, StoreError>;
    async fn orgs(&self) -> Result<Vec<Org>, StoreError>;

    // -- enrollment tokens -----------------------------------------------------------------------
    /// Stores a new token (only its hash). Fails with `NoSuchOrg` when the organisation is unknown.
    async fn add_token(&self, token: TokenRecord) -> Result<(), StoreError>;
    /// Redeems a token atomically (compare-and-swap on the token record):
    /// - unknown hash → `Refused(UnknownToken)`; expired at `now_ms` → `Refused(Expired)`;
    /// - `public_key` already enrolled through another token → `Refused(KeyAlreadyEnrolled)`;
    /// - unused → creates the host `new_host_id` in the token's organisation, marks the token used by
    ///   `public_key`, returns `Enrolled { retry: false }`;
    /// - already used by the same key with no retry spent → spends the one retry and returns the same
    ///   host with `retry: true` (the agent lost the first reply);
    /// - otherwise → `Refused(AlreadyUsed)`.
    ///   The host record (with `current_key` = `public_key`, empty `cert_serial`) and the token update
    ///   are written in one transaction; the caller then records the `Enrolled` key event (with the
    ///   certificate it issued) through `record_key_event`. `redeem_token` writes no key event itself.
    async fn redeem_token(&self, req: Redemption) -> Result<RedeemOutcome, StoreError>;
    /// One token by the SHA-256 of its text.
    async fn token(&self, hash: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError>;
    async fn tokens(&self, org: &str) -> Result<Vec<TokenRecord>, StoreError>;

    // -- hosts and their key history -------------------------------------------------------------
    async fn host(&self, host_id: &str) -> Result<Option<HostRecord>, StoreError>;
    /// Hosts of one organisation, or of all when `org` is `None` (operator view).
    async fn hosts(&self, org: Option<&str>) -> Result<Vec<HostRecord>, StoreError>;
    /// Appends to the host's key history (kept forever) and updates the host record to match:
    /// `Enrolled`/`Renewed` set the current key, serial and expiry; `Revoked` sets `revoked`.
    async fn record_key_event(&self, host_id: &str, event: KeyEvent) -> Result<(), StoreError>;
    async fn key_history(&self, host_id: &str) -> Result<Vec<KeyEvent>, StoreError>;

    // -- signed reports --------------------------------------------------------------------------
    /// Applies the replay rules of DESIGN decision 10 to each candidate, in order, for one host, stores
    /// the admitted ones, and returns only when they are durable (group commit: concurrent calls share
    /// one flush + fsync). Per candidate, against (host, epoch):
    /// - (seq, digest) already stored → `AlreadyStored`;
    /// - seq stored with another digest → `Equivocation` (nothing stored);
    /// - seq ≤ high-water mark and not stored → `Stale { high_water_mark }`;
    /// - otherwise stored → `Stored` (gaps are allowed and recorded by the caller).
    ///   Also updates the host's `last_seen_ms` and `current_epoch`, and returns in [`Admitted`] whether
    ///   the host came back to an epoch it had left (a cloned-identity signal).
    async fn admit(&self, host_id: &str, batch: Vec<Candidate>) -> Result<Admitted, StoreError>;
    /// All stored reports of a host, in the order they were stored.
    async fn reports(&self, host_id: &str) -> Result<Vec<StoredReport>, StoreError>;
    /// One stored report of a host by (epoch, seq), e.g. the evidence a finding rests on.
    async fn report(
        &self,
        host_id: &str,
        epoch: u64,
        seq: u64,
    ) -> Result<Option<StoredReport>, StoreError>;

    // -- derived state (rebuildable from `reports`) ----------------------------------------------
    async fn put_latest(&self, host_id: &str, latest: LatestDomain) -> Result<(), StoreError>;
    async fn latest(&self, host_id: &str) -> Result<Vec<LatestDomain>, StoreError>;
    async fn put_findings(
        &self,
        host_id: &str,
        findings: Vec<FindingRecord>,
    ) -> Result<(), StoreError>;
    /// Findings of one organisation (or all), optionally of one host.
    async fn findings(
        &self,
        org: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<FindingRecord>, StoreError>;
    /// Drops every derived record (latest states and findings), before a rebuild.
    async fn clear_derived(&self) -> Result<(), StoreError>;

    // -- security events and the audit trail -----------------------------------------------------
    async fn add_security_event(&self, event: SecurityEvent) -> Result<(), StoreError>;
    async fn security_events(&self, host_id: &str) -> Result<Vec<SecurityEvent>, StoreError>;
    /// Appends to the hash-chained audit trail; returns the new head (hex SHA-256).
    async fn append_audit(&self, entry: AuditEntry) -> Result<String, StoreError>;
    async fn audit_trail(&self) -> Result<Vec<AuditRecord>, StoreError>;

    // -- HTTPS ping jobs (backups of machines with no agent) -------------------------------------
    /// Stores a new ping job. Fails with `NoSuchOrg` when the organisation is unknown and with
    /// `PingJobExists` when the organisation already has a job of that name.
    async fn add_ping_job(&self, job: PingJob) -> Result<(), StoreError>;
    /// Ping jobs of one organisation, or of all when `org` is `None` (operator view), by name.
    async fn ping_jobs(&self, org: Option<&str>) -> Result<Vec<PingJob>, StoreError>;
    /// Removes a job, its secret and its findings; `NoSuchPingJob` when it does not exist.
    async fn remove_ping_job(&self, org: &str, name: &str) -> Result<PingJob, StoreError>;
    /// Records a signal for the job whose secret hashes to `secret_hash`, durably; `None` when no
    /// job has that secret. A failure keeps `message` (the caller sanitizes and bounds it).
    async fn record_ping(
        &self,
        secret_hash: &[u8; 32],
        kind: PingKind,
        at_ms: i64,
        message: &str,
    ) -> Result<Option<PingJob>, StoreError>;
    /// Replaces the findings of a ping job's pseudo-host (derived, like `put_findings`).
    async fn put_ping_findings(
        &self,
        org: &str,
        pseudo_host: &str,
        findings: Vec<FindingRecord>,
    ) -> Result<(), StoreError>;

    // -- waivers and signed snapshots (see `archive`) --------------------------------------------
    /// Stores a new waiver durably; `NoSuchOrg` when the organisation is unknown.
    async fn add_waiver(&self, waiver: WaiverRecord) -> Result<(), StoreError>;
    /// Every waiver of an organisation, revoked and expired ones included.
    async fn waivers(&self, org: &str) -> Result<Vec<WaiverRecord>, StoreError>;
    /// Records the revocation of a waiver; `NoSuchWaiver` when unknown or already revoked.
    async fn revoke_waiver(
        &self,
        id: &str,
        revocation: WaiverRevocation,
    ) -> Result<WaiverRecord, StoreError>;
    /// Stores a signed snapshot durably; `SnapshotOutOfOrder` unless its sequence number is the
    /// organisation's last plus one (so two concurrent snapshots cannot fork the chain).
    async fn add_snapshot(&self, snapshot: SnapshotRecord) -> Result<(), StoreError>;
    /// An organisation's snapshots with their documents, by sequence number.
    async fn snapshots(&self, org: &str) -> Result<Vec<SnapshotRecord>, StoreError>;
    /// An organisation's snapshots without their documents, by sequence number (listing,
    /// retention): no document is read.
    async fn snapshot_metas(&self, org: &str) -> Result<Vec<SnapshotMeta>, StoreError>;
    /// The organisation's newest snapshot without its document (the next one chains to it).
    async fn last_snapshot(&self, org: &str) -> Result<Option<SnapshotMeta>, StoreError>;
    async fn snapshot(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError>;
    /// Removes one stored snapshot (retention); `NoSuchSnapshot` when absent. The newest snapshot
    /// of an organisation is never removed (`SnapshotIsNewest`): the next one must chain to it.
    async fn remove_snapshot(&self, id: &str) -> Result<SnapshotMeta, StoreError>;

    // -- host groups (waiver scopes) --------------------------------------------------------------
    /// The groups of one host, sorted; empty when it has none.
    async fn host_groups(&self, host_id: &str) -> Result<Vec<String>, StoreError>;
    /// Replaces the groups of one host, durably; `NoSuchHost` when it does not exist.
    async fn set_host_groups(&self, host_id: &str, groups: Vec<String>) -> Result<(), StoreError>;

    // -- contractor policies (ACC-004) -----------------------------------------------------------
    /// Replaces an organisation's contractor policy, durably; `NoSuchOrg` when it is unknown.
    async fn set_contractor_policy(&self, policy: ContractorPolicyRecord)
        -> Result<(), StoreError>;
    /// An organisation's contractor policy, if it declared one.
    async fn contractor_policy(
        &self,
        org: &str,
    ) -> Result<Option<ContractorPolicyRecord>, StoreError>;

    // -- attestations (see `crate::attestation`) -------------------------------------------------
    /// Replaces the attestation of `(org, measure)`, durably; `NoSuchOrg` when the organisation is
    /// unknown. Earlier versions live on in the audit trail only.
    async fn set_attestation(
        &self,
        attestation: crate::attestation::AttestationRecord,
    ) -> Result<(), StoreError>;
    /// Every attestation of an organisation, expired and revoked ones included.
    async fn attestations(
        &self,
        org: &str,
    ) -> Result<Vec<crate::attestation::AttestationRecord>, StoreError>;

    // -- maintenance windows (see `crate::maintenance`) --------------------------------------------
    /// Stores a maintenance window, or replaces it (a revocation), durably; `NoSuchOrg` when the
    /// organisation is unknown.
    async fn put_maintenance(
        &self,
        window: crate::maintenance::MaintenanceRecord,
    ) -> Result<(), StoreError>;
    /// Every maintenance window of an organisation, ended and revoked ones included.
    async fn maintenance_windows(
        &self,
        org: &str,
    ) -> Result<Vec<crate::maintenance::MaintenanceRecord>, StoreError>;
    /// One maintenance window by its id, whatever its organisation.
    async fn maintenance_window(
        &self,
        id: &str,
    ) -> Result<Option<crate::maintenance::MaintenanceRecord>, StoreError>;

    // -- alerts (see `alerting`) -----------------------------------------------------------------
    /// Alerts of one organisation, or of all when `org` is `None`, resolved ones included.
    async fn alerts(&self, org: Option<&str>) -> Result<Vec<AlertRecord>, StoreError>;
    /// The lifecycle's working set: alerts not resolved, or resolved with a notice still pending.
    async fn active_alerts(&self) -> Result<Vec<AlertRecord>, StoreError>;
    /// One lifecycle step, atomically and durably: alert records (the active index follows
    /// `AlertRecord::is_active`), new outbox entries (numbered per sink by the store), digest marks
    /// and audit entries.
    async fn commit_alerts(&self, commit: AlertCommit) -> Result<(), StoreError>;
    /// Entries waiting for one sink, oldest first.
    async fn outbox(&self, sink: &str) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Entries waiting for every sink (operator view).
    async fn all_outbox(&self) -> Result<Vec<OutboxEntry>, StoreError>;
    /// Records one delivery attempt atomically with the sink's health counters: a delivered or
    /// abandoned entry is removed and noted in its alerts' history; a failed one is rescheduled.
    /// Recording an entry that is already gone is a no-op.
    async fn record_delivery(&self, delivery: Delivery) -> Result<(), StoreError>;
    /// Health counters of every sink that has had a delivery attempt.
    async fn sink_health(&self) -> Result<Vec<SinkHealth>, StoreError>;
    /// The newest daily digest of each organisation.
    async fn digest_marks(&self) -> Result<Vec<DigestMark>, StoreError>;
    /// Removes resolved alerts resolved before `before_ms`; returns how many.
    async fn prune_alerts(&self, before_ms: i64) -> Result<usize, StoreError>;

    // -- file integrity (derived: rebuilt from the stored reports, see `crate::fim`) ------------
    /// Writes (or, for `None`, deletes) named file-integrity records of a host, durably, together.
    async fn put_fim(
        &self,
        host_id: &str,
        records: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), StoreError>;
    /// One named file-integrity record of a host.
    async fn fim(&self, host_id: &str, name: &str) -> Result<Option<Vec<u8>>, StoreError>;
}
