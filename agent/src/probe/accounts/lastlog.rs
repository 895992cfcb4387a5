//! Last logins from the classic binary records: `/var/log/lastlog` (sparse, one fixed-size record
//! per uid at offset uid × size) and `/var/log/wtmp` (glibc `struct utmp`, 384 bytes on x86_64).
//! Only `ll_time`/`ut_tv` and the user are read; lines, hosts and addresses are skipped, since
//! they are personal data the checks do not need (DESIGN decision 15). Not here: Debian 13's
//! SQLite databases (wtmpdb, lastlog2), read by `logindb`.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// `struct lastlog` on x86_64: `int32 ll_time; char ll_line[32]; char ll_host[256]`. On 64-bit
/// targets without the 32-bit compatibility layout, `ll_time` is a 64-bit `time_t` (296 bytes).
#[cfg(any(target_arch = "x86_64", not(target_pointer_width = "64")))]
pub const LASTLOG_RECORD: u64 = 292;
#[cfg(not(any(target_arch = "x86_64", not(target_pointer_width = "64"))))]
pub const LASTLOG_RECORD: u64 = 296;

/// `struct utmp` on x86_64 and the offsets of the fields read.
pub const UTMP_RECORD: usize = 384;
const UT_TYPE: usize = 0;
const UT_USER: usize = 44;
const UT_USER_LEN: usize = 32;
const UT_TV_SEC: usize = 340;
const USER_PROCESS: i16 = 7;
/// wtmp is read from its end, this much at most: months of logins on a busy server.
const MAX_WTMP_BYTES: u64 = 32 * 1024 * 1024;

/// Last login time (Unix seconds) of each uid in `uids` from a lastlog file; uids with no record,
/// a zero time or a record cut short by the end of the file are absent. `truncated` counts the
/// latter.
pub fn read_lastlog(path: &Path, uids: &[u32]) -> std::io::Result<(BTreeMap<u32, i64>, usize)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut out = BTreeMap::new();
    let mut truncated = 0;
    for &uid in uids {
        let offset = u64::from(uid).saturating_mul(LASTLOG_RECORD);
        if offset >= len {
            continue;
        }
        if offset.saturating_add(LASTLOG_RECORD) > len {
            truncated += 1;
            continue;
        }
        file.seek(SeekFrom::Start(offset))?;
        let mut time = [0u8; 8];
        let width = if LASTLOG_RECORD == 292 { 4 } else { 8 };
        let buf = time.get_mut(..width).unwrap_or_default();
        file.read_exact(buf)?;
        let secs = if width == 4 {
            i64::from(i32::from_le_bytes([time[0], time[1], time[2], time[3]]))
        } else {
            i64::from_le_bytes(time)
        };
        if secs > 0 {
            out.insert(uid, secs);
        }
    }
    Ok((out, truncated))
}

/// Last `USER_PROCESS` time (Unix seconds) per user name in a wtmp file, reading at most its last
/// `MAX_WTMP_BYTES`; a partial record at the end is ignored.
pub fn read_wtmp(path: &Path) -> std::io::Result<BTreeMap<Vec<u8>, i64>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let record = UTMP_RECORD as u64;
    let start = len.saturating_sub(MAX_WTMP_BYTES) / record * record;
    file.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    file.take(MAX_WTMP_BYTES).read_to_end(&mut buf)?;
    Ok(parse_wtmp(&buf))
}

/// Parses whole utmp records.
pub fn parse_wtmp(buf: &[u8]) -> BTreeMap<Vec<u8>, i64> {
    let mut out: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
    for rec in buf.chunks_exact(UTMP_RECORD) {
        let field = |at: usize, n: usize| rec.get(at..at + n).unwrap_or_default();
        let kind = i16::from_le_bytes(field(UT_TYPE, 2).try_into().unwrap_or([0, 0]));
        if kind != USER_PROCESS {
            continue;
        }
        let user = field(UT_USER, UT_USER_LEN);
        let user = user.split(|b| *b == 0).next().unwrap_or_default();
        let secs = i32::from_le_bytes(field(UT_TV_SEC, 4).try_into().unwrap_or([0; 4]));
        if user.is_empty() || secs <= 0 {
            continue;
        }
        let at = out.entry(user.to_vec()).or_insert(0);
        *at = (*at).max(i64::from(secs));
    }
    out
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A lastlog file with these `(uid, time)` records, as login(1) writes it (sparse).
    pub fn lastlog_bytes(records: &[(u32, i32)]) -> Vec<u8> {
        let max = records.iter().map(|(u, _)| *u).max().unwrap_or(0);
        let mut out = vec![0u8; (max as usize + 1) * LASTLOG_RECORD as usize];
        for (uid, time) in records {
            let at = *uid as usize * LASTLOG_RECORD as usize;
            out[at..at + 4].copy_from_slice(&time.to_le_bytes());
            out[at + 4..at + 9].copy_from_slice(b"pts/0");
            out[at + 36..at + 47].copy_from_slice(b"192.0.2.10\0");
        }
        out
    }

    /// One wtmp record.
    pub fn utmp(kind: i16, user: &str, secs: i32) -> Vec<u8> {
        let mut rec = vec![0u8; UTMP_RECORD];
        rec[0..2].copy_from_slice(&kind.to_le_bytes());
        rec[UT_USER..UT_USER + user.len()].copy_from_slice(user.as_bytes());
        rec[UT_TV_SEC..UT_TV_SEC + 4].copy_from_slice(&secs.to_le_bytes());
        rec
    }

    #[track_caller]
    fn check(bytes: &[u8], uids: &[u32], expect: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lastlog");
        std::fs::write(&path, bytes).unwrap();
        let (times, truncated) = read_lastlog(&path, uids).unwrap();
        assert_eq!(format!("{times:?} truncated={truncated}"), expect);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn lastlog_records() {
        let file = lastlog_bytes(&[(0, 1_700_000_000), (1000, 1_750_000_000)]);
        check(
            &file,
            &[0, 1, 1000, 5000],
            "{0: 1700000000, 1000: 1750000000} truncated=0",
        );
        // Truncated in the middle of uid 1000's record.
        check(
            &file[..file.len() - 10],
            &[0, 1000],
            "{0: 1700000000} truncated=1",
        );
        check(b"", &[0, 1000], "{} truncated=0");
    }

    #[test]
    fn wtmp_records() {
        let mut buf = Vec::new();
        buf.extend(utmp(7, "alice", 1_700_000_000));
        buf.extend(utmp(8, "bob", 1_750_000_000));
        buf.extend(utmp(7, "alice", 1_600_000_000));
        buf.extend(utmp(2, "reboot", 1_710_000_000));
        buf.extend(utmp(7, "carol", 1_720_000_000));
        buf.extend([7u8; 100]);
        let got = parse_wtmp(&buf);
        let got: Vec<String> = got
            .iter()
            .map(|(u, t)| format!("{}={t}", String::from_utf8_lossy(u)))
            .collect();
        assert_eq!(got, ["alice=1700000000", "carol=1720000000"]);
    }
}
