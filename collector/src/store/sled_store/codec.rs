//! Keys and checksummed values of the sled store.
//!
//! Every value is `[version = 1][SHA-256(version || key length || key || payload)][payload]`, so a
//! flipped bit, a torn value or a value found under another key is reported as
//! [`StoreError::Corrupt`] and never served. Payloads are compact binary for the bulky records
//! (stored reports, latest domain states) and JSON for the small ones.
//!
//! Keys: ids are followed by a 0x00 separator (host ids are UUIDs and organisation ids slugs; readers
//! also check the decoded record's id), integers are big-endian so that sled's order is theirs.

use sha2::{Digest, Sha256};

use crate::store::ContractorPolicyRecord;
use crate::store::{
    AuditRecord, FindingRecord, HostRecord, KeyEvent, LatestDomain, Org, PingJob, SecurityEvent,
    StoreError, StoredReport, TokenRecord,
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
    let mut out = Vec::with_capacity(1 + SUM_LEN + payload.len());
    out.push(VERSION);
    out.extend_from_slice(&checksum(key, &payload));
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Checks and decodes a value read from `key` of `tree`.
pub(super) fn decode<R: Record>(tree: &str, key: &[u8], value: &[u8]) -> Result<R, StoreError> {
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
    R::from_payload(payload).map_err(corrupt)
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

/// `org 0x00 host 0x00`.
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
