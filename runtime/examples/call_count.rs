//! Makes `N` calls into one component, for counting the instructions a call
//! costs under callgrind: `bench/callgrind.py` runs it with `N` and `11 N`
//! calls and divides the difference by `10 N`, so loading and compiling
//! cancel out.
//!
//! usage: call_count WHAT COMPONENT N [KEY=VALUE...]
//!
//! - `model-warm`, `model-fresh`: Iris's one-row request on a warm pooled
//!   instance, or on a fresh instance per call;
//! - `policy-request`, `policy-response`: the policy's `on-request` (Iris's
//!   request) or `on-response` (Iris's answer), on a warm instance, with the
//!   context a request with an API key of tenant `bench` has.
//!
//! `KEY=VALUE` pairs are the component's `[config]`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use edgeserve_runtime::limits::{Isolation, ModelDefaults, RuntimeConfig};
use edgeserve_runtime::policy_abi::{AuthMethod, PolicyContext};
use edgeserve_runtime::repository::ModelSettings;
use edgeserve_runtime::{LoadedModel, Runtime};
use edgeserve_test_support::iris_request;

fn context() -> PolicyContext {
    PolicyContext {
        request_id: "5b0c2f8e-1d4a-4c61-9a57-0f3e2d1c4b5a".into(),
        tenant: Some("bench".into()),
        principal: Some("bench".into()),
        auth_method: AuthMethod::ApiKey,
        model: "iris".into(),
        version: "1".into(),
        headers: Vec::new(),
        client_address: "127.0.0.1:50000".into(),
    }
}

async fn load(
    runtime: &Runtime,
    path: &str,
    isolation: Isolation,
    config: BTreeMap<String, String>,
) -> Result<LoadedModel> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let mut settings = ModelSettings::from_defaults(&ModelDefaults::default());
    settings.isolation = isolation;
    settings.memory = edgeserve_runtime::units::ByteSize(16 << 20);
    settings.config = config;
    Ok(LoadedModel::load(runtime, "counted", "1", &bytes, settings).await?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [what, path, n, config @ ..] = args.as_slice() else {
        bail!("usage: call_count WHAT COMPONENT N [KEY=VALUE...]");
    };
    let n: usize = n.parse().context("N must be a number")?;
    let config = config
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .context("config must be KEY=VALUE")
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    // A small pool: valgrind cannot map the default reservation.
    let runtime = Runtime::new(&RuntimeConfig {
        instance_slots: 8,
        max_memory: edgeserve_runtime::units::ByteSize(512 << 20),
        memory_reservation: edgeserve_runtime::units::ByteSize(512 << 20),
        ..Default::default()
    })?;
    match what.as_str() {
        "model-warm" | "model-fresh" => {
            let isolation = if what == "model-warm" {
                Isolation::Pooled
            } else {
                Isolation::Fresh
            };
            let model = load(&runtime, path, isolation, config).await?;
            for _ in 0..n {
                // A request per call, as a server decodes one per request.
                model.infer(&iris_request(), "").await?;
            }
        }
        "policy-request" | "policy-response" => {
            let iris = load(
                &runtime,
                edgeserve_test_support::components::IRIS,
                Isolation::Pooled,
                BTreeMap::new(),
            )
            .await?;
            let policy = load(&runtime, path, Isolation::Pooled, config).await?;
            let (ctx, req) = (context(), iris_request());
            let resp = iris.infer(&req, "").await?;
            for _ in 0..n {
                if what == "policy-request" {
                    policy.on_request(&ctx, &req).await?;
                } else {
                    policy.on_response(&ctx, &req, &resp).await?;
                }
            }
        }
        other => bail!("unknown WHAT '{other}'"),
    }
    Ok(())
}
