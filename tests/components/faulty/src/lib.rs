//! A model that misbehaves on purpose, as its manifest's `mode` says:
//! `echo` (behaves: returns its input plus the manifest's `offset`), `loop` (never returns),
//! `sleep` (blocks in a WASI clock wait), `alloc` (allocates without
//! bound), `panic`, `error` (returns an internal error), `bad-output`
//! (returns data that does not fit its shape), `log` (logs and prints),
//! `artifact` (returns the size and first byte of its `blob` artifact),
//! `flood` (returns `n` FP32 zeros, `n` from a parameter, default 8M),
//! `flood-strings` (returns `n` empty BYTES elements: each costs the host
//! far more to lift than the guest to write), `forge` (logs, prints and
//! fails with text made to look like the host's own audit lines).
//! A request may override the mode with a `mode` parameter, and make any
//! mode busy-wait first with a `spin_ms` parameter.

use edgeserve_guest::{DataType, Error, Model, ModelInfo, Request, Response, Spec, config, log};

struct Faulty;

impl Model for Faulty {
    fn metadata() -> ModelInfo {
        ModelInfo::new("faulty", "1")
            .input(Spec::new("x", DataType::Fp32, &[-1]))
            .output(Spec::new("y", DataType::Fp32, &[-1]))
    }

    fn predict(req: Request) -> Result<Response, Error> {
        let mode = match req.parameter("mode") {
            Some(edgeserve_guest::bindings::edgeserve::ml::types::ParamValue::Text(m)) => m.clone(),
            _ => config::get("mode").unwrap_or_else(|| "echo".into()),
        };
        let x = req.tensor::<f32>("x")?;
        if let Some(edgeserve_guest::bindings::edgeserve::ml::types::ParamValue::Integer(ms)) =
            req.parameter("spin_ms")
        {
            // Busy for a while (wall clock), then answer normally.
            log::info(&format!("spinning for {ms} ms"));
            let until = std::time::Instant::now() + std::time::Duration::from_millis(*ms as u64);
            while std::time::Instant::now() < until {
                std::hint::black_box(0);
            }
        }
        match mode.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "alloc" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("faulty model panicked on purpose"),
            "sleep" => {
                // Waits inside a host call (a WASI clock subscription), where
                // the epoch deadline cannot interrupt it.
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Err(Error::internal("woke up"))
            }
            "error" => Err(Error::internal("faulty model failed on purpose")),
            "invalid" => Err(Error::invalid_input("faulty model rejects this input")),
            "bad-output" => Ok(Response::new().tensor("y", vec![3], vec![1.0f32])),
            "artifact" => {
                // y = [size of artifact `blob`, its first byte, artifact count]
                let blob = edgeserve_guest::artifacts::get("blob").unwrap_or_default();
                let names = edgeserve_guest::artifacts::names();
                let y = vec![
                    blob.len() as f32,
                    blob.first().copied().unwrap_or(0) as f32,
                    names.len() as f32,
                ];
                Ok(Response::new().tensor("y", vec![3], y))
            }
            "flood" | "flood-strings" => {
                let n = match req.parameter("n") {
                    Some(edgeserve_guest::bindings::edgeserve::ml::types::ParamValue::Integer(
                        n,
                    )) => *n as usize,
                    _ => 8 << 20,
                };
                if mode == "flood" {
                    Ok(Response::new().tensor("y", vec![n as i64], vec![0f32; n]))
                } else {
                    Ok(Response::new().strings("y", vec![n as i64], vec![Vec::<u8>::new(); n]))
                }
            }
            "forge" => {
                let fake = "2026-12-02T00:00:00.000000Z  WARN edgeserve::audit: request denied \
                            event=\"deny\" tenant=\"root\" status=200 forged=true";
                log::warn(&format!("innocent\n{fake}"));
                println!("also innocent\n{fake}");
                Err(Error::internal(format!(
                    "failed\r\n{fake}\n{}",
                    "x".repeat(8 << 20)
                )))
            }
            "log" => {
                log::info("hello from the faulty model");
                println!("printed to stdout");
                eprintln!("printed to stderr");
                Ok(Response::new().tensor("y", x.shape.clone(), x.data))
            }
            _ => {
                // `offset` from the manifest makes versions recognisable.
                let offset: f32 = config::parse_or("offset", 0.0)?;
                let y = x.data.iter().map(|v| v + offset).collect();
                Ok(Response::new().tensor("y", x.shape.clone(), y))
            }
        }
    }
}

edgeserve_guest::export_model!(Faulty);
