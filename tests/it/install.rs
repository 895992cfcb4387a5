//! The Debian packages, end to end (issue 7): `scripts/package` builds both from the test's binaries,
//! `dpkg-deb` shows what is inside, and dpkg installs them into a temporary root made by the test
//! (`--root`, maintainer scripts run chrootless with `DPKG_ROOT`, never on this machine): users,
//! groups, owners, modes, unit files (`systemd-analyze verify` and `security`), an upgrade that keeps
//! the admin's edited conffile and the state, then a purge.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, ok, run};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds both packages from the test's binaries; returns (agent, collector) .deb paths.
fn package(out: &Path, version: &str, example_suffix: &str) -> (PathBuf, PathBuf) {
    let bin_dir = bin("vigie-agent").parent().unwrap().to_path_buf();
    let printed = ok(Command::new(repo().join("scripts/package"))
        .arg("--bin-dir")
        .arg(&bin_dir)
        .arg("--out")
        .arg(out)
        .args(["--version", version, "--compression", "none"])
        .args(["--example-suffix", example_suffix])
        .env("SOURCE_DATE_EPOCH", "1790000000"));
    let debs: Vec<PathBuf> = printed.lines().map(PathBuf::from).collect();
    assert_eq!(debs.len(), 2, "{printed}");
    let agent = debs
        .iter()
        .find(|d| d.to_string_lossy().contains("/vigie-agent_"));
    let collector = debs
        .iter()
        .find(|d| d.to_string_lossy().contains("/vigie-collector_"));
    (agent.unwrap().clone(), collector.unwrap().clone())
}

/// An empty root holding only what dpkg needs to keep its database there.
fn make_root(root: &Path) {
    for d in ["var/lib/dpkg/info", "var/lib/dpkg/updates", "etc"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("var/lib/dpkg/status"), "").unwrap();
}

/// dpkg acting on `root` only. Maintainer scripts run on this machine with DPKG_ROOT=root (they must
/// honour it; the host's /etc/passwd is compared before and after). The root has no libc6 or
/// systemd packages, hence --force-depends.
fn dpkg(root: &Path, args: &[&str], debs: &[&Path]) -> String {
    let mut cmd = Command::new("dpkg");
    cmd.arg(format!("--root={}", root.display()))
        .arg(format!(
            "--log={}",
            root.with_extension("dpkg.log").display()
        ))
        .args([
            "--force-not-root",
            "--force-script-chrootless",
            "--force-depends",
        ])
        .args(args)
        .args(debs)
        .stdin(std::process::Stdio::null());
    let out = run(&mut cmd);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "dpkg {args:?} failed:\n{text}");
    text
}

/// (mode, uid, gid) of a path.
fn stat(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

/// name → id from a passwd or group file of the root.
fn ids(file: &Path) -> BTreeMap<String, (u32, String)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                (f.get(2)?.parse().ok()?, f.get(6).unwrap_or(&"").to_string()),
            ))
        })
        .collect()
}

fn status_of(root: &Path, package: &str) -> String {
    let out = run(Command::new("dpkg-query")
        .arg(format!(
            "--admindir={}",
            root.join("var/lib/dpkg").display()
        ))
        .args(["-W", "-f", "${Status} ${Version}", package]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn packages_install_upgrade_and_purge_in_a_temporary_root() {
    let tmp = tempfile::tempdir().unwrap();
    let host_passwd = std::fs::read(Path::new("/etc/passwd")).unwrap();
    let host_group = std::fs::read(Path::new("/etc/group")).unwrap();
    let (agent1, collector1) = package(&tmp.path().join("v1"), "0.1.0-1", "");

    // What is inside, as dpkg-deb shows it.
    let info = ok(Command::new("dpkg-deb").arg("-I").arg(&agent1));
    for needle in [
        "Package: vigie-agent",
        "Version: 0.1.0-1",
        "Depends: libc6 (>= 2.",
        "systemd | systemd-standalone-sysusers",
        "conffiles",
        "postinst",
        "postrm",
    ] {
        assert!(info.contains(needle), "{needle:?} missing from:\n{info}");
    }
    let field = ok(Command::new("dpkg-deb")
        .arg("-f")
        .arg(&agent1)
        .arg("Package"));
    assert_eq!(field.trim(), "vigie-agent");
    let ctrl = tmp.path().join("ctrl");
    ok(Command::new("dpkg-deb").arg("-e").arg(&agent1).arg(&ctrl));
    assert_eq!(
        std::fs::read_to_string(ctrl.join("conffiles")).unwrap(),
        "/etc/vigie/agent.toml\n"
    );
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&agent1));
    for (mode, path) in [
        ("-rwxr-xr-x root/root", "./usr/bin/vigie-agent"),
        ("-rw-r--r-- root/root", "./etc/vigie/agent.toml"),
        (
            "-rw-r--r-- root/root",
            "./usr/share/man/man1/vigie-agent.1.gz",
        ),
        (
            "-rw-r--r-- root/root",
            "./lib/systemd/system/vigie-agent-prober.service",
        ),
        (
            "-rw-r--r-- root/root",
            "./lib/systemd/system/vigie-agent-shipper.service",
        ),
        (
            "-rw-r--r-- root/root",
            "./lib/systemd/system/vigie-agent.target",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/lib/sysusers.d/vigie-agent.conf",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/lib/tmpfiles.d/vigie-agent.conf",
        ),
        (
            "-rw-r--r-- root/root",
            "./usr/share/doc/vigie-agent/copyright",
        ),
    ] {
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with(mode) && l.ends_with(path)),
            "{mode} {path} missing from:\n{listing}"
        );
    }
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&collector1));
    for path in [
        "./usr/bin/vigie-collector",
        "./lib/systemd/system/vigie-collector.service",
        "./usr/share/man/man1/vigie-collector.1.gz",
        "./usr/lib/sysusers.d/vigie-collector.conf",
        "./usr/share/doc/vigie-collector/examples/collector.toml",
    ] {
        assert!(listing.lines().any(|l| l.ends_with(path)), "{path}");
    }
    // The man page is a real one, with every subcommand.
    let man = tmp.path().join("man");
    ok(Command::new("dpkg-deb").arg("-x").arg(&agent1).arg(&man));
    let page = ok(Command::new("gzip")
        .arg("-dc")
        .arg(man.join("usr/share/man/man1/vigie-agent.1.gz")));
    for sub in ["enroll", "run", "check", "backup-done", "doctor"] {
        assert!(
            page.contains(&format!("vigie-agent {sub}")),
            "no {sub} section in the man page"
        );
    }

    // Install both into a temporary root.
    let root = tmp.path().join("root");
    make_root(&root);
    dpkg(&root, &["-i"], &[&agent1, &collector1]);
    assert!(status_of(&root, "vigie-agent").starts_with("install ok installed 0.1.0-1"));
    assert!(status_of(&root, "vigie-collector").starts_with("install ok installed 0.1.0-1"));

    let users = ids(&root.join("etc/passwd"));
    let groups = ids(&root.join("etc/group"));
    let (vigie, shell) = users["vigie"].clone();
    assert_eq!(shell, "/usr/sbin/nologin");
    let (vigie_collector, _) = users["vigie-collector"].clone();
    let push = groups["vigie-push"].0;
    assert!(
        vigie > 0 && vigie < 1000 && vigie_collector < 1000,
        "system users"
    );
    assert_eq!(
        stat(&root.join("var/lib/vigie-agent")),
        (0o710, vigie, push)
    );
    assert_eq!(
        stat(&root.join("var/lib/vigie-agent/spool")),
        (0o710, vigie, push)
    );
    assert_eq!(
        stat(&root.join("var/lib/vigie-agent/spool/incoming")),
        (0o2770, vigie, push)
    );
    assert_eq!(
        stat(&root.join("var/lib/vigie-collector")),
        (0o700, vigie_collector, groups["vigie-collector"].0)
    );
    assert_eq!(stat(&root.join("usr/bin/vigie-agent")), (0o755, 0, 0));
    assert_eq!(stat(&root.join("etc/vigie/agent.toml")), (0o644, 0, 0));
    // The installed example configuration is the real parser's default, and passes the agent's
    // own permission checks.
    let installed_agent = root.join("usr/bin/vigie-agent");
    let version = ok(Command::new(&installed_agent).arg("--version"));
    assert!(version.starts_with("vigie-agent "), "{version}");
    vigie_agent::config::AgentConfig::load(Some(&root.join("etc/vigie/agent.toml"))).unwrap();

    // Unit files: loadable by systemd in that root, and hardened (scores recorded in the output).
    let units = root.join("lib/systemd/system");
    for entry in std::fs::read_dir("/lib/systemd/system").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".target") || name.ends_with(".slice") {
            // systemd's own targets, which the units' default dependencies name.
            let dest = units.join(&name);
            if !dest.exists() {
                let _ = std::fs::copy(entry.path(), dest);
            }
        }
    }
    for (unit, ceiling) in [
        ("vigie-agent-prober.service", 15),
        ("vigie-agent-shipper.service", 15),
        ("vigie-agent.target", 0),
        ("vigie-collector.service", 15),
    ] {
        let out = run(Command::new("systemd-analyze")
            .arg("verify")
            .arg("--man=no")
            .arg(format!("--root={}", root.display()))
            .arg(unit));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{unit}: {err}"
        );
        if ceiling > 0 {
            let out = run(Command::new("systemd-analyze")
                .args(["security", "--offline=true"])
                .arg(format!("--threshold={ceiling}"))
                .arg(units.join(unit)));
            let text = String::from_utf8_lossy(&out.stdout);
            let score = text
                .lines()
                .find(|l| l.contains("Overall exposure level"))
                .unwrap_or_default()
                .to_owned();
            eprintln!("{score}");
            assert!(out.status.success(), "{unit} above {ceiling}: {text}");
        }
    }

    // State a running system would have: an enrolled agent's files, a spooled report, a pending
    // push record, and a collector data directory made by the installed binary.
    let state = root.join("var/lib/vigie-agent");
    std::fs::write(state.join("enrollment.json"), b"{\"kept\": true}").unwrap();
    std::fs::write(
        state.join("spool/00000000000000000001.report"),
        b"signed report",
    )
    .unwrap();
    std::fs::write(state.join("spool/incoming/push.json"), b"{}").unwrap();
    let data = root.join("var/lib/vigie-collector");
    ok(Command::new(root.join("usr/bin/vigie-collector"))
        .args(["init", "--data-dir"])
        .arg(&data)
        .args(["--san", "collector.mairie.test"]));
    let ca_before = std::fs::read(data.join("ca.key")).unwrap();

    // The admin edits the conffile.
    let conf = root.join("etc/vigie/agent.toml");
    let edited = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("interval_secs = 300", "interval_secs = 600");
    assert!(edited.contains("interval_secs = 600"));
    std::fs::write(&conf, &edited).unwrap();

    // Upgrade to a newer build whose example changed: the admin's file stays, the new example
    // lands beside it, the state is untouched.
    let (agent2, collector2) = package(&tmp.path().join("v2"), "0.1.0-2", "# new in 0.1.0-2");
    let log = dpkg(
        &root,
        &["--force-confold", "--force-confdef", "-i"],
        &[&agent2, &collector2],
    );
    assert!(status_of(&root, "vigie-agent").starts_with("install ok installed 0.1.0-2"));
    assert!(status_of(&root, "vigie-collector").starts_with("install ok installed 0.1.0-2"));
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), edited, "{log}");
    let dist = std::fs::read_to_string(root.join("etc/vigie/agent.toml.dpkg-dist")).unwrap();
    assert!(dist.contains("# new in 0.1.0-2") && dist.contains("interval_secs = 300"));
    assert_eq!(
        std::fs::read(state.join("enrollment.json")).unwrap(),
        b"{\"kept\": true}"
    );
    assert!(state.join("spool/00000000000000000001.report").exists());
    assert!(state.join("spool/incoming/push.json").exists());
    assert_eq!(std::fs::read(data.join("ca.key")).unwrap(), ca_before);
    assert_eq!(stat(&state), (0o710, vigie, push));
    assert_eq!(ids(&root.join("etc/passwd"))["vigie"].0, vigie, "same uid");

    // Purge: the agent forgets the host; the collector keeps its CA and store on purpose.
    let purge = dpkg(&root, &["--purge", "vigie-agent", "vigie-collector"], &[]);
    assert!(purge.contains("/var/lib/vigie-collector kept"), "{purge}");
    for gone in [
        "usr/bin/vigie-agent",
        "usr/bin/vigie-collector",
        "etc/vigie/agent.toml",
        "etc/vigie/agent.toml.dpkg-dist",
        "etc/vigie",
        "lib/systemd/system/vigie-agent-prober.service",
        "lib/systemd/system/vigie-collector.service",
        "var/lib/vigie-agent",
    ] {
        assert!(!root.join(gone).exists(), "{gone} left after purge");
    }
    assert!(data.join("ca.key").exists(), "the collector's CA is kept");
    for package in ["vigie-agent", "vigie-collector"] {
        let status = status_of(&root, package);
        assert!(
            status.is_empty() || status.contains("not-installed"),
            "{package}: {status}"
        );
    }
    let dpkg_log = std::fs::read_to_string(root.with_extension("dpkg.log")).unwrap();
    assert!(
        dpkg_log.contains("status installed vigie-agent:"),
        "{dpkg_log}"
    );

    // Nothing of this reached the machine running the test.
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
    assert_eq!(std::fs::read("/etc/group").unwrap(), host_group);
}

/// A GnuPG home made by the test, with one new Ed25519 signing key; returns its fingerprint.
fn gpg_key(home: &Path, name: &str) -> String {
    std::fs::create_dir_all(home).unwrap();
    std::fs::set_permissions(home, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    ok(Command::new("gpg")
        .env("GNUPGHOME", home)
        .args(["--batch", "--passphrase", "", "--quick-gen-key"])
        .arg(format!("{name} <archive@vigie.invalid>"))
        .args(["ed25519", "sign", "never"]));
    let out = ok(Command::new("gpg").env("GNUPGHOME", home).args([
        "--batch",
        "--with-colons",
        "--list-keys",
    ]));
    out.lines()
        .find_map(|l| l.strip_prefix("fpr:"))
        .and_then(|l| l.split(':').find(|f| f.len() == 40))
        .unwrap()
        .to_owned()
}

/// `apt-get update` against `sources` only, with every apt directory private to the test.
fn apt_update(dir: &Path, sources: &str) -> (bool, String, Vec<String>) {
    for d in ["state/lists/partial", "cache/archives/partial", "empty"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("status"), "").unwrap();
    std::fs::write(dir.join("sources.list"), sources).unwrap();
    let p = |s: &str| dir.join(s).display().to_string();
    let opts: Vec<String> = [
        ("Dir::Etc::SourceList", p("sources.list")),
        ("Dir::Etc::SourceParts", p("empty")),
        ("Dir::State", p("state")),
        ("Dir::Cache", p("cache")),
        ("Dir::State::status", p("status")),
        ("Dir::Etc::Trusted", p("none")),
        ("Dir::Etc::TrustedParts", p("empty")),
        ("Dir::Etc::Preferences", p("none")),
        ("Dir::Etc::PreferencesParts", p("empty")),
        ("Debug::NoLocking", "1".into()),
        ("APT::Sandbox::User", "root".into()),
    ]
    .iter()
    .flat_map(|(k, v)| ["-o".to_owned(), format!("{k}={v}")])
    .collect();
    let out = run(Command::new("apt-get").args(&opts).arg("update"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // apt-get update may exit 0 with a repository ignored: an `E:` or `W:` line is a failure too.
    let clean = out.status.success()
        && !text
            .lines()
            .any(|l| l.starts_with("E:") || l.starts_with("W:"));
    (clean, text, opts)
}

#[test]
fn signed_apt_repository_is_trusted_with_its_key_only() {
    let tmp = tempfile::tempdir().unwrap();
    package(&tmp.path().join("debs"), "0.1.0-1", "");
    let home = tmp.path().join("gnupg");
    let fpr = gpg_key(&home, "Vigie test archive");
    let repo = tmp.path().join("repo");
    let printed = ok(Command::new(repo_script())
        .arg("--debs")
        .arg(tmp.path().join("debs"))
        .arg("--out")
        .arg(&repo)
        .args(["--key", &fpr])
        .arg("--gnupg-home")
        .arg(&home));
    assert_eq!(printed.trim(), fpr);
    let keyring = repo.join("vigie-archive-keyring.gpg");
    let line = |keyring: &Path| {
        format!(
            "deb [signed-by={}] file:{} stable main\n",
            keyring.display(),
            repo.display()
        )
    };

    // Trusted with its own key: apt sees both packages.
    let (clean, text, opts) = apt_update(&tmp.path().join("apt1"), &line(&keyring));
    assert!(clean, "{text}");
    let policy = ok(Command::new("apt-cache").args(&opts).args([
        "policy",
        "vigie-agent",
        "vigie-collector",
    ]));
    assert_eq!(policy.matches("Candidate: 0.1.0-1").count(), 2, "{policy}");

    // Signed-By another key: refused.
    let other_home = tmp.path().join("gnupg-other");
    let other = gpg_key(&other_home, "Someone else");
    let other_keyring = tmp.path().join("other.gpg");
    let exported = run(Command::new("gpg")
        .env("GNUPGHOME", &other_home)
        .args(["--batch", "--export", &other]));
    std::fs::write(&other_keyring, exported.stdout).unwrap();
    let (clean, text, _) = apt_update(&tmp.path().join("apt2"), &line(&other_keyring));
    assert!(!clean, "trusted with the wrong key:\n{text}");
    assert!(
        text.contains("NO_PUBKEY") || text.contains("not signed"),
        "{text}"
    );

    // An index changed after signing: refused.
    let packages = repo.join("dists/stable/main/binary-amd64/Packages");
    let mut index = std::fs::read_to_string(&packages).unwrap();
    index = index.replace("Version: 0.1.0-1", "Version: 9.9.9-1");
    std::fs::write(&packages, index).unwrap();
    std::fs::remove_file(repo.join("dists/stable/main/binary-amd64/Packages.gz")).unwrap();
    let (clean, text, _) = apt_update(&tmp.path().join("apt3"), &line(&keyring));
    assert!(!clean, "a forged index was accepted:\n{text}");

    for h in [&home, &other_home] {
        let _ = run(Command::new("gpgconf")
            .env("GNUPGHOME", h)
            .args(["--kill", "gpg-agent"]));
    }
}

fn repo_script() -> PathBuf {
    repo().join("scripts/apt-repo")
}

/// The SBOM of each binary lists what is compiled into it, each crate with a licence and a purl;
/// the agent's holds no collector or policy code.
#[test]
fn sbom_per_binary_lists_its_crates_and_licences() {
    let tmp = tempfile::tempdir().unwrap();
    let printed = ok(Command::new(repo().join("scripts/sbom"))
        .arg("--out")
        .arg(tmp.path())
        .args(["--version", "0.1.0"]));
    assert_eq!(printed.lines().count(), 2, "{printed}");
    let load = |bin: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(tmp.path().join(format!("{bin}.cdx.json"))).unwrap())
            .unwrap()
    };
    for bin in ["vigie-agent", "vigie-collector"] {
        let bom = load(bin);
        assert_eq!(bom["bomFormat"], "CycloneDX");
        assert_eq!(bom["metadata"]["component"]["name"], bin);
        let names: Vec<&str> = bom["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                assert!(
                    c["licenses"][0]["expression"]
                        .as_str()
                        .is_some_and(|l| !l.is_empty()),
                    "{c}"
                );
                assert!(c["purl"].as_str().unwrap().starts_with("pkg:cargo/"), "{c}");
                c["name"].as_str().unwrap()
            })
            .collect();
        for needed in ["rustls", "ring", "vigie-proto", "tokio"] {
            assert!(names.contains(&needed), "{bin} lacks {needed}");
        }
        assert!(!names.contains(&"aws-lc-rs"), "{bin}");
        if bin == "vigie-agent" {
            assert!(!names.contains(&"vigie-collector") && !names.contains(&"vigie-policies"));
        } else {
            assert!(names.contains(&"vigie-policies"));
        }
    }
}

/// The `deb` URI of the Debian archive this machine's apt uses for bookworm, read from
/// /etc/apt/sources.list and sources.list.d (one-line and deb822 formats).
fn debian_mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let name = file.to_string_lossy().into_owned();
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if name.ends_with(".list") {
            for line in text.lines().map(str::trim) {
                let words: Vec<&str> = line
                    .split_whitespace()
                    .filter(|w| !w.starts_with('['))
                    .collect();
                if let ["deb", uri, "bookworm", ..] = words.as_slice() {
                    return (*uri).to_owned();
                }
            }
        } else if name.ends_with(".sources") {
            for stanza in text.split("\n\n") {
                let field = |key: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                        .unwrap_or_default()
                };
                if field("Types:").iter().any(|t| t == "deb")
                    && field("Suites:").iter().any(|s| s == "bookworm")
                {
                    if let Some(uri) = field("URIs:").into_iter().next() {
                        return uri;
                    }
                }
            }
        }
    }
    panic!("no `deb … bookworm` source in /etc/apt/sources.list(.d): cannot build a Debian root");
}

/// A tarball of a minbase Debian 12 with systemd (what the packages depend on), built with
/// mmdebstrap from this machine's mirror. Kept in the target directory for a day, so repeated runs
/// do not rebuild it; a failure to build it fails the test.
fn debian_root_tarball() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("debian-root");
    std::fs::create_dir_all(&cache).unwrap();
    let tarball = cache.join("bookworm-minbase-systemd.tar");
    let fresh = std::fs::metadata(&tarball)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age.as_secs() < 24 * 3600);
    if fresh {
        return tarball;
    }
    let mirror = debian_mirror();
    let partial = cache.join(format!("building-{}.tar", std::process::id()));
    let out = run(Command::new("mmdebstrap")
        .args(["--variant=minbase", "--mode=root", "--include=systemd"])
        // apt's lists stay in the root, so apt inside it resolves the packages' dependencies.
        .arg("--skip=cleanup/apt/lists")
        .arg("bookworm")
        .arg(&partial)
        .arg(format!("deb {mirror} bookworm main"))
        .stdin(std::process::Stdio::null()));
    assert!(
        out.status.success(),
        "mmdebstrap could not build a Debian 12 root from {mirror} (is the mirror reachable?):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &tarball).unwrap();
    tarball
}

/// `chroot root` in a private mount and PID namespace with its own /proc, as a real host has (the
/// root's systemd-tmpfiles refuses to run without one); the mount goes away with the process.
fn chroot(root: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--pid", "--fork"])
        .arg(format!("--mount-proc={}", root.join("proc").display()))
        .arg("chroot")
        .arg(root);
    cmd
}

/// Runs `args` inside the Debian root; panics with the output on failure.
fn in_root(root: &Path, args: &[&str]) -> String {
    let out = run(chroot(root)
        .args([
            "env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL=C",
        ])
        .arg("DEBIAN_FRONTEND=noninteractive")
        .args(args)
        .stdin(std::process::Stdio::null()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "in the root: {args:?} failed:\n{text}"
    );
    text
}

/// The two packages installed with apt inside a real Debian 12 made by the test (mmdebstrap,
/// minbase + systemd): dependencies and the collector's `Recommends: fonts-dejavu-core` resolved
/// from the archive, maintainer scripts run by the root's own dpkg and systemd-sysusers, so users
/// and groups land in the root's /etc/passwd and /etc/group, never the host's. Then an upgrade that
/// keeps an edited conffile and the state, and a purge that leaves nothing of the agent behind.
#[test]
fn packages_install_upgrade_and_purge_in_a_debian_root() {
    let started = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let host_passwd = std::fs::read("/etc/passwd").unwrap();
    let host_group = std::fs::read("/etc/group").unwrap();
    let tarball = debian_root_tarball();
    let (agent1, collector1) = package(&tmp.path().join("v1"), "0.1.0-1", "");
    let recommends = ok(Command::new("dpkg-deb")
        .arg("-f")
        .arg(&collector1)
        .arg("Recommends"));
    assert_eq!(recommends.trim(), "fonts-dejavu-core");

    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    ok(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["--numeric-owner", "-xf"])
        .arg(&tarball));
    let built = started.elapsed();
    assert!(root.join("usr/bin/systemd-sysusers").exists());
    assert!(
        !ids(&root.join("etc/passwd")).contains_key("vigie"),
        "a fresh root has no vigie user"
    );
    let copy_in = |deb: &Path| {
        let name = deb.file_name().unwrap().to_string_lossy().into_owned();
        std::fs::copy(deb, root.join("tmp").join(&name)).unwrap();
        format!("/tmp/{name}")
    };

    // Install with apt: Depends and Recommends come from the archive.
    let (a1, c1) = (copy_in(&agent1), copy_in(&collector1));
    in_root(&root, &["apt-get", "install", "-y", &a1, &c1]);
    for package in ["vigie-agent", "vigie-collector", "fonts-dejavu-core"] {
        let status = status_of(&root, package);
        assert!(
            status.starts_with("install ok installed"),
            "{package}: {status}"
        );
    }
    assert!(root
        .join("usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
        .exists());

    let users = ids(&root.join("etc/passwd"));
    let groups = ids(&root.join("etc/group"));
    let (vigie, shell) = users["vigie"].clone();
    assert_eq!(shell, "/usr/sbin/nologin");
    let (vigie_collector, shell) = users["vigie-collector"].clone();
    assert_eq!(shell, "/usr/sbin/nologin");
    let push = groups["vigie-push"].0;
    assert!(vigie > 0 && vigie < 1000 && vigie_collector > 0 && vigie_collector < 1000);
    // The root's own tools see them: getent reads the root's NSS files.
    let getent = in_root(&root, &["getent", "passwd", "vigie"]);
    assert!(getent.starts_with(&format!("vigie:x:{vigie}:")), "{getent}");
    in_root(&root, &["getent", "group", "vigie-push"]);
    let collector_gid = groups["vigie-collector"].0;

    let state = root.join("var/lib/vigie-agent");
    assert_eq!(stat(&state), (0o710, vigie, push));
    assert_eq!(stat(&state.join("spool")), (0o710, vigie, push));
    assert_eq!(stat(&state.join("spool/incoming")), (0o2770, vigie, push));
    let data = root.join("var/lib/vigie-collector");
    assert_eq!(stat(&data), (0o700, vigie_collector, collector_gid));
    assert_eq!(stat(&root.join("usr/bin/vigie-agent")), (0o755, 0, 0));
    assert_eq!(stat(&root.join("usr/bin/vigie-collector")), (0o755, 0, 0));
    let conf = root.join("etc/vigie/agent.toml");
    assert_eq!(stat(&conf), (0o644, 0, 0));
    let conffiles = in_root(
        &root,
        &["dpkg-query", "-W", "-f", "${Conffiles}", "vigie-agent"],
    );
    assert!(conffiles.contains("/etc/vigie/agent.toml "), "{conffiles}");
    for unit in [
        "vigie-agent-prober.service",
        "vigie-agent-shipper.service",
        "vigie-agent.target",
        "vigie-collector.service",
    ] {
        assert_eq!(
            stat(&root.join("lib/systemd/system").join(unit)),
            (0o644, 0, 0)
        );
        // The root's systemd parses them (its own unit search path, its own users).
        let out = run(chroot(&root)
            .args(["systemd-analyze", "verify", "--man=no"])
            .arg(format!("/lib/systemd/system/{unit}")));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && err.trim().is_empty(),
            "{unit}: {err}"
        );
    }
    // The installed binaries run inside the root, as its users.
    let help = in_root(&root, &["vigie-agent", "--help"]);
    assert!(help.contains("enroll"), "{help}");
    in_root(
        &root,
        &[
            "setpriv",
            "--reuid=vigie-collector",
            "--regid=vigie-collector",
            "--clear-groups",
            "vigie-collector",
            "init",
            "--data-dir",
            "/var/lib/vigie-collector",
            "--san",
            "collector.mairie.test",
        ],
    );
    let ca_before = std::fs::read(data.join("ca.key")).unwrap();
    assert_eq!(stat(&data.join("ca.key")).1, vigie_collector);

    // State of a running agent, and the admin's edit of the conffile.
    std::fs::write(state.join("enrollment.json"), b"{\"kept\": true}").unwrap();
    std::fs::write(state.join("spool/00000000000000000001.report"), b"signed").unwrap();
    let edited = std::fs::read_to_string(&conf)
        .unwrap()
        .replace("interval_secs = 300", "interval_secs = 600");
    assert!(edited.contains("interval_secs = 600"));
    std::fs::write(&conf, &edited).unwrap();

    // Upgrade with the root's dpkg: the edit stays, the new example lands beside it, state kept.
    let (agent2, collector2) = package(&tmp.path().join("v2"), "0.1.0-2", "# new in 0.1.0-2");
    let (a2, c2) = (copy_in(&agent2), copy_in(&collector2));
    let log = in_root(&root, &["dpkg", "--force-confold", "-i", &a2, &c2]);
    for package in ["vigie-agent", "vigie-collector"] {
        let status = status_of(&root, package);
        assert!(
            status.starts_with("install ok installed 0.1.0-2"),
            "{status}\n{log}"
        );
    }
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), edited, "{log}");
    let dist = std::fs::read_to_string(root.join("etc/vigie/agent.toml.dpkg-dist")).unwrap();
    assert!(dist.contains("# new in 0.1.0-2") && dist.contains("interval_secs = 300"));
    assert_eq!(
        std::fs::read(state.join("enrollment.json")).unwrap(),
        b"{\"kept\": true}"
    );
    assert!(state.join("spool/00000000000000000001.report").exists());
    assert_eq!(std::fs::read(data.join("ca.key")).unwrap(), ca_before);
    assert_eq!(stat(&state), (0o710, vigie, push));
    assert_eq!(ids(&root.join("etc/passwd"))["vigie"].0, vigie, "same uid");

    // Purge: the agent forgets the host; the collector keeps its CA and store on purpose.
    let purge = in_root(
        &root,
        &["dpkg", "--purge", "vigie-agent", "vigie-collector"],
    );
    assert!(purge.contains("/var/lib/vigie-collector kept"), "{purge}");
    for gone in [
        "usr/bin/vigie-agent",
        "usr/bin/vigie-collector",
        "etc/vigie",
        "lib/systemd/system/vigie-agent-prober.service",
        "lib/systemd/system/vigie-collector.service",
        "usr/lib/sysusers.d/vigie-agent.conf",
        "var/lib/vigie-agent",
    ] {
        assert!(!root.join(gone).exists(), "{gone} left after purge");
    }
    assert!(data.join("ca.key").exists(), "the collector's CA is kept");
    for package in ["vigie-agent", "vigie-collector"] {
        let status = status_of(&root, package);
        assert!(
            status.is_empty() || status.contains("not-installed"),
            "{package}: {status}"
        );
    }
    let audit = in_root(&root, &["dpkg", "--audit"]);
    assert!(audit.trim().is_empty(), "{audit}");

    // Nothing of this reached the machine running the test.
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), host_passwd);
    assert_eq!(std::fs::read("/etc/group").unwrap(), host_group);
    eprintln!(
        "Debian root ready in {:.1} s, whole test {:.1} s",
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
