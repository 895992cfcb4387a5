//! The store's export format, shared by every `Store` implementation: named tables of raw
//! (key, value) pairs, written at one consistent point by [`Store::export`](super::Store::export)
//! and read back into a fresh store by the restore. Values travel as stored (the sled store's are
//! checksummed with their key), so a restored store is byte for byte the exported one.
//!
//! ```text
//! "vigie-store-export v1\n"
//! 1 u32(len) name                  a table starts
//! 2 u32(len) key u32(len) value    one pair of the current table
//! 0 u64(tables) u64(pairs)         the end, with the counts as a check
//! ```

use std::io::{self, Read, Write};

const MAGIC: &[u8] = b"vigie-store-export v1\n";
const TAG_END: u8 = 0;
const TAG_TABLE: u8 = 1;
const TAG_PAIR: u8 = 2;
/// Longest table name, key or value accepted on import (sled values are far smaller).
const MAX_FIELD: u32 = 256 * 1024 * 1024;

/// What an export or import counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExportStats {
    pub tables: u64,
    pub pairs: u64,
}

/// Writes the export stream.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    stats: ExportStats,
}

fn field<W: Write>(out: &mut W, bytes: &[u8]) -> io::Result<()> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|l| *l <= MAX_FIELD)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "field too large"))?;
    out.write_all(&len.to_be_bytes())?;
    out.write_all(bytes)
}

impl<W: Write> ExportWriter<W> {
    pub fn new(mut out: W) -> io::Result<Self> {
        out.write_all(MAGIC)?;
        Ok(ExportWriter {
            out,
            stats: ExportStats::default(),
        })
    }

    pub fn table(&mut self, name: &[u8]) -> io::Result<()> {
        self.out.write_all(&[TAG_TABLE])?;
        field(&mut self.out, name)?;
        self.stats.tables += 1;
        Ok(())
    }

    pub fn pair(&mut self, key: &[u8], value: &[u8]) -> io::Result<()> {
        self.out.write_all(&[TAG_PAIR])?;
        field(&mut self.out, key)?;
        field(&mut self.out, value)?;
        self.stats.pairs += 1;
        Ok(())
    }

    /// Writes the end marker and returns the writer and the counts.
    pub fn finish(mut self) -> io::Result<(W, ExportStats)> {
        self.out.write_all(&[TAG_END])?;
        self.out.write_all(&self.stats.tables.to_be_bytes())?;
        self.out.write_all(&self.stats.pairs.to_be_bytes())?;
        self.out.flush()?;
        Ok((self.out, self.stats))
    }
}

/// One item read back.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    Table(Vec<u8>),
    Pair(Vec<u8>, Vec<u8>),
}

fn bad(message: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("store export: {message}"),
    )
}

fn read_u32<R: Read>(r: &mut R) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_u64<R: Read>(r: &mut R) -> io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn read_field<R: Read>(r: &mut R) -> io::Result<Vec<u8>> {
    let len = read_u32(r)?;
    if len > MAX_FIELD {
        return Err(bad("field too large"));
    }
    let mut v = Vec::new();
    r.take(u64::from(len)).read_to_end(&mut v)?;
    if v.len() != len as usize {
        return Err(bad("truncated"));
    }
    Ok(v)
}

/// Reads an export stream, calling `each` for every table and pair in order; checks the counts
/// at the end. A truncated or altered stream is an error, never a partial success.
pub fn read<R: Read>(
    mut input: R,
    mut each: impl FnMut(Item) -> io::Result<()>,
) -> io::Result<ExportStats> {
    let mut magic = vec![0u8; MAGIC.len()];
    input.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(bad("not a Vigie store export (or a newer format)"));
    }
    let mut seen = ExportStats::default();
    let mut in_table = false;
    loop {
        let mut tag = [0u8; 1];
        input.read_exact(&mut tag)?;
        match tag[0] {
            TAG_TABLE => {
                each(Item::Table(read_field(&mut input)?))?;
                seen.tables += 1;
                in_table = true;
            }
            TAG_PAIR if in_table => {
                let key = read_field(&mut input)?;
                let value = read_field(&mut input)?;
                each(Item::Pair(key, value))?;
                seen.pairs += 1;
            }
            TAG_END => {
                let told = ExportStats {
                    tables: read_u64(&mut input)?,
                    pairs: read_u64(&mut input)?,
                };
                if told != seen {
                    return Err(bad("counts at the end do not match the content"));
                }
                return Ok(seen);
            }
            _ => return Err(bad("unexpected record")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut w = ExportWriter::new(Vec::new()).unwrap();
        w.table(b"hosts").unwrap();
        w.pair(b"h1", b"v1").unwrap();
        w.pair(b"h2", b"").unwrap();
        w.table(b"empty").unwrap();
        let (bytes, stats) = w.finish().unwrap();
        assert_eq!(
            stats,
            ExportStats {
                tables: 2,
                pairs: 2
            }
        );
        let mut items = Vec::new();
        let got = read(bytes.as_slice(), |i| {
            items.push(i);
            Ok(())
        })
        .unwrap();
        assert_eq!(got, stats);
        assert_eq!(items[1], Item::Pair(b"h1".to_vec(), b"v1".to_vec()));
        for cut in [5, MAGIC.len() + 3, bytes.len() - 1] {
            assert!(read(&bytes[..cut], |_| Ok(())).is_err(), "cut at {cut}");
        }
        let mut forged = bytes.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(read(forged.as_slice(), |_| Ok(())).is_err());
    }
}
