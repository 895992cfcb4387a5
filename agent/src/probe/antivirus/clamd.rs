//! clamd: its configuration file (`clamd.conf`, also the syntax of `freshclam.conf`) parsed natively,
//! and a minimal client of its socket for `zPING` and `zVERSION`, with one deadline over connect,
//! write and read, and a bounded answer. A socket that accepts but never answers costs at most the
//! deadline. Not here: scanning files (the agent observes, it does not scan), or any other command.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Longest answer read from clamd; `VERSION` answers are under 100 bytes.
const MAX_ANSWER_BYTES: usize = 4096;
/// Values kept per repeated key (`OnAccessIncludePath`...).
const MAX_VALUES_PER_KEY: usize = 64;

/// The lines of a ClamAV configuration file as `(key, value)`, in order: `Key value`, `#` comments,
/// blank lines skipped. Values keep inner spaces; surrounding quotes are removed.
pub fn parse_conf(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.split_once(|c: char| c.is_ascii_whitespace()) {
            Some((k, v)) => (k.to_owned(), unquote(v.trim()).to_owned()),
            None => (l.to_owned(), String::new()),
        })
        .collect()
}

fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
}

/// What the probe needs from `clamd.conf`. Paths are host paths, not yet resolved under a root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClamdConf {
    /// The file still has its `Example` line: clamd refuses to start with it.
    pub example: bool,
    pub local_socket: Option<String>,
    pub tcp_socket: Option<u16>,
    pub tcp_addr: Vec<String>,
    pub database_dir: Option<String>,
    pub log_file: Option<String>,
    pub on_access_include: Vec<String>,
    pub on_access_mount: Vec<String>,
    /// Problems met while reading (a bad port...).
    pub problems: Vec<String>,
}

impl ClamdConf {
    pub fn from_text(text: &str) -> ClamdConf {
        let mut conf = ClamdConf::default();
        for (key, value) in parse_conf(text) {
            // Later single-valued keys win, as in clamd; repeated keys accumulate.
            match key.as_str() {
                "Example" => conf.example = true,
                "LocalSocket" => conf.local_socket = Some(value),
                "TCPSocket" => match value.parse::<u16>() {
                    Ok(p) if p > 0 => conf.tcp_socket = Some(p),
                    _ => conf.problems.push(format!(
                        "clamd.conf: TCPSocket {:?} is not a port",
                        value.chars().take(16).collect::<String>()
                    )),
                },
                "TCPAddr" => push_bounded(&mut conf.tcp_addr, value),
                "DatabaseDirectory" => conf.database_dir = Some(value),
                "LogFile" => conf.log_file = Some(value),
                "OnAccessIncludePath" => push_bounded(&mut conf.on_access_include, value),
                "OnAccessMountPath" => push_bounded(&mut conf.on_access_mount, value),
                _ => {}
            }
        }
        conf
    }

    /// Where to reach clamd: the local socket first (no network, permissions by group), else the
    /// first loopback or literal TCP address. Host names other than `localhost` are not resolved:
    /// the agent dials nothing a name lookup could redirect.
    pub fn endpoint(&self) -> Option<Endpoint> {
        if let Some(path) = &self.local_socket {
            return Some(Endpoint::Unix(PathBuf::from(path)));
        }
        let port = self.tcp_socket?;
        let ip = match self.tcp_addr.first().map(String::as_str) {
            None | Some("localhost") | Some("0.0.0.0") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some("::") => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            Some(other) => other.parse().ok()?,
        };
        Some(Endpoint::Tcp(SocketAddr::new(ip, port)))
    }
}

fn push_bounded(values: &mut Vec<String>, value: String) {
    if values.len() < MAX_VALUES_PER_KEY {
        values.push(value);
    }
}

/// A clamd listening address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A Unix socket, already resolved to the path the agent opens.
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

/// Why clamd gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum ClamdError {
    #[error("connecting to clamd at {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("talking to clamd at {endpoint}: {source}")]
    Io {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("clamd at {endpoint} did not answer within {millis} ms")]
    Timeout { endpoint: String, millis: u128 },
    #[error("clamd at {endpoint} answered more than {MAX_ANSWER_BYTES} bytes")]
    TooLong { endpoint: String },
    #[error("clamd at {endpoint} answered {answer:?} to {command}")]
    Unexpected {
        endpoint: String,
        command: &'static str,
        answer: String,
    },
}

/// Sends `z<command>\0` and returns the answer up to its NUL (or the end of the stream), all within
/// `timeout`.
pub async fn query(
    endpoint: &Endpoint,
    command: &'static str,
    timeout: Duration,
) -> Result<String, ClamdError> {
    let name = endpoint.to_string();
    let exchange = async {
        match endpoint {
            Endpoint::Unix(path) => {
                let stream = tokio::net::UnixStream::connect(path)
                    .await
                    .map_err(|source| ClamdError::Connect {
                        endpoint: name.clone(),
                        source,
                    })?;
                exchange(stream, command, &name).await
            }
            Endpoint::Tcp(addr) => {
                let stream = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|source| ClamdError::Connect {
                        endpoint: name.clone(),
                        source,
                    })?;
                exchange(stream, command, &name).await
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(ClamdError::Timeout {
            endpoint: name,
            millis: timeout.as_millis(),
        }),
    }
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    command: &'static str,
    name: &str,
) -> Result<String, ClamdError> {
    let io = |source| ClamdError::Io {
        endpoint: name.to_owned(),
        source,
    };
    let request = format!("z{command}\0");
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = stream.read(&mut buf).await.map_err(io)?;
        let chunk = buf.get(..n).unwrap_or_default();
        if n == 0 {
            break;
        }
        if let Some(end) = chunk.iter().position(|b| *b == 0) {
            answer.extend_from_slice(chunk.get(..end).unwrap_or_default());
            break;
        }
        answer.extend_from_slice(chunk);
        if answer.len() > MAX_ANSWER_BYTES {
            return Err(ClamdError::TooLong {
                endpoint: name.to_owned(),
            });
        }
    }
    let text: String = String::from_utf8_lossy(&answer)
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Ok(text)
}

/// `PING` must answer `PONG`.
pub async fn ping(endpoint: &Endpoint, timeout: Duration) -> Result<(), ClamdError> {
    let answer = query(endpoint, "PING", timeout).await?;
    if answer == "PONG" {
        Ok(())
    } else {
        Err(ClamdError::Unexpected {
            endpoint: endpoint.to_string(),
            command: "PING",
            answer: answer.chars().take(64).collect(),
        })
    }
}

/// clamd's `VERSION` answer: `ClamAV 1.4.6/27471/Thu Nov 28 08:16:02 2024`, or `ClamAV 1.4.6` when
/// the loaded databases carry no version (test databases, `.hdb` only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionAnswer {
    pub engine: String,
    pub db_version: Option<u32>,
    pub db_time_text: Option<String>,
}

pub fn parse_version(answer: &str) -> Option<VersionAnswer> {
    let rest = answer.trim().strip_prefix("ClamAV ")?;
    let mut parts = rest.splitn(3, '/');
    let engine = parts.next()?.trim();
    if engine.is_empty() || engine.len() > 64 {
        return None;
    }
    let db_version = parts.next().and_then(|v| v.trim().parse().ok());
    let db_time_text = parts
        .next()
        .map(|t| t.trim().chars().take(64).collect::<String>())
        .filter(|t| !t.is_empty());
    Some(VersionAnswer {
        engine: engine.to_owned(),
        db_version,
        db_time_text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_conf(text: &str, expect: &str) {
        let conf = ClamdConf::from_text(text);
        let endpoint = conf.endpoint().map(|e| e.to_string());
        let actual = format!(
            "example={} endpoint={endpoint:?} db={:?} log={:?} onacc={:?}/{:?} problems={:?}",
            conf.example,
            conf.database_dir,
            conf.log_file,
            conf.on_access_include,
            conf.on_access_mount,
            conf.problems
        );
        assert_eq!(actual, expect);
    }

    #[test]
    fn clamd_conf() {
        check_conf(
            "# Debian\nLocalSocket /var/run/clamav/clamd.ctl\nTCPSocket 3310\nDatabaseDirectory /var/lib/clamav\nLogFile   /var/log/clamav/clamav.log\nLogTime true\n",
            r#"example=false endpoint=Some("unix:/var/run/clamav/clamd.ctl") db=Some("/var/lib/clamav") log=Some("/var/log/clamav/clamav.log") onacc=[]/[] problems=[]"#,
        );
        check_conf(
            "Example\nTCPSocket 3310\nTCPAddr 127.0.0.1\nOnAccessIncludePath /home\nOnAccessIncludePath \"/srv/partage commun\"\nOnAccessMountPath /\n",
            r#"example=true endpoint=Some("tcp:127.0.0.1:3310") db=None log=None onacc=["/home", "/srv/partage commun"]/["/"] problems=[]"#,
        );
        check_conf(
            "TCPSocket 3310\n",
            r#"example=false endpoint=Some("tcp:127.0.0.1:3310") db=None log=None onacc=[]/[] problems=[]"#,
        );
        check_conf(
            "TCPSocket 3310\nTCPAddr clamd.example.org\n",
            "example=false endpoint=None db=None log=None onacc=[]/[] problems=[]",
        );
        check_conf(
            "TCPSocket 99999\nDatabaseDirectory /a\nDatabaseDirectory /b\n",
            r#"example=false endpoint=None db=Some("/b") log=None onacc=[]/[] problems=["clamd.conf: TCPSocket \"99999\" is not a port"]"#,
        );
        check_conf(
            "",
            "example=false endpoint=None db=None log=None onacc=[]/[] problems=[]",
        );
        let many = "OnAccessIncludePath /x\n".repeat(1000);
        assert_eq!(ClamdConf::from_text(&many).on_access_include.len(), 64);
    }

    #[track_caller]
    fn check_version(answer: &str, expect: Option<(&str, Option<u32>, Option<&str>)>) {
        let actual = parse_version(answer);
        let expect = expect.map(|(e, v, t)| VersionAnswer {
            engine: e.to_owned(),
            db_version: v,
            db_time_text: t.map(str::to_owned),
        });
        assert_eq!(actual, expect);
    }

    #[test]
    fn version_answers() {
        check_version(
            "ClamAV 1.4.6/27471/Thu Nov 28 08:16:02 2024",
            Some(("1.4.6", Some(27471), Some("Thu Nov 28 08:16:02 2024"))),
        );
        check_version("ClamAV 1.4.6", Some(("1.4.6", None, None)));
        check_version("ClamAV 1.0.7/x/", Some(("1.0.7", None, None)));
        check_version("UNKNOWN COMMAND", None);
        check_version("ClamAV ", None);
    }

    #[tokio::test]
    async fn a_silent_socket_times_out_and_a_missing_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("silent.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let _held = tokio::spawn(async move {
            // Accept and hold the connection without ever answering.
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let err = ping(&Endpoint::Unix(path), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, ClamdError::Timeout { .. }), "{err}");
        let err = ping(
            &Endpoint::Unix(dir.path().join("none.sock")),
            Duration::from_secs(1),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ClamdError::Connect { .. }), "{err}");
    }

    #[tokio::test]
    async fn answers_are_bounded_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chatty.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            for answer in [b"PONG\0".to_vec(), b"NOPE\0".to_vec(), vec![b'A'; 10_000]] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut req = [0u8; 6];
                s.read_exact(&mut req).await.unwrap();
                assert_eq!(&req, b"zPING\0");
                let _ = s.write_all(&answer).await;
            }
        });
        let ep = Endpoint::Unix(path);
        ping(&ep, Duration::from_secs(5)).await.unwrap();
        let err = ping(&ep, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("clamd at {ep} answered \"NOPE\" to PING")
        );
        let err = ping(&ep, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, ClamdError::TooLong { .. }), "{err}");
    }
}
