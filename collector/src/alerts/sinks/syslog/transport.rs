//! Sending one syslog message: a UDP datagram (RFC 5426), or a connection per message over TCP
//! (RFC 6587 octet counting) or TLS (RFC 5425), closed cleanly.
//!
//! A stream is closed by us first (FIN, after TLS's close_notify) and then read until the receiver
//! closes too: that read drains what the server sent (a TLS 1.3 session ticket), so our close is not
//! a reset that could make the receiver drop the message unread, and the receiver's own close shows
//! it has read everything. UDP cannot show delivery at all: a datagram to a listening host can be
//! lost silently. The one failure it can show is an ICMP "port unreachable" answer, which Linux
//! reports on the connected socket; we wait briefly for it.

use std::net::SocketAddr;
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio_rustls::TlsConnector;

use crate::alerts::sink::SinkError;
use crate::alerts::sinks::address::connect_tcp;

/// How long a UDP send waits for an ICMP refusal before calling the datagram sent.
pub const UDP_REFUSAL_WAIT: Duration = Duration::from_millis(250);
/// How long a stream waits for the receiver to close after ours; a receiver that keeps the
/// connection open past this has still been sent the whole message.
pub const DRAIN_WAIT: Duration = Duration::from_secs(2);
/// At most this much of what a receiver sends back is read and dropped.
const MAX_DRAIN_BYTES: usize = 64 * 1024;

/// How a message travels.
pub enum Transport {
    Udp,
    Tcp,
    Tls(TlsConnector, ServerName<'static>),
}

fn transient(what: &str, addr: impl std::fmt::Display, e: impl std::fmt::Display) -> SinkError {
    SinkError::Transient(format!("{what} {addr}: {e}"))
}

/// Sends `message` (already at most the maximum length) to the first of `addrs` that works.
pub async fn send(
    transport: &Transport,
    addrs: &[SocketAddr],
    connect_timeout: Duration,
    message: &[u8],
) -> Result<(), SinkError> {
    match transport {
        Transport::Udp => {
            let addr = addrs
                .first()
                .ok_or_else(|| SinkError::Transient("no address".into()))?;
            send_udp(*addr, message).await
        }
        Transport::Tcp => {
            let stream = connect_tcp(addrs, connect_timeout).await?;
            let peer = peer(&stream);
            send_stream(stream, &peer, message).await
        }
        Transport::Tls(connector, name) => {
            let stream = connect_tcp(addrs, connect_timeout).await?;
            let peer = peer(&stream);
            let tls =
                tokio::time::timeout(connect_timeout, connector.connect(name.clone(), stream))
                    .await
                    .map_err(|_| transient("TLS handshake with", &peer, "timed out"))?
                    .map_err(|e| transient("TLS handshake with", &peer, e))?;
            send_stream(tls, &peer, message).await
        }
    }
}

fn peer(stream: &tokio::net::TcpStream) -> String {
    stream
        .peer_addr()
        .map_or_else(|_| "the syslog server".to_owned(), |a| a.to_string())
}

async fn send_udp(addr: SocketAddr, message: &[u8]) -> Result<(), SinkError> {
    let local: SocketAddr = if addr.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| transient("opening a UDP socket for", addr, e))?;
    socket
        .connect(addr)
        .await
        .map_err(|e| transient("connecting UDP to", addr, e))?;
    let sent = socket
        .send(message)
        .await
        .map_err(|e| transient("sending to", addr, e))?;
    if sent != message.len() {
        return Err(transient("sending to", addr, "datagram cut short"));
    }
    let mut buf = [0u8; 1];
    match tokio::time::timeout(UDP_REFUSAL_WAIT, socket.recv(&mut buf)).await {
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Err(transient(
            "sending to",
            addr,
            "port unreachable (nothing listens)",
        )),
        // Silence (the usual case), an unexpected datagram, or another error: sent, as far as UDP
        // can tell.
        _ => Ok(()),
    }
}

/// RFC 6587 octet counting: `LEN SP MESSAGE`.
fn octet_counted(message: &[u8]) -> Vec<u8> {
    let mut frame = format!("{} ", message.len()).into_bytes();
    frame.extend_from_slice(message);
    frame
}

async fn send_stream<S>(mut stream: S, peer: &str, message: &[u8]) -> Result<(), SinkError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream
        .write_all(&octet_counted(message))
        .await
        .map_err(|e| transient("sending to", peer, e))?;
    stream
        .flush()
        .await
        .map_err(|e| transient("sending to", peer, e))?;
    stream
        .shutdown()
        .await
        .map_err(|e| transient("closing the connection to", peer, e))?;
    match tokio::time::timeout(DRAIN_WAIT, drain(&mut stream)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(transient("closing the connection to", peer, e)),
        Err(_) => {
            tracing::debug!(
                peer,
                "Syslog server kept the connection open after the message."
            );
            Ok(())
        }
    }
}

/// Reads until the peer closes; a close without TLS close_notify counts as closed.
async fn drain<S: AsyncRead + Unpin>(stream: &mut S) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    let mut total = 0usize;
    loop {
        match stream.read(&mut buf).await {
            Ok(0) => return Ok(()),
            Ok(n) => {
                total += n;
                if total > MAX_DRAIN_BYTES {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_octet_counted() {
        assert_eq!(
            octet_counted("<13>1 - - - - - - hé".as_bytes()),
            b"21 <13>1 - - - - - - h\xc3\xa9"
        );
    }
}
