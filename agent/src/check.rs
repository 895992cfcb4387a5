//! `vigie-agent check`: runs every probe once and prints the evidence, with no collector and without
//! opening the running agent's stores (its first-seen dates are only read, never written).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use vigie_proto::v1::{domain_state::State, Domain, Report};

use crate::config::AgentConfig;
use crate::probe::{self, Probe, ProbeCx};

/// Runs the probes once against `root` and returns the report.
pub async fn check(
    cfg: &AgentConfig,
    root: &Path,
    state_dir: Option<&Path>,
    now_ms: i64,
) -> anyhow::Result<Report> {
    let mut probes_cfg = cfg.probes.clone();
    probes_cfg.patches.first_seen_read_dir = state_dir.map(Path::to_path_buf);
    probes_cfg.backups.state_read_dir = state_dir.map(Path::to_path_buf);
    probes_cfg.fim.status_read_dir = state_dir.map(Path::to_path_buf);
    let probes: Vec<Arc<dyn Probe>> = probe::all_probes(&probes_cfg)?
        .into_iter()
        .map(Arc::from)
        .collect();
    let cx = ProbeCx {
        root: PathBuf::from(root),
        state_dir: None,
        now_ms,
        role: cfg.role.clone(),
        command_timeout: Duration::from_secs(120),
    };
    Ok(Report {
        format_version: vigie_proto::EVIDENCE_FORMAT_VERSION,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        collected_at_ms: now_ms,
        domains: probe::run_all(&probes, &cx).await,
        ..Default::default()
    })
}

/// A short human summary of a report, one line per domain.
pub fn summary(report: &Report) -> String {
    let mut out = String::new();
    for d in &report.domains {
        let domain = Domain::try_from(d.domain)
            .map(|d| d.as_str_name())
            .unwrap_or("UNKNOWN");
        let line = match &d.state {
            Some(State::Error(e)) => format!("error {}: {}", e.code, e.message),
            Some(State::Inventory(i)) => format!(
                "{} — {} (noyau {}), {} CPU, {} Mo de mémoire",
                i.hostname,
                i.os_pretty_name,
                i.kernel_version,
                i.cpu_count,
                i.memory_total_bytes / 1_048_576
            ),
            Some(State::Patches(p)) => format!(
                "{} mises à jour en attente dont {} de sécurité; redémarrage requis: {}; mises à jour automatiques: {}",
                p.pending.len(),
                p.pending.iter().filter(|u| u.security).count(),
                if p.reboot_required { "oui" } else { "non" },
                if p.automatic_updates_enabled { "oui" } else { "non" }
            ),
            Some(State::Antivirus(a)) => crate::probe::antivirus::summary_fr(a),
            Some(State::Backups(b)) => crate::probe::backups::summary_fr(b),
            Some(State::FileIntegrity(f)) => crate::fim::probe::summary_fr(f),
            Some(State::AuthPolicy(a)) => {
                let q = a.quality.clone().unwrap_or_default();
                let l = a.lockout.clone().unwrap_or_default();
                format!(
                    "{}; {}; {} ligne(s) PAM avec `nullok`",
                    if q.enforced {
                        format!("mots de passe d'au moins {} caractères imposés", q.minlen)
                    } else {
                        "qualité des mots de passe non imposée".into()
                    },
                    if l.enabled {
                        format!("verrouillage après {} échecs", l.deny)
                    } else {
                        "pas de verrouillage après échecs".into()
                    },
                    a.nullok.len()
                )
            }
            Some(State::SshServer(s)) if !s.installed => "sshd absent".into(),
            Some(State::SshServer(s)) => format!(
                "sshd: PermitRootLogin {}, PasswordAuthentication {}, {} clé(s) d'hôte, {} problème(s) de configuration",
                s.settings.get("permitrootlogin").map_or("?", String::as_str),
                s.settings.get("passwordauthentication").map_or("?", String::as_str),
                s.host_keys.len(),
                s.problems.len()
            ),
            Some(State::Accounts(a)) => format!(
                "{} comptes, dont {} avec uid 0 et {} sans mot de passe; {} règles sudo",
                a.accounts.len(),
                a.accounts
                    .iter()
                    .filter(|c| matches!(
                        c.principal.as_ref().and_then(|p| p.id.as_ref()),
                        Some(vigie_proto::v1::principal::Id::Uid(0))
                    ))
                    .count(),
                a.accounts.iter().filter(|c| c.password_state == "empty").count(),
                a.sudo_rules.len()
            ),
            None => "no state".into(),
        };
        out.push_str(&format!("{domain:<12} {}: {line}\n", d.probe_id));
    }
    out
}
