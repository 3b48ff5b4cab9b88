//! `edgeserve fleet status --nodes nodes.toml`: asks every node's admin
//! API what it follows and serves, resolves each followed tag in the
//! registry, and prints per model which digest and version each node
//! serves, whether each ring converged on its tag, failed pulls and
//! refusals, and the shadow agreement and drift the nodes report.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use edgeserve_node::client::{AdminClient, ClientTls};
use edgeserve_node::contract::{FollowStatus, NodeStatus};
use edgeserve_node::fleet::inventory::{Inventory, NodeEntry};
use edgeserve_node::fleet::remote::{Remote, RemoteOptions, parse_reference};
use serde::Serialize;

/// `edgeserve fleet status`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example nodes.toml:\n  [[node]]\n  name = \"shop-1\"\n  admin = \"https://10.0.0.5:8082\"\n  ca = \"fleet-ca.pem\"            # optional: CA of the nodes' admin certificates\n  token_file = \"admin.token\"      # optional: else EDGESERVE_ADMIN_TOKEN\n\nExample:\n  edgeserve fleet status --nodes nodes.toml\n  edgeserve fleet status --nodes nodes.toml --json | jq '.models[].rings'"
)]
pub(crate) struct FleetStatusArgs {
    /// The nodes to ask (TOML: [[node]] name, admin, optional ca, cert,
    /// key, token_file).
    #[arg(long)]
    nodes: PathBuf,
    /// Print JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for each node.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
    /// Speak plain HTTP to registries off loopback when resolving tags.
    #[arg(long)]
    plain_http: bool,
}

/// One node's line for one model.
#[derive(Serialize, Debug)]
struct NodeLine {
    node: String,
    ring: Option<String>,
    reference: Option<String>,
    digest: Option<String>,
    version: Option<u64>,
    primary: Option<String>,
    state: String,
    error: Option<String>,
    failures: u64,
    refusals: u64,
    shadow_agreement: Option<f64>,
    max_psi: Option<f64>,
}

/// One ring's convergence for one model.
#[derive(Serialize, Debug)]
struct RingLine {
    ring: String,
    reference: String,
    tag_digest: Option<String>,
    nodes: usize,
    on_tag: usize,
    converged: bool,
}

#[derive(Serialize, Debug)]
struct ModelReport {
    model: String,
    nodes: Vec<NodeLine>,
    rings: Vec<RingLine>,
}

#[derive(Serialize, Debug)]
struct Report {
    models: Vec<ModelReport>,
    unreachable: Vec<(String, String)>,
    converged: bool,
}

async fn ask(entry: &NodeEntry, timeout: Duration) -> Result<NodeStatus> {
    let token = match &entry.token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("EDGESERVE_ADMIN_TOKEN").ok(),
    };
    let tls = ClientTls {
        ca: entry.ca.clone(),
        cert: entry.cert.clone(),
        key: entry.key.clone(),
    };
    let client = AdminClient::new(&entry.admin, token, &tls, timeout)?;
    Ok(client.status().await?)
}

fn line(node: &str, status: &NodeStatus, follow: Option<&FollowStatus>, model: &str) -> NodeLine {
    let m = status.models.iter().find(|m| m.name == model);
    let primary = m.and_then(|m| m.primary.clone());
    let versions = m.map(|m| m.versions.as_slice()).unwrap_or_default();
    let shadow_agreement = versions
        .iter()
        .filter(|v| v.shadow_compared > 0)
        .map(|v| v.shadow_agreed as f64 / v.shadow_compared as f64)
        .next();
    let max_psi = versions
        .iter()
        .filter_map(|v| v.drift.as_ref())
        .flat_map(|d| d.features.iter().filter_map(|f| f.psi))
        .fold(None, |acc: Option<f64>, p| {
            Some(acc.map_or(p, |a| a.max(p)))
        });
    NodeLine {
        node: node.to_string(),
        ring: status.fleet.as_ref().and_then(|f| f.ring.clone()),
        reference: follow.map(|f| f.reference.clone()),
        digest: follow.and_then(|f| f.digest.clone()),
        version: follow.and_then(|f| f.version),
        primary,
        state: follow.map_or_else(|| "not followed".to_string(), |f| f.state.clone()),
        error: follow.and_then(|f| f.error.clone()),
        failures: follow.map_or(0, |f| f.failures),
        refusals: follow.map_or(0, |f| f.refusals),
        shadow_agreement,
        max_psi,
    }
}

/// `edgeserve fleet status`: exit 0 when every ring converged on its tag,
/// 1 when not (or a node did not answer).
pub(crate) async fn run(args: FleetStatusArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.nodes)
        .with_context(|| format!("cannot read {}", args.nodes.display()))?;
    let file = Inventory::parse(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a nodes file: {e}", args.nodes.display()))?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let (statuses, unreachable) = ask_all(&file.node, timeout).await;
    let follows = || {
        statuses
            .iter()
            .flat_map(|(_, s)| s.fleet.iter().flat_map(|f| &f.follows))
    };
    let models: std::collections::BTreeSet<String> = follows().map(|f| f.model.clone()).collect();
    let mut tags: BTreeMap<String, Option<String>> = BTreeMap::new();
    for f in follows() {
        if !tags.contains_key(&f.reference) {
            let digest = resolve(&f.reference, args.plain_http).await;
            tags.insert(f.reference.clone(), digest);
        }
    }
    let models: Vec<ModelReport> = models
        .iter()
        .map(|m| model_report(m, &statuses, &tags))
        .collect();
    let report = Report {
        converged: unreachable.is_empty()
            && models.iter().all(|m| m.rings.iter().all(|r| r.converged)),
        models,
        unreachable,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    Ok(if report.converged {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every node's status, all asked at once (a fleet view waits for the
/// slowest node, not for the sum of them): those that answered, by name,
/// and those that did not, with why.
async fn ask_all(
    nodes: &[NodeEntry],
    timeout: Duration,
) -> (Vec<(String, NodeStatus)>, Vec<(String, String)>) {
    let mut set = tokio::task::JoinSet::new();
    for (i, n) in nodes.iter().cloned().enumerate() {
        set.spawn(async move { (i, ask(&n, timeout).await) });
    }
    let mut asked: Vec<Option<Result<NodeStatus>>> = nodes.iter().map(|_| None).collect();
    while let Some(Ok((i, r))) = set.join_next().await {
        asked[i] = Some(r);
    }
    let mut statuses = Vec::new();
    let mut unreachable = Vec::new();
    for (entry, result) in nodes.iter().zip(asked) {
        match result.unwrap_or_else(|| Err(anyhow::anyhow!("the status task failed"))) {
            Ok(s) => statuses.push((entry.name.clone(), s)),
            Err(e) => unreachable.push((entry.name.clone(), format!("{e:#}"))),
        }
    }
    (statuses, unreachable)
}

/// One model across the fleet: a line per node, and per ring how many of
/// its nodes serve the digest its tag names now.
fn model_report(
    model: &str,
    statuses: &[(String, NodeStatus)],
    tags: &BTreeMap<String, Option<String>>,
) -> ModelReport {
    let mut nodes = Vec::new();
    let mut rings: BTreeMap<(String, String), (usize, usize)> = BTreeMap::new();
    for (name, s) in statuses {
        let follow = s
            .fleet
            .iter()
            .flat_map(|f| &f.follows)
            .find(|f| f.model == model);
        let l = line(name, s, follow, model);
        if let Some(f) = follow {
            let ring = l.ring.clone().unwrap_or_else(|| "-".into());
            let counts = rings.entry((ring, f.reference.clone())).or_default();
            counts.0 += 1;
            let tag = tags.get(&f.reference).cloned().flatten();
            if tag.is_some() && f.digest == tag && f.serving {
                counts.1 += 1;
            }
        }
        nodes.push(l);
    }
    let rings = rings
        .into_iter()
        .map(|((ring, reference), (n, on))| RingLine {
            tag_digest: tags.get(&reference).cloned().flatten(),
            converged: n == on,
            ring,
            reference,
            nodes: n,
            on_tag: on,
        })
        .collect();
    ModelReport {
        model: model.to_string(),
        nodes,
        rings,
    }
}

async fn resolve(reference: &str, plain_http: bool) -> Option<String> {
    let options = RemoteOptions {
        plain_http,
        timeout: Duration::from_secs(5),
        ..RemoteOptions::default()
    };
    let remote = Remote::new(parse_reference(reference).ok()?, options).ok()?;
    remote.resolve().await.ok()
}

fn short(digest: &Option<String>) -> String {
    digest
        .as_deref()
        .map(|d| d.trim_start_matches("sha256:").chars().take(12).collect())
        .unwrap_or_else(|| "-".into())
}

fn print_report(r: &Report) {
    for m in &r.models {
        println!("MODEL {}", m.model);
        println!(
            "  {:<14} {:<9} {:<8} {:<13} {:<8} {:<12} {:>6} {:>6} {:>7}  ERROR",
            "NODE", "RING", "VERSION", "DIGEST", "PRIMARY", "STATE", "FAILS", "SHADOW", "MAX-PSI"
        );
        for n in &m.nodes {
            println!(
                "  {:<14} {:<9} {:<8} {:<13} {:<8} {:<12} {:>6} {:>6} {:>7}  {}",
                n.node,
                n.ring.as_deref().unwrap_or("-"),
                n.version.map_or("-".into(), |v| v.to_string()),
                short(&n.digest),
                n.primary.as_deref().unwrap_or("-"),
                n.state,
                n.failures + n.refusals,
                n.shadow_agreement
                    .map_or("-".into(), |a| format!("{:.0}%", a * 100.0)),
                n.max_psi.map_or("-".into(), |p| format!("{p:.3}")),
                n.error.as_deref().unwrap_or("")
            );
        }
        for ring in &m.rings {
            println!(
                "  ring {:<9} {} -> {}: {}/{} nodes serve it{}",
                ring.ring,
                ring.reference,
                short(&ring.tag_digest),
                ring.on_tag,
                ring.nodes,
                if ring.converged {
                    " (converged)"
                } else if ring.tag_digest.is_none() {
                    " (tag not resolved: registry unreachable?)"
                } else {
                    " (NOT converged)"
                }
            );
        }
    }
    for (node, why) in &r.unreachable {
        println!("node {node} did not answer: {why}");
    }
    println!(
        "{}",
        if r.converged {
            "fleet converged"
        } else {
            "fleet NOT converged"
        }
    );
}
