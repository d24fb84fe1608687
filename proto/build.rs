//! Compiles `proto/**/*.proto` with protox (a pure-Rust protobuf compiler, so no `protoc` is
//! needed on the build machine) and generates the Rust types with prost-build.

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
    prost_build::Config::new()
        .out_dir(&out_dir)
        .compile_fds(descriptors)?;
    Ok(())
}
