//! Passphrase encryption of a backup, as a stream: the key is argon2id(passphrase, random salt), the
//! content ChaCha20-Poly1305 in the STREAM construction (RustCrypto `aead::stream`, big-endian
//! 32-bit counter, last-chunk flag) over 64 KiB chunks, every chunk authenticated with the header as
//! associated data. A truncated, reordered or altered file, or a wrong passphrase, fails to decrypt;
//! nothing unauthenticated is ever returned to the reader.
//!
//! ```text
//! "vigie-backup-enc1" (17 bytes) | m_cost KiB u32 | t_cost u32 | p_cost u32 | salt [16] | nonce prefix [7]
//! chunk* (64 KiB + 16-byte tag), the last one shorter or equal, flagged as last
//! ```

use std::io::{self, Read, Write};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::{KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use rand::RngCore;

const MAGIC: &[u8] = b"vigie-backup-enc1";
const SALT_LEN: usize = 16;
const NONCE_PREFIX_LEN: usize = 7;
const HEADER_LEN: usize = MAGIC.len() + 12 + SALT_LEN + NONCE_PREFIX_LEN;
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
/// argon2id cost: 64 MiB, 3 passes, 1 lane (RFC 9106's second recommended option).
const M_COST_KIB: u32 = 64 * 1024;
const T_COST: u32 = 3;
const P_COST: u32 = 1;
/// Bounds accepted when reading a header (a hostile file must not make us allocate gigabytes).
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 16;

/// Errors of encryption and decryption.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error("not a Vigie backup, or one from a newer version")]
    NotABackup,
    #[error("wrong passphrase, or the backup is damaged or was altered")]
    Decrypt,
    #[error("the backup is truncated")]
    Truncated,
    #[error("unsupported key-derivation parameters in the backup header")]
    Params,
    #[error("encryption failed")]
    Encrypt,
}

impl From<CryptError> for io::Error {
    fn from(e: CryptError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, e)
    }
}

fn derive(
    passphrase: &[u8],
    salt: &[u8],
    m: u32,
    t: u32,
    p: u32,
) -> Result<ChaCha20Poly1305, CryptError> {
    let params = Params::new(m, t, p, Some(32)).map_err(|_| CryptError::Params)?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase, salt, &mut key)
        .map_err(|_| CryptError::Params)?;
    let cipher = ChaCha20Poly1305::new((&key).into());
    key.iter_mut().for_each(|b| *b = 0);
    Ok(cipher)
}

/// Encrypts everything written to it; `finish` writes the last chunk.
pub struct EncryptWriter<W: Write> {
    out: W,
    header: Vec<u8>,
    enc: Option<EncryptorBE32<ChaCha20Poly1305>>,
    buf: Vec<u8>,
}

impl<W: Write> std::fmt::Debug for EncryptWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptWriter").finish_non_exhaustive()
    }
}

impl<W: Write> EncryptWriter<W> {
    /// Writes the header (new random salt and nonce prefix) and derives the key.
    pub fn new(mut out: W, passphrase: &[u8]) -> io::Result<Self> {
        let mut salt = [0u8; SALT_LEN];
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut prefix);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        for v in [M_COST_KIB, T_COST, P_COST] {
            header.extend_from_slice(&v.to_be_bytes());
        }
        header.extend_from_slice(&salt);
        header.extend_from_slice(&prefix);
        out.write_all(&header)?;
        let cipher = derive(passphrase, &salt, M_COST_KIB, T_COST, P_COST)?;
        Ok(EncryptWriter {
            out,
            header,
            enc: Some(EncryptorBE32::from_aead(cipher, (&prefix).into())),
            buf: Vec::with_capacity(CHUNK * 2),
        })
    }

    /// Encrypts the final chunk (possibly empty) and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        let enc = self.enc.take().ok_or(CryptError::Encrypt)?;
        let ct = enc
            .encrypt_last(Payload {
                msg: &self.buf,
                aad: &self.header,
            })
            .map_err(|_| CryptError::Encrypt)?;
        self.out.write_all(&ct)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        // Keep at least one byte back: the last chunk is only known at `finish`.
        while self.buf.len() > CHUNK {
            let enc = self.enc.as_mut().ok_or(CryptError::Encrypt)?;
            let ct = enc
                .encrypt_next(Payload {
                    msg: self.buf.get(..CHUNK).unwrap_or_default(),
                    aad: &self.header,
                })
                .map_err(|_| CryptError::Encrypt)?;
            self.out.write_all(&ct)?;
            self.buf.drain(..CHUNK);
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Decrypts a stream written by [`EncryptWriter`]; reading past a bad chunk is an error.
pub struct DecryptReader<R: Read> {
    input: R,
    header: Vec<u8>,
    dec: Option<DecryptorBE32<ChaCha20Poly1305>>,
    /// Ciphertext read ahead (to tell the last chunk from the others).
    pending: Vec<u8>,
    plain: Vec<u8>,
    pos: usize,
    done: bool,
}

impl<R: Read> std::fmt::Debug for DecryptReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptReader").finish_non_exhaustive()
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = bytes.get(at..at + 4) {
        b.copy_from_slice(s);
    }
    u32::from_be_bytes(b)
}

impl<R: Read> DecryptReader<R> {
    /// Reads the header and derives the key. A wrong passphrase shows at the first read.
    pub fn new(mut input: R, passphrase: &[u8]) -> io::Result<Self> {
        let mut header = vec![0u8; HEADER_LEN];
        input.read_exact(&mut header).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => io::Error::from(CryptError::NotABackup),
            _ => e,
        })?;
        if header.get(..MAGIC.len()) != Some(MAGIC) {
            return Err(CryptError::NotABackup.into());
        }
        let at = MAGIC.len();
        let (m, t, p) = (
            be32(&header, at),
            be32(&header, at + 4),
            be32(&header, at + 8),
        );
        if m > MAX_M_COST_KIB || t > MAX_T_COST || p == 0 || p > 16 {
            return Err(CryptError::Params.into());
        }
        let salt = header.get(at + 12..at + 12 + SALT_LEN).unwrap_or_default();
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(
            header
                .get(at + 12 + SALT_LEN..)
                .unwrap_or(&[0; NONCE_PREFIX_LEN]),
        );
        let cipher = derive(passphrase, salt, m, t, p)?;
        Ok(DecryptReader {
            input,
            header,
            dec: Some(DecryptorBE32::from_aead(cipher, (&prefix).into())),
            pending: Vec::with_capacity(CHUNK + TAG + 1),
            plain: Vec::new(),
            pos: 0,
            done: false,
        })
    }

    /// Decrypts the next chunk into `plain`.
    fn refill(&mut self) -> io::Result<()> {
        // Read until one byte past a full chunk, or the end.
        while self.pending.len() <= CHUNK + TAG {
            let mut tmp = [0u8; 16 * 1024];
            let want = (CHUNK + TAG + 1 - self.pending.len()).min(tmp.len());
            let n = self.input.read(tmp.get_mut(..want).unwrap_or_default())?;
            if n == 0 {
                break;
            }
            self.pending
                .extend_from_slice(tmp.get(..n).unwrap_or_default());
        }
        let last = self.pending.len() <= CHUNK + TAG;
        if last {
            if self.pending.len() < TAG {
                return Err(CryptError::Truncated.into());
            }
            let dec = self.dec.take().ok_or(CryptError::Truncated)?;
            self.plain = dec
                .decrypt_last(Payload {
                    msg: &self.pending,
                    aad: &self.header,
                })
                .map_err(|_| CryptError::Decrypt)?;
            self.pending.clear();
            self.done = true;
        } else {
            let dec = self.dec.as_mut().ok_or(CryptError::Truncated)?;
            self.plain = dec
                .decrypt_next(Payload {
                    msg: self.pending.get(..CHUNK + TAG).unwrap_or_default(),
                    aad: &self.header,
                })
                .map_err(|_| CryptError::Decrypt)?;
            self.pending.drain(..CHUNK + TAG);
        }
        self.pos = 0;
        Ok(())
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.plain.len() {
            if self.done {
                return Ok(0);
            }
            self.refill()?;
        }
        let avail = self.plain.get(self.pos..).unwrap_or_default();
        let n = avail.len().min(out.len());
        out.get_mut(..n)
            .unwrap_or_default()
            .copy_from_slice(avail.get(..n).unwrap_or_default());
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn seal(data: &[u8], pass: &[u8]) -> Vec<u8> {
        let mut w = EncryptWriter::new(Vec::new(), pass).unwrap();
        for piece in data.chunks(10_000) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    fn open(sealed: &[u8], pass: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        DecryptReader::new(sealed, pass)?.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn round_trips_every_size_and_refuses_tampering() {
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17] {
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&data, b"correct horse battery");
            assert_eq!(
                open(&sealed, b"correct horse battery").unwrap(),
                data,
                "{size}"
            );
            assert!(open(&sealed, b"wrong").is_err(), "{size}");
            // Cut at a chunk boundary: the remaining last chunk is not flagged last.
            if sealed.len() > HEADER_LEN + CHUNK + TAG {
                assert!(open(
                    &sealed[..HEADER_LEN + CHUNK + TAG],
                    b"correct horse battery"
                )
                .is_err());
            }
            let mut flipped = sealed.clone();
            let i = flipped.len() - 1;
            flipped[i] ^= 0x40;
            assert!(open(&flipped, b"correct horse battery").is_err());
            // The header is authenticated too.
            let mut salted = sealed.clone();
            salted[HEADER_LEN - 1] ^= 1;
            assert!(open(&salted, b"correct horse battery").is_err());
        }
        assert!(matches!(
            DecryptReader::new(&b"not a backup at all, really no"[..], b"x")
                .unwrap_err()
                .get_ref()
                .and_then(|e| e.downcast_ref::<CryptError>()),
            Some(CryptError::NotABackup)
        ));
    }
}
