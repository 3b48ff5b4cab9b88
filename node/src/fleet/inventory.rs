//! The nodes file `edgeserve fleet status --nodes` reads: which nodes make
//! the fleet, and how to reach each one's admin API.
//!
//! ```toml
//! [[node]]
//! name = "shop-17"
//! admin = "https://10.20.0.17:8082"
//! ca = "fleet-ca.pem"          # optional: the CA of the nodes' admin certificates
//! token_file = "admin.token"   # optional: else EDGESERVE_ADMIN_TOKEN
//! ```

use std::path::PathBuf;

use serde::Deserialize;

/// A nodes file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// The nodes, in the order they are printed.
    pub node: Vec<NodeEntry>,
}

/// One node.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeEntry {
    /// Its name in the report.
    pub name: String,
    /// Its admin API URL.
    pub admin: String,
    /// PEM CA bundle that signs its admin certificate.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// PEM client certificate, when the node requires one.
    #[serde(default)]
    pub cert: Option<PathBuf>,
    /// Its private key.
    #[serde(default)]
    pub key: Option<PathBuf>,
    /// A file holding the admin token (else `EDGESERVE_ADMIN_TOKEN`).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

impl Inventory {
    /// Reads a nodes file's text: at least one node, names used once.
    pub fn parse(text: &str) -> Result<Inventory, String> {
        let inv: Inventory = toml::from_str(text).map_err(|e| e.to_string())?;
        if inv.node.is_empty() {
            return Err("no [[node]] entries".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for n in &inv.node {
            if !seen.insert(n.name.as_str()) {
                return Err(format!("node '{}' is listed twice", n.name));
            }
        }
        Ok(inv)
    }
}
