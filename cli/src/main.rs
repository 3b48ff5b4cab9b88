//! The `edgeserve` command line: parses flags and config, then calls the
//! library.

mod admin_commands;
mod check_command;
mod fleet_commands;
mod fleet_status;
mod scaffold;
mod scaffold_commands;
mod status_table;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use edgeserve_node::config::ServeConfig;
use edgeserve_node::node::{CheckedConfig, Listeners, Node};
use edgeserve_node::security::hash_api_key;
use edgeserve_node::units::ByteSize;
use edgeserve_rescore::{RescoreOptions, rescore, table};
use edgeserve_runtime::Runtime;

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
    /// Serve models over the Open Inference Protocol (KServe v2), REST and
    /// gRPC on one port, from a model repository, with an admin API for
    /// deploys, canaries, shadows and rollbacks.
    Serve(ServeArgs),
    /// Show what a component is: world, WIT version, imports, exports,
    /// metadata and sha256.
    Inspect(InspectArgs),
    /// Validate every version in a model repository without serving; exits
    /// 0 only when every version would load.
    Check(check_command::CheckArgs),
    /// Replay a prediction log through a candidate component and compare
    /// answers and latency with what was logged (table, --json, --html).
    Rescore(RescoreArgs),
    /// Print the SHA-256 of an API key (read from standard input), for
    /// `[[auth.api_keys]] sha256` in the server configuration; with --name,
    /// the whole ready-to-paste `[[auth.api_keys]]` block.
    ///
    /// Example: `edgeserve hash-key --name billing --tenant acme < key.txt >> edgeserve.toml`
    HashKey(HashKeyArgs),
    /// Build a model project (Rust crate, Python module or .onnx file) into
    /// `<out>/<name>/<version>/`, ready for a model repository or deploy.
    Build(scaffold_commands::BuildArgs),
    /// Scaffold a project: `edgeserve new model --lang rust|python|onnx NAME`.
    New(scaffold_commands::NewArgs),
    #[command(flatten)]
    Admin(admin_commands::AdminCommand),
    /// Push a version folder to an OCI registry as one artifact (prints its
    /// manifest digest); --sign-key signs it too.
    Push(fleet_commands::PushArgs),
    /// Pull a version from an OCI registry into a folder (--key: verify
    /// its signature first).
    Pull(fleet_commands::PullArgs),
    /// Sign a version in a registry, cosign-compatible (the signature goes
    /// to the `sha256-<digest>.sig` tag).
    Sign(fleet_commands::SignArgs),
    /// Check that a trusted key signed a version (exit 0) or not (exit 1).
    Verify(fleet_commands::VerifyArgs),
    /// Make a signing key pair: PREFIX.key (secret) and PREFIX.pub (for
    /// nodes' [fleet] trust_keys and `verify --key`).
    Keygen(fleet_commands::KeygenArgs),
    /// The fleet: what every node follows and serves, and whether each
    /// ring converged on its tag.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Internal: compile a component read on standard input and write the
    /// artifact to standard output (`serve` runs this in a child process).
    #[command(hide = true)]
    CompileWorker(CompileWorkerArgs),
}

/// `edgeserve fleet ...`.
#[derive(Subcommand, Debug)]
enum FleetCommand {
    /// Ask every node in a nodes file (admin API, token, TLS) what it
    /// serves and follows; exit 0 only when every ring converged.
    Status(fleet_status::FleetStatusArgs),
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
    /// Address for the data plane, REST and gRPC (by content type) [default:
    /// 127.0.0.1:8080].
    #[arg(long, short = 'l', env = "EDGESERVE_LISTEN")]
    listen: Option<SocketAddr>,
    /// Another address for the same front-ends, for clients that keep gRPC
    /// on its own port (e.g. 127.0.0.1:8081); the data port serves gRPC
    /// too.
    #[arg(long, env = "EDGESERVE_GRPC_LISTEN")]
    grpc_listen: Option<SocketAddr>,
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
    /// This node's fleet ring (overrides [fleet] ring): `{ring}` in a
    /// followed reference becomes it.
    #[arg(long, env = "EDGESERVE_FLEET_RING")]
    ring: Option<String>,
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
/// `edgeserve hash-key` flags.
#[derive(Args, Debug)]
struct HashKeyArgs {
    /// The key's name (audit and policies see it): print a whole
    /// `[[auth.api_keys]]` block instead of the bare hash.
    #[arg(long)]
    name: Option<String>,
    /// The tenant whose rules the key's callers get (with --name).
    #[arg(long, requires = "name")]
    tenant: Option<String>,
}

fn run_hash_key(args: HashKeyArgs) -> anyhow::Result<ExitCode> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("cannot read the key from standard input")?;
    let key = line.trim_end_matches(['\r', '\n']);
    if key.is_empty() {
        bail!("no key on standard input; try: edgeserve hash-key < key.txt");
    }
    let hash = hash_api_key(key);
    match &args.name {
        None => println!("{hash}"),
        Some(name) => {
            // TOML basic strings, escaped as TOML wants them.
            let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
            println!(
                "[[auth.api_keys]]\nname = {}\nsha256 = \"{hash}\"",
                quote(name)
            );
            if let Some(t) = &args.tenant {
                println!("tenant = {}", quote(t));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    edgeserve_runtime::allocator::tune_for_serving();
    let cli = Cli::parse();
    if let Command::CompileWorker(args) = &cli.command {
        let settings = edgeserve_runtime::CompileSettings {
            pooled_memory: args.pooled_memory,
        };
        return match edgeserve_runtime::run_compile_worker(settings) {
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
            Command::Check(args) => check_command::run(args).await,
            Command::Rescore(args) => run_rescore(args).await,
            Command::HashKey(args) => run_hash_key(args),
            Command::Build(args) => scaffold_commands::build(args),
            Command::New(args) => scaffold_commands::new(args),
            Command::Admin(cmd) => admin_commands::run(cmd).await,
            Command::Push(args) => fleet_commands::push(args).await,
            Command::Pull(args) => fleet_commands::pull(args).await,
            Command::Sign(args) => fleet_commands::sign(args).await,
            Command::Verify(args) => fleet_commands::verify(args).await,
            Command::Keygen(args) => fleet_commands::keygen(args),
            Command::Fleet(FleetCommand::Status(args)) => fleet_status::run(args).await,
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

/// The configuration file, or the defaults without one.
fn read_config(path: Option<&PathBuf>) -> Result<ServeConfig> {
    Ok(match path {
        Some(p) => ServeConfig::from_file(p)?,
        None => ServeConfig::default(),
    })
}

/// The configuration file, checked (for the commands that do not serve).
pub(crate) fn load_config(path: Option<&PathBuf>) -> Result<ServeConfig> {
    let cfg = read_config(path)?;
    cfg.validate().context("invalid configuration")?;
    Ok(cfg)
}

impl ServeArgs {
    /// Flags override the configuration file.
    fn apply(self, cfg: &mut ServeConfig) {
        let s = &mut cfg.server;
        s.listen = self.listen.unwrap_or(s.listen);
        s.grpc_listen = self.grpc_listen.or(s.grpc_listen);
        s.tls_cert = self.tls_cert.or(s.tls_cert.take());
        s.tls_key = self.tls_key.or(s.tls_key.take());
        s.max_body = self.max_body.unwrap_or(s.max_body);
        let a = &mut cfg.admin;
        a.listen = self.admin_listen.unwrap_or(a.listen);
        a.token = self.admin_token.or(a.token.take());
        a.enabled &= !self.no_admin;
        cfg.repository.path = self.repository.or(cfg.repository.path.take());
        cfg.state.dir = self.state_dir.unwrap_or(std::mem::take(&mut cfg.state.dir));
        cfg.fleet.ring = self.ring.or(cfg.fleet.ring.take());
    }
}

/// `edgeserve serve`: the configuration with the flags on top, checked,
/// built into a node, served until SIGTERM or Ctrl-C.
async fn run_serve(args: ServeArgs) -> Result<ExitCode> {
    let mut cfg = read_config(args.config.as_ref())?;
    args.apply(&mut cfg);
    let mut cfg = CheckedConfig::new(cfg).context("invalid configuration")?;
    match std::env::current_exe() {
        Ok(exe) => cfg.compile_worker = Some(exe),
        Err(e) => {
            tracing::warn!(error = %e, "cannot find this program's path; compiling in-process")
        }
    }
    // Bind first: a port in use fails at once, not after every model has
    // compiled. Connections that arrive while the node builds wait in the
    // listen backlog.
    let listeners = Listeners::bind(&cfg).await?;
    let node = Node::build(cfg.clone()).await?;
    node.serve(listeners, shutdown_signal()).await;
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
    let report = edgeserve_runtime::inspect::inspect(&rt, &bytes)
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
        edgeserve_runtime::fsutil::write_atomic(
            path,
            edgeserve_rescore::render(&report).as_bytes(),
        )
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
