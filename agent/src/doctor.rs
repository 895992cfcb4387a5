//! `vigie-agent doctor`: checks what an installed agent needs (configuration, permissions, identity
//! and certificate expiry, reaching the collector, clock skew, disk space, outbox backlog) and
//! prints, for each problem, what is wrong and the command that fixes it, in French when the locale
//! says so. Read-only: it never opens the agent's stores (DESIGN decision 12) and writes nothing; the
//! only thing it sends is an empty batch, which the collector answers after checking the
//! certificate and revocation like any other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use vigie_proto::diag::{cert_item, disk_judgement, perm_item, Item, Level};
use vigie_proto::limits::MAX_GRPC_MESSAGE_BYTES;
use vigie_proto::perms::{self, PermError};
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::SubmitRequest;

use crate::config::AgentConfig;
use crate::identity::{self, Identity, CA_FILE, CERT_FILE};
use crate::spool::SPOOL_DIR;
use crate::tlsclient;

/// Renewal starts 20 days before expiry; fewer days left means it has been failing.
const RENEW_DAYS: i64 = 20;
/// The collector refuses reports dated further ahead than its `max_clock_skew_secs` (300 s default).
const SKEW_FAIL_SECS: i64 = 300;
const SKEW_WARN_SECS: i64 = 60;

/// What `doctor` is told.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file in use, if any.
    pub config: Option<PathBuf>,
    pub state_dir: PathBuf,
    /// The service's user: permissions are judged for it when doctor runs as root and it exists.
    pub service_user: String,
    /// How long reaching the collector may take.
    pub timeout: Duration,
}

/// Runs every check; `now_ms` is the local clock.
pub async fn diagnose(opts: &Options, now_ms: i64) -> Vec<Item> {
    let mut items = Vec::new();
    let uid = judged_uid(&opts.service_user);

    // Configuration: parses, and is safe.
    let cfg = match AgentConfig::load(opts.config.as_deref()) {
        Ok(cfg) => {
            items.push(match &opts.config {
                Some(p) => Item::new(
                    Level::Ok,
                    "config",
                    format!("{} is valid", p.display()),
                    format!("{} est valide", p.display()),
                ),
                None => Item::new(
                    Level::Ok,
                    "config",
                    "no configuration file: defaults".into(),
                    "aucun fichier de configuration : valeurs par défaut".into(),
                ),
            });
            Some(cfg)
        }
        Err(e) => {
            items.push(
                Item::new(Level::Fail, "config", e.to_string(), e.to_string()).fix(
                    "correct the key named above (every key is documented in /etc/vigie/agent.toml's comments)",
                    "corriger la clé nommée ci-dessus (chaque clé est documentée dans les commentaires de /etc/vigie/agent.toml)",
                ),
            );
            None
        }
    };

    // Permissions of everything the agent trusts.
    let mut paths = opts
        .config
        .as_deref()
        .map(crate::perms::config_paths)
        .unwrap_or_default();
    paths.extend(crate::perms::state_paths(&opts.state_dir));
    let problems = match uid {
        Ok(uid) => perms::check_all(&paths, uid),
        Err(e) => vec![e],
    };
    if problems.is_empty() {
        items.push(Item::new(
            Level::Ok,
            "permissions",
            format!("{} paths checked", paths.len()),
            format!("{} chemins vérifiés", paths.len()),
        ));
    }
    items.extend(problems.iter().map(|e| perm_item("permissions", e)));

    // Identity and certificates.
    let id = match identity::load(&opts.state_dir) {
        Ok(id) => {
            items.push(Item::new(
                Level::Ok,
                "identity",
                format!(
                    "enrolled as host {} in organisation {}",
                    id.enrollment.host_id, id.enrollment.org_id
                ),
                format!(
                    "inscrit comme hôte {} dans l'organisation {}",
                    id.enrollment.host_id, id.enrollment.org_id
                ),
            ));
            Some(id)
        }
        Err(e @ identity::IdentityError::NotEnrolled { .. }) => {
            items.push(Item::new(Level::Fail, "identity", e.to_string(), format!(
                "cet agent n'est pas inscrit ({} manque)", opts.state_dir.join(identity::ENROLLMENT_FILE).display()
            )).fix(
                "vigie-agent enroll --collector https://COLLECTOR:7444 --ca-fingerprint sha256:… --token-file - (as the vigie user)",
                "vigie-agent enroll --collector https://COLLECTEUR:7444 --ca-fingerprint sha256:… --token-file - (en tant qu'utilisateur vigie)",
            ));
            None
        }
        Err(e) => {
            items.push(Item::new(Level::Fail, "identity", e.to_string(), e.to_string()).fix(
                "repair the file named above, or revoke this host on the collector and enroll again",
                "réparer le fichier nommé ci-dessus, ou révoquer cet hôte sur le collecteur et l'inscrire à nouveau",
            ));
            None
        }
    };
    if let Some(id) = &id {
        let own = cert_item(
            &opts.state_dir.join(CERT_FILE),
            &id.cert_der,
            now_ms,
            RENEW_DAYS,
        );
        items.push(if own.level == Level::Fail {
            own.fix(
                "the collector no longer accepts this host: revoke it (vigie-collector host revoke), remove the state directory and enroll again",
                "le collecteur n'accepte plus cet hôte : le révoquer (vigie-collector host revoke), supprimer le répertoire d'état et l'inscrire à nouveau",
            )
        } else {
            own.fix(
                "renewal has been failing: check that the shipper runs and reaches the collector (systemctl status vigie-agent-shipper)",
                "le renouvellement échoue : vérifier que l'expéditeur tourne et joint le collecteur (systemctl status vigie-agent-shipper)",
            )
        });
        items.push(
            cert_item(&opts.state_dir.join(CA_FILE), &id.ca_der, now_ms, 365).fix(
                "the collector's CA expires: every agent will have to enroll again with a new CA",
                "l'autorité du collecteur expire : chaque agent devra être inscrit à nouveau avec une nouvelle autorité",
            ),
        );
        items.extend(reach_collector(id, opts.timeout, now_ms).await);
    }

    items.push(disk_item(&opts.state_dir));
    if let Some(cfg) = &cfg {
        items.push(outbox_item(&opts.state_dir, cfg.outbox_max_reports));
    }
    items
}

/// The uid permissions are judged for: the service user when run as root and it exists, else the
/// running user.
fn judged_uid(service_user: &str) -> Result<u32, PermError> {
    let me = perms::effective_uid()?;
    if me != 0 {
        return Ok(me);
    }
    Ok(uid_of(Path::new("/etc/passwd"), service_user).unwrap_or(me))
}

fn uid_of(passwd: &Path, user: &str) -> Option<u32> {
    std::fs::read_to_string(passwd).ok()?.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == user).then_some(())?;
        f.nth(1)?.parse().ok()
    })
}

/// Reaches the collector with the agent's own certificate (an empty batch, which the collector
/// authenticates and checks for revocation), and compares its clock with ours.
async fn reach_collector(id: &Identity, timeout: Duration, now_ms: i64) -> Vec<Item> {
    let url = id.enrollment.collector.clone();
    let unreachable = |e: String| {
        Item::new(
            Level::Fail,
            "collector",
            format!("{url} unreachable: {e}"),
            format!("{url} injoignable : {e}"),
        )
        .fix(
            "check that the collector runs, that its address is right in enrollment.json, and that a firewall (or the shipper's IPAddressAllow=) lets this host reach it",
            "vérifier que le collecteur tourne, que son adresse est juste dans enrollment.json, et qu'aucun pare-feu (ni l'IPAddressAllow= de l'expéditeur) ne bloque cet hôte",
        )
    };
    let config = match id.tls_key().map_err(|e| e.to_string()).and_then(|k| {
        tlsclient::ingest_config(&id.ca_der, &id.cert_der, k).map_err(|e| e.to_string())
    }) {
        Ok(c) => c,
        Err(e) => return vec![unreachable(e)],
    };
    let call = async {
        let channel = tlsclient::connect(&url, config, timeout)
            .await
            .map_err(|e| error_chain(&e))?;
        let mut client = IngestClient::new(channel)
            .max_decoding_message_size(MAX_GRPC_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_GRPC_MESSAGE_BYTES);
        client
            .submit(SubmitRequest { reports: vec![] })
            .await
            .map_err(|s| match s.code() {
                tonic::Code::Unauthenticated => "refused".to_owned(),
                _ => format!("{}: {}", s.code(), s.message()),
            })
    };
    let response = match tokio::time::timeout(timeout, call).await {
        Err(_) => return vec![unreachable(format!("no answer within {} s", timeout.as_secs()))],
        Ok(Err(e)) if e == "refused" => {
            return vec![Item::new(
                Level::Fail,
                "collector",
                format!("{url} refuses this host's certificate (revoked, or superseded by another enrollment)"),
                format!("{url} refuse le certificat de cet hôte (révoqué, ou remplacé par une autre inscription)"),
            )
            .fix(
                "ask the collector's operator (vigie-collector host show HOST); if revoked, remove the state directory and enroll again",
                "demander à l'opérateur du collecteur (vigie-collector host show HÔTE) ; si l'hôte est révoqué, supprimer le répertoire d'état et l'inscrire à nouveau",
            )]
        }
        Ok(Err(e)) => return vec![unreachable(e)],
        Ok(Ok(r)) => r,
    };
    let mut items = vec![Item::new(
        Level::Ok,
        "collector",
        format!("{url} accepts this host"),
        format!("{url} accepte cet hôte"),
    )];
    let date = response
        .metadata()
        .get("date")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    items.push(clock_item(date.as_deref(), now_ms));
    items
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

/// Skew between our clock and the collector's HTTP `date` header (one-second resolution).
pub fn clock_item(date_header: Option<&str>, now_ms: i64) -> Item {
    let Some(collector_s) = date_header.and_then(parse_http_date) else {
        return Item::new(
            Level::Warn,
            "clock",
            "the collector sent no date: clock skew unknown".into(),
            "le collecteur n'a pas donné sa date : décalage d'horloge inconnu".into(),
        );
    };
    let skew = now_ms.div_euclid(1000) - collector_s;
    let (en_dir, fr_dir) = if skew >= 0 {
        ("ahead of", "en avance sur")
    } else {
        ("behind", "en retard sur")
    };
    let abs = skew.abs();
    let level = if abs > SKEW_FAIL_SECS {
        Level::Fail
    } else if abs > SKEW_WARN_SECS {
        Level::Warn
    } else {
        Level::Ok
    };
    let item = Item::new(
        level,
        "clock",
        format!("this host's clock is {abs} s {en_dir} the collector's"),
        format!("l'horloge de cet hôte est {abs} s {fr_dir} celle du collecteur"),
    );
    if level == Level::Ok {
        item
    } else {
        item.fix(
            "synchronise the clock (timedatectl set-ntp true; systemctl status systemd-timesyncd); beyond 300 s ahead the collector refuses reports",
            "synchroniser l'horloge (timedatectl set-ntp true ; systemctl status systemd-timesyncd) ; au-delà de 300 s d'avance le collecteur refuse les rapports",
        )
    }
}

/// Seconds since the epoch of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_http_date(text: &str) -> Option<i64> {
    let (_, rest) = text.split_once(", ")?;
    let mut f = rest.split_whitespace();
    let day: i8 = f.next()?.parse().ok()?;
    let month = match f.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i16 = f.next()?.parse().ok()?;
    let mut hms = f.next()?.split(':').map(|p| p.parse::<i8>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if f.next()? != "GMT" {
        return None;
    }
    let dt = jiff::civil::DateTime::new(year, month, day, h, m, s, 0).ok()?;
    dt.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// Free space on the file system holding the state directory.
fn disk_item(state_dir: &Path) -> Item {
    let target = std::fs::canonicalize(state_dir).unwrap_or_else(|_| state_dir.to_path_buf());
    let disks = sysinfo::Disks::new_with_refreshed_list();
    let disk = disks
        .list()
        .iter()
        .filter(|d| target.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len());
    match disk {
        Some(d) => disk_judgement(
            &d.mount_point().display().to_string(),
            d.available_space(),
            d.total_space(),
        ),
        None => Item::new(
            Level::Warn,
            "disk",
            format!("no mounted file system found for {}", target.display()),
            format!(
                "aucun système de fichiers monté trouvé pour {}",
                target.display()
            ),
        ),
    }
}

/// Reports waiting in the outbox (and in the prober's spool), counted without opening them.
fn outbox_item(state_dir: &Path, max: usize) -> Item {
    let spool = state_dir.join(SPOOL_DIR);
    let count = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".report"))
                    .count()
            })
            .unwrap_or(0)
    };
    let signed = count(&spool);
    let probed = count(&spool.join(crate::run::PROBED_DIR));
    let level = if signed.saturating_add(probed) >= max / 2 && max > 0 {
        Level::Warn
    } else {
        Level::Ok
    };
    let item = Item::new(
        level,
        "outbox",
        format!("{signed} signed report(s) waiting, {probed} waiting for the shipper (bound {max})"),
        format!("{signed} rapport(s) signé(s) en attente, {probed} en attente de l'expéditeur (limite {max})"),
    );
    if level == Level::Ok {
        item
    } else {
        item.fix(
            "the collector has not taken reports for a while: see the `collector` line above; the oldest are dropped at the bound",
            "le collecteur ne prend plus les rapports depuis un moment : voir la ligne `collector` ci-dessus ; les plus anciens sont supprimés à la limite",
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_and_skew() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        let at = 784_111_777_000;
        let d = Some("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(clock_item(d, at + 30_000).level, Level::Ok);
        assert_eq!(clock_item(d, at - 90_000).level, Level::Warn);
        let far = clock_item(d, at + 400_000);
        assert_eq!(far.level, Level::Fail);
        assert!(far.en.contains("400 s ahead"), "{}", far.en);
        assert!(far.fr.contains("400 s en avance"), "{}", far.fr);
        assert_eq!(clock_item(None, at).level, Level::Warn);
    }

    #[test]
    fn passwd_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(&p, "root:x:0:0::/root:/bin/sh\nvigie:x:998:998:Vigie:/var/lib/vigie-agent:/usr/sbin/nologin\n").unwrap();
        assert_eq!(uid_of(&p, "vigie"), Some(998));
        assert_eq!(uid_of(&p, "vigie-push"), None);
    }
}
