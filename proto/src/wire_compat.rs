//! Pins the wire format: recorded encodings of representative messages must decode to the same
//! values and re-encode to the same bytes, so that renumbering or retyping a field fails CI
//! (style rule 17). Update the recordings only together with a new package version.

#[cfg(test)]
mod tests {
    use crate::v1::{
        domain_state::State, Ack, Domain, DomainState, Patches, PendingUpdate, Report, ReportHeader,
    };
    use prost::Message;

    fn report() -> Report {
        Report {
            format_version: 1,
            agent_version: "0.1.0".into(),
            collected_at_ms: 1_764_000_000_000,
            domains: vec![DomainState {
                domain: Domain::Patches as i32,
                probe_id: "patches.apt".into(),
                collected_at_ms: 1_764_000_000_000,
                state_id: "ab".into(),
                chunk_index: 0,
                chunk_count: 1,
                state: Some(State::Patches(Patches {
                    manager: "apt".into(),
                    pending: vec![PendingUpdate {
                        package: "openssl".into(),
                        installed_version: "3.0.1".into(),
                        candidate_version: "3.0.2".into(),
                        origins: vec!["Debian-Security:12/stable-security [amd64]".into()],
                        security: true,
                        first_seen_ms: 1_763_000_000_000,
                    }],
                    reboot_required: true,
                    ..Default::default()
                })),
            }],
            heartbeat: false,
            outbox_dropped: 3,
        }
    }

    const REPORT_HEX: &str = "08011205302e312e301880d0dfb4ab3322730803120b706174636865732e6170741880d0dfb4ab332202616230016a550a03617074124c0a076f70656e73736c1205332e302e311a05332e302e32222a44656269616e2d53656375726974793a31322f737461626c652d7365637572697479205b616d6436345d28013080bcf4d7a73330013003";
    const HEADER_HEX: &str = "0a2436663163306539652d366134332d346235332d396434332d30633166316633623865313110ffffffffffffffffff01182a2080d0dfb4ab332a20abababababababababababababababababababababababababababababababab";
    const ACK_HEX: &str = "0803100418072009280c32057374616c65";

    #[track_caller]
    fn check<M: Message + Default + PartialEq + std::fmt::Debug>(value: &M, recorded: &str) {
        let bytes = value.encode_to_vec();
        assert_eq!(hex::encode(&bytes), recorded, "wire encoding changed");
        let decoded = M::decode(hex::decode(recorded).unwrap().as_slice()).unwrap();
        assert_eq!(&decoded, value);
    }

    #[test]
    fn recorded_encodings_are_stable() {
        check(&report(), REPORT_HEX);
        check(
            &ReportHeader {
                host_id: "6f1c0e9e-6a43-4b53-9d43-0c1f1f3b8e11".into(),
                epoch: u64::MAX,
                seq: 42,
                created_at_ms: 1_764_000_000_000,
                body_sha256: vec![0xab; 32],
            },
            HEADER_HEX,
        );
        check(
            &Ack {
                status: 3,
                reason: 4,
                epoch: 7,
                seq: 9,
                high_water_mark: 12,
                detail: "stale".into(),
            },
            ACK_HEX,
        );
    }
}
