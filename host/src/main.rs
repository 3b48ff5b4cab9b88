//! The `edgeserve` command line: parses flags and config, then calls the
//! library.

mod admin_commands;
mod scaffold_commands;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use edgeserve::admin::{self, AdminState};
use edgeserve::config::{ModelDefaults, ServeConfig};
use edgeserve::deploy::{Deployer, StateStore, run_guard, watch_repository};
use edgeserve::repository;
use edgeserve::rescore::{RescoreOptions, rescore, table};
use edgeserve::runtime::{CompileLimits, Runtime};
use edgeserve::security::{Authenticator, PolicyChains, Tenants, hash_api_key};
use edgeserve::server::{
    AppState, ClientAuth, ListenerOptions, RequestLimits, handle, load_tls_config, serve,
};
use edgeserve::telemetry::{Metrics, PredictionLog, Tracing};
use edgeserve::units::ByteSize;
use std::sync::atomic::Ordering;

/// Serve machine-learning models as sandboxed WebAssembly components over
/// the Open Inference Protocol (KServe v2).
#[derive(Parser, Debug)]
#[command(name = "edgeserve", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve models over HTTP (KServe v2 / OIP) from a model repository, with
    /// an admin API for deploys, canaries, shadows and rollbacks.
    Serve(ServeArgs),
    /// Show what a component is: world, WIT version, imports, exports,
    /// metadata and sha256.
    Inspect(InspectArgs),
    /// Validate every version in a model repository without serving; exits
    /// 0 only when every version would load.
    Check(CheckArgs),
    /// Replay a prediction log through a candidate component and compare
    /// answers and latency with what was logged (table, --json, --html).
    Rescore(RescoreArgs),
    /// Print the SHA-256 of an API key (read from standard input), for
    /// `[[auth.api_keys]] sha256` in the server configuration.
    HashKey,
    /// Build a model project (Rust crate, Python module or .onnx file) into
    /// `<out>/<name>/<version>/`, ready for a model repository or deploy.
    Build(scaffold_commands::BuildArgs),
    /// Scaffold a project: `edgeserve new model --lang rust|python|onnx NAME`.
    New(scaffold_commands::NewArgs),
    #[command(flatten)]
    Admin(admin_commands::AdminCommand),
    /// Internal: compile a component read on standard input and write the
    /// artifact to standard output (`serve` runs this in a child process).
    #[command(hide = true)]
    CompileWorker(CompileWorkerArgs),
}

#[derive(Args, Debug)]
struct CompileWorkerArgs {
    /// Address space per pooled linear memory in the server's engine.
    #[arg(long)]
    pooled_memory: Option<u64>,
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
    /// Address for the admin API [default: 127.0.0.1:8082].
    #[arg(long, env = "EDGESERVE_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,
    /// Bearer token for the admin API (required off loopback).
    #[arg(long, env = "EDGESERVE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Do not serve the admin API.
    #[arg(long)]
    no_admin: bool,
    /// Folder for deployment state, deployed versions and the AOT cache
    /// [default: ./edgeserve-state].
    #[arg(long, env = "EDGESERVE_STATE_DIR")]
    state_dir: Option<PathBuf>,
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
struct RescoreArgs {
    /// A prediction-log file or folder (e.g. <state dir>/predictions/iris).
    #[arg(long)]
    log: PathBuf,
    /// The candidate component (.wasm).
    #[arg(long)]
    candidate: PathBuf,
    /// The candidate's manifest (limits, config, artifacts).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// The model to replay when the log holds several.
    #[arg(long)]
    model: Option<String>,
    /// Replay at most this many records.
    #[arg(long)]
    limit: Option<usize>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML report (charts, confusion matrix).
    #[arg(long)]
    html: Option<PathBuf>,
    /// TOML config file (runtime settings and model defaults).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
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

/// Reads a key from standard input (first line) and prints its hash; the key
/// never appears in a process listing or shell history.
fn run_hash_key() -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the key from standard input")?;
    let key = line.trim_end_matches(['\r', '\n']);
    if key.is_empty() {
        bail!("no key on standard input; try: edgeserve hash-key < key.txt");
    }
    println!("{}", hash_api_key(key));
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    edgeserve::allocator::tune_for_serving();
    let cli = Cli::parse();
    if let Command::CompileWorker(args) = &cli.command {
        let settings = edgeserve::runtime::CompileSettings {
            pooled_memory: args.pooled_memory,
        };
        return match edgeserve::runtime::run_compile_worker(settings) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
            }
        };
    }
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
            Command::Rescore(args) => run_rescore(args).await,
            Command::HashKey => run_hash_key(),
            Command::Build(args) => scaffold_commands::build(args),
            Command::New(args) => scaffold_commands::new(args),
            Command::Admin(cmd) => admin_commands::run(cmd).await,
            Command::CompileWorker(_) => unreachable!("handled before the async runtime starts"),
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
    let cfg = match path {
        Some(p) => ServeConfig::from_file(p)?,
        None => ServeConfig::default(),
    };
    cfg.validate().context("invalid configuration")?;
    Ok(cfg)
}

/// The data plane's TLS settings, when it serves HTTPS.
fn data_plane_tls(cfg: &ServeConfig) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let client_auth = cfg
        .server
        .tls_client_ca
        .clone()
        .map(|ca_bundle| ClientAuth {
            ca_bundle,
            required: cfg.server.tls_client_cert_required,
        });
    Ok(match (&cfg.server.tls_cert, &cfg.server.tls_key) {
        (Some(c), Some(k)) => {
            Some(load_tls_config(c, k, client_auth.as_ref()).context("TLS setup")?)
        }
        (None, None) if client_auth.is_some() => {
            bail!("tls_client_ca needs TLS: set tls_cert and tls_key too")
        }
        (None, None) => None,
        _ => bail!("TLS needs both a certificate and a key"),
    })
}

/// Who may call (credentials), under which tenant rules, and the global
/// policy chain.
fn security(cfg: &ServeConfig) -> Result<(Authenticator, Tenants, PolicyChains)> {
    let auth = Authenticator::new(&cfg.auth)?;
    let tenants = Tenants::new(
        &cfg.tenants,
        cfg.auth.default_tenant.as_deref(),
        cfg.auth.require_tenant,
        cfg.server.max_inflight_body.0,
        cfg.server.max_body.0,
    )
    .map_err(|e| anyhow::anyhow!("[[tenants]]: {e}"))?;
    if !tenants.is_empty()
        && cfg.auth.require_tenant == Some(false)
        && cfg.auth.default_tenant.is_none()
    {
        tracing::warn!(
            "[auth] require_tenant = false: callers that map to no tenant skip the tenant rules (models and quotas)"
        );
    }
    let chains = PolicyChains::new(cfg.policies.clone(), cfg.server.max_body.as_usize());
    if !cfg.policies.is_empty() {
        tracing::info!(
            policies = %cfg.policies.iter().map(|b| b.policy.as_str()).collect::<Vec<_>>().join(" -> "),
            "global policy chain"
        );
    }
    Ok((auth, tenants, chains))
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
    if let Some(a) = args.admin_listen {
        cfg.admin.listen = a;
    }
    if let Some(t) = args.admin_token {
        cfg.admin.token = Some(t);
    }
    if args.no_admin {
        cfg.admin.enabled = false;
    }
    if let Some(d) = args.state_dir {
        cfg.state.dir = d;
    }
    // Flags may have changed validated values.
    cfg.validate().context("invalid configuration")?;
    if cfg.repository.path.is_none() && !cfg.admin.enabled {
        bail!(
            "no model repository: pass --repository DIR (or set [repository] path in --config), \
             or enable the admin API to deploy models into an empty node"
        );
    }
    let token_set = cfg.admin.token.as_deref().is_some_and(|t| !t.is_empty());
    let admin_off_loopback = cfg.admin.enabled && !cfg.admin.listen.ip().is_loopback();
    if admin_off_loopback && !token_set {
        bail!(
            "the admin API would listen on {} without a token: set EDGESERVE_ADMIN_TOKEN (or \
             [admin] token), or keep the admin listener on a loopback address",
            cfg.admin.listen
        );
    }
    let admin_tls = admin_tls(&cfg.admin)?;
    if admin_off_loopback && admin_tls.is_none() && !cfg.admin.plaintext_off_loopback {
        bail!(
            "the admin API would listen on {} over plain HTTP, sending its deploy-capable token \
             in clear: set [admin] tls_cert and tls_key, or keep it on a loopback address (set \
             [admin] plaintext_off_loopback = true only behind a network that encrypts)",
            cfg.admin.listen
        );
    }
    if cfg.admin.enabled && cfg.admin.listen == cfg.server.listen && cfg.server.listen.port() != 0 {
        bail!(
            "the admin API and the data plane cannot share {}",
            cfg.server.listen
        );
    }
    let tls = data_plane_tls(&cfg)?;
    let (auth, tenants, chains) = security(&cfg)?;

    let mut rt = Runtime::new(&cfg.runtime)?;
    match std::env::current_exe() {
        Ok(exe) => rt.compile_in_child(exe, CompileLimits::for_runtime(&cfg.runtime)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this program's path; compiling in-process")
        }
    }
    let store = StateStore::open(&cfg.state.dir)?;
    if cfg.state.aot_cache {
        let dir = cfg.state.dir.join("aot");
        let secret = store.node_key()?;
        rt.enable_aot_cache(dir.clone(), &secret)
            .map_err(|e| anyhow::anyhow!("cannot use AOT cache folder {}: {e}", dir.display()))?;
    }
    let rt = Arc::new(rt);
    let started = Instant::now();
    let (deployer, refused) = Deployer::start(
        rt.clone(),
        store,
        cfg.repository.path.clone(),
        cfg.model_defaults.clone(),
    )
    .await?;
    let deployer = Arc::new(deployer);
    deployer
        .registry()
        .set_version_pinning(cfg.server.version_pinning);
    let table = deployer.registry().snapshot();
    let mut loaded = 0;
    for (name, entry) in &table.models {
        for m in entry.versions.values() {
            loaded += 1;
            tracing::info!(model = %name, version = %m.version, sha256 = %m.digest, isolation = ?m.settings.isolation, compile = ?m.aot, "loaded");
        }
    }
    for r in &refused {
        tracing::error!(what = %r.what, reason = %r.error, "refused");
    }
    tracing::info!(
        loaded,
        refused = refused.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "models loaded (repository: {}, state: {})",
        cfg.repository
            .path
            .as_ref()
            .map_or("none".to_string(), |p| p.display().to_string()),
        cfg.state.dir.display()
    );

    let log_dir = cfg
        .prediction_log
        .dir
        .clone()
        .unwrap_or_else(|| cfg.state.dir.join("predictions"));
    let predlog = Arc::new(
        PredictionLog::start(&cfg.prediction_log, log_dir.clone())
            .with_context(|| format!("cannot use prediction log folder {}", log_dir.display()))?,
    );
    let metrics = if cfg.telemetry.metrics {
        Some(Arc::new(
            Metrics::new(
                &cfg.telemetry,
                deployer.registry().clone(),
                Some(predlog.clone()),
            )
            .context("metrics setup")?,
        ))
    } else {
        None
    };
    let tracer = Tracing::new(&cfg.telemetry)
        .context("tracing setup")?
        .map(Arc::new);
    if let Some(endpoint) = &cfg.telemetry.otlp_endpoint {
        tracing::info!(%endpoint, interval = ?cfg.telemetry.export_interval.0, trace_sample_ratio = cfg.telemetry.trace_sample_ratio, "exporting metrics and traces over OTLP/HTTP");
    }
    let state = Arc::new(
        AppState::new(
            deployer.registry().clone(),
            RequestLimits::for_server(&cfg.server),
        )
        .with_prediction_log(predlog.clone())
        .with_security(auth, tenants, chains)
        .with_telemetry(metrics.clone(), tracer.clone()),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };

    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let admin = if cfg.admin.enabled {
        let l = tokio::net::TcpListener::bind(cfg.admin.listen)
            .await
            .with_context(|| format!("cannot listen on {} for the admin API", cfg.admin.listen))?;
        Some(l)
    } else {
        None
    };

    tokio::spawn(run_guard(deployer.clone(), cfg.state.guard_interval.0));
    if cfg.repository.path.is_some() && !cfg.repository.poll_interval.0.is_zero() {
        tokio::spawn(watch_repository(
            deployer.clone(),
            cfg.repository.poll_interval.0,
        ));
    }

    let admin_task = admin.map(|l| {
        let admin_addr = l.local_addr().ok();
        if let Some(a) = admin_addr {
            let scheme = if admin_tls.is_some() { "https" } else { "http" };
            tracing::info!(
                "admin API at {scheme}://{a} (token {})",
                if token_set {
                    "required"
                } else {
                    "not required: loopback only"
                }
            );
        }
        let admin_state = Arc::new(AdminState::for_config(
            &cfg,
            deployer.clone(),
            Some(predlog.clone()),
            metrics.clone(),
        ));
        let opts = ListenerOptions::for_admin(&cfg.admin, &cfg.server, admin_tls);
        let rx = stop_rx.clone();
        tokio::spawn(async move {
            let handler = move |req, conn: Arc<edgeserve::server::ConnInfo>| {
                admin::handle(admin_state.clone(), req, Some(conn))
            };
            serve(l, handler, opts, stopped(rx)).await
        })
    });

    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{addr}");
    let opts = ListenerOptions::for_server(&cfg.server, tls);
    {
        let state = state.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            state.ready.store(false, Ordering::Release);
            let _ = stop_tx.send(true);
        });
    }
    let handler = {
        let state = state.clone();
        move |req, conn| handle(state.clone(), req, Some(conn))
    };
    let drained = serve(listener, handler, opts, stopped(stop_rx)).await;
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    // Write the prediction-log records accepted so far, and export what is
    // pending (blocking flushes: off the async workers).
    let _ = tokio::task::spawn_blocking(move || {
        if !predlog.flush(Duration::from_secs(10)) {
            tracing::warn!("the prediction log did not finish writing within 10 s");
        }
        if let Some(m) = &metrics {
            m.shutdown();
        }
        if let Some(t) = &tracer {
            t.shutdown();
        }
    })
    .await;
    tracing::info!(drained, "stopped");
    Ok(ExitCode::SUCCESS)
}

/// The admin listener's TLS settings, when `[admin]` has a certificate.
fn admin_tls(a: &edgeserve::config::AdminConfig) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let client_auth = a.tls_client_ca.clone().map(|ca_bundle| ClientAuth {
        ca_bundle,
        required: a.tls_client_cert_required,
    });
    match (&a.tls_cert, &a.tls_key) {
        (Some(c), Some(k)) => Ok(Some(
            load_tls_config(c, k, client_auth.as_ref()).context("admin TLS setup")?,
        )),
        (None, None) if client_auth.is_some() => {
            bail!("[admin] tls_client_ca needs admin TLS: set [admin] tls_cert and tls_key too")
        }
        (None, None) => Ok(None),
        _ => bail!("admin TLS needs both [admin] tls_cert and tls_key"),
    }
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

/// A progress bar on a terminal, a line every 10 % otherwise.
fn progress_reporter() -> impl FnMut(usize, usize) {
    let tty = std::io::stderr().is_terminal();
    let mut last = usize::MAX;
    move |done, total| {
        let pct = (done * 100).checked_div(total).unwrap_or(100);
        if tty {
            let filled = pct / 4;
            eprint!(
                "\r[{}{}] {pct:>3}% {done}/{total}",
                "=".repeat(filled),
                " ".repeat(25 - filled)
            );
            if done == total {
                eprintln!();
            }
        } else if pct / 10 != last / 10 || done == total {
            eprintln!("replayed {done}/{total} ({pct}%)");
        }
        last = pct;
    }
}

async fn run_rescore(args: RescoreArgs) -> Result<ExitCode> {
    let cfg = load_config(args.config.as_ref())?;
    let rt = Runtime::new(&cfg.runtime)?;
    let opts = RescoreOptions {
        log: args.log,
        candidate: args.candidate,
        manifest: args.manifest,
        model: args.model,
        limit: args.limit,
        defaults: cfg.model_defaults.clone(),
    };
    let report = rescore(&rt, &opts, progress_reporter()).await?;
    if let Some(path) = &args.html {
        edgeserve::fsutil::write_atomic(path, edgeserve::rescore::render(&report).as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("HTML report: {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", table(&report));
    }
    Ok(ExitCode::SUCCESS)
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
