//! A loaded model version: compiled once, pre-instantiated once, with its
//! metadata and warm instances. Requests only instantiate and call.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, InstancePre};

use super::bindings::{
    Abi, MODEL_EXPORT, PACKAGE_PREFIX, POLICY_EXPORT, WIT_VERSION, WIT_VERSIONS_RUN, is_ours, v1,
    v2,
};
use super::engine::Runtime;
use super::error::{InvokeError, LoadError};
use super::host_state::{DeadlineExceeded, HostState, LimitExceeded, LimitHit};
use super::pool::{Bound, Instance, InstancePool};
use crate::limits::Isolation;
use crate::policy_abi::Reads;
use crate::protocol::check_outputs;
use crate::repository::{Kind, ModelSettings};
use crate::tensor::{InferenceRequest, InferenceResponse, ModelMetadata};

mod policy_calls;

/// The wall-clock limit behind a deadline: a little past it, so the epoch
/// check (which names the cause precisely) normally fires first.
fn backstop(deadline: Duration) -> Duration {
    deadline + deadline / 10 + Duration::from_millis(50)
}

/// Retired host states kept per version for reuse.
const SPARE_STATES: usize = 16;

/// Deadline for the `metadata` call at load time.
const METADATA_DEADLINE: Duration = Duration::from_secs(5);

/// The pre-instantiated exports of a version, by kind and WIT series.
enum Pre {
    ModelV1(v1::ModelPre<HostState>),
    ModelV2(v2::ModelPre<HostState>),
    PolicyV1(v1::policy::PolicyPre<HostState>),
    PolicyV2(v2::policy::PolicyPre<HostState>),
}

/// Where a call's time went, from the clock reads the call makes anyway
/// (two, or three with a fresh instance): callers take their latency
/// figures from here instead of reading the clock again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallTiming {
    /// Starting a fresh instance, when the call needed one.
    pub instantiate: Option<Duration>,
    /// The guest call itself.
    pub call: Duration,
    /// From entering the call (before waiting for an instance) to its end.
    pub total: Duration,
    /// When the call ended (`None` if it was refused before starting).
    pub ended: Option<Instant>,
}

/// A compiled, linked, validated version of a model or a policy component,
/// shared by `Arc`.
pub struct LoadedModel {
    /// Model (or policy) name.
    pub name: String,
    /// Whether this is a model or a policy filter.
    pub kind: Kind,
    /// Version.
    pub version: String,
    /// `name@version`, for messages.
    pub label: Arc<str>,
    /// sha256 of the component bytes, hex.
    pub digest: String,
    /// Resolved limits.
    pub settings: ModelSettings,
    /// What the model says about itself.
    pub metadata: ModelMetadata,
    /// The WIT series the component was built for.
    pub abi: Abi,
    /// What a policy reads beyond its context (everything for a 0.1
    /// policy; unused for a model).
    pub reads: Reads,
    /// When it finished loading.
    pub loaded_at: std::time::SystemTime,
    /// Request counters and recent-traffic windows.
    pub stats: super::VersionStats,
    /// Where it was loaded from (a folder path, or `uploaded`).
    pub source: String,
    /// Whether compilation came from the AOT cache.
    pub aot: super::AotOutcome,
    engine: wasmtime::Engine,
    pre: Pre,
    config: Arc<std::collections::BTreeMap<String, String>>,
    pool: Option<InstancePool>,
    /// Host state of retired instances, reused by the next new store.
    spare_states: crossbeam_queue::ArrayQueue<HostState>,
    permits: crate::budget::Budget,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("label", &self.label)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// Loaded versions alive in this process (dropped with their last `Arc`).
static LIVE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many loaded versions are alive: in the table, or still held by a
/// request or a warm instance.
pub fn live_versions() -> usize {
    LIVE.load(std::sync::atomic::Ordering::Relaxed)
}

impl Drop for LoadedModel {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// sha256 of a component, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Checks that a component exports our model or policy interface at a WIT
/// version this host runs (0.1.x up to ours), imports nothing but WASI and
/// our own interfaces, and says which kind it is.
pub fn check_world(engine: &wasmtime::Engine, component: &Component) -> Result<Kind, LoadError> {
    check_world_abi(engine, component).map(|(kind, _)| kind)
}

/// [`check_world`], with the WIT series the component was built for.
fn check_world_abi(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Result<(Kind, Abi), LoadError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let imports: Vec<(String, bool)> = ty
        .imports(engine)
        .map(|(n, item)| {
            let instance = matches!(item.ty, ComponentItem::ComponentInstance(_));
            (n.to_string(), instance)
        })
        .collect();
    let kind = classify(&exports, &imports)?;
    let iface = match kind {
        Kind::Model => "inference",
        Kind::Policy => "filter",
    };
    let abi = exports
        .iter()
        .find_map(|n| Abi::of_export(n, iface))
        .ok_or_else(|| {
            LoadError::World(format!("no {iface} export of a version this host runs"))
        })?;
    Ok((kind, abi))
}

/// [`check_world`] on names alone: the component's exports, and its
/// imports with whether each is an interface (an instance).
pub fn classify(exports: &[String], imports: &[(String, bool)]) -> Result<Kind, LoadError> {
    let model = exports.iter().any(|n| is_ours(n, "inference"));
    let policy = exports.iter().any(|n| is_ours(n, "filter"));
    let kind = match (model, policy) {
        (true, false) => Kind::Model,
        (false, true) => Kind::Policy,
        (true, true) => {
            return Err(LoadError::World(
                "the component exports both a model and a policy interface; build each as its \
                 own component"
                    .into(),
            ));
        }
        (false, false) => {
            let ours: Vec<&str> = exports
                .iter()
                .filter(|n| n.starts_with(PACKAGE_PREFIX))
                .map(String::as_str)
                .collect();
            return Err(LoadError::World(if ours.is_empty() {
                format!(
                    "the component exports neither {MODEL_EXPORT} nor {POLICY_EXPORT}, so it is \
                     not an edgeserve model or policy (it exports: {})",
                    if exports.is_empty() {
                        "nothing".to_string()
                    } else {
                        exports.join(", ")
                    }
                )
            } else {
                format!(
                    "the component was built for another version of the edgeserve WIT package \
                     (it exports {}); this host runs edgeserve:ml {WIT_VERSIONS_RUN}: rebuild \
                     it against this host's wit/ (guest SDK for WIT {WIT_VERSION})",
                    ours.join(", ")
                )
            }));
        }
    };
    for (name, instance) in imports {
        let ok = name.starts_with("wasi:")
            || ["logging", "config", "types", "artifacts"]
                .iter()
                .any(|iface| is_ours(name, iface));
        if !ok || !instance {
            return Err(LoadError::World(format!(
                "the component imports '{name}', which edgeserve does not provide; a model or \
                 policy may import only edgeserve:ml/logging, edgeserve:ml/config, \
                 edgeserve:ml/artifacts and edgeserve:ml/types ({WIT_VERSIONS_RUN}) and WASI 0.2 \
                 interfaces"
            )));
        }
    }
    Ok(kind)
}

/// Says, before anything is compiled, when the bytes are not a WebAssembly
/// component at all: another file, or a core module (what
/// `wasm32-unknown-unknown` or `wasm32-wasip1` builds make).
pub fn check_component_bytes(bytes: &[u8]) -> Result<(), LoadError> {
    const MAGIC: &[u8] = b"\0asm";
    // Version 0x0d, layer 1: the component encoding.
    const COMPONENT: [u8; 4] = [0x0d, 0x00, 0x01, 0x00];
    const CORE: [u8; 4] = [0x01, 0x00, 0x00, 0x00];
    let not = |why: String| Err(LoadError::NotAComponent(why));
    if !bytes.starts_with(MAGIC) || bytes.len() < 8 {
        let head: String = bytes
            .iter()
            .take(8)
            .map(|&b| match b {
                b' '..=b'~' => char::from(b).to_string(),
                _ => format!("\\x{b:02x}"),
            })
            .collect();
        return not(format!(
            "the file starts with \"{head}\", not with \\0asm ({} bytes in all); build the \
             model for wasm32-wasip2 (cargo build --release --target wasm32-wasip2), or \
             `edgeserve build` its project",
            bytes.len()
        ));
    }
    match <[u8; 4]>::try_from(&bytes[4..8]) {
        Ok(COMPONENT) => Ok(()),
        Ok(CORE) => not(
            "it is a WebAssembly core module, not a component: build for wasm32-wasip2 \
             (which makes components), or wrap the module with `wasm-tools component new`"
                .into(),
        ),
        _ => not(format!(
            "unknown WebAssembly encoding version {:02x?}",
            &bytes[4..8]
        )),
    }
}

impl LoadedModel {
    /// What the component calls itself, from its metadata: `name@version`,
    /// or whichever of the two it gives; `None` when it gives neither. Shown
    /// beside the served name and version so an operator can tell which
    /// build a version runs.
    pub fn component_id(&self) -> Option<String> {
        let (name, version) = (self.metadata.name.trim(), self.metadata.version.trim());
        match (name.is_empty(), version.is_empty()) {
            (true, true) => None,
            (false, true) => Some(crate::text::outside_text(name)),
            (true, false) => Some(format!("@{}", crate::text::outside_text(version))),
            (false, false) => Some(format!(
                "{}@{}",
                crate::text::outside_text(name),
                crate::text::outside_text(version)
            )),
        }
    }

    /// Compiles and validates a component and reads its metadata. Nothing
    /// here runs on the request path.
    pub async fn load(
        runtime: &Runtime,
        name: &str,
        version: &str,
        bytes: &[u8],
        settings: ModelSettings,
    ) -> Result<LoadedModel, LoadError> {
        if settings.memory.0 > runtime.max_memory {
            return Err(LoadError::Limits(format!(
                "memory limit {} is above this host's [runtime] max_memory of {}",
                settings.memory,
                crate::units::ByteSize(runtime.max_memory)
            )));
        }
        check_component_bytes(bytes)?;
        let digest = digest(bytes);
        // Compiling takes milliseconds to seconds of CPU: keep it off the
        // async workers that serve requests.
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let what = format!("{name}@{version}");
        let (component, aot) = if multi_thread {
            tokio::task::block_in_place(|| runtime.compile(bytes, &digest, &what))?
        } else {
            runtime.compile(bytes, &digest, &what)?
        };
        let (kind, abi) = check_world_abi(&runtime.engine, &component)?;
        let pre: InstancePre<HostState> = runtime
            .linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let world = |e: wasmtime::Error| LoadError::World(format!("{e:#}"));
        let pre = match (kind, abi) {
            (Kind::Model, Abi::V1) => Pre::ModelV1(v1::ModelPre::new(pre).map_err(world)?),
            (Kind::Model, Abi::V2) => Pre::ModelV2(v2::ModelPre::new(pre).map_err(world)?),
            (Kind::Policy, Abi::V1) => {
                Pre::PolicyV1(v1::policy::PolicyPre::new(pre).map_err(world)?)
            }
            (Kind::Policy, Abi::V2) => {
                Pre::PolicyV2(v2::policy::PolicyPre::new(pre).map_err(world)?)
            }
        };
        let label: Arc<str> = format!("{name}@{version}").into();
        let pool = (settings.isolation == Isolation::Pooled && settings.pool_size > 0)
            .then(|| InstancePool::new(settings.pool_size, settings.max_uses));
        let mut model = LoadedModel {
            name: name.to_string(),
            kind,
            version: version.to_string(),
            label,
            digest,
            permits: crate::budget::Budget::new(u64::from(settings.max_concurrency)),
            config: Arc::new(settings.config.clone()),
            settings,
            metadata: ModelMetadata {
                name: String::new(),
                version: String::new(),
                platform: String::new(),
                inputs: vec![],
                outputs: vec![],
            },
            abi,
            reads: Reads::ALL,
            loaded_at: std::time::SystemTime::now(),
            stats: super::VersionStats::default(),
            source: String::new(),
            aot,
            engine: runtime.engine.clone(),
            pre,
            pool,
            spare_states: crossbeam_queue::ArrayQueue::new(SPARE_STATES),
        };
        LIVE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (model.metadata, model.reads) = model.read_metadata().await?;
        model.loaded_at = std::time::SystemTime::now();
        Ok(model)
    }

    /// Calls the component's `metadata` export once: a model's specs, or
    /// a 0.2 policy's name, version and what it reads.
    async fn read_metadata(&self) -> Result<(ModelMetadata, Reads), LoadError> {
        // A component that cannot serve (an ONNX runner handed a graph it
        // cannot run) says why and stops: `metadata` has no error case.
        // Its words are the refusal; the trap is only how it ended.
        let fail = |e: InvokeError| match e {
            InvokeError::Trap {
                said: Some(said), ..
            } => LoadError::Metadata(format!("the component refused to load: {said}")),
            e => LoadError::Metadata(e.to_string()),
        };
        // A policy is instantiated once here too, so one that traps at
        // start-up is refused at deploy time, not on a request.
        let mut inst = self.instantiate(METADATA_DEADLINE).await.map_err(fail)?;
        inst.store
            .data_mut()
            .begin_call(Instant::now() + METADATA_DEADLINE);
        let policy = |name: String, version: String| ModelMetadata {
            name,
            version,
            platform: "policy".into(),
            inputs: vec![],
            outputs: vec![],
        };
        let Instance { store, bound, .. } = &mut inst;
        let call = async {
            match bound {
                Bound::ModelV1(m) => m
                    .edgeserve_ml_inference()
                    .call_metadata(&mut *store)
                    .await
                    .map(|m| (v1::metadata_from_wit(m), Reads::ALL)),
                Bound::ModelV2(m) => m
                    .edgeserve_ml_inference()
                    .call_metadata(&mut *store)
                    .await
                    .map(|m| (v2::metadata_from_wit(m), Reads::ALL)),
                // A 0.1 policy has no metadata: it reads everything.
                Bound::PolicyV1(_) => {
                    Ok((policy(self.name.clone(), self.version.clone()), Reads::ALL))
                }
                Bound::PolicyV2(p) => p
                    .edgeserve_ml_filter()
                    .call_metadata(&mut *store)
                    .await
                    .map(|m| {
                        let reads = v2::reads(&m);
                        (policy(m.name, m.version), reads)
                    }),
            }
        };
        let Ok(result) = tokio::time::timeout(backstop(METADATA_DEADLINE), call).await else {
            return Err(fail(self.deadline_error(METADATA_DEADLINE)));
        };
        let last_line = inst.store.data().flush_output();
        let (meta, reads) =
            result.map_err(|e| fail(self.classify(e, last_line, METADATA_DEADLINE)))?;
        if self.kind == Kind::Model {
            validate_metadata(&meta).map_err(LoadError::Metadata)?;
        }
        self.keep_or_retire(inst);
        Ok((meta, reads))
    }

    /// Keeps a healthy instance warm when the pool takes it; otherwise
    /// drops it (freeing its slot) and keeps its host state for the next
    /// new store.
    fn keep_or_retire(&self, inst: Instance) {
        let retired = match &self.pool {
            Some(pool) => pool.give_back(inst),
            None => Some(inst),
        };
        if let Some(inst) = retired {
            let _ = self.spare_states.push(inst.store.into_data());
        }
    }

    fn new_store(&self, deadline: Duration) -> Store<HostState> {
        let state = match self.spare_states.pop() {
            Some(mut state) => {
                state.reset();
                state
            }
            None => HostState::new(
                self.label.clone(),
                self.config.clone(),
                self.settings.artifacts.clone(),
                self.settings.memory.as_usize(),
                100_000,
            ),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // The most the host allocates lifting what the guest hands it in
        // one call (an answer, a log line): a tiny request must not make
        // the host hold hundreds of megabytes.
        store.set_hostcall_fuel(self.settings.max_response.as_usize());
        store.epoch_deadline_callback(|ctx| {
            if Instant::now() >= ctx.data().deadline {
                Err(DeadlineExceeded.into())
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        store.data_mut().begin_call(Instant::now() + deadline);
        store.set_epoch_deadline(1);
        store
    }

    async fn instantiate(&self, deadline: Duration) -> Result<Instance, InvokeError> {
        let mut store = self.new_store(deadline);
        let instantiate = async {
            match &self.pre {
                Pre::ModelV1(pre) => pre.instantiate_async(&mut store).await.map(Bound::ModelV1),
                Pre::ModelV2(pre) => pre.instantiate_async(&mut store).await.map(Bound::ModelV2),
                Pre::PolicyV1(pre) => pre.instantiate_async(&mut store).await.map(Bound::PolicyV1),
                Pre::PolicyV2(pre) => pre.instantiate_async(&mut store).await.map(Bound::PolicyV2),
            }
        };
        let Ok(instantiated) = tokio::time::timeout(backstop(deadline), instantiate).await else {
            return Err(self.deadline_error(deadline));
        };
        match instantiated {
            Ok(bound) => Ok(Instance {
                store,
                bound,
                uses: 0,
            }),
            Err(e)
                if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                    .is_some() =>
            {
                Err(InvokeError::Busy {
                    model: self.label.to_string(),
                    reason: "no free instance slot".into(),
                })
            }
            Err(e) => Err(
                match self.classify(e, store.data().flush_output(), deadline) {
                    e @ InvokeError::Trap { .. } => InvokeError::Instantiate {
                        model: self.label.to_string(),
                        message: e.to_string(),
                    },
                    other => other,
                },
            ),
        }
    }

    fn deadline_error(&self, deadline: Duration) -> InvokeError {
        InvokeError::Deadline {
            model: self.label.to_string(),
            deadline,
        }
    }

    /// Turns a wasmtime error from a call into a typed error.
    fn classify(
        &self,
        e: wasmtime::Error,
        last_line: Option<String>,
        deadline: Duration,
    ) -> InvokeError {
        let model = self.label.to_string();
        if e.downcast_ref::<DeadlineExceeded>().is_some() {
            return InvokeError::Deadline { model, deadline };
        }
        if let Some(LimitExceeded(hit)) = e.downcast_ref::<LimitExceeded>() {
            return match hit {
                LimitHit::Memory => InvokeError::MemoryLimit {
                    model,
                    limit: self.settings.memory,
                },
                LimitHit::Table => InvokeError::Trap {
                    model,
                    message: "table grew past its limit".into(),
                    said: None,
                },
            };
        }
        if format!("{e:#}").contains("fuel allocated for hostcalls has been exhausted") {
            // wasmtime's own error type for this is private; its text is
            // the one stable mark.
            return InvokeError::TooLarge {
                model,
                limit: self.settings.max_response,
            };
        }
        let message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => crate::text::outside_text(format!("{e:#}").lines().next().unwrap_or_default()),
        };
        InvokeError::Trap {
            model,
            message,
            said: last_line,
        }
    }

    /// Runs `call` on a warm or fresh instance under this version's
    /// concurrency limit, memory cap and deadline. A call that traps (or runs
    /// out of time) drops its instance; one that returns gives it back.
    /// `call` may borrow its arguments from the caller: they are lowered
    /// into the instance straight from there.
    async fn call<R: Send>(
        &self,
        timing: &mut CallTiming,
        call: impl AsyncFnOnce(&mut Store<HostState>, &Bound) -> wasmtime::Result<R> + Send,
    ) -> Result<R, InvokeError> {
        let _permit = self.permits.try_take(1).ok_or_else(|| InvokeError::Busy {
            model: self.label.to_string(),
            reason: format!("{} requests in flight", self.settings.max_concurrency),
        })?;
        let started = Instant::now();
        let result = self.call_started(started, timing, call).await;
        // A call that failed before its end was timed (its instance did not
        // start) is timed here.
        if timing.ended.is_none() {
            let ended = Instant::now();
            timing.total = ended - started;
            timing.ended = Some(ended);
        }
        result
    }

    /// [`LoadedModel::call`] once admitted, from `started`.
    async fn call_started<R: Send>(
        &self,
        started: Instant,
        timing: &mut CallTiming,
        call: impl AsyncFnOnce(&mut Store<HostState>, &Bound) -> wasmtime::Result<R> + Send,
    ) -> Result<R, InvokeError> {
        let deadline = self.settings.deadline;
        let (mut inst, called) = match self.pool.as_ref().and_then(InstancePool::take) {
            Some(inst) => (inst, started),
            None => {
                // Boxed: instantiation's future is large and only this
                // path needs it; inline, it would grow every call's future.
                let inst = Box::pin(self.instantiate(deadline)).await?;
                let called = Instant::now();
                timing.instantiate = Some(called - started);
                (inst, called)
            }
        };
        inst.store.data_mut().begin_call(called + deadline);
        inst.store.set_epoch_deadline(1);
        let Instance { store, bound, .. } = &mut inst;
        // The epoch deadline only fires while guest code runs; a guest that
        // waits inside a host call (a WASI clock subscription, say) is cut
        // off by this wall-clock backstop, and its instance is dropped.
        let backstop_at = tokio::time::Instant::from_std(called + backstop(deadline));
        let result = tokio::time::timeout_at(backstop_at, call(store, bound)).await;
        let ended = Instant::now();
        timing.call = ended - called;
        timing.total = ended - started;
        timing.ended = Some(ended);
        let Ok(result) = result else {
            return Err(self.deadline_error(deadline));
        };
        let last_line = inst.store.data().flush_output();
        match result {
            Ok(value) => {
                self.keep_or_retire(inst);
                Ok(value)
            }
            // A trapped instance is never reused.
            Err(e) => Err(self.classify(e, last_line, deadline)),
        }
    }

    /// The error for calling a model's export on a policy or the reverse
    /// (built only when it happens).
    fn wrong_kind(&self) -> wasmtime::Error {
        wasmtime::Error::msg(format!(
            "{} is not a {}",
            self.label,
            match self.kind {
                Kind::Model => "policy",
                Kind::Policy => "model",
            }
        ))
    }

    /// Runs one inference under this version's limits. The request's
    /// tensors are lowered into the sandbox from where they are (a slice of
    /// the request body, often): the host keeps the request.
    pub async fn infer(
        &self,
        req: &InferenceRequest,
        id: &str,
    ) -> Result<InferenceResponse, InvokeError> {
        self.infer_timed(req, id, &mut CallTiming::default()).await
    }

    /// [`LoadedModel::infer`], noting where the time went in `timing`.
    pub async fn infer_timed(
        &self,
        req: &InferenceRequest,
        id: &str,
        timing: &mut CallTiming,
    ) -> Result<InferenceResponse, InvokeError> {
        let resp = match self.abi {
            Abi::V1 => {
                let args = v1::request(id, req);
                let answer = self
                    .call(timing, async |store, bound| match bound {
                        Bound::ModelV1(m) => {
                            m.edgeserve_ml_inference().call_predict(store, &args).await
                        }
                        _ => Err(self.wrong_kind()),
                    })
                    .await?;
                match answer {
                    Ok(r) => v1::response_from(r),
                    Err(e) => return Err(self.model_error(v1::error_kind(e.kind), &e.message)),
                }
            }
            Abi::V2 => {
                let packed = v2::Packed::new(&req.inputs);
                let parts = v2::RequestParts::new(req, &packed, &self.metadata);
                let answer = self
                    .call(timing, async |store, bound| match bound {
                        Bound::ModelV2(m) => {
                            m.edgeserve_ml_inference()
                                .call_predict(store, parts.request(id))
                                .await
                        }
                        _ => Err(self.wrong_kind()),
                    })
                    .await?;
                match answer {
                    Ok(r) => {
                        v2::response_from(r, &self.metadata).map_err(|m| self.bad_output(m))?
                    }
                    Err(e) => return Err(self.model_error(v2::error_kind(e.kind), &e.message)),
                }
            }
        };
        check_outputs(&resp).map_err(|m| self.bad_output(m))?;
        Ok(resp)
    }

    /// An answer the host cannot use.
    fn bad_output(&self, message: String) -> InvokeError {
        InvokeError::BadOutput {
            model: self.label.to_string(),
            message,
        }
    }

    /// The model's own error: its words, bounded and escaped before they
    /// reach a response or a log line.
    fn model_error(&self, kind: crate::error::ModelErrorKind, message: &str) -> InvokeError {
        InvokeError::Model {
            model: self.label.to_string(),
            kind,
            message: crate::text::outside_text(message),
        }
    }

    /// Warm instances idle now (0 for fresh isolation).
    pub fn idle_instances(&self) -> usize {
        self.pool.as_ref().map_or(0, InstancePool::idle)
    }
}

fn validate_metadata(m: &ModelMetadata) -> Result<(), String> {
    if m.platform.len() > 256 || m.platform.chars().any(char::is_control) {
        return Err(format!(
            "the platform '{}' must be at most 256 characters, none of them control characters",
            crate::text::bounded(&m.platform, 256)
        ));
    }
    for (what, specs) in [("input", &m.inputs), ("output", &m.outputs)] {
        if specs.len() > 1024 {
            return Err(format!(
                "{} {what}s are declared; at most 1024 are allowed",
                specs.len()
            ));
        }
        for (i, s) in specs.iter().enumerate() {
            if s.name.is_empty() {
                return Err(format!("an {what} has an empty name"));
            }
            // Spec names appear in error messages and logs.
            if s.name.len() > 256 || s.name.chars().any(char::is_control) {
                return Err(format!(
                    "{what} name '{}' must be at most 256 characters, none of them control \
                     characters",
                    crate::text::bounded(&s.name, 256)
                ));
            }
            if s.shape.len() > 64 {
                return Err(format!(
                    "{what} '{}' has {} dimensions; at most 64",
                    s.name,
                    s.shape.len()
                ));
            }
            if specs[..i].iter().any(|o| o.name == s.name) {
                return Err(format!("{what} '{}' is declared twice", s.name));
            }
            if s.shape.iter().any(|&d| d < -1) {
                return Err(format!(
                    "{what} '{}' has an invalid shape {:?}",
                    s.name, s.shape
                ));
            }
        }
    }
    if m.outputs.is_empty() {
        return Err("the model declares no outputs".into());
    }
    Ok(())
}
