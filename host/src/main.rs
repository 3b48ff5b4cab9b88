//! The `edgeserve` command line: parses flags and config, then calls the
//! library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use edgeserve::config::{ModelDefaults, ServeConfig};
use edgeserve::registry::Registry;
use edgeserve::repository::{self, load_repository};
use edgeserve::runtime::Runtime;
use edgeserve::server::{AppState, ListenerOptions, load_tls_config, serve};
use edgeserve::units::ByteSize;

/// Serve machine-learning models as sandboxed WebAssembly components over
/// the Open Inference Protocol (KServe v2).
#[derive(Parser, Debug)]
#[command(name = "edgeserve", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load a model repository and serve it over HTTP (KServe v2 / OIP).
    Serve(ServeArgs),
    /// Show what a component is: world, WIT version, imports, exports,
    /// metadata and sha256.
    Inspect(InspectArgs),
    /// Validate every version in a model repository without serving; exits
    /// 0 only when every version would load.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Model repository folder (one folder per model, one per version).
    #[arg(long, short = 'r', env = "EDGESERVE_REPOSITORY")]
    repository: Option<PathBuf>,
    /// Address for the data plane [default: 127.0.0.1:8080].
    #[arg(long, short = 'l', env = "EDGESERVE_LISTEN")]
    listen: Option<SocketAddr>,
    /// TOML config file; flags override it.
    #[arg(long, short = 'c', env = "EDGESERVE_CONFIG")]
    config: Option<PathBuf>,
    /// PEM certificate chain: serve HTTPS (needs --tls-key).
    #[arg(long, env = "EDGESERVE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "EDGESERVE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest request body, e.g. 32MiB.
    #[arg(long, env = "EDGESERVE_MAX_BODY")]
    max_body: Option<ByteSize>,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The component file (.wasm).
    component: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The model repository folder.
    repository: PathBuf,
    /// TOML config file (for runtime settings and model defaults).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGESERVE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("edgeserve: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => run_serve(args).await,
            Command::Inspect(args) => run_inspect(args).await,
            Command::Check(args) => run_check(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("edgeserve: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(path: Option<&PathBuf>) -> Result<ServeConfig> {
    Ok(match path {
        Some(p) => ServeConfig::from_file(p)?,
        None => ServeConfig::default(),
    })
}

async fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    let mut cfg = load_config(args.config.as_ref())?;
    if let Some(r) = args.repository {
        cfg.repository.path = Some(r);
    }
    if let Some(l) = args.listen {
        cfg.server.listen = l;
    }
    if let Some(c) = args.tls_cert {
        cfg.server.tls_cert = Some(c);
    }
    if let Some(k) = args.tls_key {
        cfg.server.tls_key = Some(k);
    }
    if let Some(b) = args.max_body {
        cfg.server.max_body = b;
    }
    let Some(repo) = cfg.repository.path.clone() else {
        bail!("no model repository: pass --repository DIR or set [repository] path in --config");
    };
    let tls = match (&cfg.server.tls_cert, &cfg.server.tls_key) {
        (Some(c), Some(k)) => Some(load_tls_config(c, k).context("TLS setup")?),
        (None, None) => None,
        _ => bail!("TLS needs both a certificate and a key"),
    };

    let rt = Runtime::new(&cfg.runtime)?;
    let started = Instant::now();
    let report = load_repository(&rt, &repo, &cfg.model_defaults)
        .await
        .with_context(|| format!("cannot read model repository {}", repo.display()))?;
    for m in &report.loaded {
        tracing::info!(model = %m.name, version = %m.version, sha256 = %m.digest, isolation = ?m.settings.isolation, "loaded");
    }
    for r in &report.refused {
        tracing::error!(what = %r.what, reason = %r.error, "refused");
    }
    tracing::info!(
        loaded = report.loaded.len(),
        refused = report.refused.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "model repository {} loaded",
        repo.display()
    );

    let registry = Arc::new(Registry::new(report.loaded));
    let state = Arc::new(AppState::new(
        registry,
        cfg.server.max_body,
        cfg.server.body_read_timeout.0,
    ));
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{addr}");
    let opts = ListenerOptions {
        header_read_timeout: cfg.server.header_read_timeout.0,
        shutdown_timeout: cfg.server.shutdown_timeout.0,
        max_connections: cfg.server.max_connections,
        tls,
    };
    let drained = serve(listener, state, opts, shutdown_signal()).await;
    tracing::info!(drained, "stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received");
}

async fn run_inspect(args: InspectArgs) -> Result<ExitCode> {
    let bytes = std::fs::read(&args.component)
        .with_context(|| format!("cannot read {}", args.component.display()))?;
    let rt = Runtime::new(&Default::default())?;
    let report = edgeserve::inspect::inspect(&rt, &bytes)
        .await
        .with_context(|| format!("{} is not a loadable component", args.component.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(if report.compatible {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn run_check(args: CheckArgs) -> Result<ExitCode> {
    let cfg = load_config(args.config.as_ref())?;
    let defaults: &ModelDefaults = &cfg.model_defaults;
    let rt = Runtime::new(&cfg.runtime)?;
    let (sources, refused) = repository::scan(&args.repository)
        .with_context(|| format!("cannot read model repository {}", args.repository.display()))?;
    let mut failures = refused.len();
    for r in &refused {
        println!("FAIL  {}: {}", r.what, r.error);
    }
    for src in &sources {
        let t = Instant::now();
        match repository::load_version(&rt, src, defaults).await {
            Ok(m) => println!(
                "ok    {}@{}  sha256 {}  ({} ms)",
                src.name,
                src.version,
                &m.digest[..16],
                t.elapsed().as_millis()
            ),
            Err(e) => {
                failures += 1;
                println!("FAIL  {}@{}: {e}", src.name, src.version);
            }
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
