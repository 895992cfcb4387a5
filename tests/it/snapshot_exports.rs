//! `snapshot export --format html|pdf|csv` (issue 8): French reports rendered from the verified
//! signed document, for a host whose self-declared name is hostile. The HTML page is escaped and
//! passes axe-core in Debian's chromium (tests/a11y); the CSV neutralises formula starts; the PDF
//! embeds fonts with French glyphs, read back with `pdftotext`. Each rendering is also saved as PNG
//! under `target/test-artefacts/snapshot_exports/` for a person to look at.
//!
//! Each report also shows the organisation's backups with no agent (a ping job pinged over real
//! HTTPS, its evidence said unsigned), and, in a second test, the maintenance window that a real
//! FIM-002 finding names (reason, owner, period, revocation) with that finding.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vigie_collector::snapshot::report::{render_verified, Format};

use vigie_collector::snapshot::document::time_text;

use crate::harness::{bin, ok, run, wait_for, Agent, Collector};
use crate::snapshots::{add_ping_job, ping, Ping};

/// A host name an attacker on the host could declare: markup, a formula, quotes, an accent.
const HOSTILE: &str = "=HYPERLINK(\"http://evil.example\")<script>alert('x')</script>-poste-é";

fn collector(args: &[&str], data_dir: &Path) -> Output {
    let (group, rest) = args.split_at(2);
    run(Command::new(bin("vigie-collector"))
        .args(group)
        .arg("--data-dir")
        .arg(data_dir)
        .args(rest))
}

#[track_caller]
fn collector_ok(args: &[&str], data_dir: &Path) -> String {
    let out = collector(args, data_dir);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target")
        .join("test-artefacts")
        .join("snapshot_exports");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn export(c: &Collector, id: &str, format: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "snapshot",
        "export",
        id,
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    collector(&args, &c.dir)
}

#[track_caller]
fn export_ok(c: &Collector, id: &str, format: &str, out: &Path) {
    let o = export(c, id, format, out, &[]);
    assert!(
        o.status.success(),
        "export {format}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Renders every page of `pdf` as `NAME-N.png` among the artefacts (after removing an earlier
/// run's); returns how many.
fn pdf_pages(pdf: &Path, name: &str) -> usize {
    let pages = || {
        std::fs::read_dir(artefacts())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}-")) && n.ends_with(".png"))
            })
            .collect::<Vec<_>>()
    };
    for old in pages() {
        std::fs::remove_file(old).unwrap();
    }
    let out = run(Command::new("pdftoppm")
        .args(["-png", "-r", "60"])
        .arg(pdf)
        .arg(artefacts().join(name)));
    assert!(out.status.success(), "pdftoppm (Debian poppler-utils)");
    pages().len()
}

/// The text of a PDF, as `pdftotext` extracts it.
fn pdf_text(pdf: &Path) -> String {
    let text_path = pdf.with_extension("txt");
    let out = run(Command::new("pdftotext").arg(pdf).arg(&text_path));
    assert!(out.status.success(), "pdftotext (Debian poppler-utils)");
    std::fs::read_to_string(&text_path).unwrap()
}

#[test]
fn html_pdf_and_csv_reports_are_french_escaped_accessible_and_leave_the_signed_json_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Collector::start(tmp.path());
    c.admin_ok(&[
        "org",
        "add",
        "mairie-test",
        "--name",
        "Mairie d'Évry <test>",
    ]);
    let mut a = Agent::new(tmp.path(), "a", 3600, 3600);
    let token = c.token("mairie-test", "1h");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(vigie_agent::enroll::enroll(
        &a.state,
        &c.enroll_url(),
        &token,
        &c.fingerprint(),
        HOSTILE,
    ))
    .unwrap();
    a.start();
    let host = a.host_id();
    let failing = wait_for("a failing finding", Duration::from_secs(90), || {
        c.findings(Some("mairie-test")).into_iter().find_map(|f| {
            (f["host_id"] == host.as_str() && f["outcome"] == "fail")
                .then(|| f["check_id"].as_str().unwrap().to_owned())
        })
    });
    a.stop();
    // A backup with no agent that succeeded, then failed with a hostile message.
    let nas = add_ping_job(&c, "mairie-test", "nas");
    for (path, extra, check) in [
        (nas.clone(), vec![], "BKP-001"),
        (
            format!("{nas}/fail"),
            vec!["--data-binary", "<b>disque plein</b> =1+1"],
            "BKP-002",
        ),
    ] {
        let outcome = if check == "BKP-001" { "pass" } else { "fail" };
        ping(
            &c,
            Ping {
                org: "mairie-test",
                name: "nas",
                path: &path,
                check,
                outcome,
            },
            &extra,
        );
    }
    collector_ok(
        &[
            "waiver",
            "add",
            "--org",
            "mairie-test",
            "--check",
            &failing,
            "--host",
            &host,
            "--reason=-2+3 « migration prévue »",
            "--owner",
            "@responsable-sécurité",
            "--until",
            "2099-12-31",
        ],
        &c.dir,
    );
    let id = collector_ok(&["snapshot", "create", "--org", "mairie-test"], &c.dir);
    let id = id.trim();

    let dir = tmp.path();
    let json = dir.join("snap.json");
    export_ok(&c, id, "json", &json);
    let signed = std::fs::read(&json).unwrap();
    let minisig = std::fs::read_to_string(dir.join("snap.json.minisig")).unwrap();
    let pubkey_text = collector_ok(&["snapshot", "pubkey"], &c.dir);

    // HTML: French, escaped, accessible.
    let html_path = dir.join("rapport.html");
    export_ok(&c, id, "html", &html_path);
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(
        html.starts_with("<!DOCTYPE html>\n<html lang=\"fr\">"),
        "{html:.200}"
    );
    for french in [
        "Instantané de conformité n° 1",
        "Synthèse",
        "Mesures d'hygiène ANSSI",
        "Dérogations en vigueur",
        "Détail par poste",
        "Remédiations",
        "@responsable-sécurité",
        "jusqu&#39;au 31/12/2099",
        "<th scope=\"col\">",
        "Sauvegardes sans agent (signaux HTTPS)",
        "Sauvegarde sans agent « nas »",
        "ping:nas",
        "Preuves non signées : les signaux sont reçus par le collecteur en HTTPS",
        "signal HTTPS non signé (échec), reçu par le collecteur le ",
        "échec reçu le ",
        "réussite reçue le ",
        "&lt;b&gt;disque plein&lt;/b&gt; =1+1",
        "période 1 j, grâce 2 h, copie sur le site « mairie »",
        "1 sauvegarde(s) sans agent",
        "Aucun constat ne cite de maintenance déclarée.",
    ] {
        assert!(
            html.contains(french),
            "{french} missing from the HTML report"
        );
    }
    assert!(!html.contains("<script"), "unescaped host markup");
    assert!(!html.contains("<b>disque"), "unescaped ping message");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("Mairie d&#39;Évry &lt;test&gt;"));
    let png = artefacts().join("rapport-html.png");
    let axe_report = axe_check(&html_path, &png);
    assert!(axe_report["passes"].as_u64().unwrap() > 10, "{axe_report}");
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);

    std::fs::copy(&html_path, artefacts().join("rapport.html")).unwrap();
    // The signed document the reports render, with its signature, for a person to compare.
    std::fs::copy(&json, artefacts().join("instantane.json")).unwrap();
    std::fs::copy(
        dir.join("snap.json.minisig"),
        artefacts().join("instantane.json.minisig"),
    )
    .unwrap();

    // CSV: one row per finding, formula starts neutralised.
    let csv_path = dir.join("constats.csv");
    export_ok(&c, id, "csv", &csv_path);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert!(csv.starts_with("\u{feff}\"organisation\";\"instantané\";"));
    let cells: Vec<&str> = csv
        .split(['\n', ';'])
        .map(|c| c.trim_start_matches('\u{feff}').trim_end_matches('\r'))
        .collect();
    for dangerous in ['=', '+', '-', '@'] {
        assert!(
            !cells
                .iter()
                .any(|c| c.starts_with(&format!("\"{dangerous}"))),
            "a cell starts with {dangerous}: {csv:.400}"
        );
    }
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")<script>"));
    assert!(csv.contains("\"'@responsable-sécurité, jusqu'au 31/12/2099"));
    assert!(csv.contains("\"Dérogation\""));
    assert!(
        csv.contains(";\"maintenance déclarée\";\"preuves\";"),
        "{csv:.400}"
    );
    let nas_rows: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains(";\"ping:nas\";"))
        .collect();
    assert_eq!(nas_rows.len(), 2, "{csv}");
    assert!(
        nas_rows.iter().any(|l| l.contains("\"BKP-002\"")
            && l.contains("\"Non conforme\"")
            && l.contains("<b>disque plein</b> =1+1")
            && l.contains("signal HTTPS non signé (échec), reçu par le collecteur le ")),
        "{nas_rows:?}"
    );
    assert_eq!(
        csv.lines().count(),
        1 + c.findings(Some("mairie-test")).len()
    );

    // PDF: fonts with French glyphs; the text extracts back, host name included.
    let pdf_path = dir.join("rapport.pdf");
    export_ok(&c, id, "pdf", &pdf_path);
    std::fs::copy(&pdf_path, artefacts().join("rapport.pdf")).unwrap();
    std::fs::copy(&csv_path, artefacts().join("constats.csv")).unwrap();
    let pdf = std::fs::read(&pdf_path).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&pdf_path);
    for french in [
        "Instantané de conformité n° 1",
        "Mairie d'Évry <test>",
        "Dérogations en vigueur",
        "Détail par poste",
        "Remédiations",
        "Références",
        "@responsable-sécurité",
        "HYPERLINK",
        "<script>",
        "Sauvegardes sans agent (signaux HTTPS)",
        "Sauvegarde sans agent « nas »",
        "ping:nas",
        "Preuves non signées",
        "signal HTTPS non signé",
        "Maintenances déclarées citées par les constats",
    ] {
        assert!(
            text.contains(french),
            "{french} missing from the PDF text:\n{text:.3000}"
        );
    }
    let fonts = run(Command::new("pdffonts").arg(&pdf_path));
    let fonts = String::from_utf8_lossy(&fonts.stdout);
    assert!(fonts.contains("DejaVuSans"), "{fonts}");
    assert!(
        fonts.lines().skip(2).all(|l| l.contains(" yes ")),
        "fonts not embedded: {fonts}"
    );
    assert!(pdf_pages(&pdf_path, "rapport-pdf") >= 2);

    // Without the fonts, a clear error and no file.
    let missing = dir.join("sans-polices.pdf");
    let o = export(
        &c,
        id,
        "pdf",
        &missing,
        &["--font-dir", dir.join("nowhere").to_str().unwrap()],
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("fonts-dejavu-core") && err.contains("DejaVuSans.ttf"),
        "{err}"
    );
    assert!(!missing.exists());

    // The signed JSON is unchanged by the renderings, and the stock tool still accepts it.
    let again = dir.join("again.json");
    export_ok(&c, id, "json", &again);
    assert_eq!(std::fs::read(&again).unwrap(), signed);
    let pubkey = dir.join("vigie-snapshots.pub");
    std::fs::write(&pubkey, &pubkey_text).unwrap();
    let out = run(Command::new("minisign")
        .arg("-Vm")
        .arg(&json)
        .arg("-p")
        .arg(&pubkey));
    assert!(out.status.success());

    // A document that does not verify is not rendered.
    let mut altered = signed.clone();
    let i = altered.len() / 2;
    altered[i] ^= 0x01;
    let refused = render_verified(
        &altered,
        &minisig,
        &pubkey_text,
        Format::Html,
        Path::new("/nonexistent"),
    );
    assert!(refused.is_err());
    assert!(render_verified(
        &signed,
        &minisig,
        &pubkey_text,
        Format::Csv,
        Path::new("/x")
    )
    .is_ok());
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// A real agent watches a host tree made here with FIM; a file changed inside a declared
/// maintenance window is a FIM-002 finding that names the window. The window is revoked afterwards
/// (it still covers the earlier change), and the HTML, CSV and PDF reports show it in French:
/// reason, owner, period, revocation, and the finding that names it.
#[test]
fn reports_show_the_maintenance_windows_findings_name() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("host");
    for d in ["etc", "usr/bin", "usr/sbin", "boot", "var/lib/dpkg/info"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    std::fs::write(root.join("etc/smb.conf"), "[global]\nworkgroup = MAIRIE\n").unwrap();
    std::fs::write(root.join("usr/bin/tool"), "#!/bin/sh\n").unwrap();
    std::fs::write(root.join("usr/sbin/daemon"), "#!/bin/sh\n").unwrap();
    std::fs::write(root.join("boot/vmlinuz"), "kernel").unwrap();
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
    // dpkg last wrote its database an hour ago: it is not busy now.
    ok(Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(root.join("var/lib/dpkg/status")));
    let c = Collector::start(tmp.path());
    c.admin_ok(&["org", "add", "mairie", "--name", "Mairie"]);
    let mut a = Agent::new(tmp.path(), "a", 2, 2);
    std::fs::write(
        &a.config,
        format!(
            "interval_secs = 2\nheartbeat_secs = 2\nmax_backoff_secs = 1\nrole = \"server\"\n\
             [probes.patches]\nenabled = false\n[probes.backups]\nenabled = false\n\
             [probes.fim]\nroot = \"{}\"\ndebounce_ms = 50\n\
             [[probes.fim.paths]]\npath = \"/etc\"\n\
             [[probes.fim.paths]]\npath = \"/usr/bin\"\n\
             [[probes.fim.paths]]\npath = \"/usr/sbin\"\n\
             [[probes.fim.paths]]\npath = \"/boot\"\n",
            root.display()
        ),
    )
    .unwrap();
    a.enroll(&c, &c.token("mairie", "1h"));
    let host = a.host_id();
    a.start();
    let fim002 = |accept: &dyn Fn(&str, &str) -> bool| {
        let what = format!(
            "FIM-002 (before waiting, the collector said {:?})",
            c.findings(Some("mairie"))
                .into_iter()
                .filter(|f| f["check_id"] == "FIM-002")
                .map(|f| format!("{} {}", f["outcome"], f["detail"]))
                .collect::<Vec<_>>()
        );
        wait_for(&what, Duration::from_secs(120), || {
            c.findings(Some("mairie")).into_iter().find_map(|f| {
                let (o, d) = (
                    f["outcome"].as_str().unwrap_or_default(),
                    f["detail"].as_str().unwrap_or_default(),
                );
                (f["host_id"] == host.as_str() && f["check_id"] == "FIM-002" && accept(o, d))
                    .then(|| d.to_owned())
            })
        })
    };
    fim002(&|o, _| o == "pass");

    let t = now_ms();
    let out = collector_ok(
        &[
            "maintenance",
            "add",
            "--org",
            "mairie",
            "--from",
            &time_text(t - 60_000),
            "--until",
            &time_text(t + 3_600_000),
            "--reason",
            "mise à jour de samba",
            "--owner",
            "J. Martin",
        ],
        &c.dir,
    );
    let id = out
        .split_whitespace()
        .find(|w| w.starts_with("m-"))
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    std::fs::write(
        root.join("etc/smb.conf"),
        "[global]\nworkgroup = MAIRIE\nserver min protocol = SMB3\n",
    )
    .unwrap();
    let detail = fim002(&|o, d| o == "fail" && d.contains("/etc/smb.conf"));
    assert!(detail.contains(&id), "{detail}");
    a.stop();
    collector_ok(
        &[
            "maintenance",
            "revoke",
            &id,
            "--reason",
            "terminée plus tôt",
        ],
        &c.dir,
    );

    let snap = collector_ok(&["snapshot", "create", "--org", "mairie"], &c.dir);
    let snap = snap.trim();
    let dir = tmp.path();
    let json = dir.join("snap.json");
    export_ok(&c, snap, "json", &json);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(doc["maintenance"][0]["id"], id.as_str());
    assert_eq!(
        doc["maintenance"][0]["revoked"]["reason"],
        "terminée plus tôt"
    );

    // HTML: the window's table, the finding that names it, and still accessible.
    let html_path = dir.join("maintenance.html");
    export_ok(&c, snap, "html", &html_path);
    let html = std::fs::read_to_string(&html_path).unwrap();
    let finding = format!("{} — FIM-002", host_name(&doc, &host));
    for expected in [
        "Maintenances déclarées citées par les constats",
        "<th scope=\"col\">Constats qui la citent</th>",
        id.as_str(),
        "mise à jour de samba",
        "J. Martin",
        "toute l&#39;organisation",
        "révoquée le ",
        "terminée plus tôt",
        &finding,
        &format!("Maintenance déclarée : {id} : mise à jour de samba (J. Martin), du "),
    ] {
        assert!(
            html.contains(expected),
            "{expected} missing from the HTML report"
        );
    }
    axe_check(&html_path, &artefacts().join("maintenance-html.png"));
    std::fs::copy(&html_path, artefacts().join("maintenance.html")).unwrap();

    // CSV: the FIM-002 row carries the window in its own column.
    let csv_path = dir.join("maintenance.csv");
    export_ok(&c, snap, "csv", &csv_path);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let row = csv
        .lines()
        .find(|l| l.contains("\"FIM-002\""))
        .unwrap_or_else(|| panic!("no FIM-002 row: {csv}"));
    assert!(
        row.contains(&format!(";\"{id} : mise à jour de samba (J. Martin), du "))
            && row.contains(", révoquée le ")
            && row.contains("terminée plus tôt\";"),
        "{row}"
    );

    // PDF: the same, read back as text.
    let pdf_path = dir.join("maintenance.pdf");
    export_ok(&c, snap, "pdf", &pdf_path);
    std::fs::copy(&pdf_path, artefacts().join("maintenance.pdf")).unwrap();
    let text = pdf_text(&pdf_path);
    for expected in [
        "Maintenances déclarées citées par les constats",
        id.as_str(),
        "mise à jour de samba",
        "Responsable : J. Martin",
        "terminée plus tôt",
        "Maintenance déclarée : ",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from the PDF text:\n{text:.4000}"
        );
    }
    assert!(pdf_pages(&pdf_path, "maintenance-pdf") >= 1);
}

/// The host name a snapshot gives `host`.
fn host_name(doc: &serde_json::Value, host: &str) -> String {
    doc["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == host)
        .unwrap()["hostname"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Runs axe-core on the HTML report at `html` (rendering it to `png` on the way), asserts it
/// finds no violation, and returns its report.
#[track_caller]
fn axe_check(html: &Path, png: &Path) -> serde_json::Value {
    let _ = std::fs::remove_file(png);
    let axe = run(Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("a11y/check.mjs"))
        .arg(html)
        .arg(png));
    assert!(
        axe.status.success(),
        "axe-core (install with `npm ci --prefix tests/a11y`): {}{}",
        String::from_utf8_lossy(&axe.stdout),
        String::from_utf8_lossy(&axe.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&axe.stdout).unwrap();
    assert_eq!(report["violations"], serde_json::json!([]));
    report
}
