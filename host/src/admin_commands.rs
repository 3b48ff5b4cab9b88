//! The CLI's deploy commands: thin wrappers over the admin API with
//! readable output and exit codes scripts can use (0 done, 1 refused by the
//! server, 3 server unreachable; clap uses 2 for usage errors).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use base64::Engine as _;
use clap::{Args, Subcommand};
use edgeserve::client::{AdminClient, Answer, ClientTls};
use http::Method;
use serde_json::{Value, json};

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
    Status {
        #[command(flatten)]
        target: AdminTarget,
        /// Only this model.
        model: Option<String>,
    },
    /// Deploy a new version (it serves only after the whole pipeline passes).
    Deploy {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// New version number.
        version: String,
        /// Component file to upload.
        #[arg(long, conflicts_with = "path", required_unless_present = "path")]
        component: Option<PathBuf>,
        /// Manifest file to upload with it.
        #[arg(long, requires = "component")]
        manifest: Option<PathBuf>,
        /// Extra files to upload (e.g. the smoke-test request).
        #[arg(long = "file", requires = "component")]
        files: Vec<PathBuf>,
        /// Instead of uploading: a version folder on the server's node.
        #[arg(long)]
        path: Option<PathBuf>,
        /// Make it the primary at once.
        #[arg(long)]
        promote: bool,
    },
    /// Make a version the primary.
    Promote {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// Version.
        version: String,
    },
    /// Send a share of traffic to a version, or stop the canary.
    Canary {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
        /// Version (omit with --clear).
        #[arg(required_unless_present = "clear")]
        version: Option<String>,
        /// Percentage of unversioned traffic, 0-100.
        #[arg(long, required_unless_present = "clear")]
        weight: Option<u8>,
        /// Stop the canary.
        #[arg(long, conflicts_with_all = ["version", "weight"])]
        clear: bool,
    },
    /// Mirror traffic to a version and compare its answers, or stop it.
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
    Rollback {
        #[command(flatten)]
        target: AdminTarget,
        /// Model name.
        model: String,
    },
    /// Remove a version that carries no traffic.
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

/// Runs one deployment command.
pub(crate) async fn run(cmd: AdminCommand) -> Result<ExitCode> {
    let (target, method, path, body) = match cmd {
        AdminCommand::Status { target, model } => {
            let path = match &model {
                Some(m) => format!("/admin/v1/models/{m}"),
                None => "/admin/v1/models".to_string(),
            };
            (target, Method::GET, path, None)
        }
        AdminCommand::Deploy {
            target,
            model,
            version,
            component,
            manifest,
            files,
            path,
            promote,
        } => {
            let body = match (component, path) {
                (Some(c), _) => {
                    let mut extra = serde_json::Map::new();
                    for f in &files {
                        let name = f
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        extra.insert(name, Value::String(b64(&read(f)?)));
                    }
                    let manifest = match &manifest {
                        Some(m) => String::from_utf8(read(m)?).context("manifest is not UTF-8")?,
                        None => String::new(),
                    };
                    json!({"component": b64(&read(&c)?), "manifest": manifest, "files": extra, "promote": promote})
                }
                // The node reads the folder: a relative path means the
                // one under this shell's working folder.
                (None, Some(p)) => {
                    let p = std::path::absolute(&p)
                        .with_context(|| format!("cannot resolve {}", p.display()))?;
                    json!({"path": p, "promote": promote})
                }
                (None, None) => anyhow::bail!("give --component FILE or --path DIR"),
            };
            (
                target,
                Method::PUT,
                format!("/admin/v1/models/{model}/versions/{version}"),
                Some(body),
            )
        }
        AdminCommand::Promote {
            target,
            model,
            version,
        } => (
            target,
            Method::PUT,
            format!("/admin/v1/models/{model}/primary"),
            Some(json!({ "version": version })),
        ),
        AdminCommand::Canary {
            target,
            model,
            version,
            weight,
            clear,
        } => {
            let path = format!("/admin/v1/models/{model}/canary");
            if clear {
                (target, Method::DELETE, path, None)
            } else {
                (
                    target,
                    Method::PUT,
                    path,
                    Some(json!({"version": version, "weight": weight})),
                )
            }
        }
        AdminCommand::Shadow {
            target,
            model,
            version,
            clear,
        } => {
            let path = format!("/admin/v1/models/{model}/shadow");
            if clear {
                (target, Method::DELETE, path, None)
            } else {
                (
                    target,
                    Method::PUT,
                    path,
                    Some(json!({ "version": version })),
                )
            }
        }
        AdminCommand::Rollback { target, model } => (
            target,
            Method::POST,
            format!("/admin/v1/models/{model}/rollback"),
            None,
        ),
        AdminCommand::Remove {
            target,
            model,
            version,
        } => (
            target,
            Method::DELETE,
            format!("/admin/v1/models/{model}/versions/{version}"),
            None,
        ),
    };
    let tls = ClientTls {
        ca: target.ca.clone(),
        cert: target.cert.clone(),
        key: target.key.clone(),
    };
    let client = AdminClient::new(
        &target.admin,
        target.token.clone(),
        &tls,
        std::time::Duration::from_secs(target.timeout.max(1)),
    )?;
    let answer = match client.call(method.clone(), &path, body.as_ref()).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("edgeserve: {e}");
            return Ok(ExitCode::from(3));
        }
    };
    Ok(print_answer(&answer, &target, method == Method::GET))
}

fn print_answer(a: &Answer, target: &AdminTarget, is_status: bool) -> ExitCode {
    if !(200..300).contains(&a.status) {
        let msg = a.body["error"].as_str().unwrap_or("no message");
        if target.json {
            println!("{}", a.body);
        }
        eprintln!("edgeserve: refused ({}): {msg}", a.status);
        return ExitCode::from(1);
    }
    if target.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&a.body).unwrap_or_default()
        );
    } else if is_status {
        match a.body.get("models").and_then(Value::as_array) {
            Some(models) => {
                for m in models {
                    print_model(m);
                }
                if let Some(events) = a.body["events"].as_array()
                    && !events.is_empty()
                {
                    println!("recent events:");
                    for e in events.iter().rev().take(10).rev() {
                        println!(
                            "  {} {}",
                            e["time"],
                            e["message"].as_str().unwrap_or_default()
                        );
                    }
                }
            }
            None => print_model(&a.body),
        }
    } else {
        println!("{}", a.body["message"].as_str().unwrap_or("done"));
    }
    ExitCode::SUCCESS
}

fn print_model(m: &Value) {
    let s = |v: &Value| v.as_str().map_or("-".to_string(), str::to_string);
    let canary = match m.get("canary") {
        Some(c) if !c.is_null() => format!("{} ({}%)", s(&c["version"]), c["weight"]),
        _ => "-".into(),
    };
    let previous: Vec<String> = m["previous"]
        .as_array()
        .map(|p| p.iter().map(s).collect())
        .unwrap_or_default();
    println!(
        "{}  primary {}  canary {}  shadow {}  previous [{}]",
        s(&m["name"]),
        s(&m["primary"]),
        canary,
        s(&m["shadow"]),
        previous.join(", ")
    );
    println!(
        "  {:<8} {:<8} {:<17} {:>9} {:>7}  source",
        "version", "role", "sha256", "requests", "errors"
    );
    for v in m["versions"].as_array().into_iter().flatten() {
        println!(
            "  {:<8} {:<8} {:<17} {:>9} {:>7}  {}",
            s(&v["version"]),
            s(&v["role"]),
            v["sha256"].as_str().map_or("-", |d| &d[..16.min(d.len())]),
            v["requests"].as_u64().unwrap_or(0),
            v["errors"].as_u64().unwrap_or(0),
            s(&v["source"])
        );
    }
}
