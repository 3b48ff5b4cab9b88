//! `edgeserve check`: loads every version of a model repository the way
//! `serve` would (compile, link, metadata, smoke test), without serving,
//! and prints what each takes and answers. It fills the same AOT cache as
//! `serve` with the same state folder, so the first start does not compile
//! again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use edgeserve_node::deploy::StateStore;
use edgeserve_node::repository;
use edgeserve_node::tensor::TensorSpec;
use edgeserve_runtime::{AotOutcome, LoadedModel, Runtime};

/// `edgeserve check` flags.
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The model repository folder.
    repository: PathBuf,
    /// TOML config file (for runtime settings and model defaults).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// The state folder `serve` will use: compiled components go into its
    /// AOT cache, so `serve` starts without compiling them again [default:
    /// the configuration's, else ./edgeserve-state].
    #[arg(long, env = "EDGESERVE_STATE_DIR")]
    state_dir: Option<PathBuf>,
}

/// Runs the check; exit 0 only when every version would load.
pub(crate) async fn run(args: CheckArgs) -> Result<ExitCode> {
    let mut cfg = crate::load_config(args.config.as_ref())?;
    if let Some(dir) = args.state_dir {
        cfg.state.dir = dir;
    }
    let mut rt = Runtime::new(&cfg.runtime)?;
    if cfg.state.aot_cache {
        // The cache only saves `serve` time: a state folder that cannot be
        // used (read-only checkout, another user's) never fails the check.
        if let Err(e) = enable_cache(&mut rt, &cfg.state.dir) {
            tracing::warn!("checking without the AOT cache: {e:#}");
        }
    }
    let (sources, refused) = repository::scan(&args.repository)
        .with_context(|| format!("cannot read model repository {}", args.repository.display()))?;
    let mut failures = refused.len();
    for r in &refused {
        println!("FAIL  {}: {}", r.what, r.error);
    }
    let mut policies: Vec<String> = Vec::new();
    let mut bindings: Vec<(String, String, repository::PolicyBinding)> = cfg
        .policies
        .iter()
        .map(|b| {
            (
                "the configuration's [[policies]]".into(),
                "every request".into(),
                b.clone(),
            )
        })
        .collect();
    for src in &sources {
        let t = Instant::now();
        match repository::load_version(&rt, src, &cfg.model_defaults).await {
            Ok(m) => {
                print_loaded(&m, t.elapsed().as_millis());
                if m.kind == repository::Kind::Policy {
                    policies.push(src.name.clone());
                }
                for b in &m.settings.policies {
                    let who = format!("model {}@{}", src.name, src.version);
                    let affected = format!("every request to {}", src.name);
                    bindings.push((who, affected, b.clone()));
                }
            }
            Err(e) => {
                failures += 1;
                println!("FAIL  {}@{}: {e}", src.name, src.version);
            }
        }
    }
    policies.dedup();
    let names: Vec<&str> = policies.iter().map(String::as_str).collect();
    for (who, affected, b) in &bindings {
        if let Some(message) = repository::missing_policy(who, affected, b, &names) {
            failures += 1;
            println!("FAIL  {message}");
        }
    }
    println!(
        "{} version(s) checked, {} failed",
        sources.len() + refused.len(),
        failures
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Compiles into the AOT cache of the state folder `dir`.
fn enable_cache(rt: &mut Runtime, dir: &std::path::Path) -> Result<()> {
    let store = StateStore::open(dir)
        .with_context(|| format!("cannot open the state folder {}", dir.display()))?;
    let secret = store.node_key()?;
    rt.enable_aot_cache(dir.join("aot"), &secret)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot use the AOT cache in {}", dir.display()))
}

/// One loaded version: how long it took and how it was compiled, then
/// (for a model) each input and output a request deals with.
fn print_loaded(m: &LoadedModel, millis: u128) {
    let how = match &m.aot {
        AotOutcome::Hit => "from the AOT cache",
        AotOutcome::Shared => "compiled already for another version",
        AotOutcome::NoCache => "compiled, no AOT cache",
        AotOutcome::Compiled | AotOutcome::Recompiled(_) => "compiled into the AOT cache",
    };
    let kind = match m.kind {
        repository::Kind::Policy => "policy",
        repository::Kind::Model => "model",
    };
    println!("ok    {}@{}  {kind}, {how}, {millis} ms", m.name, m.version);
    if m.kind == repository::Kind::Model {
        let width = m
            .metadata
            .inputs
            .iter()
            .chain(&m.metadata.outputs)
            .map(|s| s.name.len())
            .max()
            .unwrap_or(0);
        let line = |dir: &str, s: &TensorSpec| {
            println!(
                "        {dir:<6} {:<width$}  {:<5} {:?}",
                s.name,
                s.datatype.as_str(),
                s.shape
            );
        };
        m.metadata.inputs.iter().for_each(|s| line("input", s));
        m.metadata.outputs.iter().for_each(|s| line("output", s));
    }
}
