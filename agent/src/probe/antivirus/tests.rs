//! Tests of the antivirus probe as a whole, on trees built in temporary directories (never the
//! host's own files): what it reports for a configured ClamAV, for a broken one and for a host with
//! no engine, and how its config is validated. The parsers have their own tests beside them.

use std::path::Path;
use std::time::Duration;

use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{Antivirus, AntivirusEngine};

use super::*;

/// 2024-11-29T08:16:02Z, a day after the fixture's daily build.
const NOW: i64 = 1_732_868_162_000;

fn write(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn header(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    v.resize(cvd::HEADER_LEN, b' ');
    v.extend_from_slice(b"body");
    v
}

async fn collect(root: &Path, cfg: &AntivirusConfig) -> Antivirus {
    let cx = ProbeCx {
        root: root.to_path_buf(),
        state_dir: None,
        now_ms: NOW,
        role: Some("workstation".to_owned()),
        command_timeout: Duration::from_secs(10),
    };
    match cfg.build().unwrap().collect(&cx).await.unwrap() {
        State::Antivirus(a) => a,
        other => panic!("{other:?}"),
    }
}

/// A one-line rendering of what matters in an engine.
fn render(e: &AntivirusEngine) -> String {
    let dbs: Vec<String> = e
        .databases
        .iter()
        .map(|d| {
            format!(
                "{}.{} v{} {}{}",
                d.name,
                d.format,
                d.version,
                d.built_ms,
                if d.error.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", d.error)
                }
            )
        })
        .collect();
    let update = e.update.clone().unwrap_or_default();
    let onacc = e.on_access.clone().unwrap_or_default();
    let daemon = e.daemon.clone().unwrap_or_default();
    let detections: Vec<String> = e
        .detections
        .iter()
        .map(|d| format!("{}@{}", d.signature, d.at_ms))
        .collect();
    format!(
        "installed={} running={}/{} sig={} {:?}\ndbs={dbs:?}\ndaemon={:?} {:?}\nupdate={} {} {:?}\nonaccess={}/{}/{}\ndetections={detections:?} +{}\nproblems={:?}",
        e.installed,
        e.running,
        e.running_checked,
        e.signature_built_ms,
        e.signature_version,
        daemon.address,
        daemon.error,
        update.last_success_ms,
        update.last_attempt_ms,
        update.last_warning,
        onacc.enabled,
        onacc.configured,
        onacc.include_paths.len(),
        e.detections_omitted,
        e.problems,
    )
}

#[track_caller]
fn check(av: &Antivirus, expect: &str) {
    let actual: Vec<String> = av.engines.iter().map(render).collect();
    assert_eq!(actual.join("\n--\n"), expect);
}

#[tokio::test]
async fn a_configured_clamav_in_a_mounted_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "/etc/clamav/clamd.conf",
        b"LocalSocket /run/clamav/clamd.ctl\nDatabaseDirectory /var/lib/clamav\nLogFile /var/log/clamav/clamav.log\nLogTime yes\nOnAccessIncludePath /home\n",
    );
    write(
        root,
        "/etc/clamav/freshclam.conf",
        b"UpdateLogFile /var/log/clamav/freshclam.log\n",
    );
    write(
        root,
        "/var/lib/clamav/daily.cld",
        &header("ClamAV-VDB:28 Nov 2024 08-16 +0000:27471:2070099:90:md5:sig:raynman:1732781762"),
    );
    write(
        root,
        "/var/lib/clamav/main.cvd",
        &header("ClamAV-VDB:16 Sep 2021 08-32 -0400:62:6647427:90:md5:sig:sigmgr:1631795529"),
    );
    write(root, "/var/lib/clamav/bytecode.cvd", b"ClamAV-VDB:trunc");
    write(root, "/var/lib/clamav/local.hdb", b"md5:68:Local.Test\n");
    write(root, "/var/lib/clamav/notes.txt", b"not a database");
    write(
        root,
        "/var/log/clamav/freshclam.log",
        b"Thu Nov 28 08:16:02 2024 -> ClamAV update process started at Thu Nov 28 08:16:02 2024\n\
Thu Nov 28 08:16:03 2024 -> daily.cld database is up-to-date (version: 27471, sigs: 2070099, f-level: 90, builder: raynman)\n\
Thu Nov 28 09:16:02 2024 -> ClamAV update process started at Thu Nov 28 09:16:02 2024\n\
Thu Nov 28 09:16:03 2024 -> WARNING: Your ClamAV installation is OUTDATED!\n",
    );
    write(
        root,
        "/var/log/clamav/clamav.log",
        b"Mon Sep 30 10:00:00 2024 -> /tmp/old: Old.Sig FOUND\n\
Thu Nov 28 10:00:00 2024 -> /home/a/eicar.com: Eicar-Test-Signature(44d88612fea8a8f36de82e1278abb02f:68) FOUND\n\
Thu Nov 28 10:00:01 2024 -> SelfCheck: Database status OK.\n",
    );
    let av = collect(root, &AntivirusConfig::default()).await;
    check(
        &av,
        r#"installed=true running=false/false sig=1732781762000 "daily 27471"
dbs=["bytecode.cvd v0 0 (header truncated: 16 of 512 bytes)", "daily.cld v27471 1732781762000", "local.hdb v0 0", "main.cvd v62 1631795529000"]
daemon="unix:/run/clamav/clamd.ctl" "clamd not contacted: the probe reads a mounted tree (ROOT), not the running host"
update=1732781763000 1732785362000 "WARNING: Your ClamAV installation is OUTDATED!"
onaccess=true/true/1
detections=["Eicar-Test-Signature@1732788000000"] +0
problems=[]"#
            .replace("ROOT", &root.display().to_string())
            .as_str(),
    );
    // The 30-day window left out September's detection; a wider one takes it, and the bound
    // counts what it drops.
    let cfg = AntivirusConfig {
        detection_window_days: 366,
        max_detections: 1,
        ..Default::default()
    };
    let e = &collect(root, &cfg).await.engines[0];
    assert_eq!((e.detections.len(), e.detections_omitted), (1, 1), "{e:?}");
}

#[tokio::test]
async fn broken_or_partial_installs_are_problems_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Only a database directory with a corrupt daily and clamd.conf still marked Example.
    write(
        root,
        "/etc/clamav/clamd.conf",
        b"Example\nTCPSocket 3310\nTCPAddr 127.0.0.1\n",
    );
    write(
        root,
        "/var/lib/clamav/daily.cvd",
        &header("ClamAV-VDB:\u{fffe}:1:1"),
    );
    let av = collect(root, &AntivirusConfig::default()).await;
    check(
        &av,
        r#"installed=true running=false/false sig=0 ""
dbs=["daily.cvd v0 0 (header holds non-ASCII or control bytes)"]
daemon="tcp:127.0.0.1:3310" "clamd not contacted: the probe reads a mounted tree (ROOT), not the running host"
update=0 0 ""
onaccess=false/false/0
detections=[] +0
problems=["no daily or main database with a readable header in /var/lib/clamav", "clamd.conf still holds its `Example` line: clamd refuses to start", "clamd.conf sets no LogFile: detections cannot be read (syslog is not read)"]"#
            .replace("ROOT", &root.display().to_string())
            .as_str(),
    );
}

#[tokio::test]
async fn no_engine_at_all_is_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "/etc/hostname", b"mairie-pc1\n");
    let av = collect(dir.path(), &AntivirusConfig::default()).await;
    assert_eq!(av, Antivirus::default());
    assert_eq!(summary_fr(&av), "aucun antivirus détecté");
}

#[test]
fn config_is_validated() {
    let parse = |text: &str| -> Result<(), String> {
        let cfg: AntivirusConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        cfg.build().map(|_| ()).map_err(|e| e.to_string())
    };
    assert_eq!(parse(""), Ok(()));
    assert_eq!(
        parse("clamd_conf = \"/tmp/x/clamd.conf\"\ndatabase_dir = \"/tmp/db\"\nsocket_timeout_secs = 1"),
        Ok(())
    );
    assert_eq!(
        parse("socket_timeout_secs = 0"),
        Err("probes.antivirus.socket_timeout_secs: 0 is outside 1..=60 (AG0150)".to_owned())
    );
    assert_eq!(
        parse("database_dir = \"var/lib/clamav\""),
        Err(
            "probes.antivirus.database_dir: var/lib/clamav is not an absolute path (AG0150)"
                .to_owned()
        )
    );
    assert_eq!(
        parse("detection_window_days = 400"),
        Err("probes.antivirus.detection_window_days: 400 is outside 1..=366 (AG0150)".to_owned())
    );
    assert!(parse("clamd_socket = \"/x\"").is_err());
    let cfg = AntivirusConfig::default();
    let back: AntivirusConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
}
