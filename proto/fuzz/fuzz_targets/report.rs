//! Report bodies from the wire (`envelope::decode_body`) and from `check --json` (`json::report_from_json`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_proto::envelope::decode_body;
use vigie_proto::json::{report_from_json, report_to_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = decode_body(data) {
        // Anything the collector accepts must also render in the public JSON format.
        let _ = report_to_json(&report);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = report_from_json(text);
    }
});
