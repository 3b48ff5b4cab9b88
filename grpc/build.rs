//! Compiles `proto/inference.proto` with protox (pure Rust, no protoc) and
//! generates the prost messages, the tonic service and a client (for
//! tests and tools; it needs tonic's `channel` feature to connect).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/inference.proto");
    let fds = protox::compile(["inference.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(false)
        // `bytes` fields as `Bytes`: raw tensor data stays a slice of the
        // message it arrived in.
        .bytes(".inference")
        .compile_fds(fds)?;
    Ok(())
}
