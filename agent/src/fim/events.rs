//! Changes waiting for the outbox, one per path (the `pending` tree), and their evidence form.
//!
//! A change to a path that already has a pending event merges into it (the state before the first
//! change, the state now): that is how a burst coalesces per path while the outbox is busy, so the
//! number of pending events is bounded by the number of watched paths, nothing is dropped and other
//! evidence keeps its place in the outbox. A path that comes back to its baseline state before its
//! event left drops out (its final state does not differ). Per-path rate limits hold a noisy path's
//! event until its hour ends; renames are paired (same inode and content) when a batch is built.

use std::collections::{HashMap, HashSet};

use vigie_proto::v1::{file_event::Kind, FileEvent};

use super::record::{key_of, path_of, wire_path, FileType, Record};
use super::scan::Change;
use super::store::{meta, Store, StoreError};

const HOUR_MS: i64 = 3_600_000;
/// Paths tracked by the rate limiter before it forgets the oldest hour.
const MAX_TRACKED_PATHS: usize = 20_000;

/// How a change is explained.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    /// `package-verified`, `unverified`, `unwatched` (left the watched set through a configuration
    /// change) or empty.
    pub tag: String,
    pub package: String,
    pub version: String,
}

/// One path's pending event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub old: Option<Record>,
    pub new: Option<Record>,
    pub first_ms: i64,
    pub count: u32,
    pub attribution: Attribution,
}

impl Pending {
    fn encode(&self) -> Vec<u8> {
        let mut out = vec![1u8];
        out.extend_from_slice(&self.first_ms.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
        for r in [&self.old, &self.new] {
            match r {
                Some(r) => put(&mut out, &r.encode()),
                None => out.extend_from_slice(&u32::MAX.to_le_bytes()),
            }
        }
        for s in [
            &self.attribution.tag,
            &self.attribution.package,
            &self.attribution.version,
        ] {
            put(&mut out, s.as_bytes());
        }
        out
    }

    fn decode(b: &[u8]) -> Option<Pending> {
        let mut r = b;
        if take(&mut r, 1)? != [1] {
            return None;
        }
        let first_ms = i64::from_le_bytes(take(&mut r, 8)?.try_into().ok()?);
        let count = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?);
        let mut recs = [None, None];
        for slot in &mut recs {
            let n = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?);
            if n != u32::MAX {
                *slot = Some(Record::decode(take(&mut r, n as usize)?)?);
            }
        }
        let mut strs = [String::new(), String::new(), String::new()];
        for s in &mut strs {
            let n = u32::from_le_bytes(take(&mut r, 4)?.try_into().ok()?);
            *s = String::from_utf8_lossy(take(&mut r, n as usize)?).into_owned();
        }
        let [old, new] = recs;
        let [tag, package, version] = strs;
        Some(Pending {
            old,
            new,
            first_ms,
            count,
            attribution: Attribution {
                tag,
                package,
                version,
            },
        })
    }
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

fn take<'a>(r: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if r.len() < n {
        return None;
    }
    let (h, t) = r.split_at(n);
    *r = t;
    Some(h)
}

/// Adds changes to the pending set, merging per path. `attribute` explains each change.
pub fn add_changes(
    store: &Store,
    changes: Vec<Change>,
    now_ms: i64,
    attribute: &mut dyn FnMut(&Change) -> Attribution,
) -> Result<(), StoreError> {
    let mut coalesced = 0i64;
    for c in changes {
        let key = key_of(&c.path);
        let attribution = if c.unwatched {
            Attribution {
                tag: "unwatched".to_owned(),
                ..Attribution::default()
            }
        } else {
            attribute(&c)
        };
        let merged = match store.pending.get(&key).map_err(store.err())? {
            Some(v) => {
                coalesced += 1;
                match Pending::decode(&v) {
                    Some(p) => Pending {
                        old: p.old,
                        new: c.new,
                        first_ms: p.first_ms,
                        count: p.count.saturating_add(1),
                        attribution,
                    },
                    None => Pending {
                        old: c.old,
                        new: c.new,
                        first_ms: now_ms,
                        count: 1,
                        attribution,
                    },
                }
            }
            None => Pending {
                old: c.old,
                new: c.new,
                first_ms: now_ms,
                count: 1,
                attribution,
            },
        };
        let back_to_start = match (&merged.old, &merged.new) {
            (None, None) => true,
            (Some(o), Some(n)) => o.changed_fields(n).is_empty(),
            _ => false,
        };
        if back_to_start {
            store.pending.remove(&key).map_err(store.err())?;
        } else {
            store
                .pending
                .insert(key, merged.encode())
                .map_err(store.err())?;
        }
    }
    if coalesced > 0 {
        store.add_meta_i64(meta::COALESCED, coalesced)?;
    }
    Ok(())
}

/// Per-path rate limit: events sent per path in the current hour.
#[derive(Debug, Default)]
pub struct RateLimit {
    limit: u32,
    sent: HashMap<Vec<u8>, (i64, u32)>,
    held: HashSet<Vec<u8>>,
}

impl RateLimit {
    pub fn new(limit: u32) -> RateLimit {
        RateLimit {
            limit,
            sent: HashMap::new(),
            held: HashSet::new(),
        }
    }

    /// Whether `key` may send an event now; a path newly held back is counted in `newly_held`.
    fn allows(&mut self, key: &[u8], now_ms: i64, newly_held: &mut u64) -> bool {
        let ok = match self.sent.get(key) {
            Some((start, n)) => now_ms - start >= HOUR_MS || *n < self.limit,
            None => true,
        };
        if !ok && self.held.len() < MAX_TRACKED_PATHS && self.held.insert(key.to_vec()) {
            *newly_held += 1;
        }
        ok
    }

    fn record(&mut self, key: &[u8], now_ms: i64) {
        if self.sent.len() >= MAX_TRACKED_PATHS {
            self.sent.retain(|_, (start, _)| now_ms - *start < HOUR_MS);
            if self.sent.len() >= MAX_TRACKED_PATHS {
                self.sent.clear();
            }
        }
        self.held.remove(key);
        let e = self.sent.entry(key.to_vec()).or_insert((now_ms, 0));
        if now_ms - e.0 >= HOUR_MS {
            *e = (now_ms, 0);
        }
        e.1 = e.1.saturating_add(1);
    }
}

/// Events ready to leave, the pending keys they stand for, and paths newly held by the rate limit.
pub type Batch = (Vec<FileEvent>, Vec<Vec<u8>>, u64);

/// Takes up to `max` pending events that may leave now, in path order, as evidence (renames
/// paired). Returns them with the keys to delete once they are in the outbox, and how many paths
/// the rate limit newly held back.
pub fn take_batch(
    store: &Store,
    max: usize,
    limit: &mut RateLimit,
    now_ms: i64,
) -> Result<Batch, StoreError> {
    let mut picked: Vec<(Vec<u8>, Pending)> = Vec::new();
    let mut held = 0u64;
    for kv in store.pending.iter() {
        let (k, v) = kv.map_err(store.err())?;
        if picked.len() >= max {
            break;
        }
        if !limit.allows(&k, now_ms, &mut held) {
            continue;
        }
        match Pending::decode(&v) {
            Some(p) => picked.push((k.to_vec(), p)),
            None => {
                store.pending.remove(&k).map_err(store.err())?;
            }
        }
    }
    for (k, _) in &picked {
        limit.record(k, now_ms);
    }
    let keys: Vec<Vec<u8>> = picked.iter().map(|(k, _)| k.clone()).collect();
    Ok((to_events(picked, now_ms), keys, held))
}

/// Deletes events that are now in the outbox.
pub fn forget(store: &Store, keys: &[Vec<u8>]) -> Result<(), StoreError> {
    for k in keys {
        store.pending.remove(k).map_err(store.err())?;
    }
    Ok(())
}

fn to_events(picked: Vec<(Vec<u8>, Pending)>, now_ms: i64) -> Vec<FileEvent> {
    // Renames: a removal and a creation of the same inode with the same content.
    let mut created_by_ino: HashMap<(u64, Option<[u8; 32]>), usize> = HashMap::new();
    for (i, (_, p)) in picked.iter().enumerate() {
        if let (None, Some(n)) = (&p.old, &p.new) {
            if n.ftype != FileType::Dir && n.ino != 0 {
                created_by_ino.insert((n.ino, n.sha256), i);
            }
        }
    }
    let mut renamed_from: HashMap<usize, Vec<u8>> = HashMap::new();
    let mut skip = vec![false; picked.len()];
    for (i, (k, p)) in picked.iter().enumerate() {
        if let (Some(o), None) = (&p.old, &p.new) {
            if let Some(&j) = created_by_ino.get(&(o.ino, o.sha256)) {
                if let std::collections::hash_map::Entry::Vacant(e) = renamed_from.entry(j) {
                    e.insert(path_of(k));
                    if let Some(s) = skip.get_mut(i) {
                        *s = true;
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(picked.len());
    for (i, (k, p)) in picked.into_iter().enumerate() {
        if skip.get(i).copied().unwrap_or(false) {
            continue;
        }
        let path = path_of(&k);
        let mut ev = FileEvent {
            path: Some(wire_path(&path)),
            at_ms: if p.first_ms > 0 { p.first_ms } else { now_ms },
            attribution: p.attribution.tag.clone(),
            package: p.attribution.package.clone(),
            package_version: p.attribution.version.clone(),
            coalesced: p.count,
            ..Default::default()
        };
        if let Some(from) = renamed_from.remove(&i) {
            ev.kind = Kind::Renamed as i32;
            ev.from_path = Some(wire_path(&from));
        } else {
            ev.kind = match (&p.old, &p.new) {
                (None, _) => Kind::Created,
                (_, None) => Kind::Removed,
                (Some(o), Some(n)) => {
                    let changed = o.changed_fields(n);
                    ev.changed = changed.iter().map(|s| (*s).to_owned()).collect();
                    if changed
                        .iter()
                        .any(|f| matches!(*f, "content" | "size" | "type" | "link_target"))
                    {
                        Kind::Modified
                    } else {
                        Kind::Metadata
                    }
                }
            } as i32;
        }
        if let Some(o) = &p.old {
            ev.previous = Some(o.to_proto());
            ev.previous_sha256 = o.sha256.map(|d| d.to_vec()).unwrap_or_default();
        }
        if let Some(n) = &p.new {
            ev.meta = Some(n.to_proto());
            ev.sha256 = n.sha256.map(|d| d.to_vec()).unwrap_or_default();
        }
        out.push(ev);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ino: u64, content: u8) -> Record {
        Record {
            ftype: FileType::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            size: 1,
            mtime_ns: 1,
            ctime_ns: 1,
            ino,
            sha256: Some([content; 32]),
            link: None,
            error: None,
        }
    }

    fn change(p: &str, old: Option<Record>, new: Option<Record>) -> Change {
        Change {
            path: p.as_bytes().to_vec(),
            old,
            new,
            unwatched: false,
        }
    }

    fn none(_: &Change) -> Attribution {
        Attribution::default()
    }

    #[test]
    fn changes_coalesce_per_path_and_cancel_out() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut changes = Vec::new();
        // 10 successive writes of one file: one pending event, from the first state to the last.
        let mut prev = rec(5, 0);
        for i in 1..=10u8 {
            let mut n = rec(5, i);
            n.mtime_ns = i64::from(i);
            changes.push(change("/etc/a", Some(prev.clone()), Some(n.clone())));
            prev = n;
        }
        // Created then removed: nothing.
        changes.push(change("/etc/tmp", None, Some(rec(6, 1))));
        changes.push(change("/etc/tmp", Some(rec(6, 1)), None));
        // Mode changed then changed back: nothing.
        let mut m1 = rec(7, 1);
        m1.mode = 0o777;
        changes.push(change("/etc/b", Some(rec(7, 1)), Some(m1.clone())));
        changes.push(change("/etc/b", Some(m1), Some(rec(7, 1))));
        add_changes(&store, changes, 1000, &mut none).unwrap();
        assert_eq!(store.pending.len(), 1);
        assert_eq!(store.meta_i64(meta::COALESCED), 11);
        let mut limit = RateLimit::new(60);
        let (evs, keys, held) = take_batch(&store, 100, &mut limit, 2000).unwrap();
        assert_eq!(held, 0);
        assert_eq!(evs.len(), 1);
        let e = &evs[0];
        assert_eq!(e.kind, Kind::Modified as i32);
        assert_eq!(e.coalesced, 10);
        assert_eq!(e.at_ms, 1000);
        assert_eq!(e.changed, vec!["content", "mtime"]);
        assert_eq!(e.previous_sha256, vec![0; 32]);
        assert_eq!(e.sha256, vec![10; 32]);
        forget(&store, &keys).unwrap();
        assert!(store.pending.is_empty());
    }

    #[test]
    fn renames_pair_by_inode_and_content_and_rate_limits_hold_noisy_paths() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        add_changes(
            &store,
            vec![
                change("/etc/old", Some(rec(9, 3)), None),
                change("/etc/new", None, Some(rec(9, 3))),
                change("/etc/other", None, Some(rec(10, 3))),
            ],
            5,
            &mut none,
        )
        .unwrap();
        let mut limit = RateLimit::new(1);
        let (evs, keys, _) = take_batch(&store, 100, &mut limit, 10).unwrap();
        let kinds: Vec<(i32, Vec<u8>)> = evs
            .iter()
            .map(|e| (e.kind, e.path.as_ref().unwrap().raw.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Kind::Renamed as i32, b"/etc/new".to_vec()),
                (Kind::Created as i32, b"/etc/other".to_vec())
            ]
        );
        assert_eq!(evs[0].from_path.as_ref().unwrap().raw, b"/etc/old");
        forget(&store, &keys).unwrap();
        // /etc/other already sent once this hour: its next change waits for the hour to end.
        let mut again = rec(10, 4);
        again.mtime_ns = 9;
        add_changes(
            &store,
            vec![change("/etc/other", Some(rec(10, 3)), Some(again))],
            20,
            &mut none,
        )
        .unwrap();
        let (evs, _, held) = take_batch(&store, 100, &mut limit, 30).unwrap();
        assert!(evs.is_empty());
        assert_eq!(held, 1);
        let (evs, _, held) = take_batch(&store, 100, &mut limit, 40).unwrap();
        assert_eq!((evs.len(), held), (0, 0), "held once, counted once");
        let (evs, _, held) = take_batch(&store, 100, &mut limit, 10 + HOUR_MS).unwrap();
        assert_eq!((evs.len(), held), (1, 0));
    }

    #[test]
    fn pending_encoding_round_trips() {
        let p = Pending {
            old: None,
            new: Some(rec(1, 2)),
            first_ms: -3,
            count: 7,
            attribution: Attribution {
                tag: "package-verified".into(),
                package: "base-files".into(),
                version: "12.4".into(),
            },
        };
        assert_eq!(Pending::decode(&p.encode()), Some(p.clone()));
        let enc = p.encode();
        for n in 0..enc.len() {
            assert_eq!(Pending::decode(&enc[..n]), None);
        }
    }
}
