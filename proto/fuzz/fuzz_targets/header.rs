//! `envelope::decode_header` on a `SignedReport` whose header is the raw input: bounded, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_proto::envelope::decode_header;
use vigie_proto::limits::{MAX_HEADER_BYTES, MAX_HOST_ID_BYTES};
use vigie_proto::v1::SignedReport;

fuzz_target!(|data: &[u8]| {
    let report = SignedReport {
        header: data.to_vec(),
        signature: Vec::new(),
        body: Vec::new(),
    };
    if let Ok(header) = decode_header(&report) {
        // What the collector trusts before the signature check must respect the documented bounds.
        assert!(data.len() <= MAX_HEADER_BYTES);
        assert!(header.host_id.len() <= MAX_HOST_ID_BYTES);
        assert_eq!(header.body_sha256.len(), 32);
    }
});
