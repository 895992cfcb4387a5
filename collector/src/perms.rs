//! The paths the collector trusts and the rule each must follow (`vigie_proto::perms`): the data
//! directory, its configuration, its store and every key. `serve` refuses to start when one is
//! writable by another user or belongs to the wrong one; `doctor` reports them all.

use std::path::{Path, PathBuf};

use vigie_proto::perms::Rule;
pub use vigie_proto::perms::{refuse_unsafe, UnsafePaths};

use crate::config::CONFIG_FILE;
use crate::datadir::{CA_KEY, HTTPS_KEY, SERVER_KEY, SNAPSHOT_KEY, STORE_DIR};

/// The data directory, its configuration, its store and its keys.
pub fn data_paths(data_dir: &Path) -> Vec<(PathBuf, Rule)> {
    let mut out = vec![
        (data_dir.to_path_buf(), Rule::NotWritable),
        (data_dir.join(CONFIG_FILE), Rule::NotWritable),
        (data_dir.join(STORE_DIR), Rule::NotWritable),
    ];
    for key in [CA_KEY, SERVER_KEY, SNAPSHOT_KEY, HTTPS_KEY] {
        out.push((data_dir.join(key), Rule::Private));
    }
    out
}
