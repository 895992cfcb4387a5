//! Detections from clamd's log (`LogFile`): lines ending in ` FOUND`, e.g.
//! `Thu Nov 28 10:00:01 2024 -> /home/a/x.exe: Win.Trojan.Agent-123(<md5>:<size>) FOUND`. Pure
//! parsing over bytes (paths keep their bytes), bounded, newest first. Not here: clamonacc or
//! clamscan logs, and syslog or journal output (`LogSyslog`), which later sources may add.

use vigie_proto::v1::{path::Encoding, Detection, Path};

use super::freshclam::split_log_time;

/// Longest signature name kept; ClamAV names are well under it.
const MAX_SIGNATURE_CHARS: usize = 128;
/// Longest path kept, in bytes.
const MAX_PATH_BYTES: usize = 4096;

/// Detections found in `log`, bounded to `max`, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    pub detections: Vec<Detection>,
    /// Detections in the window left out by the bound.
    pub omitted: u32,
}

/// Detections of `log` at or after `since_ms`. Undated lines (clamd without `LogTime`) count only
/// when `undated_in_window` (the caller knows the log was written inside the window), with `at_ms` 0.
pub fn parse_log(log: &[u8], since_ms: i64, undated_in_window: bool, max: usize) -> Found {
    let mut all = Vec::new();
    for line in log.split(|b| *b == b'\n') {
        let Some(d) = parse_line(line) else { continue };
        let keep = if d.at_ms > 0 {
            d.at_ms >= since_ms
        } else {
            undated_in_window
        };
        if keep {
            all.push(d);
        }
    }
    // Log order is oldest first; report the newest first.
    all.reverse();
    let omitted = u32::try_from(all.len().saturating_sub(max)).unwrap_or(u32::MAX);
    all.truncate(max);
    Found {
        detections: all,
        omitted,
    }
}

/// One detection line, or `None` for any other line.
pub fn parse_line(line: &[u8]) -> Option<Detection> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_suffix(b" FOUND")?;
    // The time prefix is ASCII; split it off on the lossy text, then cut the same length from bytes.
    let lossy = String::from_utf8_lossy(body);
    let (at_ms, _) = split_log_time(&lossy);
    let prefix_len = if at_ms.is_some() {
        lossy.find(" -> ").map(|i| i + 4)?
    } else {
        0
    };
    let body = if at_ms.is_some() {
        body.get(prefix_len..)?
    } else {
        body
    };
    // `<path>: <signature>`: the signature holds no ": ", the path may.
    let split = body.windows(2).rposition(|w| w == b": ")?;
    let path = body.get(..split)?;
    let signature = body.get(split + 2..)?;
    if path.is_empty() || signature.is_empty() {
        return None;
    }
    let signature = String::from_utf8_lossy(signature);
    // ExtendedDetectionInfo appends `(<md5>:<size>)`; the name alone is what people read.
    let name = match signature.split_once('(') {
        Some((name, rest)) if rest.ends_with(')') => name,
        _ => &signature,
    };
    let name: String = name
        .trim()
        .chars()
        .take(MAX_SIGNATURE_CHARS)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    if name.is_empty() {
        return None;
    }
    Some(Detection {
        at_ms: at_ms.unwrap_or(0),
        path: Some(Path {
            encoding: Encoding::UnixBytes as i32,
            raw: path.get(..path.len().min(MAX_PATH_BYTES))?.to_vec(),
        }),
        signature: name,
        action: "found".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(line: &[u8], expect: &str) {
        let actual = match parse_line(line) {
            Some(d) => format!(
                "{} {:?} {} {}",
                d.at_ms,
                String::from_utf8_lossy(&d.path.unwrap().raw),
                d.signature,
                d.action
            ),
            None => "none".to_owned(),
        };
        assert_eq!(actual, expect);
    }

    #[test]
    fn detection_lines() {
        check(
            b"Thu Nov 28 08:16:02 2024 -> /home/agent/eicar.com: Eicar-Test-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND",
            "1732781762000 \"/home/agent/eicar.com\" Eicar-Test-Signature found",
        );
        check(
            b"/srv/partage: compta/facture: 2024.pdf: Pdf.Exploit.CVE_2018_4993-1 FOUND\r",
            "0 \"/srv/partage: compta/facture: 2024.pdf\" Pdf.Exploit.CVE_2018_4993-1 found",
        );
        check(
            b"Thu Nov 28 08:16:02 2024 -> /tmp/cl\xe9 USB/x: Win.Test FOUND",
            "1732781762000 \"/tmp/cl\u{fffd} USB/x\" Win.Test found",
        );
        // A hostile file name cannot forge another signature name or inject control bytes.
        check(
            b"/tmp/a: Fake FOUND: Evil\x1b[2J<script> FOUND",
            "0 \"/tmp/a: Fake FOUND\" Evil?[2J<script> found",
        );
        check(b"Thu Nov 28 08:16:02 2024 -> /tmp/x: OK", "none");
        check(
            b"Thu Nov 28 08:16:02 2024 -> SelfCheck: Database status OK.",
            "none",
        );
        check(b": X FOUND", "none");
        check(b"/tmp/x:  FOUND", "none");
        check(b" FOUND", "none");
        check(b"", "none");
    }

    #[test]
    fn window_and_bound() {
        let log = b"Thu Nov 28 08:16:02 2024 -> /a: Old FOUND\n\
Fri Nov 29 08:16:02 2024 -> /b: New1 FOUND\n\
Fri Nov 29 09:16:02 2024 -> /c: New2 FOUND\n\
/d: Undated FOUND\n\
Fri Nov 29 10:16:02 2024 -> /e: New3 FOUND\n";
        let since = 1_732_781_762_000 + 1;
        let names = |f: &Found| -> Vec<String> {
            f.detections.iter().map(|d| d.signature.clone()).collect()
        };
        let f = parse_log(log, since, false, 10);
        assert_eq!(names(&f), ["New3", "New2", "New1"]);
        assert_eq!(f.omitted, 0);
        let f = parse_log(log, since, true, 2);
        assert_eq!(names(&f), ["New3", "Undated"]);
        assert_eq!(f.omitted, 2);
        assert_eq!(
            parse_log(b"\xff\xfe\0garbage", 0, true, 10),
            Found::default()
        );
    }
}
