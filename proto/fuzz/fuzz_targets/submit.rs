//! A `SubmitRequest` batch decoded from arbitrary bytes, and each report's header bounds-checked.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_proto::envelope::decode_header;
use vigie_proto::v1::SubmitRequest;
use vigie_proto::Message;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = SubmitRequest::decode(data) {
        for report in &request.reports {
            let _ = decode_header(report);
        }
    }
});
