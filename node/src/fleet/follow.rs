//! Desired state: a node follows tags. For each `[[fleet.follow]]` entry a
//! task polls the tag's manifest digest (one HEAD request), and when it
//! moves, fetches the version (signature first, then only the blobs not in
//! the cache), deploys it through the deploy pipeline, applies the
//! configured action (primary, canary with a weight, shadow) and records
//! the applied digest in `fleet.json` in the state folder, atomically.
//!
//! A digest that is refused (bad signature, not a version, fails its
//! smoke test) is remembered and not tried again until the tag moves; the
//! running version keeps serving and the refusal shows in status, metrics
//! (`edgeserve_fleet_refusals`) and the audit log. With the registry
//! unreachable the node keeps serving what it has and backs off (pauses
//! doubling from `poll_min` to `poll_max`, jittered); after a restart it
//! serves its last good versions from the state folder without asking.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::config::{Action, FleetConfig, FollowConfig};
use super::fetch::{Fetched, Fetcher};
use super::remote::{Remote, RemoteError};
use crate::contract::{FleetStatus, FollowStatus};
use crate::deploy::{DeployError, Deployer};
use crate::registry::ModelTable;

/// The file the applied digests are kept in.
pub const FLEET_STATE_FILE: &str = "fleet.json";

/// What a node applied, per followed model (persisted).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Applied {
    /// The reference it was applied from.
    pub reference: String,
    /// The manifest digest applied.
    pub digest: Option<String>,
    /// The version deployed from it.
    pub version: Option<u64>,
    /// When (seconds since the Unix epoch).
    pub time: u64,
    /// A digest refused, and why (not tried again until the tag moves).
    pub refused: Option<(String, String)>,
    /// Whether the refusal may lift by itself: a missing or untrusted
    /// signature is checked again at every poll (a signature may be
    /// pushed after the tag moved).
    pub retry: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct FleetState {
    models: BTreeMap<String, Applied>,
}

/// What the follower knows now, for status.
#[derive(Debug, Default)]
struct Live {
    applied: Applied,
    state: &'static str,
    error: Option<String>,
    last_check: Option<u64>,
    checks: u64,
    failures: u64,
    refusals: u64,
    pulled_bytes: u64,
}

/// The followers' shared view: what each model follows and how it goes.
#[derive(Debug)]
pub struct FleetBoard {
    ring: Option<String>,
    signatures_required: bool,
    follows: Vec<(FollowConfig, String)>,
    live: Mutex<BTreeMap<String, Live>>,
    file: PathBuf,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl FleetBoard {
    /// The board for `config`, with what `fleet.json` in `state_dir`
    /// says was applied before.
    pub fn open(
        config: &FleetConfig,
        state_dir: &std::path::Path,
        signatures_required: bool,
    ) -> FleetBoard {
        let file = state_dir.join(FLEET_STATE_FILE);
        let saved: FleetState = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let follows: Vec<(FollowConfig, String)> = config
            .follow
            .iter()
            .map(|f| (f.clone(), config.reference_of(f)))
            .collect();
        let live = follows
            .iter()
            .map(|(f, reference)| {
                let applied = saved
                    .models
                    .get(&f.model)
                    // Following another tag now: what was applied from the
                    // old one is still serving, but the new tag decides.
                    .filter(|a| &a.reference == reference)
                    .cloned()
                    .unwrap_or_else(|| Applied {
                        reference: reference.clone(),
                        ..Applied::default()
                    });
                let state = if applied.digest.is_some() {
                    "restored"
                } else {
                    "waiting"
                };
                (
                    f.model.clone(),
                    Live {
                        applied,
                        state,
                        ..Live::default()
                    },
                )
            })
            .collect();
        FleetBoard {
            ring: config.ring.clone(),
            signatures_required,
            follows,
            live: Mutex::new(live),
            file,
        }
    }

    fn with<T>(&self, model: &str, f: impl FnOnce(&mut Live) -> T) -> Option<T> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.get_mut(model).map(f)
    }

    fn applied(&self, model: &str) -> Applied {
        self.with(model, |l| l.applied.clone()).unwrap_or_default()
    }

    /// Persists every model's applied digest (temp file, fsync, rename).
    fn save(&self) -> std::io::Result<()> {
        let state = {
            let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
            FleetState {
                models: live
                    .iter()
                    .map(|(k, l)| (k.clone(), l.applied.clone()))
                    .collect(),
            }
        };
        let bytes = serde_json::to_vec_pretty(&state).map_err(std::io::Error::other)?;
        crate::fsutil::write_private(&self.file, &bytes)
    }

    /// Whether every followed model has a version applied (or had one
    /// before a restart): the node is ready to serve what it follows.
    pub fn all_applied(&self) -> bool {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        live.values().all(|l| l.applied.version.is_some())
    }

    /// The fleet section of the node's status, judged against `table`.
    pub fn status(&self, table: &ModelTable) -> FleetStatus {
        let live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let follows = self
            .follows
            .iter()
            .filter_map(|(f, reference)| {
                let l = live.get(&f.model)?;
                let entry = table.models.get(&f.model);
                let serving = l.applied.version.is_some_and(|v| {
                    entry.is_some_and(|e| match f.action {
                        Action::Primary => e.primary_version() == Some(v),
                        Action::Canary => e.canary.is_some_and(|c| c.version == v),
                        Action::Shadow => e.shadow == Some(v),
                    })
                });
                let state = match (l.state, serving) {
                    ("applied" | "restored", false) => "rolled back",
                    (s, _) => s,
                };
                Some(FollowStatus {
                    model: f.model.clone(),
                    reference: reference.clone(),
                    action: format!("{:?}", f.action).to_lowercase(),
                    digest: l.applied.digest.clone(),
                    version: l.applied.version,
                    serving,
                    state: state.to_string(),
                    error: l.error.clone(),
                    refused_digest: l.applied.refused.as_ref().map(|(d, _)| d.clone()),
                    applied_at: (l.applied.time > 0).then_some(l.applied.time),
                    last_check: l.last_check,
                    checks: l.checks,
                    failures: l.failures,
                    refusals: l.refusals,
                    pulled_bytes: l.pulled_bytes,
                })
            })
            .collect();
        FleetStatus {
            ring: self.ring.clone(),
            signatures_required: self.signatures_required,
            follows,
        }
    }
}

/// Pauses between checks: `min` while all is well, doubling after each
/// failure up to `max`, each jittered by up to ±20 %.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    now: Duration,
}

impl Backoff {
    /// Starts at `min`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max, now: min }
    }

    /// The pause after a check that worked.
    pub fn success(&mut self) -> Duration {
        self.now = self.min;
        jitter(self.now)
    }

    /// The pause after a check that failed.
    pub fn failure(&mut self) -> Duration {
        let pause = self.now;
        self.now = (self.now * 2).min(self.max);
        jitter(pause)
    }
}

fn jitter(d: Duration) -> Duration {
    let mut b = [0u8; 2];
    let r = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .map(|()| u16::from_le_bytes(b))
        .unwrap_or(u16::MAX / 2);
    // A factor in [0.8, 1.2).
    let factor = 0.8 + 0.4 * f64::from(r) / f64::from(u16::MAX);
    d.mul_f64(factor)
}

/// One check's outcome.
enum Outcome {
    /// Nothing to do, or applied: pause `poll_min`.
    Fine,
    /// The registry could not be reached: back off.
    Unreachable,
}

/// Follows one model until the process ends.
pub async fn follow(
    deployer: Arc<Deployer>,
    fetcher: Arc<Fetcher>,
    board: Arc<FleetBoard>,
    follow: FollowConfig,
    reference: String,
    poll: (Duration, Duration),
) {
    let mut backoff = Backoff::new(poll.0, poll.1);
    // One client for the tag, for as long as the node lives: its
    // connection and registry token are reused by every poll.
    let remote = match fetcher.remote(&reference) {
        Ok(r) => r,
        Err(e) => {
            // The configuration was checked; credentials may be unreadable.
            tracing::error!(model = %follow.model, reference, error = %e, "fleet: cannot follow");
            board.with(&follow.model, |l| {
                l.state = "failing";
                l.error = Some(e.to_string());
            });
            return;
        }
    };
    loop {
        let pause = match check(&deployer, &fetcher, &remote, &board, &follow, &reference).await {
            Outcome::Fine => backoff.success(),
            Outcome::Unreachable => backoff.failure(),
        };
        tokio::time::sleep(pause).await;
    }
}

async fn check(
    deployer: &Deployer,
    fetcher: &Fetcher,
    remote: &Remote,
    board: &FleetBoard,
    follow: &FollowConfig,
    reference: &str,
) -> Outcome {
    let model = follow.model.as_str();
    board.with(model, |l| {
        l.checks += 1;
        l.last_check = Some(now_secs());
    });
    let digest = match remote.resolve().await {
        Ok(d) => d,
        Err(e) => return failed(board, model, reference, None, e),
    };
    let applied = board.applied(model);
    let refused_before =
        !applied.retry && applied.refused.as_ref().is_some_and(|(d, _)| *d == digest);
    if applied.digest.as_deref() == Some(digest.as_str()) || refused_before {
        board.with(model, |l| {
            if refused_before {
                if matches!(l.state, "unreachable" | "waiting" | "failing") {
                    l.state = "refused";
                }
            } else {
                // The tag names what serves (again): whatever failed before
                // is over.
                if matches!(l.state, "unreachable" | "waiting" | "failing" | "refused") {
                    l.state = "applied";
                }
                l.error = None;
            }
        });
        return Outcome::Fine;
    }
    board.with(model, |l| l.state = "pulling");
    let fetched = match fetcher.fetch_digest(remote, &digest).await {
        Ok(f) => f,
        Err(e) => return failed(board, model, reference, Some(&digest), e),
    };
    board.with(model, |l| l.pulled_bytes += fetched.pulled_bytes);
    match apply(deployer, follow, &fetched).await {
        Ok(version) => {
            let message = format!(
                "fleet: {model}@{version} from {reference} ({digest}{}, {} bytes pulled)",
                if fetched.verified {
                    ", signature verified"
                } else {
                    ""
                },
                fetched.pulled_bytes
            );
            tracing::info!(target: "edgeserve::audit", event = "fleet_applied", model, reference, digest = digest.as_str(), version, "{message}");
            deployer.record(model, message);
            board.with(model, |l| {
                l.applied = Applied {
                    reference: reference.to_string(),
                    digest: Some(digest.clone()),
                    version: Some(version),
                    time: now_secs(),
                    refused: None,
                    retry: false,
                };
                l.state = "applied";
                l.error = None;
            });
            if let Err(e) = board.save() {
                tracing::error!(model, error = %e, "fleet: cannot persist the applied digest");
            }
            Outcome::Fine
        }
        Err(e) => refuse(deployer, board, model, reference, &digest, e.to_string()),
    }
}

/// A check failed. An unreachable registry is tried again with growing
/// pauses. Content at a resolved digest that is wrong is refused (status,
/// metrics, audit — said once): a missing or untrusted signature is checked
/// again at every poll (one may be pushed after the tag moved); a blob
/// whose digest does not match, or an artifact that is not a version, is
/// tried again only with growing pauses (a registry's storage may be
/// repaired under the same digest).
fn failed(
    board: &FleetBoard,
    model: &str,
    reference: &str,
    digest: Option<&str>,
    e: RemoteError,
) -> Outcome {
    if e.is_transient() {
        tracing::warn!(model, reference, error = %e, "fleet: registry unreachable; serving what is here");
        board.with(model, |l| {
            l.failures += 1;
            l.state = "unreachable";
            l.error = Some(e.to_string());
        });
        return Outcome::Unreachable;
    }
    let Some(digest) = digest else {
        // Nothing resolved (a tag that is gone, credentials refused).
        board.with(model, |l| {
            l.failures += 1;
            l.state = "failing";
            l.error = Some(e.to_string());
        });
        return Outcome::Unreachable;
    };
    let signature = matches!(e, RemoteError::Signature(_));
    refuse_on_board(board, model, reference, digest, e.to_string(), true);
    if signature {
        Outcome::Fine
    } else {
        Outcome::Unreachable
    }
}

fn refuse(
    deployer: &Deployer,
    board: &FleetBoard,
    model: &str,
    reference: &str,
    digest: &str,
    why: String,
) -> Outcome {
    deployer.record(
        model,
        format!("fleet: refused {reference} ({digest}): {why}"),
    );
    refuse_on_board(board, model, reference, digest, why, false);
    Outcome::Fine
}

fn refuse_on_board(
    board: &FleetBoard,
    model: &str,
    reference: &str,
    digest: &str,
    why: String,
    retry: bool,
) {
    let again = board
        .applied(model)
        .refused
        .is_some_and(|(d, w)| d == digest && w == why);
    board.with(model, |l| {
        l.state = "refused";
        l.error = Some(why.clone());
        l.applied.retry = retry;
        if !again {
            l.refusals += 1;
            l.applied.refused = Some((digest.to_string(), why.clone()));
        }
    });
    if again {
        // Checked again (a signature may still come): said once.
        return;
    }
    tracing::warn!(target: "edgeserve::audit", event = "fleet_refused", model, reference, digest, reason = why.as_str(), "fleet: version refused; the running version keeps serving");
    if let Err(e) = board.save() {
        tracing::error!(model, error = %e, "fleet: cannot persist the refusal");
    }
}

/// Deploys the fetched version (or finds it already here with the same
/// component) and applies the action; returns the version number.
async fn apply(
    deployer: &Deployer,
    follow: &FollowConfig,
    fetched: &Fetched,
) -> Result<u64, DeployError> {
    let model = follow.model.as_str();
    let table = deployer.registry().snapshot();
    let entry = table.models.get(model);
    let version = match fetched.unpacked.version {
        Some(v) => v,
        // A CNCF Wasm artifact carries no number: the next free one.
        None => {
            entry
                .and_then(|e| e.versions.keys().next_back().copied())
                .unwrap_or(0)
                + 1
        }
    };
    let here = entry.and_then(|e| e.versions.get(&version));
    match here {
        Some(m) => {
            let component = component_sha256(&fetched.unpacked.files);
            if component.as_deref() != Some(m.digest.as_str()) {
                return Err(DeployError::Conflict(format!(
                    "{model}@{version} is already on this node with another component; push \
                     the new one under a new version number"
                )));
            }
        }
        None => {
            deployer
                .deploy(
                    model,
                    &version.to_string(),
                    fetched.unpacked.files.clone(),
                    follow.action == Action::Primary,
                )
                .await?;
        }
    }
    let v = version.to_string();
    let now = deployer.registry().snapshot();
    match follow.action {
        Action::Primary => {
            if now.models.get(model).and_then(|e| e.primary_version()) != Some(version) {
                deployer.set_primary(model, &v).await?;
            }
        }
        Action::Canary => {
            deployer
                .set_canary(model, &v, follow.weight.unwrap_or(10))
                .await?;
        }
        Action::Shadow => {
            deployer.set_shadow(model, &v).await?;
        }
    }
    Ok(version)
}

/// The sha256 (hex) of the component among a version's files.
fn component_sha256(files: &[(String, Vec<u8>)]) -> Option<String> {
    use sha2::Digest as _;
    let manifest = files
        .iter()
        .find(|(n, _)| n == crate::repository::MANIFEST_FILE)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())?;
    let manifest = crate::repository::Manifest::parse(&manifest).ok()?;
    let name = manifest.component_file();
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| hex::encode(sha2::Sha256::digest(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(8));
        let within = |d: Duration, s: f64| {
            let x = d.as_secs_f64();
            x >= s * 0.79 && x <= s * 1.21
        };
        assert!(within(b.failure(), 1.0));
        assert!(within(b.failure(), 2.0));
        assert!(within(b.failure(), 4.0));
        assert!(within(b.failure(), 8.0));
        assert!(within(b.failure(), 8.0));
        assert!(within(b.success(), 1.0));
        assert!(within(b.failure(), 1.0));
    }
}
