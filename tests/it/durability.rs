//! Durability across a collector crash between store and acknowledgement: the agent resends, the
//! collector answers "already stored", nothing is duplicated, and derived state rebuilt from the
//! stored reports equals what was there.

use std::time::Duration;

use crate::harness::{wait_for, Agent, Collector};

fn verdicts(c: &Collector) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = c
        .findings(None)
        .iter()
        .map(|f| {
            (
                f["check_id"].as_str().unwrap().to_owned(),
                f["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn collector_killed_between_store_and_ack_loses_and_duplicates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    a.enroll(&c, &c.token("mairie", "1h"));
    // Restart the collector with the failpoint armed: it dies right after its first durable store.
    c.stop();
    c.serve(&[("VIGIE_FAILPOINT", "ingest-after-store")]);
    a.set_collector(&c.ingest_url());
    a.start();
    let child = c.child.as_mut().unwrap();
    let status = wait_for("the collector to abort", Duration::from_secs(60), || {
        child.try_wait().unwrap()
    });
    assert!(!status.success());
    assert!(
        c.log().contains("Failpoint ingest-after-store"),
        "{}",
        c.log()
    );
    c.child = None;
    let _ = std::fs::remove_file(c.dir.join("admin.sock"));
    a.stop();
    // The report was stored but never acknowledged: it is still in the agent's outbox.
    let pending = a.spool_len();
    assert!(pending >= 1);
    let stored_before = c.stored_reports();
    assert_eq!(
        stored_before, 1,
        "exactly the aborted batch's report is stored"
    );
    c.serve(&[]);
    a.set_collector(&c.ingest_url());
    a.start();
    // The resend is answered "already stored"; the new start's probe cycle adds one report.
    wait_for("the outbox to drain", Duration::from_secs(60), || {
        (a.spool_len() == 0 && c.stored_reports() == pending + 1).then_some(())
    });
    wait_for("findings", Duration::from_secs(30), || {
        verdicts(&c)
            .iter()
            .any(|(id, o)| id == "PAT-001" && o != "unknown")
            .then_some(())
    });
    a.stop();
    let before = verdicts(&c);
    assert_eq!(
        c.stored_reports(),
        pending + 1,
        "no duplicate after the resend"
    );
    assert_eq!(
        verdicts(&c),
        before,
        "derived state rebuilt from stored reports differs"
    );
}
