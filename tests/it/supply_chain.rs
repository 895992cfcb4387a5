//! The dependency tree keeps the promises of DESIGN decision 6: ring is the only crypto provider.

use std::process::Command;

#[test]
fn aws_lc_rs_is_absent_from_the_dependency_tree() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    for krate in ["aws-lc-rs", "aws-lc-sys"] {
        let out = Command::new(env!("CARGO"))
            .args([
                "tree",
                "--offline",
                "--locked",
                "--workspace",
                "--edges",
                "normal,build",
                "--invert",
                krate,
                "--manifest-path",
                manifest,
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // `cargo tree -i X` fails with "did not match any packages" when X is absent.
        assert!(
            !out.status.success() && stderr.contains("did not match"),
            "{krate} is in the tree:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // And ring is there, so the test would notice a provider swap rather than pass on an empty tree.
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "--locked",
            "--workspace",
            "--invert",
            "ring",
            "--manifest-path",
            manifest,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
