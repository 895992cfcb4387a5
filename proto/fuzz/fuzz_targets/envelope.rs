//! A `SignedReport` decoded from arbitrary bytes and verified against a fixed key never panics, and
//! re-sealing its body with that key always verifies.
#![no_main]

use ed25519_dalek::SigningKey;
use libfuzzer_sys::fuzz_target;
use vigie_proto::envelope::{seal, verify, HeaderFields};
use vigie_proto::limits::MAX_REPORT_BODY_BYTES;
use vigie_proto::v1::SignedReport;
use vigie_proto::Message;

fuzz_target!(|data: &[u8]| {
    let key = SigningKey::from_bytes(&[7; 32]);
    let Ok(report) = SignedReport::decode(data) else {
        return;
    };
    // Forging a signature is out of reach for the fuzzer: this exercises every refusal path.
    let _ = verify(&report, &key.verifying_key());

    let fields = HeaderFields {
        host_id: "fuzz".into(),
        epoch: 1,
        seq: 1,
        created_at_ms: 0,
    };
    let fits = report.body.len() <= MAX_REPORT_BODY_BYTES;
    let sealed = seal(&key, &fields, report.body);
    assert_eq!(verify(&sealed, &key.verifying_key()).is_ok(), fits);
});
