//! Per-call sandbox cost for the Iris component: a fresh instance per call
//! (instantiate + predict + drop) with and without the pooling allocator,
//! and a call on a warm pooled instance.
//!
//! Run: cargo bench -p edgeserve-runtime --bench sandbox
//!
//! `SANDBOX_BENCH_IRIS=path/to/iris.wasm` measures another build of Iris
//! (e.g. one built for an older WIT version) on this host.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use edgeserve_runtime::limits::{Isolation, ModelDefaults, RuntimeConfig};
use edgeserve_runtime::repository::ModelSettings;
use edgeserve_runtime::{LoadedModel, Runtime};
use edgeserve_test_support::{components, iris_request};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let path = std::env::var("SANDBOX_BENCH_IRIS").unwrap_or_else(|_| components::IRIS.into());
    let bytes = std::fs::read(&path).expect("iris component");
    let mut group = c.benchmark_group("iris");
    group.measurement_time(Duration::from_secs(5));
    for (label, pooling, isolation) in [
        ("fresh instance, pooling allocator", true, Isolation::Fresh),
        (
            "fresh instance, on-demand allocator",
            false,
            Isolation::Fresh,
        ),
        ("warm pooled instance", true, Isolation::Pooled),
    ] {
        let runtime = Runtime::new(&RuntimeConfig {
            pooling,
            ..Default::default()
        })
        .expect("runtime");
        let mut settings = ModelSettings::from_defaults(&ModelDefaults::default());
        settings.isolation = isolation;
        settings.memory = edgeserve_runtime::units::ByteSize(16 << 20);
        let model = rt
            .block_on(LoadedModel::load(&runtime, "iris", "1", &bytes, settings))
            .expect("load iris");
        let template = iris_request();
        group.bench_function(label, |b| {
            b.to_async(&rt).iter(|| {
                // A request per call, as a server decodes one per request.
                let (model, req) = (&model, template.clone());
                async move { model.infer(&req, "").await.expect("predict") }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
