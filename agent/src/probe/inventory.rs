//! The inventory probe: hostname, machine id, OS release, kernel, architecture, uptime, CPUs,
//! memory and disks, read with `sysinfo` and from files under `ProbeCx::root`.
//!
//! Under a foreign root (`check --root DIR`) only what the mounted tree itself holds is reported
//! (hostname, machine id, os-release, role): the live facts (kernel, architecture, uptime, CPUs,
//! memory, disks) describe the machine running the agent, not that tree, so they stay empty or
//! zero rather than pretend. Not here: installed packages (a later probe).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, Disks, System};
use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::{Disk, Domain, Inventory};

use super::fsutil::{read_bounded, resolve_in_root, unix_path};
use super::{os_release, ConfigError, Probe, ProbeCx, ProbeError};

const MAX_SMALL_FILE_BYTES: u64 = 4096;

/// `[probes.inventory]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventoryConfig {
    /// Whether the inventory probe runs.
    pub enabled: bool,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

impl InventoryConfig {
    /// Builds the probe; nothing to validate yet.
    pub fn build(&self) -> Result<Box<dyn Probe>, ConfigError> {
        Ok(Box::new(InventoryProbe))
    }
}

struct InventoryProbe;

#[async_trait]
impl Probe for InventoryProbe {
    fn id(&self) -> &'static str {
        "inventory.sysinfo"
    }

    fn domain(&self) -> Domain {
        Domain::Inventory
    }

    async fn collect(&self, cx: &ProbeCx) -> Result<State, ProbeError> {
        let cx = cx.clone();
        // sysinfo and the file reads block; keep them off the async workers.
        tokio::task::spawn_blocking(move || State::Inventory(gather(&cx)))
            .await
            .map_err(|e| ProbeError::Cancelled {
                probe: "inventory.sysinfo".to_owned(),
                message: e.to_string(),
            })
    }
}

fn gather(cx: &ProbeCx) -> Inventory {
    let os = os_release::read(&cx.root).unwrap_or_default();
    let mut inv = Inventory {
        machine_id: small_file(cx, "/etc/machine-id"),
        os_id: os.id,
        os_version_id: os.version_id,
        os_pretty_name: os.pretty_name,
        os_codename: os.version_codename,
        role: cx.role.clone().unwrap_or_default(),
        ..Inventory::default()
    };
    if !cx.is_live_root() {
        inv.hostname = small_file(cx, "/etc/hostname");
        return inv;
    }
    inv.hostname = System::host_name().unwrap_or_else(|| small_file(cx, "/etc/hostname"));
    inv.kernel_version = System::kernel_version().unwrap_or_default();
    inv.architecture = System::cpu_arch();
    inv.uptime_secs = System::uptime();
    inv.boot_time_ms = i64::try_from(System::boot_time())
        .unwrap_or(0)
        .saturating_mul(1000);
    let mut sys = System::new();
    sys.refresh_cpu_list(CpuRefreshKind::nothing());
    sys.refresh_memory();
    inv.cpu_count = u32::try_from(sys.cpus().len()).unwrap_or(u32::MAX);
    inv.cpu_brand = sys
        .cpus()
        .first()
        .map(|c| c.brand().trim().to_owned())
        .unwrap_or_default();
    inv.memory_total_bytes = sys.total_memory();
    inv.memory_available_bytes = sys.available_memory();
    inv.disks = Disks::new_with_refreshed_list()
        .list()
        .iter()
        .map(|d| Disk {
            mount_point: Some(unix_path(d.mount_point())),
            file_system: d.file_system().to_string_lossy().into_owned(),
            total_bytes: d.total_space(),
            available_bytes: d.available_space(),
            removable: d.is_removable(),
        })
        .collect();
    inv
}

/// First line of a small file under the root, trimmed; empty when unreadable.
fn small_file(cx: &ProbeCx, abs: &str) -> String {
    match read_bounded(&resolve_in_root(&cx.root, abs), MAX_SMALL_FILE_BYTES) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        Err(error) => {
            tracing::debug!(path = abs, error = %error, "Inventory file unreadable.");
            String::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cx(root: &std::path::Path) -> ProbeCx {
        ProbeCx {
            root: root.to_path_buf(),
            state_dir: None,
            now_ms: 0,
            role: Some("server".into()),
            command_timeout: Duration::from_secs(5),
        }
    }

    async fn inventory(root: &std::path::Path) -> Inventory {
        let probe = InventoryConfig::default().build().unwrap();
        match probe.collect(&cx(root)).await.unwrap() {
            State::Inventory(inv) => inv,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[track_caller]
    fn check(inv: &Inventory, live: bool) {
        assert!(!inv.hostname.is_empty());
        assert_eq!(inv.role, "server");
        if live {
            assert!(inv.cpu_count > 0);
            assert!(inv.memory_total_bytes > 0);
            assert!(!inv.kernel_version.is_empty());
            assert!(inv.disks.iter().all(|d| d.mount_point.is_some()));
        } else {
            assert_eq!(inv.cpu_count, 0);
            assert_eq!(inv.uptime_secs, 0);
            assert_eq!(inv.memory_total_bytes, 0);
            assert!(inv.disks.is_empty());
            assert!(inv.kernel_version.is_empty());
        }
    }

    #[tokio::test]
    async fn this_machine() {
        let inv = inventory(std::path::Path::new("/")).await;
        check(&inv, true);
        assert!(!inv.os_id.is_empty());
    }

    #[tokio::test]
    async fn mounted_tree_reports_only_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        std::fs::write(root.join("etc/hostname"), "mairie-srv01\n").unwrap();
        std::fs::write(
            root.join("etc/machine-id"),
            "0123456789abcdef0123456789abcdef\n",
        )
        .unwrap();
        std::fs::write(
            root.join("usr/lib/os-release"),
            "ID=ubuntu\nVERSION_ID=\"22.04\"\nUBUNTU_CODENAME=jammy\n",
        )
        .unwrap();
        std::os::unix::fs::symlink("/usr/lib/os-release", root.join("etc/os-release")).unwrap();
        let inv = inventory(root).await;
        check(&inv, false);
        assert_eq!(inv.hostname, "mairie-srv01");
        assert_eq!(inv.machine_id, "0123456789abcdef0123456789abcdef");
        assert_eq!(
            (inv.os_id.as_str(), inv.os_version_id.as_str()),
            ("ubuntu", "22.04")
        );
        assert_eq!(inv.os_codename, "jammy");
    }
}
