//! The snapshot's findings as CSV, one row per host and check, for a spreadsheet. A backup with no
//! agent (ping job) has rows too, under its pseudo-host `ping:<name>`, its evidence said unsigned;
//! a finding that names a maintenance window carries the window (motif, owner, period, revocation).
//!
//! Semicolon-separated with a UTF-8 byte-order mark, which is what French spreadsheet software
//! opens without an import dialog; RFC 4180 quoting (every cell quoted, quotes doubled).
//!
//! Formula injection (OWASP "CSV Injection"): a cell that starts with `=`, `+`, `-`, `@`, a tab or
//! a carriage return is taken as a formula by spreadsheet software, and host data (a host name, a
//! finding detail quoting a file) is attacker-controlled. Such cells get a leading `'`, which the
//! spreadsheet shows as text. Every cell goes through [`cell`], not only host-provided ones.

use super::Report;

/// Characters that make a spreadsheet read a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One cell: neutralised against formula injection, then quoted.
pub fn cell(text: &str) -> String {
    let neutral = if text.starts_with(FORMULA_STARTS) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

const HEAD: [&str; 15] = [
    "organisation",
    "instantané",
    "date",
    "poste",
    "identifiant du poste",
    "groupes",
    "contrôle",
    "intitulé",
    "gravité",
    "résultat",
    "détail",
    "dérogation",
    "maintenance déclarée",
    "preuves",
    "empreinte SHA-256 de l'instantané",
];

/// The whole file.
pub fn render(r: &Report) -> String {
    let mut out = String::from("\u{feff}");
    let line = |cells: &[&str]| -> String {
        let mut l = cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(";");
        l.push_str("\r\n");
        l
    };
    out.push_str(&line(&HEAD));
    let hosts = r
        .hosts
        .iter()
        .map(|h| (h.hostname.clone(), &h.id, h.groups.join(", "), &h.findings));
    let ping_jobs = r.ping_jobs.iter().map(|j| {
        (
            format!("sauvegarde sans agent « {} »", j.name),
            &j.id,
            String::new(),
            &j.findings,
        )
    });
    for (name, id, groups, findings) in hosts.chain(ping_jobs) {
        for f in findings {
            let evidence = f.evidence.join(" | ");
            let maintenance = f.maintenance.join(" | ");
            out.push_str(&line(&[
                &r.org_id,
                &r.seq,
                &r.created_at,
                &name,
                id,
                &groups,
                &f.check_id,
                &f.title,
                &f.severity,
                &f.outcome_fr,
                &f.detail,
                f.waiver.as_deref().unwrap_or(""),
                &maintenance,
                &evidence,
                &r.sha256,
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(input: &str, expect: &str) {
        assert_eq!(cell(input), expect);
    }

    #[test]
    fn formula_starts_are_neutralised_and_quotes_doubled() {
        check(
            "=HYPERLINK(\"http://x\")",
            "\"'=HYPERLINK(\"\"http://x\"\")\"",
        );
        check("+33 1 23", "\"'+33 1 23\"");
        check("-2+3", "\"'-2+3\"");
        check("@SUM(A1)", "\"'@SUM(A1)\"");
        check("\tcmd", "\"'\tcmd\"");
        check("\rcmd", "\"'\rcmd\"");
        check("poste-01", "\"poste-01\"");
        check("a;b\nc", "\"a;b\nc\"");
        check("", "\"\"");
        check("Élevée", "\"Élevée\"");
    }
}
