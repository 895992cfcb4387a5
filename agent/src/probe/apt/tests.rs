//! Tests of the whole patches probe on fixture trees under a temporary root, with a stand-in
//! apt-get that prints a recorded simulation, and one run against this machine's real apt-get.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::probe::apt::host::naive_ms;

const DEBIAN_12: &str =
    "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
const STATUS_WITH_UU: &str = "Package: apt\nStatus: install ok installed\nVersion: 2.6.1\n\nPackage: unattended-upgrades\nStatus: install ok installed\nVersion: 2.9.1+nmu3\n\n";
const AUTO_ON: &str =
    "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n";
const HISTORY: &str = "\nStart-Date: 2025-06-10  13:58:00\nCommandline: apt-get upgrade\nUpgrade: tzdata:amd64 (2024b-0+deb12u1, 2025a-0+deb12u1)\nEnd-Date: 2025-06-10  14:00:00\n";

fn ms(date: &str, time: &str) -> i64 {
    naive_ms(Some(date), Some(time)).unwrap()
}

/// A fake root: `(path, contents, mtime)`; a path ending in `/` is a directory.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &str, Option<i64>)]) -> Self {
        let tree = Self {
            dir: tempfile::tempdir().unwrap(),
        };
        for (path, contents, mtime) in files {
            tree.put(path, contents, *mtime);
        }
        tree
    }

    fn put(&self, path: &str, contents: &str, mtime: Option<i64>) {
        let full = self.root().join(path.trim_start_matches('/'));
        if path.ends_with('/') {
            std::fs::create_dir_all(&full).unwrap();
            return;
        }
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(&full, contents).unwrap();
        if let Some(ms) = mtime {
            let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap());
            std::fs::File::options()
                .write(true)
                .open(&full)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A stand-in apt-get that checks its environment and prints `fixture`.
    fn fake_apt_get(&self, fixture: &str) -> PathBuf {
        let data = self.root().join("fixture.txt");
        std::fs::write(&data, fixture).unwrap();
        let script = self.root().join("apt-get");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$LC_ALL\" = C ] || exit 3\n[ -z \"$LANGUAGE\" ] || exit 4\ncat '{}'\n",
                data.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        script
    }
}

/// A Debian 12 host refreshed and upgraded on 2025-06-10, automatic updates on.
fn debian_host(extra: &[(&str, &str, Option<i64>)]) -> Tree {
    let mut files: Vec<(&str, &str, Option<i64>)> = vec![
        ("/usr/lib/os-release", DEBIAN_12, None),
        ("/var/lib/dpkg/status", STATUS_WITH_UU, None),
        ("/etc/apt/apt.conf.d/20auto-upgrades", AUTO_ON, None),
        (
            "/var/lib/apt/periodic/update-success-stamp",
            "",
            Some(ms("2025-06-11", "06:00:00")),
        ),
        (
            "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "x",
            Some(ms("2025-06-11", "05:00:00")),
        ),
        (
            "/var/log/apt/history.log",
            HISTORY,
            Some(ms("2025-06-10", "12:00:00")),
        ),
    ];
    files.extend_from_slice(extra);
    let tree = Tree::new(&files);
    std::os::unix::fs::symlink("../usr/lib/os-release", tree.root().join("etc/os-release"))
        .unwrap();
    tree
}

fn cx(root: &Path, state_dir: Option<&Path>, now_ms: i64) -> ProbeCx {
    ProbeCx {
        root: root.to_path_buf(),
        state_dir: state_dir.map(Path::to_path_buf),
        now_ms,
        role: None,
        command_timeout: Duration::from_secs(30),
    }
}

async fn run(apt_get: &Path, cx: &ProbeCx) -> Result<Patches, ProbeError> {
    let cfg = PatchesConfig {
        apt_get_path: apt_get.to_path_buf(),
        ..PatchesConfig::default()
    };
    match cfg.build().unwrap().collect(cx).await? {
        State::Patches(p) => Ok(p),
        other => panic!("unexpected state {other:?}"),
    }
}

/// Warnings other than the fixed note every foreign-root run carries.
fn own_warnings(p: &Patches) -> Vec<&str> {
    p.warnings
        .iter()
        .map(String::as_str)
        .filter(|w| !w.contains("with -o Dir"))
        .collect()
}

#[track_caller]
fn check(p: &Patches, pending: usize, security: usize, warnings: &[&str]) {
    assert_eq!(p.manager, "apt");
    assert_eq!(p.pending.len(), pending);
    assert_eq!(p.pending.iter().filter(|u| u.security).count(), security);
    let got = own_warnings(p);
    assert_eq!(got.len(), warnings.len(), "{got:?}");
    for (g, w) in got.iter().zip(warnings) {
        assert!(g.contains(w), "warning {g:?} lacks {w:?}");
    }
}

#[tokio::test]
async fn up_to_date_host() {
    let tree = debian_host(&[]);
    let apt = tree.fake_apt_get(include_str!("fixtures/up-to-date.txt"));
    let p = run(&apt, &cx(tree.root(), None, 1)).await.unwrap();
    check(&p, 0, 0, &[]);
    assert_eq!(p.last_metadata_refresh_ms, ms("2025-06-11", "06:00:00"));
    let src = p.last_metadata_refresh_source.as_ref().unwrap();
    assert_eq!(src.locator, "/var/lib/apt/periodic/update-success-stamp");
    // history.log says 14:00 local; its mtime says that was 12:00 UTC.
    assert_eq!(p.last_upgrade_ms, ms("2025-06-10", "12:00:00"));
    assert!(p.automatic_updates_enabled);
    assert_eq!(
        p.automatic_updates_source.unwrap().locator,
        "/etc/apt/apt.conf.d/20auto-upgrades"
    );
    assert!(!p.reboot_required);
    assert!(p.os_release_known);
    assert_eq!(p.os_end_of_life_ms, ms("2028-06-30", "00:00:00"));
}

#[tokio::test]
async fn pending_security_updates_and_reboot() {
    let tree = debian_host(&[
        (
            "/run/reboot-required",
            "*** System restart required ***\n",
            Some(ms("2025-06-12", "08:00:00")),
        ),
        (
            "/run/reboot-required.pkgs",
            "linux-image-6.1.0-40-amd64\nlibc6\nlibc6\n",
            None,
        ),
        (
            "/etc/apt/apt.conf.d/99local",
            "APT::Periodic::Unattended-Upgrade \"0\";\n",
            None,
        ),
    ]);
    let apt = tree.fake_apt_get(include_str!("fixtures/debian12-pending.txt"));
    let p = run(&apt, &cx(tree.root(), None, 77)).await.unwrap();
    check(&p, 6, 3, &[]);
    let cups = p.pending.iter().find(|u| u.package == "libcups2").unwrap();
    assert_eq!(
        cups.origins,
        [
            "Debian:12.12/stable [amd64]",
            "Debian-Security:12/stable-security [amd64]"
        ]
    );
    assert_eq!(
        (cups.installed_version.as_str(), cups.first_seen_ms),
        ("2.4.2-3+deb12u8", 77)
    );
    assert!(p.reboot_required);
    assert_eq!(p.reboot_required_since_ms, ms("2025-06-12", "08:00:00"));
    assert_eq!(
        p.reboot_required_packages,
        ["linux-image-6.1.0-40-amd64", "libc6"]
    );
    // 99local comes after 20auto-upgrades: the last assignment wins.
    assert!(!p.automatic_updates_enabled);
    assert_eq!(
        p.automatic_updates_source.unwrap().locator,
        "/etc/apt/apt.conf.d/99local"
    );
}

#[tokio::test]
async fn no_lists_and_no_history() {
    let tree = Tree::new(&[(
        "/usr/lib/os-release",
        "ID=ubuntu\nVERSION_ID=\"21.10\"\n",
        None,
    )]);
    let apt = tree.fake_apt_get(include_str!("fixtures/ubuntu-jammy-pending.txt"));
    let p = run(&apt, &cx(tree.root(), None, 1)).await.unwrap();
    check(
        &p,
        3,
        2,
        &[
            "no apt lists in /var/lib/apt/lists",
            "reading /var/lib/dpkg/status",
        ],
    );
    assert_eq!((p.last_metadata_refresh_ms, p.last_upgrade_ms), (0, 0));
    assert!(p.last_metadata_refresh_source.is_none());
    assert!(!p.automatic_updates_enabled);
    assert!(!p.os_release_known);
    assert_eq!(p.os_end_of_life_ms, 0);
}

#[tokio::test]
async fn unreadable_files_are_warnings() {
    // Tests run as root, for whom chmod 000 does not stop a read; a directory where a file should
    // be fails the read for everyone, so it stands in for an unreadable file here.
    let tree = debian_host(&[
        ("/var/log/dpkg.log/", "", None),
        ("/run/reboot-required", "", None),
        ("/run/reboot-required.pkgs/", "", None),
        ("/etc/apt/apt.conf.d/50broken/", "", None),
    ]);
    let apt = tree.fake_apt_get(include_str!("fixtures/up-to-date.txt"));
    let p = run(&apt, &cx(tree.root(), None, 1)).await.unwrap();
    check(
        &p,
        0,
        0,
        &[
            "reading /var/log/dpkg.log",
            "reading /run/reboot-required.pkgs",
            "reading /etc/apt/apt.conf.d/50broken",
        ],
    );
    assert!(p.reboot_required && p.reboot_required_packages.is_empty());
    assert!(p.automatic_updates_enabled);
}

#[tokio::test]
async fn french_locale_host_reads_the_same() {
    let english = debian_host(&[]);
    let french = debian_host(&[
        ("/etc/default/locale", "LANG=fr_FR.UTF-8\nLANGUAGE=fr_FR:fr\n", None),
        (
            "/etc/apt/apt.conf.d/20auto-upgrades",
            "// Mises à jour automatiques : activées par l'installeur\n# « sécurité » d'abord\nAPT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\"; // activé\n",
            None,
        ),
    ]);
    let run_on = |tree: &Tree| {
        let apt = tree.fake_apt_get(include_str!("fixtures/debian12-pending.txt"));
        let cx = cx(tree.root(), None, 5);
        async move { run(&apt, &cx).await.unwrap() }
    };
    let (mut en, mut fr) = (run_on(&english).await, run_on(&french).await);
    en.warnings.clear();
    fr.warnings.clear();
    assert_eq!(en, fr);
    assert!(fr.automatic_updates_enabled);
}

#[tokio::test]
async fn first_seen_survives_runs_and_resets_with_the_candidate() {
    let tree = debian_host(&[]);
    let state = tempfile::tempdir().unwrap();
    let seen = |p: &Patches, pkg: &str| {
        p.pending
            .iter()
            .find(|u| u.package == pkg)
            .unwrap()
            .first_seen_ms
    };
    let apt = tree.fake_apt_get(include_str!("fixtures/debian12-pending.txt"));
    let p1 = run(&apt, &cx(tree.root(), Some(state.path()), 1_000))
        .await
        .unwrap();
    let p2 = run(&apt, &cx(tree.root(), Some(state.path()), 2_000))
        .await
        .unwrap();
    assert_eq!(
        (seen(&p1, "libcups2"), seen(&p2, "libcups2")),
        (1_000, 1_000)
    );
    let newer = include_str!("fixtures/debian12-pending.txt")
        .replace("2.4.2-3+deb12u9", "2.4.2-3+deb12u10");
    let apt = tree.fake_apt_get(&newer);
    let p3 = run(&apt, &cx(tree.root(), Some(state.path()), 3_000))
        .await
        .unwrap();
    assert_eq!((seen(&p3, "libcups2"), seen(&p3, "tzdata")), (3_000, 1_000));
    check(&p3, 6, 3, &[]);
}

#[tokio::test]
async fn missing_apt_get_is_a_probe_error() {
    let tree = debian_host(&[]);
    let err = run(Path::new("/nonexistent/apt-get"), &cx(tree.root(), None, 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AG0101");
    assert!(err
        .to_string()
        .starts_with("apt-get not found: not a Debian/Ubuntu host?"));
}

#[tokio::test]
async fn this_machine() {
    // The real apt-get of this Debian machine, read-only; counts vary, so only the shape is checked.
    let now = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    let p = run(
        Path::new("/usr/bin/apt-get"),
        &cx(Path::new("/"), None, now),
    )
    .await
    .unwrap();
    assert_eq!(p.manager, "apt");
    assert!(p
        .pending
        .iter()
        .all(|u| !u.package.is_empty() && !u.candidate_version.is_empty()));
}
