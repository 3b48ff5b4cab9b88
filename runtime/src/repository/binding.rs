//! A policy binding: which policy runs for a model, at which hooks, and
//! whether it fails open. Plain settings, read from a model's manifest or
//! the server configuration's `[[policies]]`; the node's policy chains run
//! them.

use serde::Deserialize;

/// Which hook of a policy a binding runs.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// `on-request`, before the model.
    Request,
    /// `on-response`, after the model.
    Response,
}

pub(crate) fn both_stages() -> Vec<Stage> {
    vec![Stage::Request, Stage::Response]
}

/// One policy in a chain (`[[policies]]` in the server configuration or a
/// model's manifest).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PolicyBinding {
    /// Name of a deployed policy; its primary (or canary) version runs.
    pub policy: String,
    /// Let requests through when the policy fails, instead of denying.
    #[serde(default)]
    pub fail_open: bool,
    /// Hooks to run (default both).
    #[serde(default = "both_stages")]
    pub stages: Vec<Stage>,
}
