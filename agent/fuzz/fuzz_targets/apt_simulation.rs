//! `apt-get -s dist-upgrade` output parsing (`probe::apt::parse_simulation`) on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_agent::probe::apt::parse_simulation;

fuzz_target!(|data: &[u8]| {
    // Command output is not guaranteed UTF-8; the probe reads it lossily too.
    let text = String::from_utf8_lossy(data);
    let pending = parse_simulation(&text);
    // One candidate per `Inst` line at most.
    assert!(pending.len() <= text.lines().count());
});
