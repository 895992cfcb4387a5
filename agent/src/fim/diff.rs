//! Content diffs of allowlisted small text files (`[probes.fim] diff_paths`, opt-in: nothing is
//! diffed by default). The store keeps, for each allowlisted file, a copy of its text **after**
//! [`redact`](super::redact) masked its secret-looking values (tree `texts`), and while a change of
//! it waits for the outbox, the copy as the collector last knew it (tree `texts_reported`). An event
//! of a created or modified allowlisted file carries the unified diff of the two, capped at
//! [`MAX_DIFF_BYTES`], or a note saying why it has none.
//!
//! "Text" means valid UTF-8 without a NUL byte, no larger than `diff_max_bytes`. Globs that cover
//! `/etc/shadow`, `/etc/gshadow` (and their `-` backups) or `/etc/security/opasswd` are refused in
//! the configuration, and those paths are never read here whatever the globs say. At most
//! [`MAX_FILES`] copies are kept.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use rustix::fs::OFlags;
use sha2::{Digest, Sha256};
use vigie_proto::v1::{file_event::Kind, FileEvent};

use super::config::FimConfig;
use super::record::{display_path, key_of, key_within, path_of, FileType, Record};
use super::redact::redact;
use super::scan::Change;
use super::store::{Store, StoreError};
use super::walk::Cover;
use crate::probe::ConfigError;

/// Longest diff an event carries; a longer one is cut at a line and says so.
pub const MAX_DIFF_BYTES: usize = 8 * 1024;
/// Most files whose redacted copy is kept.
pub const MAX_FILES: usize = 1_000;
/// Bounds of `diff_max_bytes`.
const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Time the diff algorithm may take before it settles for a coarser diff.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);
/// Files whose content is never diffed: they hold password hashes.
const REFUSED: &[&str] = &[
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/security/opasswd",
];

/// `diff_paths`, compiled.
#[derive(Debug, Clone)]
pub struct Allowlist {
    set: GlobSet,
    /// Literal leading directories (or whole paths) of the globs, to look them up in the baseline.
    prefixes: Vec<Vec<u8>>,
    max_bytes: u64,
}

impl Allowlist {
    /// Checks `diff_paths` and `diff_max_bytes` and compiles them.
    pub fn compile(cfg: &FimConfig) -> Result<Allowlist, ConfigError> {
        let invalid = |key: &'static str, reason: String| ConfigError::Invalid {
            probe: "fim",
            key,
            reason,
        };
        if !(1..=MAX_FILE_BYTES).contains(&cfg.diff_max_bytes) {
            return Err(invalid(
                "diff_max_bytes",
                format!("{} is outside 1..={MAX_FILE_BYTES}", cfg.diff_max_bytes),
            ));
        }
        let mut set = GlobSetBuilder::new();
        let mut prefixes = Vec::new();
        for g in &cfg.diff_paths {
            if !g.starts_with('/') || g.split('/').any(|c| c == "..") {
                return Err(invalid(
                    "diff_paths",
                    format!("{g} is not an absolute path without `..`"),
                ));
            }
            let glob = GlobBuilder::new(g)
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| invalid("diff_paths", format!("{g}: {e}")))?;
            let m = glob.compile_matcher();
            if let Some(r) = REFUSED.iter().find(|r| m.is_match(r)) {
                return Err(invalid(
                    "diff_paths",
                    format!(
                        "{g} covers {r}, which holds password hashes: its content is never diffed \
                         (name the files to diff instead)"
                    ),
                ));
            }
            set.add(glob);
            let literal = match g.find(['*', '?', '[', '{', '\\']) {
                Some(i) => g.get(..i).and_then(|h| h.rfind('/')).unwrap_or(0),
                None => g.len(),
            };
            prefixes.push(g.get(..literal).unwrap_or_default().as_bytes().to_vec());
        }
        let set = set
            .build()
            .map_err(|e| invalid("diff_paths", e.to_string()))?;
        Ok(Allowlist {
            set,
            prefixes,
            max_bytes: cfg.diff_max_bytes,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether the file at logical `path` is diffed.
    pub fn matches(&self, path: &[u8]) -> bool {
        !self.set.is_empty()
            && !REFUSED.iter().any(|r| r.as_bytes() == path)
            && self.set.is_match(Path::new(OsStr::from_bytes(path)))
    }
}

/// What the store holds of one file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Copy {
    /// The redacted text and the SHA-256 of the bytes it was made from.
    Text { sha: [u8; 32], body: String },
    /// No text: why (a note of the evidence), and the SHA-256 it applies to when known.
    None {
        sha: Option<[u8; 32]>,
        why: &'static str,
    },
}

const NOTES: &[&str] = &[
    "too-large",
    "not-text",
    "unreadable",
    "changed-while-read",
    "no-earlier-copy",
    "too-many-files",
];

impl Copy {
    fn encode(&self) -> Vec<u8> {
        match self {
            Copy::Text { sha, body } => {
                let mut v = vec![1u8];
                v.extend_from_slice(sha);
                v.extend_from_slice(body.as_bytes());
                v
            }
            Copy::None { sha, why } => {
                let mut v = vec![2u8];
                match sha {
                    Some(s) => {
                        v.push(1);
                        v.extend_from_slice(s);
                    }
                    None => v.push(0),
                }
                v.extend_from_slice(why.as_bytes());
                v
            }
        }
    }

    fn decode(b: &[u8]) -> Option<Copy> {
        match b.split_first()? {
            (1, rest) => Some(Copy::Text {
                sha: rest.get(..32)?.try_into().ok()?,
                body: String::from_utf8(rest.get(32..)?.to_vec()).ok()?,
            }),
            (2, rest) => {
                let (sha, why) = match rest.split_first()? {
                    (0, w) => (None, w),
                    (1, r) => (Some(r.get(..32)?.try_into().ok()?), r.get(32..)?),
                    _ => return None,
                };
                let why = NOTES.iter().find(|n| n.as_bytes() == why)?;
                Some(Copy::None { sha, why })
            }
            _ => None,
        }
    }

    fn sha(&self) -> Option<[u8; 32]> {
        match self {
            Copy::Text { sha, .. } => Some(*sha),
            Copy::None { sha, .. } => *sha,
        }
    }
}

/// The content copies of the allowlisted files.
#[derive(Debug)]
pub struct Texts {
    allow: Allowlist,
    /// key → [`Copy`] of the file as last seen.
    current: sled::Tree,
    /// key → [`Copy`] as the collector last knew it, while a change waits for the outbox.
    reported: sled::Tree,
}

impl Texts {
    /// Opens the copies when `diff_paths` names any file; otherwise deletes any copy left by an
    /// earlier configuration and returns `None`.
    /// (The configuration was checked when the monitor started; were it not, nothing is diffed.)
    pub fn open(cfg: &FimConfig, store: &Store) -> Result<Option<Texts>, StoreError> {
        let allow = match Allowlist::compile(cfg) {
            Ok(a) => a,
            Err(error) => {
                tracing::warn!(%error, "No file-integrity content diffs.");
                return Ok(None);
            }
        };
        let current = store.tree("texts")?;
        let reported = store.tree("texts_reported")?;
        if allow.is_empty() {
            current.clear().map_err(store.err())?;
            reported.clear().map_err(store.err())?;
            return Ok(None);
        }
        Ok(Some(Texts {
            allow,
            current,
            reported,
        }))
    }

    fn get(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        store: &Store,
    ) -> Result<Option<Copy>, StoreError> {
        Ok(tree
            .get(key)
            .map_err(store.err())?
            .and_then(|v| Copy::decode(&v)))
    }

    /// Reads the file now at `rec` and masks its secrets.
    fn read(&self, cover: &Cover, path: &[u8], rec: &Record) -> Copy {
        let none = |why| Copy::None {
            sha: rec.sha256,
            why,
        };
        if rec.ftype != FileType::File || rec.sha256.is_none() {
            return none("unreadable");
        }
        if rec.size > self.allow.max_bytes {
            return none("too-large");
        }
        let flags = (OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC).bits();
        let Ok(f) = OpenOptions::new()
            .read(true)
            .custom_flags(flags as i32)
            .open(cover.phys(path))
        else {
            return none("unreadable");
        };
        if !f.metadata().is_ok_and(|m| m.is_file()) {
            return none("unreadable");
        }
        let mut raw = Vec::new();
        if f.take(self.allow.max_bytes + 1)
            .read_to_end(&mut raw)
            .is_err()
        {
            return none("unreadable");
        }
        if raw.len() as u64 > self.allow.max_bytes {
            return none("too-large");
        }
        let sha: [u8; 32] = Sha256::digest(&raw).into();
        if Some(sha) != rec.sha256 {
            return Copy::None {
                sha: Some(sha),
                why: "changed-while-read",
            };
        }
        if raw.contains(&0) {
            return none("not-text");
        }
        match String::from_utf8(raw) {
            Ok(text) => Copy::Text {
                sha,
                body: redact(path, &text),
            },
            Err(_) => none("not-text"),
        }
    }

    /// Keeps the copies in step with changes about to become pending events: the copy the
    /// collector knows is set aside (once per pending event), and the new text read and masked.
    pub fn on_changes(
        &self,
        store: &Store,
        cover: &Cover,
        changes: &[Change],
    ) -> Result<(), StoreError> {
        for c in changes {
            if c.unwatched || !self.allow.matches(&c.path) {
                continue;
            }
            let key = key_of(&c.path);
            if self.get(&self.reported, &key, store)?.is_none() {
                let before = match (&c.old, self.get(&self.current, &key, store)?) {
                    (None, _) => Copy::Text {
                        sha: [0; 32],
                        body: String::new(),
                    },
                    (Some(_), Some(copy)) => copy,
                    (Some(o), None) => Copy::None {
                        sha: o.sha256,
                        why: "no-earlier-copy",
                    },
                };
                self.reported
                    .insert(key.as_slice(), before.encode())
                    .map_err(store.err())?;
            }
            self.refresh(store, cover, &c.path, c.new.as_ref())?;
        }
        Ok(())
    }

    /// Sets the current copy of `path` to what `rec` describes (`None`: gone).
    fn refresh(
        &self,
        store: &Store,
        cover: &Cover,
        path: &[u8],
        rec: Option<&Record>,
    ) -> Result<(), StoreError> {
        let key = key_of(path);
        let Some(rec) = rec else {
            self.current.remove(key).map_err(store.err())?;
            return Ok(());
        };
        let held = self.get(&self.current, &key, store)?;
        if let (Some(h), Some(s)) = (&held, rec.sha256) {
            if h.sha() == Some(s) && matches!(h, Copy::Text { .. }) {
                return Ok(());
            }
        }
        let copy = if held.is_none() && self.current.len() >= MAX_FILES {
            Copy::None {
                sha: rec.sha256,
                why: "too-many-files",
            }
        } else {
            self.read(cover, path, rec)
        };
        if matches!(
            copy,
            Copy::None {
                why: "too-many-files",
                ..
            }
        ) {
            return Ok(());
        }
        self.current
            .insert(key, copy.encode())
            .map_err(store.err())?;
        Ok(())
    }

    /// Adds its diff (or the note saying why there is none) to each event of an allowlisted file
    /// created or whose content changed.
    pub fn attach(&self, store: &Store, events: &mut [FileEvent]) -> Result<(), StoreError> {
        for ev in events.iter_mut() {
            let Some(path) = ev.path.as_ref().map(|p| p.raw.clone()) else {
                continue;
            };
            let content = ev.kind == Kind::Created as i32
                || (ev.kind == Kind::Modified as i32 && ev.changed.iter().any(|c| c == "content"));
            if !content || !self.allow.matches(&path) {
                continue;
            }
            let key = key_of(&path);
            let before = self.get(&self.reported, &key, store)?;
            let now = self.get(&self.current, &key, store)?;
            let (diff, note) = match (before, now) {
                (_, None) => (String::new(), "too-many-files"),
                (_, Some(Copy::None { why, .. })) => (String::new(), why),
                (Some(Copy::None { why, .. }), _) => (String::new(), why),
                (None, _) => (String::new(), "no-earlier-copy"),
                (Some(Copy::Text { body: old, .. }), Some(Copy::Text { sha, body: new })) => {
                    if ev.sha256 != sha {
                        (String::new(), "changed-while-read")
                    } else if old == new {
                        (String::new(), "masked-only")
                    } else {
                        (unified(&path, &old, &new), "")
                    }
                }
            };
            ev.content_diff = diff;
            ev.content_diff_note = note.to_owned();
        }
        Ok(())
    }

    /// The events of `keys` are in the outbox: the collector now knows the current copies.
    pub fn forget(&self, store: &Store, keys: &[Vec<u8>]) -> Result<(), StoreError> {
        for k in keys {
            self.reported.remove(k).map_err(store.err())?;
        }
        Ok(())
    }

    /// After a whole pass: a copy for every allowlisted file of the baseline that has none or an
    /// outdated one (the first baseline, a new `diff_paths`), and none for what is no longer
    /// allowlisted or watched.
    pub fn sync(&self, store: &Store, cover: &Cover) -> Result<(), StoreError> {
        let mut stale = Vec::new();
        for kv in self.current.iter() {
            let (k, _) = kv.map_err(store.err())?;
            if !self.allow.matches(&path_of(&k)) || store.get(&k)?.is_none() {
                stale.push(k);
            }
        }
        for k in stale {
            self.current.remove(k).map_err(store.err())?;
        }
        for kv in self.reported.iter() {
            let (k, _) = kv.map_err(store.err())?;
            if !store.pending.contains_key(&k).map_err(store.err())? {
                self.reported.remove(k).map_err(store.err())?;
            }
        }
        for prefix in &self.allow.prefixes {
            let pk = key_of(prefix);
            let whole = pk.is_empty() || pk == [0];
            for kv in store.baseline.range(pk.clone()..) {
                let (k, v) = kv.map_err(store.err())?;
                if !whole && !key_within(&k, &pk) {
                    break;
                }
                let path = path_of(&k);
                if !self.allow.matches(&path)
                    || store.pending.contains_key(&k).map_err(store.err())?
                {
                    continue;
                }
                let Some(rec) = Record::decode(&v) else {
                    continue;
                };
                if rec.ftype != FileType::File {
                    continue;
                }
                let held = self.get(&self.current, &k, store)?;
                if held.as_ref().and_then(Copy::sha) == rec.sha256 && rec.sha256.is_some() {
                    continue;
                }
                self.refresh(store, cover, &path, Some(&rec))?;
            }
        }
        Ok(())
    }
}

/// Unified diff of two redacted texts of `path`, at most [`MAX_DIFF_BYTES`].
fn unified(path: &[u8], old: &str, new: &str) -> String {
    let shown = display_path(path);
    let diff = similar::TextDiff::configure()
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let mut text = diff
        .unified_diff()
        .context_radius(3)
        .header(&format!("a{shown}"), &format!("b{shown}"))
        .to_string();
    if text.len() > MAX_DIFF_BYTES {
        const CUT: &str = "… (diff coupé à 8 Kio)\n";
        let mut end = MAX_DIFF_BYTES - CUT.len();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let end = text
            .get(..end)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1);
        text.truncate(end);
        text.push_str(CUT);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(paths: &[&str]) -> FimConfig {
        FimConfig {
            diff_paths: paths.iter().map(|s| (*s).to_owned()).collect(),
            ..FimConfig::default()
        }
    }

    #[test]
    fn allowlist_is_checked_and_refuses_shadow() {
        let a = Allowlist::compile(&cfg(&["/etc/ssh/sshd_config", "/etc/samba/*.conf"])).unwrap();
        assert!(a.matches(b"/etc/ssh/sshd_config"));
        assert!(a.matches(b"/etc/samba/smb.conf"));
        assert!(!a.matches(b"/etc/samba/x/smb.conf"));
        assert!(!a.matches(b"/etc/fstab"));
        assert_eq!(
            a.prefixes,
            vec![b"/etc/ssh/sshd_config".to_vec(), b"/etc/samba".to_vec()]
        );
        assert!(Allowlist::compile(&cfg(&[])).unwrap().is_empty());
        for bad in [
            "/etc/shadow",
            "/etc/*",
            "/etc/gshadow-",
            "etc/fstab",
            "/etc/../x",
            "/etc/[",
        ] {
            let err = Allowlist::compile(&cfg(&[bad])).unwrap_err().to_string();
            assert!(err.contains("probes.fim.diff_paths"), "{bad}: {err}");
        }
        let mut c = cfg(&[]);
        c.diff_max_bytes = 0;
        let err = c.compile().unwrap_err().to_string();
        assert!(err.contains("diff_max_bytes"), "{err}");
        c.diff_max_bytes = MAX_FILE_BYTES + 1;
        assert!(c.compile().is_err());
    }

    #[test]
    fn copies_encode_and_diffs_are_capped() {
        for c in [
            Copy::Text {
                sha: [3; 32],
                body: "a «b»\n".into(),
            },
            Copy::None {
                sha: None,
                why: "too-large",
            },
            Copy::None {
                sha: Some([1; 32]),
                why: "not-text",
            },
        ] {
            assert_eq!(Copy::decode(&c.encode()), Some(c));
        }
        assert_eq!(Copy::decode(&[2, 0, b'?']), None);
        let d = unified(b"/etc/x", "a\nb\n", "a\nc\n");
        assert!(
            d.contains("-b\n") && d.contains("+c\n") && d.contains("a/etc/x"),
            "{d}"
        );
        let old: String = (0..5000).map(|i| format!("ligne {i}\n")).collect();
        let d = unified(b"/etc/x", &old, "");
        assert!(
            d.len() <= MAX_DIFF_BYTES && d.ends_with("(diff coupé à 8 Kio)\n"),
            "{}",
            d.len()
        );
    }
}
