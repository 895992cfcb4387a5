//! Last logins from the SQLite login databases of Debian 13 and other recent distributions:
//! wtmpdb (`/var/lib/wtmpdb/wtmp.db`, table `wtmp`, `Login` in microseconds, `Type` 3 for a user
//! session) and lastlog2 (`/var/lib/lastlog/lastlog2.db`, table `Lastlog2`, `Time` in seconds).
//! Only user names and times are read; TTYs, remote hosts and services are never selected, since
//! they are personal data the checks do not need (DESIGN decision 15).
//!
//! The databases belong to PAM modules writing them as users log in: they are opened read-only
//! (`SQLITE_OPEN_READ_ONLY`, no create, no write lock taken) with a short busy timeout, so a
//! database locked by a writer gives an error here, never a hang, and the query is bounded in rows
//! and in time (a progress handler interrupts it). Schemas are the ones written by wtmpdb's
//! `lib/sqlite.c` and util-linux's `liblastlog2`:
//! `wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, Login INTEGER, Logout INTEGER,
//! TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT` and
//! `Lastlog2(Name TEXT PRIMARY KEY, Time INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT)`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

/// wtmpdb's `USER_PROCESS` (its own numbering: 1 boot, 2 runlevel, 3 user session).
const WTMPDB_USER_PROCESS: i64 = 3;
/// Distinct users kept; a database with more is cut with a warning (a town hall has dozens).
pub const MAX_USERS: usize = 100_000;
/// Rows visited by one query at most (the aggregate reads every row of a huge wtmp).
const MAX_ROWS: usize = 2_000_000;
/// Longest user name taken from a row; longer ones are garbage and skipped.
const MAX_NAME_BYTES: usize = 256;
/// How long a writer's lock is waited for before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);
/// Wall-clock bound on one query.
const QUERY_TIME: Duration = Duration::from_secs(10);
/// Latest plausible time (year 9999) in seconds; later values are garbage.
const MAX_SECS: i64 = 253_402_300_799;

/// What a login database gave: last login (Unix seconds) per user name, and rows skipped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DbLogins {
    pub last: BTreeMap<Vec<u8>, i64>,
    /// Rows whose user or time was unusable (NULL, wrong type, out of range, too long).
    pub skipped: usize,
    /// Whether `MAX_USERS` or `MAX_ROWS` cut the result.
    pub truncated: bool,
}

/// Why a login database could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoginDbError {
    #[error("opening read-only: {0}")]
    Open(rusqlite::Error),
    #[error("locked by a writer for more than {}ms", BUSY_TIMEOUT.as_millis())]
    Busy,
    #[error("query stopped after {}s", QUERY_TIME.as_secs())]
    TooSlow,
    #[error("not a {table} database ({source})")]
    Schema {
        table: &'static str,
        source: rusqlite::Error,
    },
    #[error("reading: {0}")]
    Read(rusqlite::Error),
}

/// Reads a wtmpdb database: the latest `Login` of each user's sessions.
pub fn read_wtmpdb(path: &Path) -> Result<DbLogins, LoginDbError> {
    // GROUP BY keeps the result one row per user, however many sessions the table holds.
    let sql = "SELECT User, MAX(Login) FROM wtmp WHERE Type = ?1 GROUP BY User";
    query(path, "wtmp", sql, Some(WTMPDB_USER_PROCESS), 1_000_000)
}

/// Reads a lastlog2 database: one row per user, `Time` in seconds.
pub fn read_lastlog2(path: &Path) -> Result<DbLogins, LoginDbError> {
    query(path, "Lastlog2", "SELECT Name, Time FROM Lastlog2", None, 1)
}

fn query(
    path: &Path,
    table: &'static str,
    sql: &str,
    param: Option<i64>,
    per_second: i64,
) -> Result<DbLogins, LoginDbError> {
    // Read-only, no mutex (one connection on one thread), no URI parsing of a host path.
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = Connection::open_with_flags(path, flags).map_err(LoginDbError::Open)?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(LoginDbError::Open)?;
    // Never let a hostile database run code or attach files; the agent never writes to it.
    conn.pragma_update(None, "query_only", true)
        .map_err(classify)?;
    let started = Instant::now();
    conn.progress_handler(10_000, Some(move || started.elapsed() > QUERY_TIME))
        .map_err(LoginDbError::Open)?;
    let mut stmt = conn.prepare(sql).map_err(|e| match classify(e) {
        LoginDbError::Read(source) => LoginDbError::Schema { table, source },
        other => other,
    })?;
    let mut rows = match param {
        Some(p) => stmt.query([p]),
        None => stmt.query([]),
    }
    .map_err(classify)?;
    let mut out = DbLogins::default();
    let mut seen = 0usize;
    while let Some(row) = rows.next().map_err(classify)? {
        seen += 1;
        if seen > MAX_ROWS {
            out.truncated = true;
            break;
        }
        let user = match row.get_ref(0) {
            Ok(ValueRef::Text(t)) => t,
            Ok(ValueRef::Blob(b)) => b,
            _ => {
                out.skipped += 1;
                continue;
            }
        };
        let secs = match row.get_ref(1) {
            Ok(ValueRef::Integer(v)) => v.div_euclid(per_second),
            _ => {
                out.skipped += 1;
                continue;
            }
        };
        if user.is_empty()
            || user.len() > MAX_NAME_BYTES
            || user.contains(&0)
            || secs <= 0
            || secs > MAX_SECS
        {
            out.skipped += 1;
            continue;
        }
        if !out.last.contains_key(user) && out.last.len() >= MAX_USERS {
            out.truncated = true;
            continue;
        }
        let at = out.last.entry(user.to_vec()).or_insert(0);
        *at = (*at).max(secs);
    }
    Ok(out)
}

fn classify(e: rusqlite::Error) -> LoginDbError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            LoginDbError::Busy
        }
        Some(rusqlite::ErrorCode::OperationInterrupted) => LoginDbError::TooSlow,
        _ => LoginDbError::Read(e),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// wtmpdb's `CREATE TABLE`, as its `lib/sqlite.c` runs it.
    pub const WTMP_TABLE: &str = "CREATE TABLE IF NOT EXISTS wtmp(ID INTEGER PRIMARY KEY, Type INTEGER, User TEXT NOT NULL, Login INTEGER, Logout INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT) STRICT;";
    /// liblastlog2's `CREATE TABLE` (util-linux).
    pub const LASTLOG2_TABLE: &str = "CREATE TABLE IF NOT EXISTS Lastlog2(Name TEXT PRIMARY KEY, Time INTEGER, TTY TEXT, RemoteHost TEXT, Service TEXT);";

    /// A wtmpdb file with these `(type, user, login µs)` sessions, written as pam_wtmpdb does.
    pub fn wtmpdb_file(path: &Path, rows: &[(i64, &str, i64)]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = Connection::open(path).unwrap();
        c.execute_batch(WTMP_TABLE).unwrap();
        for (kind, user, login) in rows {
            c.execute(
                "INSERT INTO wtmp (Type,User,Login,TTY,RemoteHost,Service) VALUES(?1,?2,?3,'pts/0','192.0.2.44','sshd')",
                rusqlite::params![kind, user, login],
            )
            .unwrap();
        }
    }

    /// A lastlog2 file with these `(name, time s)` rows, written as pam_lastlog2 does.
    pub fn lastlog2_file(path: &Path, rows: &[(&str, i64)]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let c = Connection::open(path).unwrap();
        c.execute_batch(LASTLOG2_TABLE).unwrap();
        for (name, time) in rows {
            c.execute(
                "REPLACE INTO Lastlog2 VALUES(?1,?2,'tty1','192.0.2.45','login')",
                rusqlite::params![name, time],
            )
            .unwrap();
        }
    }

    fn shown(got: &DbLogins) -> String {
        let users: Vec<String> = got
            .last
            .iter()
            .map(|(u, t)| format!("{}={t}", String::from_utf8_lossy(u)))
            .collect();
        format!(
            "{} skipped={} truncated={}",
            users.join(","),
            got.skipped,
            got.truncated
        )
    }

    #[test]
    fn wtmpdb_latest_user_session() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wtmp.db");
        wtmpdb_file(
            &path,
            &[
                (1, "reboot", 1_788_249_600_000_000),
                (3, "alice", 1_788_249_700_123_456),
                (3, "alice", 1_700_000_000_000_000),
                (3, "root", 1_788_250_000_000_000),
                (2, "runlevel", 1_788_260_000_000_000),
                (3, "ghost", -5),
            ],
        );
        let got = read_wtmpdb(&path).unwrap();
        assert_eq!(
            shown(&got),
            "alice=1788249700,root=1788250000 skipped=1 truncated=false"
        );
        // The file is untouched: no journal, no WAL, no change.
        let before = std::fs::read(&path).unwrap();
        read_wtmpdb(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["wtmp.db"]);
    }

    #[test]
    fn lastlog2_rows_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lastlog2.db");
        lastlog2_file(&path, &[("root", 1_788_250_000), ("alice", 1_788_249_700)]);
        let c = Connection::open(&path).unwrap();
        // Garbage a damaged or hostile database may hold: NULL time, text time, a non-UTF-8 name
        // (kept, as bytes), an oversized name, a time past year 9999, a NULL name.
        c.execute_batch(
            "INSERT INTO Lastlog2 VALUES('nulltime',NULL,NULL,NULL,NULL);
             INSERT INTO Lastlog2 VALUES('texttime','yesterday',NULL,NULL,NULL);
             INSERT INTO Lastlog2 VALUES(CAST(X'6361666599' AS TEXT),1788000000,NULL,NULL,NULL);
             INSERT INTO Lastlog2 VALUES(replace(hex(zeroblob(500)),'00','xx'),1788000000,NULL,NULL,NULL);
             INSERT INTO Lastlog2 VALUES('future',99999999999999,NULL,NULL,NULL);
             INSERT INTO Lastlog2 VALUES(NULL,1788000000,NULL,NULL,NULL);",
        )
        .unwrap();
        drop(c);
        let got = read_lastlog2(&path).unwrap();
        assert_eq!(got.last.get(b"cafe\x99".as_slice()), Some(&1_788_000_000));
        assert_eq!(got.last.get(b"root".as_slice()), Some(&1_788_250_000));
        assert_eq!(got.last.get(b"alice".as_slice()), Some(&1_788_249_700));
        assert_eq!((got.last.len(), got.skipped), (3, 5), "{}", shown(&got));
    }

    #[test]
    fn not_a_login_database() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, b"SQLite format 3\0 and then nothing sensible").unwrap();
        let e = read_wtmpdb(&garbage).unwrap_err();
        assert!(
            matches!(e, LoginDbError::Schema { .. } | LoginDbError::Read(_)),
            "{e}"
        );
        // A real SQLite file without the table.
        let other = dir.path().join("other.db");
        Connection::open(&other)
            .unwrap()
            .execute_batch("CREATE TABLE t(x)")
            .unwrap();
        let e = read_lastlog2(&other).unwrap_err().to_string();
        assert!(
            e.starts_with("not a Lastlog2 database (no such table: Lastlog2"),
            "{e}"
        );
        // Missing: an open error the caller sees as NotFound-like, and no file is created.
        let missing = dir.path().join("missing.db");
        assert!(read_wtmpdb(&missing).is_err());
        assert!(!missing.exists());
    }

    /// A writer holding an exclusive lock: the read fails quickly, it does not hang.
    #[test]
    fn busy_database_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wtmp.db");
        wtmpdb_file(&path, &[(3, "alice", 1_788_249_700_000_000)]);
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN EXCLUSIVE;").unwrap();
        let started = Instant::now();
        let e = read_wtmpdb(&path).unwrap_err();
        assert!(matches!(e, LoginDbError::Busy), "{e}");
        assert!(started.elapsed() < Duration::from_secs(5));
        writer.execute_batch("COMMIT;").unwrap();
        assert_eq!(read_wtmpdb(&path).unwrap().last.len(), 1);
    }

    /// 300 000 sessions of 3 000 users: one row per user comes back, in bounded time.
    #[test]
    fn large_wtmpdb() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wtmp.db");
        wtmpdb_file(&path, &[]);
        let mut c = Connection::open(&path).unwrap();
        let tx = c.transaction().unwrap();
        {
            let mut ins = tx
                .prepare("INSERT INTO wtmp (Type,User,Login) VALUES(3,?1,?2)")
                .unwrap();
            for i in 0..300_000i64 {
                ins.execute(rusqlite::params![
                    format!("u{}", i % 3_000),
                    1_700_000_000_000_000 + i * 1_000_000
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
        let started = Instant::now();
        let got = read_wtmpdb(&path).unwrap();
        assert!(started.elapsed() < QUERY_TIME);
        assert_eq!(got.last.len(), 3_000);
        assert_eq!(
            got.last.get(b"u0".as_slice()),
            Some(&(1_700_000_000 + 297_000))
        );
        assert!(!got.truncated);
    }
}
