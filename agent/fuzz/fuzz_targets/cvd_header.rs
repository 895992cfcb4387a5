//! The ClamAV CVD/CLD header parser (`probe::antivirus::parse_cvd_header`) on arbitrary bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_agent::probe::antivirus::parse_cvd_header;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = parse_cvd_header(data) {
        // Only a full header parses, and what it yields is bounded by it.
        assert!(data.len() >= 512);
        assert!(header.builder.len() <= 64);
        assert!(header.time_text.len() <= 512);
    }
});
