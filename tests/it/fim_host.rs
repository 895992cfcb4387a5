//! The host tree and agent configuration the file-integrity tests share: a small /etc, /usr/bin,
//! /usr/sbin and /boot under a temporary root, a dpkg database that is not busy, and an agent
//! watching the four directories with patches and backups off to keep cycles short.

use crate::harness::ok;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Creates `top/host` with the watched directories and a few files (`usr/bin/tool` holds `tool`),
/// and returns its path.
pub fn host_tree(top: &Path, tool: &[u8]) -> PathBuf {
    let host = top.join("host");
    for d in [
        "etc/ssh",
        "usr/bin",
        "usr/sbin",
        "boot",
        "var/lib/dpkg/info",
        "var/lib/dpkg/updates",
    ] {
        fs::create_dir_all(host.join(d)).unwrap();
    }
    fs::write(host.join("etc/passwd"), "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    fs::write(host.join("etc/ssh/sshd_config"), "PermitRootLogin no\n").unwrap();
    fs::write(host.join("usr/bin/tool"), tool).unwrap();
    fs::write(host.join("usr/sbin/daemon"), "#!/bin/sh\n").unwrap();
    fs::write(host.join("boot/vmlinuz"), "kernel").unwrap();
    fs::write(host.join("var/lib/dpkg/status"), "").unwrap();
    fs::write(host.join("var/lib/dpkg/available"), "").unwrap();
    // dpkg last wrote its database an hour ago: it is not busy now.
    ok(Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(host.join("var/lib/dpkg/status")));
    host
}

/// An agent configuration probing every `interval` seconds with file integrity rooted at `host`,
/// `fim_extra` lines added to `[probes.fim]`, watching /etc, /usr/bin, /usr/sbin, /boot and
/// `paths`.
pub fn agent_config(host: &Path, interval: u64, fim_extra: &str, paths: &[&str]) -> String {
    let mut config = format!(
        "interval_secs = {interval}\nheartbeat_secs = {interval}\nmax_backoff_secs = 1\n\
         role = \"server\"\n\
         [probes.patches]\nenabled = false\n[probes.backups]\nenabled = false\n\
         [probes.fim]\nroot = \"{}\"\ndebounce_ms = 50\n{fim_extra}",
        host.display()
    );
    for p in ["/etc", "/usr/bin", "/usr/sbin", "/boot"]
        .iter()
        .chain(paths)
    {
        config.push_str(&format!("[[probes.fim.paths]]\npath = \"{p}\"\n"));
    }
    config
}
