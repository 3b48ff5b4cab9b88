//! The control plane's contract: every document edgeserve's admin API
//! reads and writes, as types shared by the node that serves them, its
//! admin client and the CLI. A field added here is added on both sides at
//! once. No dependency beyond serde: any tool may speak to a node.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One version of one model: `name@version`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionId {
    /// The model's name.
    pub model: String,
    /// The version number.
    pub version: u64,
}

impl VersionId {
    /// `model@version`.
    pub fn new(model: &str, version: u64) -> VersionId {
        VersionId {
            model: model.to_string(),
            version,
        }
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.model, self.version)
    }
}

/// What a version does in its model's traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Answers unversioned requests (less the canary's share).
    Primary,
    /// Answers a share of unversioned requests.
    Canary,
    /// Gets a copy of the primary's requests; its answers are compared.
    Shadow,
    /// Loaded, answering only requests that name it.
    Standby,
}

impl Role {
    /// The role as status shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Canary => "canary",
            Role::Shadow => "shadow",
            Role::Standby => "standby",
        }
    }
}

/// A change the control plane made; its `Display` is the line status,
/// the audit log and the CLI show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// A version passed the deploy pipeline and serves.
    Deployed {
        /// The version.
        id: VersionId,
        /// The first 16 hex digits of its component's SHA-256.
        sha256: String,
        /// Milliseconds from upload to ready.
        ready_ms: u64,
        /// How it was compiled (e.g. `Compiled`, `Cached`).
        compile: String,
        /// Whether it is now the primary.
        primary: bool,
    },
    /// A repository version was loaded by the watcher.
    Loaded {
        /// The version.
        id: VersionId,
        /// Whether it is now the primary.
        primary: bool,
    },
    /// The version was loaded already.
    AlreadyLoaded {
        /// The version.
        id: VersionId,
    },
    /// Another deploy of the version is running; the watcher looks again.
    LoadInProgress {
        /// The version.
        id: VersionId,
    },
    /// A version became the primary.
    Promoted {
        /// The version.
        id: VersionId,
        /// It was the primary already: nothing changed.
        already: bool,
    },
    /// A version became the canary.
    Canary {
        /// The version.
        id: VersionId,
        /// Its share of unversioned traffic, in percent.
        weight: u8,
    },
    /// The canary stopped (`version` is `None` when there was none).
    CanaryCleared {
        /// The model.
        model: String,
        /// The former canary.
        version: Option<u64>,
    },
    /// A version became the shadow.
    Shadow {
        /// The version.
        id: VersionId,
    },
    /// The shadow stopped (`version` is `None` when there was none).
    ShadowCleared {
        /// The model.
        model: String,
        /// The former shadow.
        version: Option<u64>,
    },
    /// The previous primary is the primary again.
    RolledBack {
        /// The model.
        model: String,
        /// The primary before.
        from: Option<u64>,
        /// The primary now.
        to: u64,
        /// Why, when the rollout guard did it (starts with a space).
        reason: String,
    },
    /// A version without traffic was removed.
    Removed {
        /// The version.
        id: VersionId,
    },
}

impl Change {
    /// Whether nothing changed (clearing a canary there was not, promoting
    /// the primary, a version loaded already): such answers go to whoever
    /// asked, not into the node's event history.
    pub fn is_noop(&self) -> bool {
        matches!(
            self,
            Change::AlreadyLoaded { .. }
                | Change::LoadInProgress { .. }
                | Change::Promoted { already: true, .. }
                | Change::CanaryCleared { version: None, .. }
                | Change::ShadowCleared { version: None, .. }
        )
    }
}

/// `"; it is now the primary"` when it is.
fn now_primary(primary: bool) -> &'static str {
    if primary {
        "; it is now the primary"
    } else {
        ""
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Deployed {
                id,
                sha256,
                ready_ms,
                compile,
                primary,
            } => write!(
                f,
                "deployed {id} (sha256 {sha256}, ready in {ready_ms} ms, compile: {compile}){}",
                now_primary(*primary)
            ),
            Change::Loaded { id, primary } => write!(
                f,
                "loaded {id} from the repository{}",
                now_primary(*primary)
            ),
            Change::AlreadyLoaded { id } => write!(f, "{id} is already loaded"),
            Change::LoadInProgress { id } => write!(
                f,
                "a deploy of {id} is in progress; looking again at the next poll"
            ),
            Change::Promoted { id, already: true } => write!(f, "{id} is already the primary"),
            Change::Promoted { id, .. } => write!(f, "{id} is now the primary"),
            Change::Canary { id, weight } => {
                write!(f, "{id} is the canary with {weight}% of traffic")
            }
            Change::CanaryCleared { model, version } => match version {
                Some(v) => write!(f, "canary {model}@{v} cleared"),
                None => write!(f, "{model} had no canary"),
            },
            Change::Shadow { id } => write!(f, "{id} is the shadow"),
            Change::ShadowCleared { model, version } => match version {
                Some(v) => write!(f, "shadow {model}@{v} cleared"),
                None => write!(f, "{model} had no shadow"),
            },
            Change::RolledBack {
                model,
                from,
                to,
                reason,
            } => {
                let from = from.map_or("-".to_string(), |c| c.to_string());
                write!(f, "rolled {model} back from {from} to {to}{reason}")
            }
            Change::Removed { id } => write!(f, "removed {id}"),
        }
    }
}

/// `PUT /admin/v1/models/{m}/versions/{v}`: an upload, or a folder on
/// the node.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Manifest TOML text (upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Component bytes, base64 (upload).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// Other files by name, base64 (upload).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub files: std::collections::BTreeMap<String, String>,
    /// A version folder on the node, instead of an upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// An OCI reference the node pulls the version from (checked against
    /// its trust keys), instead of an upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Make it the primary at once.
    #[serde(default)]
    pub promote: bool,
}

/// `PUT /admin/v1/models/{m}/{primary|canary|shadow}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficRequest {
    /// The version.
    pub version: String,
    /// The canary's share of traffic, 0-100 (canary only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u8>,
}

/// The answer to a change: what changed, and the model's status after it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChangeReply {
    /// Always true (a refusal is an [`ErrorReply`]).
    pub ok: bool,
    /// The change, as one line.
    pub message: String,
    /// The change (absent in the replies of nodes older than this
    /// contract, which send only the message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    /// The model after the change (`None` once its last version is gone).
    pub model: Option<ModelStatus>,
    /// What is wrong on the node after the change, though the change
    /// itself was made: policy bindings that name no deployed policy (every
    /// request they cover is refused with 503 until it is deployed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A refusal: `{"error": "..."}` (both planes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong, and what to do.
    pub error: String,
}

/// `GET /admin/v1/models`: every model, recent events, the node's counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Every model.
    pub models: Vec<ModelStatus>,
    /// What the control plane did recently, oldest first.
    pub events: Vec<Event>,
    /// Loaded versions alive in memory (also ones being dropped).
    pub live_versions: usize,
    /// The prediction log's counters, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction_log: Option<PredictionLogStatus>,
    /// What the node follows in registries, when it follows anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetStatus>,
}

/// The fleet section of a node's status: its ring and each followed tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetStatus {
    /// The node's ring.
    pub ring: Option<String>,
    /// Whether only versions signed by a trusted key are deployed.
    pub signatures_required: bool,
    /// One entry per followed model.
    pub follows: Vec<FollowStatus>,
}

/// One followed model on one node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FollowStatus {
    /// The model.
    pub model: String,
    /// The reference followed (the ring filled in).
    pub reference: String,
    /// `primary`, `canary` or `shadow`.
    pub action: String,
    /// The manifest digest applied last.
    pub digest: Option<String>,
    /// The version deployed from it.
    pub version: Option<u64>,
    /// Whether that version has the action's role now (false after a
    /// guarded rollback).
    pub serving: bool,
    /// `waiting`, `restored`, `pulling`, `applied`, `rolled back`,
    /// `refused`, `unreachable` or `failing`.
    pub state: String,
    /// The last error (refusal or unreachable registry).
    pub error: Option<String>,
    /// A digest refused at the tag (not tried again until it moves).
    pub refused_digest: Option<String>,
    /// When the digest was applied (seconds since the Unix epoch).
    pub applied_at: Option<u64>,
    /// When the tag was last checked.
    pub last_check: Option<u64>,
    /// Checks made since start.
    pub checks: u64,
    /// Checks that failed to reach the registry.
    pub failures: u64,
    /// Versions refused (signature, content, deploy).
    pub refusals: u64,
    /// Bytes pulled from registries since start.
    pub pulled_bytes: u64,
}

/// Something the control plane did by itself (or was told to do).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the Unix epoch.
    pub time: u64,
    /// Model name.
    pub model: String,
    /// What happened.
    pub message: String,
}

/// The prediction log's counters.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PredictionLogStatus {
    /// Its folder.
    pub dir: String,
    /// Records written.
    pub written: u64,
    /// Records dropped (queue full).
    pub dropped: u64,
    /// Records cut to their limits.
    pub truncated: u64,
    /// Bytes waiting to be written.
    pub queued_bytes: u64,
}

/// `GET /admin/v1/models/{m}`: one model's traffic and versions.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelStatus {
    /// The model's name.
    pub name: String,
    /// The primary version.
    pub primary: Option<String>,
    /// Whether the primary was chosen (not just the highest version).
    pub primary_pinned: bool,
    /// The canary, if any.
    pub canary: Option<CanaryStatus>,
    /// The shadow version, if any.
    pub shadow: Option<String>,
    /// Earlier primaries, oldest first (rollback goes to the last).
    pub previous: Vec<String>,
    /// Every loaded version.
    pub versions: Vec<VersionStatus>,
}

/// A canary and its share.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CanaryStatus {
    /// The version.
    pub version: String,
    /// Percent of unversioned traffic.
    pub weight: u8,
}

/// One loaded version.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VersionStatus {
    /// The version number.
    pub version: String,
    /// Its role in traffic.
    pub role: Role,
    /// SHA-256 of its component.
    pub sha256: String,
    /// What the component calls itself, `name@version` from its own
    /// metadata (its build, e.g. its Cargo.toml's); `None` when it does
    /// not say. The served name and version are the repository's.
    #[serde(default)]
    pub component: Option<String>,
    /// Where it came from (`repository` or `deployed`).
    pub source: String,
    /// When it was loaded, seconds since the Unix epoch.
    pub loaded_at: u64,
    /// How it was compiled.
    pub compile: String,
    /// Its sandbox limits.
    pub limits: Limits,
    /// Calls answered.
    pub requests: u64,
    /// Calls that failed.
    pub errors: u64,
    /// Requests routed here but answered with a 4xx by the host or a
    /// policy (bad input, too large, denied); not in `requests`.
    #[serde(default)]
    pub refused: u64,
    /// Instances waiting in its pool.
    pub idle_instances: usize,
    /// Shadow calls compared with the primary.
    pub shadow_compared: u64,
    /// Shadow calls that agreed.
    pub shadow_agreed: u64,
    /// Shadow calls dropped (no room).
    pub shadow_dropped: u64,
    /// Shadow calls that failed.
    pub shadow_errors: u64,
    /// Share of equal labels, once labels were compared.
    pub shadow_label_agreement: Option<f64>,
    /// Largest numeric difference, once answers were compared.
    pub shadow_max_abs_diff: Option<f64>,
    /// Input drift, when the version has a baseline.
    pub drift: Option<DriftStatus>,
    /// `model` or `policy`.
    pub kind: String,
    /// A policy's decisions (policies only).
    pub policy_decisions: Option<PolicyDecisions>,
}

/// A version's sandbox limits.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Limits {
    /// `pooled` or `fresh`.
    pub isolation: String,
    /// Linear memory cap, e.g. `64MiB`.
    pub memory: String,
    /// Deadline per call.
    pub deadline_ms: u64,
    /// Instances kept warm.
    pub pool_size: u32,
    /// Calls at once.
    pub max_concurrency: u32,
}

/// Input drift against the version's baseline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DriftStatus {
    /// The input tensor watched.
    pub input: String,
    /// Each feature's score.
    pub features: Vec<FeatureScore>,
}

/// One feature's drift score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureScore {
    /// Feature name.
    pub name: String,
    /// PSI over the window; `None` until enough rows arrived.
    pub psi: Option<f64>,
    /// Rows in the window.
    pub rows: u64,
}

/// A policy's decisions so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicyDecisions {
    /// Requests or answers let through.
    pub allowed: u64,
    /// Denied.
    pub denied: u64,
    /// Rewritten.
    pub rewrote: u64,
    /// The policy failed.
    pub failed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_as_one_line_and_round_trip() {
        let id = VersionId::new("iris", 2);
        assert_eq!(id.to_string(), "iris@2");
        let cases = [
            (
                Change::Promoted {
                    id: id.clone(),
                    already: false,
                },
                "iris@2 is now the primary",
            ),
            (
                Change::Canary {
                    id: id.clone(),
                    weight: 10,
                },
                "iris@2 is the canary with 10% of traffic",
            ),
            (
                Change::RolledBack {
                    model: "iris".into(),
                    from: Some(2),
                    to: 1,
                    reason: String::new(),
                },
                "rolled iris back from 2 to 1",
            ),
            (
                Change::CanaryCleared {
                    model: "iris".into(),
                    version: None,
                },
                "iris had no canary",
            ),
        ];
        for (change, line) in cases {
            assert_eq!(change.to_string(), line);
            let json = serde_json::to_string(&change).expect("serializes");
            let back: Change = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, change, "{json}");
        }
        let role: Role = serde_json::from_str("\"standby\"").expect("parses");
        assert_eq!(role.as_str(), "standby");
    }
}
