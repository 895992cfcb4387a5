//! `vigie-collector doctor`: checks an installed collector (configuration, permissions, keys,
//! certificate expiry, store format, the running server and its listeners, disk space) and prints
//! what is wrong and how to fix it, in French when the locale says so. Read-only: it opens neither
//! the store nor a key for writing, and only connects to the server's own socket and ports.

use std::path::Path;
use std::time::Duration;

use vigie_proto::diag::{cert_item, disk_judgement, perm_item, Item, Level};
use vigie_proto::perms::{self, PermError};

use crate::admin::{self, Request};
use crate::backup::store_format;
use crate::datadir::{self, ADMIN_SOCKET, CA_CERT, HTTPS_CERT, SERVER_CERT};

/// Certificates closer to expiry than this are a warning.
const CERT_WARN_DAYS: i64 = 30;

/// Runs every check on `data_dir`; permissions are judged for `service_user` when run as root.
pub async fn diagnose(data_dir: &Path, service_user: &str, now_ms: i64) -> Vec<Item> {
    let mut items = Vec::new();
    let settings = match datadir::load_settings(data_dir) {
        Ok(s) => {
            items.push(Item::new(
                Level::Ok,
                "config",
                format!(
                    "{} is valid",
                    data_dir.join(crate::config::CONFIG_FILE).display()
                ),
                format!(
                    "{} est valide",
                    data_dir.join(crate::config::CONFIG_FILE).display()
                ),
            ));
            Some(s)
        }
        Err(e) => {
            items.push(
                Item::new(Level::Fail, "config", e.to_string(), e.to_string()).fix(
                    format!("correct {} (every key is documented in /usr/share/doc/vigie-collector/examples/collector.toml), or create the directory with `vigie-collector init`", data_dir.join(crate::config::CONFIG_FILE).display()),
                    format!("corriger {} (chaque clé est documentée dans /usr/share/doc/vigie-collector/examples/collector.toml), ou créer le répertoire avec `vigie-collector init`", data_dir.join(crate::config::CONFIG_FILE).display()),
                ),
            );
            None
        }
    };

    let paths = crate::perms::data_paths(data_dir);
    let problems = match judged_uid(service_user) {
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

    if settings.is_some() {
        match datadir::load(data_dir) {
            Ok(_) => items.push(Item::new(
                Level::Ok,
                "keys",
                "CA, server and HTTPS keys load".into(),
                "les clés de l'autorité, du serveur et HTTPS se chargent".into(),
            )),
            Err(e) => items.push(
                Item::new(Level::Fail, "keys", e.to_string(), e.to_string()).fix(
                    "restore the data directory from a backup (vigie-collector restore)",
                    "restaurer le répertoire depuis une sauvegarde (vigie-collector restore)",
                ),
            ),
        }
    }
    for (name, fix_en, fix_fr) in [
        (CA_CERT, "the CA expires: every agent will have to enroll again under a new CA", "l'autorité expire : chaque agent devra être inscrit à nouveau sous une nouvelle autorité"),
        (SERVER_CERT, "the server certificate expires: agents will stop connecting; a new one must be issued by the CA", "le certificat du serveur expire : les agents ne pourront plus se connecter ; l'autorité doit en émettre un nouveau"),
        (HTTPS_CERT, "replace https.crt and https.key (your own CA's, or a new self-signed pair) and update the ping jobs' --cacert", "remplacer https.crt et https.key (de votre autorité, ou une nouvelle paire auto-signée) et mettre à jour le --cacert des tâches de ping"),
    ] {
        let path = data_dir.join(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match datadir::pem_decode(&path, &text, "CERTIFICATE") {
            Ok(der) => items.push(cert_item(&path, &der, now_ms, CERT_WARN_DAYS).fix(fix_en, fix_fr)),
            Err(e) => items.push(Item::new(Level::Fail, "certificate", e.to_string(), e.to_string())),
        }
    }

    items.push(match store_format::read(data_dir) {
        Ok(Some(f)) if f > store_format::STORE_FORMAT => Item::new(
            Level::Fail,
            "store",
            format!("the store has format {f}, newer than this binary reads ({})", store_format::STORE_FORMAT),
            format!("le stockage est au format {f}, plus récent que ce que ce binaire lit ({})", store_format::STORE_FORMAT),
        )
        .fix(
            "install the newer vigie-collector again (a downgrade is refused)",
            "réinstaller la version plus récente de vigie-collector (le retour en arrière est refusé)",
        ),
        Ok(f) => Item::new(
            Level::Ok,
            "store",
            format!("store format {}", f.unwrap_or(store_format::STORE_FORMAT)),
            format!("format du stockage {}", f.unwrap_or(store_format::STORE_FORMAT)),
        ),
        Err(e) => Item::new(Level::Fail, "store", e.to_string(), e.to_string()),
    });

    items.push(server_item(data_dir).await);
    if let Some(s) = &settings {
        let mut listeners = vec![("ingest", s.listen), ("enrollment", s.enroll_listen)];
        if let Some(h) = s.https_listen {
            listeners.push(("https", h));
        }
        for (what, addr) in listeners {
            items.push(listener_item(what, addr).await);
        }
    }
    items.push(disk_item(data_dir));
    items
}

fn judged_uid(service_user: &str) -> Result<u32, PermError> {
    let me = perms::effective_uid()?;
    if me != 0 {
        return Ok(me);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Ok(passwd
        .lines()
        .find_map(|l| {
            let mut f = l.split(':');
            (f.next()? == service_user).then_some(())?;
            f.nth(1)?.parse().ok()
        })
        .unwrap_or(me))
}

/// Is a server answering on the admin socket?
async fn server_item(data_dir: &Path) -> Item {
    let socket = data_dir.join(ADMIN_SOCKET);
    let answer = tokio::time::timeout(
        Duration::from_secs(5),
        admin::call_socket(&socket, &Request::OrgList),
    )
    .await;
    match answer {
        Ok(Ok(Some(reply))) if reply.ok => Item::new(
            Level::Ok,
            "server",
            "the collector is running and answers on its admin socket".into(),
            "le collecteur tourne et répond sur son socket d'administration".into(),
        ),
        Ok(Ok(Some(reply))) => Item::new(
            Level::Fail,
            "server",
            format!("the collector answers with an error: {}", reply.output),
            format!("le collecteur répond par une erreur : {}", reply.output),
        ),
        Ok(Ok(None)) => Item::new(
            Level::Fail,
            "server",
            "the collector is not running (no admin socket)".into(),
            "le collecteur ne tourne pas (pas de socket d'administration)".into(),
        )
        .fix(
            "systemctl start vigie-collector; journalctl -u vigie-collector says why it stopped",
            "systemctl start vigie-collector ; journalctl -u vigie-collector dit pourquoi il s'est arrêté",
        ),
        Ok(Err(e)) => Item::new(
            Level::Fail,
            "server",
            format!("{}: {e}", socket.display()),
            format!("{} : {e}", socket.display()),
        )
        .fix(
            "run doctor as root or as the vigie-collector user",
            "lancer doctor en root ou en tant qu'utilisateur vigie-collector",
        ),
        Err(_) => Item::new(
            Level::Fail,
            "server",
            "the collector does not answer on its admin socket within 5 s".into(),
            "le collecteur ne répond pas sur son socket d'administration en 5 s".into(),
        )
        .fix("systemctl restart vigie-collector", "systemctl restart vigie-collector"),
    }
}

/// Can a TCP connection reach a configured listener? Port 0 (chosen at start) cannot be checked.
async fn listener_item(what: &'static str, addr: std::net::SocketAddr) -> Item {
    if addr.port() == 0 {
        return Item::new(
            Level::Ok,
            "listener",
            format!("{what}: port chosen at start, not checked"),
            format!("{what} : port choisi au démarrage, non vérifié"),
        );
    }
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(target)).await {
        Ok(Ok(_)) => Item::new(
            Level::Ok,
            "listener",
            format!("{what} listens on {addr}"),
            format!("{what} écoute sur {addr}"),
        ),
        Ok(Err(e)) => Item::new(
            Level::Fail,
            "listener",
            format!("{what}: nothing answers on {target}: {e}"),
            format!("{what} : rien ne répond sur {target} : {e}"),
        )
        .fix(
            "start the collector; if it runs, another process may hold the port (ss -ltnp)",
            "démarrer le collecteur ; s'il tourne, un autre processus tient peut-être le port (ss -ltnp)",
        ),
        Err(_) => Item::new(
            Level::Fail,
            "listener",
            format!("{what}: no answer from {target} within 5 s"),
            format!("{what} : pas de réponse de {target} en 5 s"),
        ),
    }
}

fn disk_item(data_dir: &Path) -> Item {
    let target = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let disks = sysinfo::Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .filter(|d| target.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map_or_else(
            || {
                Item::new(
                    Level::Warn,
                    "disk",
                    format!("no mounted file system found for {}", target.display()),
                    format!(
                        "aucun système de fichiers monté trouvé pour {}",
                        target.display()
                    ),
                )
            },
            |d| {
                disk_judgement(
                    &d.mount_point().display().to_string(),
                    d.available_space(),
                    d.total_space(),
                )
            },
        )
}
