//! Waivers and signed compliance snapshots as the store keeps them (DESIGN decisions 18 and 21).
//!
//! Plain records, scoped by organisation. A waiver is never deleted: a revocation is recorded on it,
//! and an expired waiver simply stops applying. A snapshot is stored signed (its canonical bytes and
//! its minisign signature together) and never changes once stored; the chain of an organisation's
//! snapshots is its sequence numbers plus the hash of the previous document inside each one.

use serde::{Deserialize, Serialize};

/// An organisation's accepted failure of one check, on one host or on all of its hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRecord {
    /// Random identifier, `w-` followed by 16 hex digits.
    pub id: String,
    pub org: String,
    pub check_id: String,
    /// `None` (and no `group`): every host of the organisation.
    pub host_id: Option<String>,
    /// Every host the admin put in this group (`host group`), at each evaluation; never set
    /// together with `host_id`. Absent in waivers recorded before groups existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub reason: String,
    pub owner: String,
    pub created_at_ms: i64,
    /// The admin actor who recorded it (`uid:N`).
    pub created_by: String,
    /// From this instant on the waiver no longer applies.
    pub expires_at_ms: i64,
    pub revoked: Option<WaiverRevocation>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaiverRevocation {
    pub at_ms: i64,
    pub by: String,
    pub reason: String,
}

impl WaiverRecord {
    /// Not revoked and not yet expired at `now_ms`.
    pub fn in_force(&self, now_ms: i64) -> bool {
        self.revoked.is_none() && now_ms < self.expires_at_ms
    }

    /// The evaluator's view of this waiver.
    pub fn to_policy(&self) -> vigie_policies::Waiver {
        vigie_policies::Waiver {
            check_id: self.check_id.clone(),
            host_id: self.host_id.clone(),
            reason: self.reason.clone(),
            owner: self.owner.clone(),
            expires_at_ms: self.expires_at_ms,
        }
    }

    /// The evaluator's view of this waiver for one host whose groups are `groups`, when it is in
    /// force at `now_ms` and concerns that host. A group waiver is handed to the evaluator as a
    /// waiver of that one host: group membership is the collector's business (an admin decision),
    /// and the pure evaluator keeps judging by host id only.
    pub fn for_host(
        &self,
        host_id: &str,
        groups: &[String],
        now_ms: i64,
    ) -> Option<vigie_policies::Waiver> {
        if !self.in_force(now_ms) {
            return None;
        }
        match &self.group {
            None => Some(self.to_policy()),
            Some(group) if groups.contains(group) => Some(vigie_policies::Waiver {
                host_id: Some(host_id.to_owned()),
                ..self.to_policy()
            }),
            Some(_) => None,
        }
    }

    /// Who the waiver covers, for tables and reports: a host id, `group:NAME` or `*`.
    pub fn scope(&self) -> String {
        match (&self.host_id, &self.group) {
            (Some(host), _) => host.clone(),
            (None, Some(group)) => format!("group:{group}"),
            (None, None) => "*".to_owned(),
        }
    }
}

/// The groups an admin assigned one host to (`host group`), used to scope waivers. Kept apart from
/// the host record, which enrollment and ingest own; a host never chooses its own groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostGroups {
    pub host_id: String,
    pub org: String,
    /// Sorted, without duplicates.
    pub groups: Vec<String>,
}

/// One signed snapshot of an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// `<org>-<seq>`, e.g. `mairie-test-3`.
    pub id: String,
    pub org: String,
    /// 1 for the organisation's first snapshot, then +1 each time.
    pub seq: u64,
    pub created_at_ms: i64,
    /// Hex SHA-256 of `document`.
    pub sha256: String,
    /// The RFC 8785 canonical JSON document, exactly the bytes that were signed.
    pub document: String,
    /// The minisign signature file (`.minisig`) of `document`.
    pub minisig: String,
    /// Made by the schedule of `collector.toml` (and so subject to its retention), not by hand.
    #[serde(default)]
    pub scheduled: bool,
}

/// A stored snapshot without its document: what listing, chaining and retention need, read without
/// touching the (large) document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub id: String,
    pub org: String,
    pub seq: u64,
    pub created_at_ms: i64,
    /// Hex SHA-256 of the document.
    pub sha256: String,
    /// The minisign signature file (`.minisig`) of the document.
    pub minisig: String,
    pub scheduled: bool,
}

impl SnapshotRecord {
    /// Everything but the document.
    pub fn meta(&self) -> SnapshotMeta {
        SnapshotMeta {
            id: self.id.clone(),
            org: self.org.clone(),
            seq: self.seq,
            created_at_ms: self.created_at_ms,
            sha256: self.sha256.clone(),
            minisig: self.minisig.clone(),
            scheduled: self.scheduled,
        }
    }

    /// The record of `meta` and its document.
    pub fn from_meta(meta: SnapshotMeta, document: String) -> SnapshotRecord {
        SnapshotRecord {
            id: meta.id,
            org: meta.org,
            seq: meta.seq,
            created_at_ms: meta.created_at_ms,
            sha256: meta.sha256,
            document,
            minisig: meta.minisig,
            scheduled: meta.scheduled,
        }
    }

    /// The id of an organisation's snapshot `seq`.
    pub fn id_of(org: &str, seq: u64) -> String {
        format!("{org}-{seq}")
    }

    /// Splits an id into organisation and sequence; `None` when it is not of that shape.
    pub fn parse_id(id: &str) -> Option<(&str, u64)> {
        let (org, seq) = id.rsplit_once('-')?;
        let seq = seq.parse().ok()?;
        (!org.is_empty() && seq > 0).then_some((org, seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_ids_round_trip() {
        let id = SnapshotRecord::id_of("mairie-test", 12);
        assert_eq!(id, "mairie-test-12");
        assert_eq!(SnapshotRecord::parse_id(&id), Some(("mairie-test", 12)));
        assert_eq!(SnapshotRecord::parse_id("nodash"), None);
        assert_eq!(SnapshotRecord::parse_id("org-0"), None);
        assert_eq!(SnapshotRecord::parse_id("-3"), None);
    }
}
