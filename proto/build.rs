//! Compiles `proto/**/*.proto` with protox (a pure-Rust protobuf compiler, so no `protoc` is
//! needed on the build machine) and generates the Rust types with prost-build and the gRPC
//! client and server of `ConfigService` with tonic.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/glitch/events/v1/events.proto",
        "proto/glitch/config/v1/config.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .out_dir(&out_dir)
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
