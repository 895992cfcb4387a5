//! Compiles `proto/vigie/v1/*.proto` with protox (pure Rust, no system `protoc`), then generates prost
//! messages, tonic stubs (per Cargo feature) and the proto3 JSON mapping (pbjson).

use std::{env, error::Error, fs, path::PathBuf};

use prost::Message;

const PROTOS: &[&str] = &[
    "vigie/v1/transport.proto",
    "vigie/v1/common.proto",
    "vigie/v1/auth.proto",
    "vigie/v1/accounts.proto",
    "vigie/v1/ssh.proto",
    "vigie/v1/backups.proto",
    "vigie/v1/antivirus.proto",
    "vigie/v1/fim.proto",
    "vigie/v1/evidence.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    for p in PROTOS {
        println!("cargo:rerun-if-changed=proto/{p}");
    }
    let out = PathBuf::from(env::var("OUT_DIR")?);
    let fds = protox::compile(PROTOS, ["proto"])?;
    let fds_bytes = fds.encode_to_vec();
    fs::write(out.join("vigie_descriptor.bin"), &fds_bytes)?;

    tonic_prost_build::configure()
        .build_client(env::var_os("CARGO_FEATURE_CLIENT").is_some())
        .build_server(env::var_os("CARGO_FEATURE_SERVER").is_some())
        .compile_fds(fds)?;

    pbjson_build::Builder::new()
        .register_descriptors(&fds_bytes)?
        .build(&[".vigie.v1"])?;
    Ok(())
}
