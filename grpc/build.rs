//! Compiles `proto/inference.proto` with protox (pure Rust, no protoc) and
//! generates the prost messages and the tonic service.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/inference.proto");
    let fds = protox::compile(["inference.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .build_transport(false)
        // `bytes` fields as `Bytes`: raw tensor data stays a slice of the
        // message it arrived in.
        .bytes(".inference")
        .compile_fds(fds)?;
    Ok(())
}
