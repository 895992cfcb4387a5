//! File integrity at the collector: what it keeps of each host (derived from the stored reports, so
//! `rebuild` recreates it) and the view the evaluator judges.
//!
//! File integrity is the one domain that is not only convergent state: the host sends a status with
//! each probe cycle, events as they happen, and now and then every directory digest of its baseline
//! (a Merkle tree, in chunks). The collector keeps the newest status, the recent events, the last
//! complete set of digests, and the directories that events touched since. When a new set of
//! digests is complete, every directory whose digest moved must have been touched by an event: one
//! that moved silently means the host's baseline was rewritten behind the monitor's back (FIM-003).
//! Reports the host dropped from a full outbox make that comparison impossible, and it says so.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use vigie_policies::DomainEvidence;
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::file_integrity::Part;
use vigie_proto::v1::{
    self, Domain, DomainState, FileEvent, FileIntegrity, FimCollectorView, FimEventCount, Report,
};
use vigie_proto::Message;

use crate::store::{Candidate, Store, StoreError};

/// Events kept for the view.
const MAX_RECENT: usize = 200;
/// How long events and overflows stay in the view.
const WINDOW_MS: i64 = 7 * 86_400_000;
/// Report ids remembered so that re-deriving never applies a report twice.
const MAX_APPLIED: usize = 8_192;
/// Directories named in a mismatch.
const MAX_MISMATCHED: usize = 20;
/// Directories remembered as touched before the collector gives up and marks everything touched.
const MAX_TOUCHED: usize = 200_000;

const HOUR_MS: i64 = 3_600_000;

const LEDGER: &str = "ledger";
const DIGESTS: &str = "digests";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stamped {
    received_at_ms: i64,
    epoch: u64,
    seq: u64,
    /// Encoded message, hex.
    bytes: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SyncProgress {
    sync_id: String,
    count: u32,
    received: BTreeSet<u32>,
}

/// What the collector keeps per host.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Ledger {
    /// Newest status (an encoded `DomainState`: a probe error stays an error).
    status: Option<Stamped>,
    /// Newest file-integrity report of any part.
    last: Option<(i64, u64, u64)>,
    applied: VecDeque<(u64, u64)>,
    /// Encoded `FileEvent`s, oldest first.
    recent: VecDeque<Stamped>,
    omitted: u64,
    /// Events per hour of receipt: hour start → (unexplained, explained).
    #[serde(default)]
    hourly: BTreeMap<i64, (u64, u64)>,
    /// Receive times of reports that told of new overflows.
    overflows: VecDeque<i64>,
    overflow_counter: u64,
    /// Directories (hex of the path) touched by events since the last complete sync; `/` is the top.
    touched: BTreeSet<String>,
    /// Events may have been lost (the host dropped reports): the next comparison cannot decide.
    touched_all: bool,
    sync: Option<SyncProgress>,
    last_sync_ms: i64,
    last_sync_result: String,
    last_mismatch_ms: i64,
    mismatched: Vec<String>,
}

async fn load(store: &dyn Store, host: &str) -> Result<Ledger, StoreError> {
    Ok(match store.fim(host, LEDGER).await? {
        Some(b) => serde_json::from_slice(&b).unwrap_or_default(),
        None => Ledger::default(),
    })
}

fn touch(l: &mut Ledger, path: &[u8]) {
    if l.touched.len() >= MAX_TOUCHED {
        l.touched_all = true;
        return;
    }
    l.touched.insert(hex::encode(b"/"));
    let mut p = path;
    while !p.is_empty() && p != b"/" {
        l.touched.insert(hex::encode(p));
        match p.iter().rposition(|&b| b == b'/') {
            Some(0) | None => break,
            Some(i) => p = p.get(..i).unwrap_or_default(),
        }
    }
}

/// Folds the file-integrity parts of newly stored reports into the host's ledger.
pub async fn fold(
    store: &dyn Store,
    host: &str,
    reports: &[(Candidate, Report)],
) -> Result<(), StoreError> {
    let relevant = reports.iter().any(|(_, r)| {
        r.outbox_dropped > 0
            || r.domains
                .iter()
                .any(|d| d.domain == Domain::FileIntegrity as i32)
    });
    if !relevant {
        return Ok(());
    }
    let mut l = load(store, host).await?;
    let mut writes: Vec<(String, Option<Vec<u8>>)> = Vec::new();
    let mut chunks: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    for (cand, report) in reports {
        let id = (cand.epoch, cand.seq);
        let fim: Vec<&DomainState> = report
            .domains
            .iter()
            .filter(|d| d.domain == Domain::FileIntegrity as i32)
            .collect();
        if (fim.is_empty() && report.outbox_dropped == 0) || l.applied.contains(&id) {
            continue;
        }
        l.applied.push_back(id);
        while l.applied.len() > MAX_APPLIED {
            l.applied.pop_front();
        }
        if report.outbox_dropped > 0 {
            l.touched_all = true;
        }
        for st in fim {
            let stamp = (cand.received_at_ms, cand.epoch, cand.seq);
            if l.last.is_none_or(|x| x <= stamp) {
                l.last = Some(stamp);
            }
            let fi = match &st.state {
                Some(State::FileIntegrity(fi)) => fi,
                _ => {
                    // A failed status probe: it replaces the status.
                    l.status = Some(Stamped {
                        received_at_ms: cand.received_at_ms,
                        epoch: cand.epoch,
                        seq: cand.seq,
                        bytes: hex::encode(st.encode_to_vec()),
                    });
                    continue;
                }
            };
            if fi.overflows > l.overflow_counter {
                l.overflows.push_back(cand.received_at_ms);
                l.overflow_counter = fi.overflows;
            }
            match Part::try_from(fi.part).unwrap_or(Part::Unspecified) {
                Part::Status | Part::Unspecified => {
                    let mut st = st.clone();
                    if let Some(State::FileIntegrity(f)) = &mut st.state {
                        f.collector_view = None;
                        f.events.clear();
                        f.baseline_digests.clear();
                    }
                    l.status = Some(Stamped {
                        received_at_ms: cand.received_at_ms,
                        epoch: cand.epoch,
                        seq: cand.seq,
                        bytes: hex::encode(st.encode_to_vec()),
                    });
                }
                Part::Events => {
                    for ev in &fi.events {
                        for p in [&ev.path, &ev.from_path].into_iter().flatten() {
                            touch(&mut l, &p.raw);
                        }
                        let hour = cand.received_at_ms - cand.received_at_ms.rem_euclid(HOUR_MS);
                        let slot = l.hourly.entry(hour).or_insert((0, 0));
                        if matches!(ev.attribution.as_str(), "package-verified" | "unwatched") {
                            slot.1 += 1;
                        } else {
                            slot.0 += 1;
                        }
                        l.recent.push_back(Stamped {
                            received_at_ms: cand.received_at_ms,
                            epoch: cand.epoch,
                            seq: cand.seq,
                            bytes: hex::encode(bounded(ev).encode_to_vec()),
                        });
                        if l.recent.len() > MAX_RECENT {
                            l.recent.pop_front();
                            l.omitted += 1;
                        }
                    }
                }
                Part::Digests => {
                    let sync_id = fi
                        .digest_sync
                        .as_ref()
                        .map(|s| s.sync_id.clone())
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| st.state_id.clone());
                    let count = st.chunk_count.max(1);
                    if l.sync
                        .as_ref()
                        .is_none_or(|s| s.sync_id != sync_id || s.count != count)
                    {
                        if let Some(old) = l.sync.take() {
                            for i in 0..old.count {
                                writes.push((format!("chunk:{i}"), None));
                            }
                        }
                        chunks.clear();
                        l.sync = Some(SyncProgress {
                            sync_id,
                            count,
                            received: BTreeSet::new(),
                        });
                    }
                    let bytes = fi.encode_to_vec();
                    chunks.insert(st.chunk_index, bytes.clone());
                    writes.push((format!("chunk:{}", st.chunk_index), Some(bytes)));
                    let complete = match &mut l.sync {
                        Some(s) => {
                            s.received.insert(st.chunk_index);
                            s.received.len() as u32 >= s.count
                        }
                        None => false,
                    };
                    if complete {
                        let count = l.sync.as_ref().map_or(0, |s| s.count);
                        let mut parts = Vec::new();
                        for i in 0..count {
                            let b = match chunks.get(&i) {
                                Some(b) => Some(b.clone()),
                                None => store.fim(host, &format!("chunk:{i}")).await?,
                            };
                            if let Some(b) =
                                b.and_then(|b| FileIntegrity::decode(b.as_slice()).ok())
                            {
                                parts.push(b);
                            }
                        }
                        let merged = merge(parts);
                        let old = store
                            .fim(host, DIGESTS)
                            .await?
                            .and_then(|b| FileIntegrity::decode(b.as_slice()).ok());
                        compare(&mut l, old.as_ref(), &merged, cand.received_at_ms);
                        writes.push((DIGESTS.to_owned(), Some(merged.encode_to_vec())));
                        for i in 0..count {
                            writes.push((format!("chunk:{i}"), None));
                        }
                        chunks.clear();
                        l.sync = None;
                    }
                }
            }
        }
    }
    if let Some(&(newest, _, _)) = l.last.as_ref() {
        l.hourly.retain(|h, _| newest - *h <= WINDOW_MS + HOUR_MS);
    }
    let ledger = serde_json::to_vec(&l).map_err(|e| StoreError::Corrupt {
        key: format!("fim ledger of {host}"),
        reason: e.to_string(),
    })?;
    writes.push((LEDGER.to_owned(), Some(ledger)));
    store.put_fim(host, writes).await
}

/// The chunks of one sync as one set of digests.
fn merge(parts: Vec<FileIntegrity>) -> FileIntegrity {
    let mut out = FileIntegrity {
        part: Part::Digests as i32,
        ..FileIntegrity::default()
    };
    for p in parts {
        if out.digest_sync.is_none() {
            out.digest_sync = p.digest_sync;
        }
        out.baseline_digests.extend(p.baseline_digests);
    }
    out
}

fn digest_map(fi: &FileIntegrity) -> BTreeMap<Vec<u8>, Vec<u8>> {
    fi.baseline_digests
        .iter()
        .filter_map(|d| Some((d.directory.as_ref()?.raw.clone(), d.sha256.clone())))
        .collect()
}

/// Compares a complete new set of digests with the previous one.
fn compare(l: &mut Ledger, old: Option<&FileIntegrity>, new: &FileIntegrity, at_ms: i64) {
    l.last_sync_ms = at_ms;
    let result = match old {
        None => "first".to_owned(),
        Some(_) if l.touched_all => "unverifiable".to_owned(),
        Some(old) => {
            let (a, b) = (digest_map(old), digest_map(new));
            let mut silent: Vec<Vec<u8>> = Vec::new();
            for dir in a.keys().chain(b.keys()).collect::<BTreeSet<_>>() {
                if a.get(dir) != b.get(dir) && !l.touched.contains(&hex::encode(dir)) {
                    silent.push(dir.clone());
                }
            }
            let top = |f: &FileIntegrity| f.digest_sync.as_ref().map(|s| s.root_sha256.clone());
            if top(old) != top(new) && !l.touched.contains(&hex::encode(b"/")) {
                silent.insert(0, b"/".to_vec());
            }
            if silent.is_empty() {
                "match".to_owned()
            } else {
                l.last_mismatch_ms = at_ms;
                l.mismatched = silent
                    .iter()
                    .take(MAX_MISMATCHED)
                    .map(hex::encode)
                    .collect();
                "mismatch".to_owned()
            }
        }
    };
    l.last_sync_result = result;
    l.touched.clear();
    l.touched_all = false;
}

/// Longest content diff kept per event (the agent sends at most 8 KiB; host data is hostile).
const MAX_DIFF_BYTES: usize = 8 * 1024;
/// Longest note kept per event.
const MAX_NOTE_BYTES: usize = 64;

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// An event as the ledger keeps it: its content diff and note bounded.
fn bounded(ev: &FileEvent) -> FileEvent {
    let mut ev = ev.clone();
    cut(&mut ev.content_diff, MAX_DIFF_BYTES);
    cut(&mut ev.content_diff_note, MAX_NOTE_BYTES);
    ev
}

/// Host text for a terminal: control characters, bidirectional overrides and other invisible
/// format characters as `\u{…}`, backslashes doubled; everything else (accents, «») as is.
pub fn escape_host(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}' | '\u{feff}');
        if c == '\\' {
            out.push_str("\\\\");
        } else if c.is_control() || invisible {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A host's recent file-integrity events for `host fim-events`, newest last: one line per event
/// (receive time in ms, kind, path, attribution, changed fields), then its content diff, if any,
/// one escaped line each after `    | `, or the note saying why an allowlisted file has none.
pub async fn events_text(store: &dyn Store, host: &str) -> Result<String, StoreError> {
    let l = load(store, host).await?;
    let mut out = String::new();
    if l.omitted > 0 {
        out.push_str(&format!("({} older events omitted)\n", l.omitted));
    }
    for s in &l.recent {
        let Some(ev) = hex::decode(&s.bytes)
            .ok()
            .and_then(|b| FileEvent::decode(b.as_slice()).ok())
        else {
            continue;
        };
        let kind = v1::file_event::Kind::try_from(ev.kind)
            .map(|k| k.as_str_name().to_ascii_lowercase())
            .unwrap_or_else(|_| "unknown".into());
        let path = |p: &Option<v1::Path>| {
            let mut t = String::new();
            for chunk in p.as_ref().map_or(&[][..], |p| &p.raw).utf8_chunks() {
                t.push_str(&escape_host(chunk.valid()));
                for b in chunk.invalid() {
                    t.push_str(&format!("\\x{b:02x}"));
                }
            }
            t
        };
        out.push_str(&format!("{} {kind} {}", s.received_at_ms, path(&ev.path)));
        if ev.from_path.is_some() {
            out.push_str(&format!(" from {}", path(&ev.from_path)));
        }
        if !ev.attribution.is_empty() {
            out.push_str(&format!(" [{}]", escape_host(&ev.attribution)));
        }
        if !ev.changed.is_empty() {
            out.push_str(&format!(" changed: {}", escape_host(&ev.changed.join(","))));
        }
        out.push('\n');
        for line in ev.content_diff.lines() {
            out.push_str(&format!("    | {}\n", escape_host(line)));
        }
        if !ev.content_diff_note.is_empty() {
            out.push_str(&format!(
                "    (no diff: {})\n",
                escape_host(&ev.content_diff_note)
            ));
        }
    }
    Ok(out)
}

/// The file-integrity evidence the evaluator judges: the newest status with the collector's view
/// (recent events, digest comparisons, overflows) inside. `None` when the host never sent any.
pub async fn evidence(
    store: &dyn Store,
    host: &str,
    now_ms: i64,
) -> Result<Option<DomainEvidence>, StoreError> {
    let l = load(store, host).await?;
    let Some(last) = l.last else {
        return Ok(None);
    };
    let (mut state, received_at_ms, evidence_ref) = match &l.status {
        Some(s) => {
            let st = hex::decode(&s.bytes)
                .ok()
                .and_then(|b| DomainState::decode(b.as_slice()).ok())
                .unwrap_or_default();
            (st, s.received_at_ms, (s.epoch, s.seq))
        }
        // Events or digests but no status yet: judged as a status saying nothing.
        None => (
            DomainState {
                domain: Domain::FileIntegrity as i32,
                probe_id: "fim.status".into(),
                state: Some(State::FileIntegrity(FileIntegrity {
                    part: Part::Status as i32,
                    ..FileIntegrity::default()
                })),
                ..DomainState::default()
            },
            last.0,
            (last.1, last.2),
        ),
    };
    state.domain = Domain::FileIntegrity as i32;
    if let Some(State::FileIntegrity(fi)) = &mut state.state {
        let recent: Vec<FileEvent> = l
            .recent
            .iter()
            .filter(|s| now_ms - s.received_at_ms <= WINDOW_MS)
            .filter_map(|s| {
                let b = hex::decode(&s.bytes).ok()?;
                let mut ev = FileEvent::decode(b.as_slice()).ok()?;
                // The collector's receive time is what windows use.
                ev.at_ms = ev.at_ms.min(s.received_at_ms);
                if ev.at_ms <= 0 {
                    ev.at_ms = s.received_at_ms;
                }
                Some(ev)
            })
            .collect();
        fi.collector_view = Some(FimCollectorView {
            recent_events: recent,
            recent_events_omitted: l.omitted,
            last_sync_ms: l.last_sync_ms,
            last_sync_result: l.last_sync_result.clone(),
            last_mismatch_ms: l.last_mismatch_ms,
            mismatched_directories: l
                .mismatched
                .iter()
                .filter_map(|h| hex::decode(h).ok())
                .map(|raw| v1::Path {
                    encoding: v1::path::Encoding::UnixBytes as i32,
                    raw,
                })
                .collect(),
            recent_overflows: l
                .overflows
                .iter()
                .filter(|t| now_ms - **t <= WINDOW_MS)
                .count() as u64,
            hourly: l
                .hourly
                .iter()
                .filter(|(h, _)| now_ms - **h <= WINDOW_MS + HOUR_MS)
                .map(|(h, (u, e))| FimEventCount {
                    hour_ms: *h,
                    unexplained: *u,
                    explained: *e,
                })
                .collect(),
        });
    }
    Ok(Some(DomainEvidence {
        received_at_ms,
        state,
        evidence_ref,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sled_store::SledStore;
    use vigie_proto::v1::{DigestSync, DirectoryDigest};

    fn path(p: &[u8]) -> Option<v1::Path> {
        Some(v1::Path {
            encoding: 1,
            raw: p.to_vec(),
        })
    }

    fn cand(seq: u64, at: i64) -> Candidate {
        Candidate {
            epoch: 1,
            seq,
            digest: [0; 32],
            received_at_ms: at,
            created_at_ms: at,
            signed: Vec::new(),
        }
    }

    fn report(states: Vec<DomainState>) -> Report {
        Report {
            domains: states,
            ..Report::default()
        }
    }

    fn fim(fi: FileIntegrity, chunk: Option<(&str, u32, u32)>) -> DomainState {
        let (id, i, n) = chunk.unwrap_or(("", 0, 0));
        DomainState {
            domain: Domain::FileIntegrity as i32,
            state_id: id.into(),
            chunk_index: i,
            chunk_count: n,
            state: Some(State::FileIntegrity(fi)),
            ..DomainState::default()
        }
    }

    fn digests(sync: &str, root: u8, dirs: &[(&str, u8)]) -> Vec<DomainState> {
        // One chunk per directory, to exercise reassembly.
        let n = dirs.len() as u32;
        dirs.iter()
            .enumerate()
            .map(|(i, (d, v))| {
                fim(
                    FileIntegrity {
                        part: Part::Digests as i32,
                        baseline_digests: vec![DirectoryDigest {
                            directory: path(d.as_bytes()),
                            sha256: vec![*v; 32],
                            entries: 1,
                        }],
                        digest_sync: Some(DigestSync {
                            sync_id: sync.into(),
                            root_sha256: vec![root; 32],
                            ..DigestSync::default()
                        }),
                        ..FileIntegrity::default()
                    },
                    Some((sync, i as u32, n)),
                )
            })
            .collect()
    }

    fn event(p: &str) -> DomainState {
        fim(
            FileIntegrity {
                part: Part::Events as i32,
                events: vec![FileEvent {
                    kind: 2,
                    path: path(p.as_bytes()),
                    ..FileEvent::default()
                }],
                ..FileIntegrity::default()
            },
            None,
        )
    }

    async fn view(store: &SledStore) -> FimCollectorView {
        let ev = evidence(store, "h", 10_000).await.unwrap().unwrap();
        match ev.state.state {
            Some(State::FileIntegrity(f)) => f.collector_view.unwrap(),
            _ => panic!(),
        }
    }

    #[tokio::test]
    async fn silent_digest_changes_are_mismatches_and_explained_ones_match() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        let base = [("/etc", 1), ("/etc/ssh", 2), ("/usr/bin", 3)];
        fold(
            &store,
            "h",
            &[(cand(1, 100), report(digests("s1", 1, &base)))],
        )
        .await
        .unwrap();
        assert_eq!(view(&store).await.last_sync_result, "first");
        // A change under /etc/ssh, with its event: match.
        let moved = [("/etc", 4), ("/etc/ssh", 5), ("/usr/bin", 3)];
        let batch = vec![
            (cand(2, 200), report(vec![event("/etc/ssh/sshd_config")])),
            (cand(3, 300), report(digests("s2", 2, &moved))),
        ];
        fold(&store, "h", &batch).await.unwrap();
        let v = view(&store).await;
        assert_eq!(v.last_sync_result, "match");
        assert_eq!(v.recent_events.len(), 1);
        assert_eq!(v.hourly.len(), 1);
        assert_eq!((v.hourly[0].unexplained, v.hourly[0].explained), (1, 0));
        // Applying the same reports again changes nothing (re-derivation is idempotent).
        fold(&store, "h", &batch).await.unwrap();
        let v = view(&store).await;
        assert_eq!(
            (v.last_sync_result.as_str(), v.recent_events.len()),
            ("match", 1)
        );
        // /usr/bin moves with no event: the baseline was rewritten.
        let silent = [("/etc", 4), ("/etc/ssh", 5), ("/usr/bin", 9)];
        fold(
            &store,
            "h",
            &[(cand(4, 400), report(digests("s3", 3, &silent)))],
        )
        .await
        .unwrap();
        let v = view(&store).await;
        assert_eq!(v.last_sync_result, "mismatch");
        assert_eq!(v.last_mismatch_ms, 400);
        let dirs: Vec<Vec<u8>> = v
            .mismatched_directories
            .iter()
            .map(|p| p.raw.clone())
            .collect();
        assert_eq!(dirs, vec![b"/".to_vec(), b"/usr/bin".to_vec()]);
        // Lost reports make the next comparison undecidable, not a mismatch.
        let mut lost = report(vec![]);
        lost.outbox_dropped = 3;
        fold(&store, "h", &[(cand(5, 500), lost)]).await.unwrap();
        let again = [("/etc", 7), ("/etc/ssh", 5), ("/usr/bin", 9)];
        fold(
            &store,
            "h",
            &[(cand(6, 600), report(digests("s4", 4, &again)))],
        )
        .await
        .unwrap();
        assert_eq!(view(&store).await.last_sync_result, "unverifiable");
    }

    #[tokio::test]
    async fn an_incomplete_sync_is_not_compared_and_a_new_one_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        let base = [("/etc", 1), ("/usr/bin", 3)];
        fold(
            &store,
            "h",
            &[(cand(1, 100), report(digests("s1", 1, &base)))],
        )
        .await
        .unwrap();
        let mut partial = digests("s2", 9, &[("/etc", 8), ("/usr/bin", 3)]);
        partial.truncate(1);
        fold(&store, "h", &[(cand(2, 200), report(partial))])
            .await
            .unwrap();
        assert_eq!(view(&store).await.last_sync_ms, 100);
        // A later sync with the same content as the first: match (the partial one is dropped).
        fold(
            &store,
            "h",
            &[(cand(3, 300), report(digests("s3", 1, &base)))],
        )
        .await
        .unwrap();
        let v = view(&store).await;
        assert_eq!(
            (v.last_sync_ms, v.last_sync_result.as_str()),
            (300, "match")
        );
    }

    #[tokio::test]
    async fn content_diffs_are_kept_bounded_and_shown_escaped() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8 << 20).unwrap();
        let mut hostile =
            "-PermitRootLogin no\n+PermitRootLogin yes \u{1b}[2J\u{202e}\\x\n".to_owned();
        hostile.push_str(&"+ligne\n".repeat(3_000));
        let st = fim(
            FileIntegrity {
                part: Part::Events as i32,
                events: vec![
                    FileEvent {
                        kind: 2,
                        path: path(b"/etc/ssh/sshd\n_config"),
                        content_diff: hostile,
                        content_diff_note: "x".repeat(500),
                        ..FileEvent::default()
                    },
                    FileEvent {
                        kind: 2,
                        path: path(b"/etc/motd"),
                        ..FileEvent::default()
                    },
                ],
                ..FileIntegrity::default()
            },
            None,
        );
        fold(&store, "h", &[(cand(1, 100), report(vec![st]))])
            .await
            .unwrap();
        let v = view(&store).await;
        assert_eq!(v.recent_events[0].content_diff.len(), MAX_DIFF_BYTES);
        assert_eq!(v.recent_events[0].content_diff_note.len(), MAX_NOTE_BYTES);
        let text = events_text(&store, "h").await.unwrap();
        assert!(
            text.contains("100 modified /etc/ssh/sshd\\u{a}_config\n"),
            "{text}"
        );
        assert!(text.contains("    | -PermitRootLogin no\n"), "{text}");
        assert!(
            text.contains("    | +PermitRootLogin yes \\u{1b}[2J\\u{202e}\\\\x\n"),
            "{text}"
        );
        assert!(!text.contains('\u{1b}') && !text.contains('\u{202e}'));
        assert!(text.ends_with("100 modified /etc/motd\n"), "{text}");
    }
}
