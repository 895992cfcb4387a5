//! Host keys from their public key files (`ssh_host_*_key.pub` under /etc/ssh and those named by
//! HostKey): type, size and SHA-256 fingerprint, read from the base64 key blob (RFC 4253 §6.6,
//! RFC 5656, RFC 8709): `ssh-rsa` e then n, `ssh-dss` p q g y, `ecdsa-sha2-*` curve then point,
//! `ssh-ed25519` a 32-byte point. Private keys are never opened: the agent does not need them and
//! may not read them. Not here: deciding what is weak (the collector's SSH-005).

use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::probe::fsutil::{read_bounded, resolve_in_root};

/// A public key file is one line of a few hundred bytes (a 16384-bit RSA key is about 2.8 KB).
const MAX_PUB_BYTES: u64 = 16 * 1024;

/// What one public key file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyInfo {
    pub key_type: String,
    pub bits: u32,
    pub fingerprint: String,
    pub error: String,
}

/// Host paths of the public key files to read: every `ssh_host_*_key.pub` under /etc/ssh plus
/// `<HostKey>.pub` for each HostKey (or the defaults), sorted, without duplicates.
pub fn candidates(root: &Path, host_keys: &[String]) -> Vec<String> {
    let mut paths = super::glob::expand(root, "/etc/ssh/ssh_host_*_key.pub");
    for key in host_keys {
        let pub_path = format!("{key}.pub");
        if resolve_in_root(root, &pub_path).exists() {
            paths.push(pub_path);
        }
    }
    paths.sort();
    paths.dedup();
    paths
}

/// Reads and parses one public key file under `root`.
pub fn read(root: &Path, host_path: &str) -> KeyInfo {
    match read_bounded(&resolve_in_root(root, host_path), MAX_PUB_BYTES) {
        Ok(bytes) => parse(&String::from_utf8_lossy(&bytes)),
        Err(e) => KeyInfo {
            error: format!("reading {host_path}: {e}"),
            ..KeyInfo::default()
        },
    }
}

/// Parses `type base64 [comment]`.
pub fn parse(text: &str) -> KeyInfo {
    let mut words = text.split_whitespace();
    let key_type = words.next().unwrap_or_default().to_owned();
    let mut info = KeyInfo {
        key_type,
        ..KeyInfo::default()
    };
    let Some(b64) = words.next() else {
        info.error = "no key data after the key type".to_owned();
        return info;
    };
    let blob = match base64::engine::general_purpose::STANDARD.decode(b64) {
        Ok(blob) => blob,
        Err(e) => {
            info.error = format!("key data is not valid base64: {e}");
            return info;
        }
    };
    let digest = Sha256::digest(&blob);
    info.fingerprint = format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    );
    match blob_bits(&blob, &info.key_type) {
        Ok(bits) => info.bits = bits,
        Err(e) => info.error = e,
    }
    info
}

/// The key size from the blob, checking that the blob's own type matches the file's.
fn blob_bits(blob: &[u8], file_type: &str) -> Result<u32, String> {
    let mut r = Reader(blob);
    let inner = r.string()?;
    if inner != file_type.as_bytes() {
        return Err(format!(
            "key blob of type {:?} under type {file_type:?}",
            String::from_utf8_lossy(inner)
        ));
    }
    match file_type {
        "ssh-rsa" => {
            let _e = r.string()?;
            Ok(mpint_bits(r.string()?))
        }
        "ssh-dss" => Ok(mpint_bits(r.string()?)),
        "ssh-ed25519" | "sk-ssh-ed25519@openssh.com" => match r.string()?.len() {
            32 => Ok(256),
            n => Err(format!("Ed25519 key of {n} bytes, expected 32")),
        },
        t if t.starts_with("ecdsa-sha2-") || t.starts_with("sk-ecdsa-sha2-") => {
            match r.string()? {
                b"nistp256" => Ok(256),
                b"nistp384" => Ok(384),
                b"nistp521" => Ok(521),
                other => Err(format!(
                    "unknown curve {:?}",
                    String::from_utf8_lossy(other)
                )),
            }
        }
        other => Err(format!("unknown key type {other:?}")),
    }
}

/// Bits of an SSH mpint: its magnitude without leading zero bytes.
fn mpint_bits(bytes: &[u8]) -> u32 {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let mag = bytes.get(start..).unwrap_or_default();
    match mag.first() {
        None => 0,
        Some(top) => {
            let len = u32::try_from(mag.len()).unwrap_or(u32::MAX / 8);
            len.saturating_sub(1).saturating_mul(8) + (8 - top.leading_zeros())
        }
    }
}

/// Reads SSH wire strings (a u32 length, then that many bytes) from a blob.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn string(&mut self) -> Result<&'a [u8], String> {
        let truncated = || "key blob truncated".to_owned();
        let len_bytes: [u8; 4] = self
            .0
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(truncated)?;
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| truncated())?;
        let end = len.checked_add(4).ok_or_else(truncated)?;
        let s = self.0.get(4..end).ok_or_else(truncated)?;
        self.0 = self.0.get(end..).unwrap_or_default();
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real keys made with `ssh-keygen` (OpenSSH 9.2); the fingerprints are those `ssh-keygen -lf`
    // printed for them.
    const ED25519: &str =
        include_str!("../../../../tests/fixtures/roots/hardened/etc/ssh/ssh_host_ed25519_key.pub");
    const RSA4096: &str =
        include_str!("../../../../tests/fixtures/roots/hardened/etc/ssh/ssh_host_rsa_key.pub");
    const RSA1024: &str =
        include_str!("../../../../tests/fixtures/roots/weak/etc/ssh/ssh_host_rsa_key.pub");
    const ECDSA: &str = include_str!(
        "../../../../tests/fixtures/roots/debian12-stock/etc/ssh/ssh_host_ecdsa_key.pub"
    );
    const DSA: &str =
        include_str!("../../../../tests/fixtures/roots/weak/etc/ssh/ssh_host_dsa_key.pub");

    #[track_caller]
    fn check(text: &str, expect: &str) {
        let k = parse(text);
        let actual = format!("{} {} {}", k.key_type, k.bits, k.error);
        assert_eq!(actual.trim_end(), expect);
        if k.error.is_empty() {
            assert!(
                k.fingerprint.starts_with("SHA256:") && k.fingerprint.len() == 50,
                "{k:?}"
            );
        }
    }

    #[test]
    fn every_key_type() {
        check(ED25519, "ssh-ed25519 256");
        check(RSA4096, "ssh-rsa 4096");
        check(RSA1024, "ssh-rsa 1024");
        check(ECDSA, "ecdsa-sha2-nistp256 256");
        check(DSA, "ssh-dss 1024");
    }

    #[test]
    fn malformed_keys_are_errors_not_panics() {
        check("ssh-rsa", "ssh-rsa 0 no key data after the key type");
        check(
            "ssh-rsa not*base64 c",
            "ssh-rsa 0 key data is not valid base64: Invalid symbol 42, offset 3.",
        );
        // "AAAAB3NzaC1yc2E=" is the string "ssh-rsa" alone: e and n are missing.
        check("ssh-rsa AAAAB3NzaC1yc2E=", "ssh-rsa 0 key blob truncated");
        check(
            "ssh-dss AAAAB3NzaC1yc2E=",
            "ssh-dss 0 key blob of type \"ssh-rsa\" under type \"ssh-dss\"",
        );
        check("", " 0 no key data after the key type");
        // A length field claiming 4 GB.
        check("ssh-ed25519 /////w==", "ssh-ed25519 0 key blob truncated");
    }

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let k = parse(ED25519);
        // `ssh-keygen -lf tests/fixtures/roots/hardened/etc/ssh/ssh_host_ed25519_key.pub`
        assert_eq!(
            k.fingerprint,
            "SHA256:sjHZbW3RFyNNrG1/FkNk0hYpfX2HwJ9NXl11FJJIveA"
        );
    }
}
