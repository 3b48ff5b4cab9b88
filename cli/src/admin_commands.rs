//! The CLI's deploy commands: thin wrappers over the admin API with
//! readable output and exit codes scripts can use (0 done, 1 refused by the
//! server, 3 server unreachable; clap uses 2 for usage errors).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use edgeserve_node::client::{AdminClient, ClientError, ClientTls, Traffic};
use edgeserve_node::contract::{
    ChangeReply, DeployRequest, Event, ModelStatus, NodeStatus, TrafficRequest,
};

/// Where the admin API is.
#[derive(Args, Debug)]
pub(crate) struct AdminTarget {
    /// Admin API URL (http:// on loopback, https:// elsewhere).
    #[arg(long, env = "EDGESERVE_ADMIN", default_value = "http://127.0.0.1:8082")]
    admin: String,
    /// Bearer token.
    #[arg(long, env = "EDGESERVE_ADMIN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// PEM bundle of the CAs that sign the node's admin certificate
    /// (https; default: the public web roots).
    #[arg(long, env = "EDGESERVE_ADMIN_CA")]
    ca: Option<PathBuf>,
    /// PEM client certificate, when the node requires one (https).
    #[arg(long, env = "EDGESERVE_ADMIN_CERT", requires = "key")]
    cert: Option<PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, env = "EDGESERVE_ADMIN_KEY", requires = "cert")]
    key: Option<PathBuf>,
    /// Longest wait for the node's answer, in seconds (a deploy answers
    /// once its component is compiled and checked).
    #[arg(long, env = "EDGESERVE_ADMIN_TIMEOUT", default_value_t = 600)]
    timeout: u64,
    /// Print the server's JSON answer.
    #[arg(long)]
    json: bool,
}

/// Deployment commands.
#[derive(Subcommand, Debug)]
pub(crate) enum AdminCommand {
    /// Show models, versions and traffic.
    #[command(
        after_help = "Examples:\n  edgeserve status\n  edgeserve status iris --admin https://edge-7:8082 --token \"$TOKEN\"\n  edgeserve status iris --json | jq '.versions[].requests'"
    )]
    Status {
        #[command(flatten)]
        target: AdminTarget,
        /// Only this model.
        model: Option<String>,
    },
    /// Deploy a new version (it serves only after the whole pipeline passes).
    #[command(
        after_help = "Examples:\n  edgeserve deploy iris 3 --component model.wasm --manifest manifest.toml --file smoke.json\n  edgeserve deploy iris 3 --path models/iris/3 --promote    # a folder on the node's disk\n  edgeserve deploy iris 3 --from oci://registry.example/models/iris:3    # the node pulls and verifies it"
    )]
    Deploy {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// New version number.
        version: String,
        /// Component file to upload.
        #[arg(long, conflicts_with_all = ["path", "from"], required_unless_present_any = ["path", "from"])]
        component: Option<PathBuf>,
        /// Manifest file to upload with it.
        #[arg(long, requires = "component")]
        manifest: Option<PathBuf>,
        /// Extra files to upload (e.g. the smoke-test request).
        #[arg(long = "file", requires = "component")]
        files: Vec<PathBuf>,
        /// Instead of uploading: a version folder on the node's own disk (a
        /// relative path is made absolute from this shell's folder, so run
        /// it on the node; for a remote node upload with --component).
        #[arg(long, conflicts_with = "from")]
        path: Option<PathBuf>,
        /// Instead of uploading: an OCI reference the node pulls the version
        /// from (oci://REGISTRY/REPOSITORY:TAG or @sha256:...), its
        /// signature checked against the node's [fleet] trust_keys.
        #[arg(long)]
        from: Option<String>,
        /// Make it the primary at once.
        #[arg(long)]
        promote: bool,
    },
    /// Make a version the primary.
    #[command(after_help = "Example:\n  edgeserve promote iris 3")]
    Promote {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// Version.
        version: String,
    },
    /// Send a share of traffic to a version, or stop the canary.
    #[command(
        after_help = "Examples:\n  edgeserve canary iris 3 --weight 10\n  edgeserve canary iris --clear"
    )]
    Canary {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// Version (omit with --clear).
        #[arg(required_unless_present = "clear")]
        version: Option<String>,
        /// Percentage of unversioned traffic, 0-100.
        #[arg(long, required_unless_present = "clear", value_parser = clap::value_parser!(u8).range(0..=100))]
        weight: Option<u8>,
        /// Stop the canary.
        #[arg(long, conflicts_with_all = ["version", "weight"])]
        clear: bool,
    },
    /// Mirror traffic to a version and compare its answers, or stop it.
    #[command(
        after_help = "Examples:\n  edgeserve shadow iris 3\n  edgeserve status iris     # shadow agreement\n  edgeserve shadow iris --clear"
    )]
    Shadow {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// Version (omit with --clear).
        #[arg(required_unless_present = "clear")]
        version: Option<String>,
        /// Stop the shadow.
        #[arg(long, conflicts_with = "version")]
        clear: bool,
    },
    /// Go back to the previous primary.
    #[command(after_help = "Example:\n  edgeserve rollback iris")]
    Rollback {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
    },
    /// Remove a version that carries no traffic.
    #[command(after_help = "Example:\n  edgeserve remove iris 2")]
    Remove {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// Version.
        version: String,
    },
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn read(path: &PathBuf) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

impl AdminCommand {
    /// Where the command goes.
    fn target(&self) -> &AdminTarget {
        match self {
            AdminCommand::Status { target, .. }
            | AdminCommand::Deploy { target, .. }
            | AdminCommand::Promote { target, .. }
            | AdminCommand::Canary { target, .. }
            | AdminCommand::Shadow { target, .. }
            | AdminCommand::Rollback { target, .. }
            | AdminCommand::Remove { target, .. } => target,
        }
    }
}

impl AdminTarget {
    /// A client for the target.
    fn client(&self) -> Result<AdminClient> {
        let tls = ClientTls {
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        };
        let timeout = std::time::Duration::from_secs(self.timeout.max(1));
        Ok(AdminClient::new(
            &self.admin,
            self.token.clone(),
            &tls,
            timeout,
        )?)
    }
}

/// What the node answered.
enum Outcome {
    Node(NodeStatus),
    Model(ModelStatus, Vec<Event>),
    Change(ChangeReply),
}

/// Runs one deployment command.
pub(crate) async fn run(cmd: AdminCommand) -> Result<ExitCode> {
    // A bad --admin URL, TLS file or --component file is a usage error
    // (exit 2), found before anything is sent.
    let usage = |e: anyhow::Error| {
        eprintln!("edgeserve: {e:#}");
        ExitCode::from(2)
    };
    let client = match cmd.target().client() {
        Ok(c) => c,
        Err(e) => return Ok(usage(e)),
    };
    let json = cmd.target().json;
    let answer = match call(&client, &cmd).await {
        Ok(a) => a,
        Err(e) => return Ok(usage(e)),
    };
    match answer {
        Ok(outcome) => {
            print_outcome(&outcome, json);
            Ok(ExitCode::SUCCESS)
        }
        Err(ClientError::Refused { status, reply }) => {
            if json {
                println!("{}", serde_json::to_string(&reply).unwrap_or_default());
            }
            eprintln!(
                "edgeserve: refused ({}): {}{}",
                status.as_u16(),
                reply.error,
                refusal_hint(status.as_u16(), &reply.error)
            );
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!(
                "edgeserve: {}",
                edgeserve_node::server::reply::with_causes(&e)
            );
            Ok(ExitCode::from(3))
        }
    }
}

/// What to do about a refusal the operator can fix on this side.
fn refusal_hint(status: u16, error: &str) -> &'static str {
    match status {
        401 => "\n  send the node's admin token: --token TOKEN or EDGESERVE_ADMIN_TOKEN",
        404 if error.contains("data plane") => {
            "\n  --admin points at the data plane: give the admin address (its [admin] \
             listen) with --admin or EDGESERVE_ADMIN"
        }
        _ => "",
    }
}

/// Sends the command; the outer error is a local one (a file that cannot
/// be read), the inner one the node's refusal or an unreachable node.
async fn call(client: &AdminClient, cmd: &AdminCommand) -> Result<Result<Outcome, ClientError>> {
    let change = |r: Result<ChangeReply, ClientError>| r.map(Outcome::Change);
    let set = |version: &Option<String>, weight| TrafficRequest {
        version: version.clone().unwrap_or_default(),
        weight,
    };
    Ok(match cmd {
        AdminCommand::Status { model: None, .. } => client.status().await.map(Outcome::Node),
        // The model's own status (a 404 names what is there), then the
        // node's events for its history.
        AdminCommand::Status { model: Some(m), .. } => match client.model(m).await {
            Ok(model) => {
                let events = client.status().await.map(|n| n.events).unwrap_or_default();
                Ok(Outcome::Model(model, events))
            }
            Err(e) => Err(e),
        },
        AdminCommand::Deploy { model, version, .. } => {
            change(client.deploy(model, version, &deploy_request(cmd)?).await)
        }
        AdminCommand::Promote { model, version, .. } => {
            let request = set(&Some(version.clone()), None);
            change(client.set(model, Traffic::Primary, &request).await)
        }
        AdminCommand::Canary {
            model, clear: true, ..
        } => change(client.clear(model, Traffic::Canary).await),
        AdminCommand::Canary {
            model,
            version,
            weight,
            ..
        } => change(
            client
                .set(model, Traffic::Canary, &set(version, *weight))
                .await,
        ),
        AdminCommand::Shadow {
            model, clear: true, ..
        } => change(client.clear(model, Traffic::Shadow).await),
        AdminCommand::Shadow { model, version, .. } => change(
            client
                .set(model, Traffic::Shadow, &set(version, None))
                .await,
        ),
        AdminCommand::Rollback { model, .. } => change(client.rollback(model).await),
        AdminCommand::Remove { model, version, .. } => change(client.remove(model, version).await),
    })
}

/// A deploy's body: the files read here and uploaded, or a folder path
/// the node reads.
fn deploy_request(cmd: &AdminCommand) -> Result<DeployRequest> {
    let AdminCommand::Deploy {
        component,
        manifest,
        files,
        path,
        from,
        promote,
        ..
    } = cmd
    else {
        anyhow::bail!("not a deploy");
    };
    let mut request = DeployRequest {
        promote: *promote,
        ..DeployRequest::default()
    };
    if let Some(reference) = from {
        // Checked here: a malformed reference is a usage error.
        edgeserve_node::fleet::remote::parse_reference(reference)?;
        request.from = Some(reference.clone());
        return Ok(request);
    }
    match (component, path) {
        (Some(c), _) => {
            for f in files {
                let name = f
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                request.files.insert(name, b64(&read(f)?));
            }
            request.manifest = Some(match manifest {
                Some(m) => String::from_utf8(read(m)?).context("manifest is not UTF-8")?,
                None => String::new(),
            });
            request.component = Some(b64(&read(c)?));
        }
        // The node reads the folder: a relative path means the one under
        // this shell's working folder.
        (None, Some(p)) => {
            let p = std::path::absolute(p)
                .with_context(|| format!("cannot resolve {}", p.display()))?;
            request.path = Some(p.to_string_lossy().into_owned());
        }
        (None, None) => anyhow::bail!("give --component FILE, --path DIR or --from oci://REF"),
    }
    Ok(request)
}

fn print_outcome(outcome: &Outcome, json: bool) {
    if json {
        let text = match outcome {
            Outcome::Node(s) => serde_json::to_string_pretty(s),
            Outcome::Model(m, _) => serde_json::to_string_pretty(m),
            Outcome::Change(c) => serde_json::to_string_pretty(c),
        };
        println!("{}", text.unwrap_or_default());
        return;
    }
    match outcome {
        Outcome::Node(status) => crate::status_table::print_node(status),
        Outcome::Model(m, events) => crate::status_table::print_model(m, events),
        Outcome::Change(c) => {
            println!("{}", c.message);
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
        }
    }
}
