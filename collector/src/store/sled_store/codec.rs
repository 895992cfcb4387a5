//! Keys and checksummed values of the sled store.
//!
//! Every value is `[version = 1][SHA-256(version || key length || key || payload)][payload]`, so a
//! flipped bit, a torn value or a value found under another key is reported as
//! [`StoreError::Corrupt`] and never served. Payloads are compact binary for the bulky records
//! (stored reports, latest domain states, a host's findings), raw bytes for snapshot documents
//! ([`seal`]) and JSON for the small ones.
//!
//! Keys: ids are followed by a 0x00 separator (host ids are UUIDs and organisation ids slugs; readers
//! also check the decoded record's id), integers are big-endian so that sled's order is theirs.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::store::ContractorPolicyRecord;
use crate::store::{
    AuditRecord, FindingRecord, HostRecord, KeyEvent, LatestDomain, Org, PingJob, SecurityEvent,
    SharedStr, StoreError, StoredReport, TokenRecord,
};

const VERSION: u8 = 1;
const SUM_LEN: usize = 32;

/// A record that can be stored in a value.
pub(super) trait Record: Sized {
    fn to_payload(&self) -> Result<Vec<u8>, String>;
    fn from_payload(payload: &[u8]) -> Result<Self, String>;
}

/// Printable name of a key, for errors: `tree/escaped-bytes`.
pub(super) fn key_name(tree: &str, key: &[u8]) -> String {
    format!("{tree}/{}", key.escape_ascii())
}

fn checksum(key: &[u8], payload: &[u8]) -> [u8; SUM_LEN] {
    let mut hasher = Sha256::new();
    hasher.update([VERSION]);
    hasher.update((key.len() as u64).to_be_bytes());
    hasher.update(key);
    hasher.update(payload);
    hasher.finalize().into()
}

/// Encodes and seals a record stored under `key` of `tree`.
pub(super) fn encode<R: Record>(tree: &str, key: &[u8], record: &R) -> Result<Vec<u8>, StoreError> {
    let payload = record.to_payload().map_err(|reason| StoreError::Corrupt {
        key: key_name(tree, key),
        reason: format!("cannot encode: {reason}"),
    })?;
    Ok(seal(key, &payload))
}

/// Seals raw bytes stored under `key`: the same frame and checksum as every record, with the bytes
/// themselves as the payload (a snapshot document), copied once.
pub(super) fn seal(key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + SUM_LEN + payload.len());
    out.push(VERSION);
    out.extend_from_slice(&checksum(key, payload));
    out.extend_from_slice(payload);
    out
}

/// Checks a value read from `key` of `tree` and returns its payload.
pub(super) fn unseal<'a>(tree: &str, key: &[u8], value: &'a [u8]) -> Result<&'a [u8], StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        key: key_name(tree, key),
        reason,
    };
    let (version, rest) = value
        .split_first()
        .ok_or_else(|| corrupt("empty value".into()))?;
    if *version != VERSION {
        return Err(corrupt(format!("unknown record version {version}")));
    }
    let (sum, payload) = rest
        .split_at_checked(SUM_LEN)
        .ok_or_else(|| corrupt("value shorter than its checksum".into()))?;
    if sum != checksum(key, payload) {
        return Err(corrupt("checksum mismatch".into()));
    }
    Ok(payload)
}

/// Checks and decodes a value read from `key` of `tree`.
pub(super) fn decode<R: Record>(tree: &str, key: &[u8], value: &[u8]) -> Result<R, StoreError> {
    R::from_payload(unseal(tree, key, value)?).map_err(|reason| StoreError::Corrupt {
        key: key_name(tree, key),
        reason,
    })
}

macro_rules! json_record {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn to_payload(&self) -> Result<Vec<u8>, String> {
                serde_json::to_vec(self).map_err(|e| e.to_string())
            }
            fn from_payload(payload: &[u8]) -> Result<Self, String> {
                serde_json::from_slice(payload).map_err(|e| e.to_string())
            }
        }
    )*};
}
pub(super) use json_record;

json_record!(
    Org,
    TokenRecord,
    HostRecord,
    KeyEvent,
    // Store format 1 kept one JSON record per finding; read only by the migration now.
    FindingRecord,
    SecurityEvent,
    AuditRecord,
    PingJob,
    ContractorPolicyRecord
);

/// A key stored as a value (report index → reports key, public key → host id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bytes(pub Vec<u8>);

impl Record for Bytes {
    fn to_payload(&self) -> Result<Vec<u8>, String> {
        Ok(self.0.clone())
    }
    fn from_payload(payload: &[u8]) -> Result<Self, String> {
        Ok(Bytes(payload.to_vec()))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let (head, tail) = self.0.split_at_checked(n).ok_or("truncated payload")?;
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?
            .try_into()
            .map_err(|_| "truncated payload".to_owned())
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    fn rest(self) -> &'a [u8] {
        self.0
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// `[len u32][bytes]`.
    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = usize::try_from(self.u32()?).map_err(|e| e.to_string())?;
        self.take(len)
    }
    fn string(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|e| e.to_string())
    }
    fn shared_str(&mut self) -> Result<SharedStr, String> {
        Ok(SharedStr::from(
            std::str::from_utf8(self.bytes()?).map_err(|e| e.to_string())?,
        ))
    }
    fn byte(&mut self) -> Result<u8, String> {
        Ok(u8::from_be_bytes(self.array()?))
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), String> {
    let len = u32::try_from(s.len()).map_err(|_| "string too long")?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

/// Every finding of one host (or ping pseudo-host), in order: one value and one checksum per host,
/// so that reading the findings of 10,000 hosts is 10,000 values, not 410,000 (DESIGN §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HostFindings(pub Vec<FindingRecord>);

/// A finding whose organisation, host id and hostname are those of the record's first finding.
const SAME_HOST: u8 = 0;
/// A finding that carries its own organisation, host id and hostname.
const OWN_HOST: u8 = 1;

/// `[count u32]`, then the first finding's `[org][host id][hostname]` (when count > 0), then per
/// finding `[SAME_HOST | OWN_HOST [org][host id][hostname]][check id][outcome][severity]
/// [title fr][title en][detail][evaluated at i64][evidence count u32][(epoch, seq)…]`; strings are
/// `[len u32][UTF-8]`.
impl Record for HostFindings {
    fn to_payload(&self) -> Result<Vec<u8>, String> {
        let count = u32::try_from(self.0.len()).map_err(|_| "too many findings")?;
        let mut out = Vec::with_capacity(64 + 256 * self.0.len());
        out.extend_from_slice(&count.to_be_bytes());
        let Some(first) = self.0.first() else {
            return Ok(out);
        };
        for s in [&first.org, &first.host_id, &first.hostname] {
            put_str(&mut out, s)?;
        }
        for f in &self.0 {
            if f.org == first.org && f.host_id == first.host_id && f.hostname == first.hostname {
                out.push(SAME_HOST);
            } else {
                out.push(OWN_HOST);
                for s in [&f.org, &f.host_id, &f.hostname] {
                    put_str(&mut out, s)?;
                }
            }
            for s in [
                f.check_id.as_str(),
                &f.outcome,
                &f.severity,
                &f.title_fr,
                &f.title_en,
                &f.detail,
            ] {
                put_str(&mut out, s)?;
            }
            out.extend_from_slice(&f.evaluated_at_ms.to_be_bytes());
            let n = u32::try_from(f.evidence.len()).map_err(|_| "too much evidence")?;
            out.extend_from_slice(&n.to_be_bytes());
            for (epoch, seq) in &f.evidence {
                out.extend_from_slice(&epoch.to_be_bytes());
                out.extend_from_slice(&seq.to_be_bytes());
            }
        }
        Ok(out)
    }

    fn from_payload(payload: &[u8]) -> Result<Self, String> {
        let mut findings = Vec::new();
        FindingsDecoder::default().decode_into(payload, &mut findings)?;
        Ok(HostFindings(findings))
    }
}

impl HostFindings {
    /// How many findings a payload holds, as it says (checked by [`FindingsDecoder::decode_into`]).
    pub(super) fn count(payload: &[u8]) -> usize {
        Reader(payload)
            .u32()
            .ok()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0)
    }
}

/// The fields of a finding that come from the catalogue: check id, outcome, severity, titles.
const CHECK_FIELDS: usize = 5;

/// Decodes the findings payloads of one read, sharing the strings they repeat: each host's
/// identity is allocated once for all its findings, and each distinct check id, outcome, severity
/// and title once for the whole read. Hosts are judged against one catalogue in one order, so the
/// value at the same place in the previous host's record is tried first, by a plain comparison of
/// bytes; only a value that differs from it is looked up among every value met so far.
#[derive(Default)]
pub(super) struct FindingsDecoder {
    /// Every shared value met so far.
    known: HashSet<SharedStr>,
    /// The previous host's values, at `finding index × CHECK_FIELDS + field`.
    recent: Vec<SharedStr>,
    /// The previous record's organisation.
    org: Option<SharedStr>,
}

impl FindingsDecoder {
    /// The shared string of `bytes` (UTF-8 checked), remembered at `slot` of `recent`.
    fn shared(&mut self, slot: usize, bytes: &[u8]) -> Result<SharedStr, String> {
        if let Some(recent) = self.recent.get(slot) {
            if recent.as_bytes() == bytes {
                return Ok(recent.clone());
            }
        }
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let value = match self.known.get(text) {
            Some(known) => known.clone(),
            None => {
                let value = SharedStr::from(text);
                self.known.insert(value.clone());
                value
            }
        };
        match self.recent.get_mut(slot) {
            Some(recent) => *recent = value.clone(),
            // Slots are met in order from 0, so `slot` is at most one past the end.
            None => self.recent.push(value.clone()),
        }
        Ok(value)
    }

    /// The organisation of a record: almost always the previous record's.
    fn org(&mut self, bytes: &[u8]) -> Result<SharedStr, String> {
        if let Some(org) = self.org.as_ref().filter(|org| org.as_bytes() == bytes) {
            return Ok(org.clone());
        }
        let org = SharedStr::from(std::str::from_utf8(bytes).map_err(|e| e.to_string())?);
        self.org = Some(org.clone());
        Ok(org)
    }

    /// Decodes a payload's findings onto the end of `findings` (which the caller may have sized
    /// with [`HostFindings::count`]); on error `findings` may hold some of them.
    pub(super) fn decode_into(
        &mut self,
        payload: &[u8],
        findings: &mut Vec<FindingRecord>,
    ) -> Result<(), String> {
        let mut r = Reader(payload);
        let count = usize::try_from(r.u32()?).map_err(|e| e.to_string())?;
        if count == 0 {
            return if r.rest().is_empty() {
                Ok(())
            } else {
                Err("trailing bytes".into())
            };
        }
        // Each finding takes at least 41 bytes: a hostile count cannot make a huge allocation.
        findings.reserve(count.min(payload.len() / 41));
        let org = self.org(r.bytes()?)?;
        let (host_id, hostname) = (r.shared_str()?, r.shared_str()?);
        for index in 0..count {
            let (org, host_id, hostname) = match r.byte()? {
                SAME_HOST => (org.clone(), host_id.clone(), hostname.clone()),
                OWN_HOST => (r.shared_str()?, r.shared_str()?, r.shared_str()?),
                other => return Err(format!("unknown finding tag {other}")),
            };
            let slot = index.saturating_mul(CHECK_FIELDS);
            let check_id = self.shared(slot, r.bytes()?)?;
            let outcome = self.shared(slot + 1, r.bytes()?)?;
            let severity = self.shared(slot + 2, r.bytes()?)?;
            let title_fr = self.shared(slot + 3, r.bytes()?)?;
            let title_en = self.shared(slot + 4, r.bytes()?)?;
            let detail = r.string()?;
            let evaluated_at_ms = r.i64()?;
            let n = usize::try_from(r.u32()?).map_err(|e| e.to_string())?;
            let mut evidence = Vec::with_capacity(n.min(r.0.len() / 16));
            for _ in 0..n {
                evidence.push((r.u64()?, r.u64()?));
            }
            findings.push(FindingRecord {
                org,
                host_id,
                hostname,
                check_id,
                outcome,
                severity,
                title_fr,
                title_en,
                detail,
                evaluated_at_ms,
                evidence,
            });
        }
        if !r.rest().is_empty() {
            return Err("trailing bytes".into());
        }
        Ok(())
    }
}

/// `[host len u32][host][epoch][seq][digest][received_at][signed…]`.
impl Record for StoredReport {
    fn to_payload(&self) -> Result<Vec<u8>, String> {
        let host_len = u32::try_from(self.host_id.len()).map_err(|_| "host id too long")?;
        let mut out = Vec::with_capacity(64 + self.host_id.len() + self.signed.len());
        out.extend_from_slice(&host_len.to_be_bytes());
        out.extend_from_slice(self.host_id.as_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.received_at_ms.to_be_bytes());
        out.extend_from_slice(&self.signed);
        Ok(out)
    }
    fn from_payload(payload: &[u8]) -> Result<Self, String> {
        let mut r = Reader(payload);
        let host_len =
            usize::try_from(u32::from_be_bytes(r.array()?)).map_err(|e| e.to_string())?;
        let host_id = String::from_utf8(r.take(host_len)?.to_vec()).map_err(|e| e.to_string())?;
        Ok(StoredReport {
            host_id,
            epoch: r.u64()?,
            seq: r.u64()?,
            digest: r.array()?,
            received_at_ms: r.i64()?,
            signed: r.rest().to_vec(),
        })
    }
}

/// `[domain i32][received_at][epoch][seq][state…]`.
impl Record for LatestDomain {
    fn to_payload(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(28 + self.state.len());
        out.extend_from_slice(&self.domain.to_be_bytes());
        out.extend_from_slice(&self.received_at_ms.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.state);
        Ok(out)
    }
    fn from_payload(payload: &[u8]) -> Result<Self, String> {
        let mut r = Reader(payload);
        Ok(LatestDomain {
            domain: i32::from_be_bytes(r.array()?),
            received_at_ms: r.i64()?,
            epoch: r.u64()?,
            seq: r.u64()?,
            state: r.rest().to_vec(),
        })
    }
}

// -- keys ----------------------------------------------------------------------------------------

/// `id 0x00`: the prefix of every per-host (or per-organisation) key.
pub(super) fn id_prefix(id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 17);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key
}

/// `prefix n(BE)`.
pub(super) fn with_u64(mut prefix: Vec<u8>, n: u64) -> Vec<u8> {
    prefix.extend_from_slice(&n.to_be_bytes());
    prefix
}

/// `host 0x00 epoch(BE)`.
pub(super) fn epoch_prefix(host: &str, epoch: u64) -> Vec<u8> {
    with_u64(id_prefix(host), epoch)
}

/// `host 0x00 epoch(BE) seq(BE)`.
pub(super) fn report_key(host: &str, epoch: u64, seq: u64) -> Vec<u8> {
    with_u64(epoch_prefix(host, epoch), seq)
}

/// `host 0x00 domain`, the domain's sign bit flipped so that keys sort as the numbers do.
pub(super) fn latest_key(host: &str, domain: i32) -> Vec<u8> {
    let mut key = id_prefix(host);
    key.extend_from_slice(&(domain as u32 ^ 0x8000_0000).to_be_bytes());
    key
}

/// `org 0x00 host 0x00`: the key of a host's findings.
pub(super) fn findings_prefix(org: &str, host: &str) -> Vec<u8> {
    let mut key = id_prefix(org);
    key.extend_from_slice(&id_prefix(host));
    key
}

/// The trailing big-endian u64 of a key (a sequence number or a counter).
pub(super) fn trailing_u64(tree: &str, key: &[u8]) -> Result<u64, StoreError> {
    key.len()
        .checked_sub(8)
        .and_then(|start| key.get(start..))
        .and_then(|tail| <[u8; 8]>::try_from(tail).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt {
            key: key_name(tree, key),
            reason: "key too short".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check<R: Record + PartialEq + std::fmt::Debug>(record: R) {
        let value = encode("t", b"k", &record).unwrap();
        assert_eq!(decode::<R>("t", b"k", &value).unwrap(), record);
        // Every single-byte change is caught, as is the same value under another key.
        for i in 0..value.len() {
            let mut bad = value.clone();
            bad[i] ^= 0x01;
            assert!(
                matches!(
                    decode::<R>("t", b"k", &bad),
                    Err(StoreError::Corrupt { .. })
                ),
                "byte {i}"
            );
        }
        assert!(matches!(
            decode::<R>("t", b"other", &value),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<R>("t", b"k", &value[..20]),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(
            decode::<R>("t", b"k", &[]),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn round_trips_and_detects_damage() {
        check(StoredReport {
            host_id: "h-1".into(),
            epoch: u64::MAX,
            seq: 7,
            digest: [9; 32],
            received_at_ms: -5,
            signed: vec![1, 2, 3],
        });
        check(LatestDomain {
            domain: -3,
            received_at_ms: 1,
            epoch: 2,
            seq: 3,
            state: vec![],
        });
        check(Org {
            id: "o".into(),
            name: "Mairie".into(),
            created_at_ms: 1,
        });
        check(Bytes(b"x\0y".to_vec()));
        let finding = |host: &str, check: &str, evidence: Vec<(u64, u64)>| FindingRecord {
            org: "mairie".into(),
            host_id: host.into(),
            hostname: format!("{host}.local").into(),
            check_id: check.into(),
            outcome: "fail".into(),
            severity: "high".into(),
            title_fr: "Mises à jour appliquées".into(),
            title_en: "Updates applied".into(),
            detail: "3 paquets en retard".into(),
            evaluated_at_ms: -7,
            evidence,
        };
        check(HostFindings(vec![]));
        check(HostFindings(vec![
            finding("h", "UPD-001", vec![(1, 2), (u64::MAX, 0)]),
            finding("h", "PWD-001", vec![]),
            // A finding of another host in the same record keeps its own identity.
            finding("other", "BKP-001", vec![(3, 4)]),
            finding("h", "FW-001", vec![(5, 6)]),
        ]));
    }

    #[test]
    fn host_findings_refuse_hostile_payloads() {
        // A count far beyond the bytes present, an unknown tag and trailing bytes are refused.
        assert!(HostFindings::from_payload(&u32::MAX.to_be_bytes()).is_err());
        assert!(HostFindings::from_payload(&[0, 0, 0, 0, 9]).is_err());
        let mut one = HostFindings(vec![FindingRecord {
            org: "o".into(),
            host_id: "h".into(),
            hostname: "n".into(),
            check_id: "c".into(),
            outcome: "pass".into(),
            severity: "low".into(),
            title_fr: "".into(),
            title_en: "".into(),
            detail: String::new(),
            evaluated_at_ms: 0,
            evidence: vec![],
        }])
        .to_payload()
        .unwrap();
        let tag = 4 + 3 * 4 + 3;
        one[tag] = 7;
        assert!(HostFindings::from_payload(&one).is_err());
        one[tag] = SAME_HOST;
        assert!(HostFindings::from_payload(&one).is_ok());
        one.push(0);
        assert!(HostFindings::from_payload(&one).is_err());
    }

    #[test]
    fn one_decoder_shares_repeated_values_and_still_checks_every_one() {
        let finding = |host: &str, check: &str, outcome: &str, title: &str| FindingRecord {
            org: "mairie".into(),
            host_id: host.into(),
            hostname: format!("{host}.local").into(),
            check_id: check.into(),
            outcome: outcome.into(),
            severity: "high".into(),
            title_fr: title.into(),
            title_en: "Updates".into(),
            detail: format!("{host} {check}"),
            evaluated_at_ms: 1,
            evidence: vec![(1, 2)],
        };
        let hosts = [
            vec![
                finding("a", "UPD-001", "fail", "Mises à jour"),
                finding("a", "PWD-001", "pass", "Mots de passe"),
            ],
            // Another host: same checks, another outcome at the same place, then a check id and a
            // title no catalogue knows, and a finding of a third host.
            vec![
                finding("b", "UPD-001", "pass", "Mises à jour"),
                finding("b", "ZZZ-999", "pass", "\u{202e} titre hostile"),
                finding("c", "PWD-001", "fail", "Mots de passe"),
            ],
        ];
        let payloads: Vec<Vec<u8>> = hosts
            .iter()
            .map(|h| HostFindings(h.clone()).to_payload().unwrap())
            .collect();
        let mut decoder = FindingsDecoder::default();
        let mut out = Vec::new();
        for payload in &payloads {
            decoder.decode_into(payload, &mut out).unwrap();
        }
        assert_eq!(out, hosts.concat());
        let same = |a: &SharedStr, b: &SharedStr| a.as_ptr() == b.as_ptr();
        // One allocation per host identity and per distinct value across hosts.
        assert!(same(&out[0].hostname, &out[1].hostname));
        assert!(!same(&out[1].hostname, &out[2].hostname));
        assert!(same(&out[0].org, &out[2].org));
        assert!(same(&out[0].title_fr, &out[2].title_fr));
        assert!(same(&out[1].outcome, &out[2].outcome));
        assert!(same(&out[0].outcome, &out[4].outcome));
        assert!(same(&out[0].severity, &out[3].severity));
        // A value that is not UTF-8 is refused whether or not it sits where a known value was.
        let mut bad = HostFindings(vec![finding("d", "UPD-001", "fail", "Mises à jour")])
            .to_payload()
            .unwrap();
        let at = bad.windows(7).position(|w| w == b"UPD-001").unwrap();
        bad[at] = 0xff;
        assert!(decoder.decode_into(&bad, &mut Vec::new()).is_err());
        let title = bad.windows(4).position(|w| w == b"Mise").unwrap();
        bad[at] = b'U';
        bad[title] = 0xc3;
        assert!(decoder.decode_into(&bad, &mut Vec::new()).is_err());
        bad[title] = b'M';
        let mut again = Vec::new();
        decoder.decode_into(&bad, &mut again).unwrap();
        assert_eq!(again[0].check_id, "UPD-001");
    }

    #[test]
    fn keys_sort_numerically() {
        assert!(latest_key("h", -1) < latest_key("h", 0));
        assert!(latest_key("h", 0) < latest_key("h", 1));
        assert!(report_key("h", 1, u64::MAX) < report_key("h", 2, 0));
        assert_eq!(trailing_u64("t", &report_key("h", 1, 42)).unwrap(), 42);
        assert!(trailing_u64("t", b"short").is_err());
    }
}
