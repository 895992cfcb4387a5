//! Which addresses an organisation's sink may reach, and name resolution that checks them.
//!
//! An organisation configures a webhook URL or a syslog server; neither may become a way into the
//! operator's own network. Every special-purpose range (private, loopback, link-local, CGNAT,
//! multicast, unspecified, documentation, IPv6 ULA, IPv4-mapped...) is refused unless the operator
//! lists it in `allow_private_cidrs`. The host is resolved once per delivery, every resolved address
//! is checked, and the caller connects to those checked addresses, never to the name again: there is
//! no window for DNS rebinding. Not here: the connection itself (`webhook`, `syslog`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use crate::alerts::sink::SinkError;

/// The operator's egress settings for alert sinks (a table of `collector.toml`, not of an
/// organisation's sink, so that an organisation cannot widen it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressConfig {
    /// Special-purpose ranges that sinks may nevertheless reach, as CIDRs (`"10.1.2.0/24"`,
    /// `"127.0.0.1/32"`, `"fd00::/8"`). Empty (the default): only public addresses.
    #[serde(default)]
    pub allow_private_cidrs: Vec<String>,
}

/// An address block: network address plus prefix length, host bits zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

/// Why a CIDR string was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CidrError {
    #[error("{0:?} is not of the form ADDRESS/PREFIX")]
    Syntax(String),
    #[error("{0:?}: prefix longer than the address")]
    Prefix(String),
    #[error("{0:?}: bits set after the prefix (did you mean {1}?)")]
    HostBits(String, String),
}

impl Cidr {
    const fn v4(a: u8, b: u8, c: u8, d: u8, prefix: u8) -> Cidr {
        Cidr {
            net: IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
            prefix,
        }
    }

    const fn v6(segments: [u16; 8], prefix: u8) -> Cidr {
        let [a, b, c, d, e, f, g, h] = segments;
        Cidr {
            net: IpAddr::V6(Ipv6Addr::new(a, b, c, d, e, f, g, h)),
            prefix,
        }
    }

    /// Whether `ip` is inside this block (never across address families).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = mask32(self.prefix);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = mask128(self.prefix);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix.min(32)))
        .unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix.min(128)))
        .unwrap_or(0)
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let syntax = || CidrError::Syntax(s.to_owned());
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(syntax)?;
        let net: IpAddr = addr.parse().map_err(|_| syntax())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(CidrError::Prefix(s.to_owned()));
        }
        let cidr = Cidr { net, prefix };
        let masked = match net {
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        if masked != net {
            return Err(CidrError::HostBits(
                s.to_owned(),
                format!("{masked}/{prefix}"),
            ));
        }
        Ok(cidr)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Special-purpose ranges (IANA IPv4/IPv6 special-purpose registries), most specific first.
const SPECIAL: &[(Cidr, &str)] = &[
    (Cidr::v4(0, 0, 0, 0, 8), "unspecified (this network)"),
    (Cidr::v4(10, 0, 0, 0, 8), "private"),
    (Cidr::v4(100, 64, 0, 0, 10), "shared address space (CGNAT)"),
    (Cidr::v4(127, 0, 0, 0, 8), "loopback"),
    (Cidr::v4(169, 254, 0, 0, 16), "link-local"),
    (Cidr::v4(172, 16, 0, 0, 12), "private"),
    (Cidr::v4(192, 0, 0, 0, 24), "IETF protocol assignments"),
    (Cidr::v4(192, 0, 2, 0, 24), "documentation"),
    (Cidr::v4(192, 88, 99, 0, 24), "6to4 relay anycast"),
    (Cidr::v4(192, 168, 0, 0, 16), "private"),
    (Cidr::v4(198, 18, 0, 0, 15), "benchmarking"),
    (Cidr::v4(198, 51, 100, 0, 24), "documentation"),
    (Cidr::v4(203, 0, 113, 0, 24), "documentation"),
    (Cidr::v4(224, 0, 0, 0, 4), "multicast"),
    (Cidr::v4(240, 0, 0, 0, 4), "reserved or broadcast"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "unspecified"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (Cidr::v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96), "IPv4-mapped"),
    (Cidr::v6([0, 0, 0, 0, 0, 0, 0, 0], 96), "IPv4-compatible"),
    (
        Cidr::v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        "NAT64 local use",
    ),
    (Cidr::v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64), "discard-only"),
    (
        Cidr::v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32),
        "documentation",
    ),
    (
        Cidr::v6([0x2001, 0, 0, 0, 0, 0, 0, 0], 23),
        "IETF protocol assignments (Teredo...)",
    ),
    (Cidr::v6([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20), "documentation"),
    (
        Cidr::v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique local (ULA)",
    ),
    (Cidr::v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (Cidr::v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10), "site-local"),
    (Cidr::v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

/// Prefixes that carry an IPv4 address a gateway would reach: the embedded address is judged.
const NAT64: Cidr = Cidr::v6([0x64, 0xff9b, 0, 0, 0, 0, 0, 0], 96);
const SIX_TO_FOUR: Cidr = Cidr::v6([0x2002, 0, 0, 0, 0, 0, 0, 0], 16);

/// The kind of special-purpose range `ip` is in, or `None` for an ordinary public address.
pub fn special_range(ip: IpAddr) -> Option<&'static str> {
    if let Some((_, name)) = SPECIAL.iter().find(|(cidr, _)| cidr.contains(ip)) {
        return Some(name);
    }
    if let IpAddr::V6(v6) = ip {
        let bits = u128::from(v6);
        // Truncation is the point: the low 32 bits (NAT64) or bits 80..112 (6to4) are an IPv4 address.
        let embedded = if NAT64.contains(ip) {
            Some(Ipv4Addr::from(bits as u32))
        } else if SIX_TO_FOUR.contains(ip) {
            Some(Ipv4Addr::from((bits >> 80) as u32))
        } else {
            None
        };
        if let Some(v4) = embedded {
            return special_range(IpAddr::V4(v4)).map(|_| "IPv4 special range embedded in IPv6");
        }
    }
    None
}

/// Special-purpose addresses sinks may reach: those in the operator's allowlist.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allowed: Vec<Cidr>,
}

impl AddressPolicy {
    /// Only public addresses.
    pub fn public_only() -> AddressPolicy {
        AddressPolicy::default()
    }

    pub fn from_config(cfg: &EgressConfig) -> Result<AddressPolicy, ConfigError> {
        let allowed = cfg
            .allow_private_cidrs
            .iter()
            .map(|s| {
                s.parse::<Cidr>()
                    .map_err(|e| ConfigError::new("allow_private_cidrs", e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(AddressPolicy { allowed })
    }

    /// `Ok` if `ip` is public or explicitly allowed; otherwise the reason, for the error message.
    pub fn check(&self, ip: IpAddr) -> Result<(), &'static str> {
        match special_range(ip) {
            Some(kind) if !self.allowed.iter().any(|c| c.contains(ip)) => Err(kind),
            _ => Ok(()),
        }
    }

    /// Resolves `host` once (an IP literal is not looked up) and checks every address. Any refused
    /// address refuses the whole name (a name mixing public and private addresses is an attack or a
    /// mistake); a failed or empty lookup is transient. The caller connects to what this returns.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, SinkError> {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::time::timeout(timeout, tokio::net::lookup_host((bare, port)))
                .await
                .map_err(|_| SinkError::Transient(format!("resolving {host}: timed out")))?
                .map_err(|e| SinkError::Transient(format!("resolving {host}: {e}")))?
                .collect(),
        };
        if addrs.is_empty() {
            return Err(SinkError::Transient(format!(
                "resolving {host}: no address"
            )));
        }
        for addr in &addrs {
            if let Err(kind) = self.check(addr.ip()) {
                return Err(SinkError::Permanent(format!(
                    "{host} resolves to {} ({kind}), which the operator has not allowed \
                     (allow_private_cidrs)",
                    addr.ip()
                )));
            }
        }
        Ok(addrs)
    }
}

/// Connects to the first of `addrs` that accepts within `timeout` each.
pub async fn connect_tcp(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<tokio::net::TcpStream, SinkError> {
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = format!("connecting to {addr}: {e}"),
            Err(_) => last = format!("connecting to {addr}: timed out"),
        }
    }
    Err(SinkError::Transient(last))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(ip: &str, expect: Option<&str>) {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(special_range(ip), expect, "{ip}");
    }

    #[test]
    fn special_ranges_are_recognised() {
        check("0.0.0.0", Some("unspecified (this network)"));
        check("10.200.1.1", Some("private"));
        check("172.31.255.255", Some("private"));
        check("172.32.0.1", None);
        check("192.168.1.10", Some("private"));
        check("100.64.0.1", Some("shared address space (CGNAT)"));
        check("100.127.255.255", Some("shared address space (CGNAT)"));
        check("100.128.0.1", None);
        check("127.0.0.1", Some("loopback"));
        check("127.255.0.9", Some("loopback"));
        check("169.254.169.254", Some("link-local"));
        check("224.0.0.251", Some("multicast"));
        check("239.255.255.250", Some("multicast"));
        check("255.255.255.255", Some("reserved or broadcast"));
        check("192.0.2.5", Some("documentation"));
        check("::", Some("unspecified"));
        check("::1", Some("loopback"));
        check("::ffff:127.0.0.1", Some("IPv4-mapped"));
        check("::ffff:8.8.8.8", Some("IPv4-mapped"));
        check("::127.0.0.1", Some("IPv4-compatible"));
        check("fd12:3456::1", Some("unique local (ULA)"));
        check("fc00::1", Some("unique local (ULA)"));
        check("fe80::1", Some("link-local"));
        check("ff02::1", Some("multicast"));
        check("2001:db8::1", Some("documentation"));
        check(
            "64:ff9b::10.0.0.1",
            Some("IPv4 special range embedded in IPv6"),
        );
        check("2002:7f00:1::", Some("IPv4 special range embedded in IPv6"));
        // Ordinary public addresses.
        check("8.8.8.8", None);
        check("193.51.24.1", None);
        check("2a01:e0a::1", None);
        check("64:ff9b::8.8.8.8", None);
    }

    #[test]
    fn the_allowlist_opens_only_what_it_lists() {
        let policy = AddressPolicy::from_config(&EgressConfig {
            allow_private_cidrs: vec!["127.0.0.1/32".into(), "10.1.0.0/16".into()],
        })
        .unwrap();
        assert_eq!(policy.check("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("127.0.0.2".parse().unwrap()), Err("loopback"));
        assert_eq!(policy.check("10.1.200.3".parse().unwrap()), Ok(()));
        assert_eq!(policy.check("10.2.0.1".parse().unwrap()), Err("private"));
        assert_eq!(policy.check("::1".parse().unwrap()), Err("loopback"));
        // A mapped form of an allowed IPv4 address is still refused: it must be listed itself.
        assert_eq!(
            policy.check("::ffff:127.0.0.1".parse().unwrap()),
            Err("IPv4-mapped")
        );
        assert_eq!(
            AddressPolicy::public_only().check("8.8.4.4".parse().unwrap()),
            Ok(())
        );
    }

    #[test]
    fn cidrs_are_parsed_strictly() {
        assert_eq!("::1/128".parse::<Cidr>().unwrap().to_string(), "::1/128");
        assert_eq!(
            "0.0.0.0/0".parse::<Cidr>().unwrap().to_string(),
            "0.0.0.0/0"
        );
        for bad in [
            "127.0.0.1",
            "127.0.0.1/",
            "127.0.0.1/+8",
            "x/8",
            "10.0.0.0/8/8",
        ] {
            assert!(
                matches!(bad.parse::<Cidr>(), Err(CidrError::Syntax(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            "10.0.0.0/33".parse::<Cidr>(),
            Err(CidrError::Prefix(_))
        ));
        assert_eq!(
            "10.0.0.1/8".parse::<Cidr>().unwrap_err().to_string(),
            "\"10.0.0.1/8\": bits set after the prefix (did you mean 10.0.0.0/8?)"
        );
        let err = AddressPolicy::from_config(&EgressConfig {
            allow_private_cidrs: vec!["localhost".into()],
        })
        .unwrap_err();
        assert_eq!(err.key, "allow_private_cidrs");
    }

    #[tokio::test]
    async fn resolution_refuses_loopback_names_and_literals() {
        let policy = AddressPolicy::public_only();
        for host in ["127.0.0.1", "[::1]", "localhost"] {
            match policy.resolve(host, 443, Duration::from_secs(5)).await {
                Err(SinkError::Permanent(msg)) => {
                    assert!(msg.contains("allow_private_cidrs"), "{msg}")
                }
                other => panic!("{host}: {other:?}"),
            }
        }
        let open = AddressPolicy::from_config(&EgressConfig {
            allow_private_cidrs: vec!["127.0.0.0/8".into(), "::1/128".into()],
        })
        .unwrap();
        let addrs = open
            .resolve("127.0.0.1", 8443, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:8443".parse().unwrap()]);
    }
}
