//! `snapshot export --format html|pdf|csv` (issue 8): French reports rendered from the verified
//! signed document, for a host whose self-declared name is hostile. The HTML page is escaped and
//! passes axe-core in Debian's chromium (tests/a11y); the CSV neutralises formula starts; the PDF
//! embeds fonts with French glyphs, read back with `pdftotext`. Each rendering is also saved as PNG
//! under `target/test-artefacts/snapshot_exports/` for a person to look at.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use vigie_collector::snapshot::report::{render_verified, Format};

use crate::harness::{bin, run, wait_for, Agent, Collector};

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
    ] {
        assert!(
            html.contains(french),
            "{french} missing from the HTML report"
        );
    }
    assert!(!html.contains("<script"), "unescaped host markup");
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(html.contains("Mairie d&#39;Évry &lt;test&gt;"));
    let png = artefacts().join("rapport-html.png");
    let _ = std::fs::remove_file(&png);
    let axe = run(Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("a11y/check.mjs"))
        .arg(&html_path)
        .arg(&png));
    assert!(
        axe.status.success(),
        "axe-core (install with `npm ci --prefix tests/a11y`): {}{}",
        String::from_utf8_lossy(&axe.stdout),
        String::from_utf8_lossy(&axe.stderr)
    );
    let axe_report: serde_json::Value = serde_json::from_slice(&axe.stdout).unwrap();
    assert_eq!(axe_report["violations"], serde_json::json!([]));
    assert!(axe_report["passes"].as_u64().unwrap() > 10, "{axe_report}");
    assert!(std::fs::metadata(&png).unwrap().len() > 10_000);

    std::fs::copy(&html_path, artefacts().join("rapport.html")).unwrap();

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
    let text_path = dir.join("rapport.txt");
    let out = run(Command::new("pdftotext").arg(&pdf_path).arg(&text_path));
    assert!(out.status.success(), "pdftotext (Debian poppler-utils)");
    let text = std::fs::read_to_string(&text_path).unwrap();
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
    let prefix = artefacts().join("rapport-pdf");
    let out = run(Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-f", "1", "-l", "3"])
        .arg(&pdf_path)
        .arg(&prefix));
    assert!(out.status.success());
    assert!(artefacts().join("rapport-pdf-1.png").is_file());

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
