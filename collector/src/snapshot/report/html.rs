//! The snapshot report as one self-contained HTML page in French (no script, no external resource).
//!
//! Every piece of text goes through [`escape`], host-provided or not, so a host name such as
//! `<script>` is shown, never run. Element ids are generated (`poste-3`), never taken from host
//! data. Accessibility (RGAA / WCAG 2.1 AA, checked by axe-core in the tests): `lang="fr"`, one
//! `h1` then `h2`/`h3` in order, tables with a caption and `th scope`, status told by words and not
//! by colour alone, colours with a contrast ratio of at least 4.5:1.

use std::fmt::Write as _;

use super::{FindingRow, HostSection, PingJobSection, Report, PING_PROVENANCE_FR};

/// Text escaped for HTML content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:'DejaVu Sans',Verdana,sans-serif;color:#1a1a1a;background:#fff;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;line-height:1.45}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-bottom:2px solid #1f3a5f;margin-top:2rem}h3{font-size:1.1rem;margin-top:1.5rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}caption{text-align:left;font-weight:bold;padding:.25rem 0}
th,td{border:1px solid #767676;padding:.3rem .45rem;text-align:left;vertical-align:top}th{background:#e8edf3}th[scope=row]{white-space:nowrap}
.mono{font-family:'DejaVu Sans Mono',monospace;word-break:break-all}
.o-fail{color:#8a0f16;background:#fde8e8;font-weight:bold}.o-waived{color:#6b4100;background:#fff4e0;font-weight:bold}
.o-pass{color:#1b5e20;background:#e8f5e9}.o-other{color:#333;background:#f0f0f0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{font-weight:bold}dd{margin:0}
.note{color:#444}
";

fn outcome_class(outcome: &str) -> &'static str {
    match outcome {
        "fail" => "o-fail",
        "waived" => "o-waived",
        "pass" => "o-pass",
        _ => "o-other",
    }
}

/// A table with a caption and column headers; `rows` are already escaped cells.
fn table(out: &mut String, caption: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(
        out,
        "<table><caption>{}</caption><thead><tr>",
        escape(caption)
    );
    for h in head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            // The first cell names the row.
            if i == 0 {
                let _ = write!(out, "<th scope=\"row\">{cell}</th>");
            } else {
                let _ = write!(out, "<td>{cell}</td>");
            }
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

fn finding_row(f: &FindingRow) -> Vec<String> {
    let mut detail = escape(&f.detail);
    if let Some(w) = &f.waiver {
        let _ = write!(detail, "<br>Dérogation : {}", escape(w));
    }
    for m in &f.maintenance {
        let _ = write!(detail, "<br>Maintenance déclarée : {}", escape(m));
    }
    vec![
        escape(&f.check_id),
        escape(&f.title),
        format!(
            "<span class=\"{}\">{}</span>",
            outcome_class(&f.outcome),
            escape(&f.outcome_fr)
        ),
        escape(&f.severity),
        detail,
        f.evidence
            .iter()
            .map(|e| escape(e))
            .collect::<Vec<_>>()
            .join("<br>"),
    ]
}

fn host_section(out: &mut String, index: usize, h: &HostSection) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"poste-{index}\"><h3 id=\"poste-{index}\">Poste {}</h3><dl>",
        escape(&h.hostname)
    );
    let mut facts = vec![
        (
            "Identifiant",
            format!("<span class=\"mono\">{}</span>", escape(&h.id)),
        ),
        (
            "Groupes",
            if h.groups.is_empty() {
                "aucun".to_owned()
            } else {
                escape(&h.groups.join(", "))
            },
        ),
        ("Enrôlé le", escape(&h.enrolled_at)),
        ("Dernier rapport reçu", escape(&h.last_seen)),
        (
            "Clé actuelle",
            format!("<span class=\"mono\">{}</span>", escape(&h.key)),
        ),
    ];
    if let Some(r) = &h.revoked {
        facts.push(("Révocation", escape(r)));
    }
    for (k, v) in facts {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl>");
    let rows: Vec<Vec<String>> = h.findings.iter().map(finding_row).collect();
    table(
        out,
        &format!("Constats du poste {}", h.hostname),
        &FINDING_HEAD,
        &rows,
    );
    out.push_str("</section>\n");
}

const FINDING_HEAD: [&str; 6] = [
    "Contrôle",
    "Intitulé",
    "Résultat",
    "Gravité",
    "Détail",
    "Preuves",
];

fn ping_job_section(out: &mut String, index: usize, j: &PingJobSection) {
    let _ = write!(
        out,
        "<section aria-labelledby=\"sauvegarde-{index}\"><h3 id=\"sauvegarde-{index}\">Sauvegarde sans agent « {} »</h3><dl>",
        escape(&j.name)
    );
    let pings = if j.pings.is_empty() {
        "aucun signal reçu".to_owned()
    } else {
        j.pings
            .iter()
            .map(|p| escape(p))
            .collect::<Vec<_>>()
            .join("<br>")
    };
    for (k, v) in [
        (
            "Identifiant",
            format!("<span class=\"mono\">{}</span>", escape(&j.id)),
        ),
        ("Déclarée le", escape(&j.created_at)),
        ("Déclaration", escape(&j.declared)),
        ("Derniers signaux reçus", pings),
        (
            "Nature des preuves",
            "non signées : signaux HTTPS reçus par le collecteur".to_owned(),
        ),
    ] {
        let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
    }
    out.push_str("</dl>");
    let rows: Vec<Vec<String>> = j.findings.iter().map(finding_row).collect();
    table(
        out,
        &format!("Constats de la sauvegarde sans agent {}", j.name),
        &FINDING_HEAD,
        &rows,
    );
    out.push_str("</section>\n");
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let title = escape(&r.title());
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"fr\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{title}</h1>\n"
    );
    let _ = writeln!(out, "<p>{}</p>", escape(&r.summary()));

    out.push_str("<h2 id=\"synthese\">Synthèse</h2>\n");
    let rows: Vec<Vec<String>> = r
        .counts
        .iter()
        .map(|(label, n)| vec![escape(label), n.to_string()])
        .collect();
    table(
        &mut out,
        "Constats par résultat",
        &["Résultat", "Nombre"],
        &rows,
    );

    out.push_str("<h2 id=\"integrite\">Signature et intégrité</h2>\n<dl>");
    for (i, (k, v)) in r.integrity().into_iter().enumerate() {
        // The first line is a sentence; the others are hashes, ids and the signed comment.
        let class = if i == 0 { "" } else { " class=\"mono\"" };
        let _ = write!(out, "<dt>{}</dt><dd{class}>{}</dd>", escape(&k), escape(&v));
    }
    out.push_str("</dl>\n<p class=\"note\">Un auditeur vérifie le document JSON signé hors ligne avec <code>minisign -Vm FICHIER.json -p vigie-snapshots.pub</code> puis <code>vigie-collector snapshot verify</code>. Ce rapport n'en est qu'une mise en forme.</p>\n");

    out.push_str("<h2 id=\"mesures\">Mesures d'hygiène ANSSI et recommandations BP-028</h2>\n");
    let rows: Vec<Vec<String>> = r
        .measures
        .iter()
        .map(|m| {
            vec![
                escape(&m.measure),
                escape(&m.status),
                escape(&m.checks),
                escape(&m.pass),
                escape(&m.fail),
                escape(&m.waived),
                escape(&m.no_evidence),
            ]
        })
        .collect();
    table(
        &mut out,
        "Statut par mesure",
        &[
            "Mesure",
            "Statut",
            "Contrôles",
            "Conformes",
            "Non conformes",
            "Dérogations",
            "Sans preuve",
        ],
        &rows,
    );
    out.push_str("<p class=\"note\">Une mesure sans contrôle automatique relève d'une attestation humaine. Les recommandations BP-028 figurent ici quand un contrôle s'y rapporte.</p>\n");

    out.push_str("<h2 id=\"derogations\">Dérogations en vigueur</h2>\n");
    if r.waivers.is_empty() {
        out.push_str("<p>Aucune dérogation en vigueur.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .waivers
            .iter()
            .map(|w| {
                vec![
                    escape(&w.check_id),
                    escape(&w.check_title),
                    escape(&w.scope),
                    escape(&w.reason),
                    escape(&w.owner),
                    escape(&format!("{} le {}", w.created_by, w.created_at)),
                    escape(&w.expires_at),
                ]
            })
            .collect();
        table(
            &mut out,
            "Dérogations : quoi, pour qui, accordées par qui et jusqu'à quand",
            &[
                "Contrôle",
                "Intitulé",
                "Portée",
                "Motif",
                "Responsable",
                "Enregistrée par",
                "Jusqu'au",
            ],
            &rows,
        );
    }

    out.push_str("<h2 id=\"maintenances\">Maintenances déclarées citées par les constats</h2>\n");
    if r.maintenance.is_empty() {
        out.push_str("<p>Aucun constat ne cite de maintenance déclarée.</p>\n");
    } else {
        let rows: Vec<Vec<String>> = r
            .maintenance
            .iter()
            .map(|m| {
                vec![
                    format!("<span class=\"mono\">{}</span>", escape(&m.id)),
                    escape(&m.scope),
                    escape(&m.reason),
                    escape(&m.owner),
                    escape(&m.from),
                    escape(&m.until),
                    escape(&m.state),
                    escape(&m.created),
                    m.findings
                        .iter()
                        .map(|f| escape(f))
                        .collect::<Vec<_>>()
                        .join("<br>"),
                ]
            })
            .collect();
        table(
            &mut out,
            "Fenêtres de maintenance : motif, responsable, période, révocation et constats qui les citent",
            &[
                "Fenêtre",
                "Portée",
                "Motif",
                "Responsable",
                "Du",
                "Au",
                "Révocation",
                "Déclarée par",
                "Constats qui la citent",
            ],
            &rows,
        );
        out.push_str("<p class=\"note\">Un changement fait pendant une maintenance déclarée reste un constat, de gravité abaissée, qui nomme la fenêtre.</p>\n");
    }

    out.push_str("<h2 id=\"postes\">Détail par poste</h2>\n");
    if r.hosts.is_empty() {
        out.push_str("<p>Aucun poste enrôlé.</p>\n");
    }
    for (i, h) in r.hosts.iter().enumerate() {
        host_section(&mut out, i + 1, h);
    }

    out.push_str("<h2 id=\"sauvegardes-sans-agent\">Sauvegardes sans agent (signaux HTTPS)</h2>\n");
    if r.ping_jobs.is_empty() {
        out.push_str("<p>Aucune sauvegarde sans agent déclarée.</p>\n");
    } else {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(PING_PROVENANCE_FR));
    }
    for (i, j) in r.ping_jobs.iter().enumerate() {
        ping_job_section(&mut out, i + 1, j);
    }

    out.push_str("<h2 id=\"remediations\">Remédiations</h2>\n");
    if r.remediations.is_empty() {
        out.push_str("<p>Aucun contrôle en échec.</p>\n");
    }
    for (i, rem) in r.remediations.iter().enumerate() {
        let _ = writeln!(
            out,
            "<section aria-labelledby=\"rem-{n}\"><h3 id=\"rem-{n}\">{} — {}</h3><p class=\"note\">Références : {}</p><p>{}</p><p>Postes ou sauvegardes concernés : {}</p></section>",
            escape(&rem.check_id),
            escape(&rem.title),
            escape(&rem.references),
            escape(&rem.text).replace('\n', " "),
            escape(&rem.hosts.join(", ")),
            n = i + 1
        );
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("Mairie d’Évry"), "Mairie d’Évry");
    }
}
