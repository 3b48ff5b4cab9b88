//! A node: everything `edgeserve serve` runs, as a library. Two planes,
//! built in two steps:
//!
//! - [`Node::build`] (once per node): from a [`CheckedConfig`], the
//!   engine, the restored deployments, identity and policies, telemetry,
//!   and the inference [`Pipeline`] every front-end shares;
//! - [`Node::serve`]: the data plane's front-ends and the admin API on
//!   bound [`Listeners`], with the rollout guard and the repository
//!   watcher, until `shutdown` resolves; then connections drain and the
//!   prediction log and exporters flush.

mod checked;
mod error;
mod setup;
pub mod systemd;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::net::TcpListener;

pub use checked::CheckedConfig;
pub use error::NodeError;

use crate::admin::AdminState;
use crate::deploy::{Deployer, StateStore, run_guard, watch_repository};
use crate::fleet::fetch::Fetcher;
use crate::fleet::follow::{FleetBoard, follow};
use crate::pipeline::{Pipeline, RequestLimits};
use crate::server::{DataPlane, ListenerOptions, serve};

/// A node ready to serve.
pub struct Node {
    cfg: CheckedConfig,
    deployer: Arc<Deployer>,
    fetcher: Arc<Fetcher>,
    board: Option<Arc<FleetBoard>>,
    pipeline: Arc<Pipeline>,
    telemetry: setup::Telemetry,
    data_tls: Option<Arc<rustls::ServerConfig>>,
    admin_tls: Option<Arc<rustls::ServerConfig>>,
}

/// The sockets a node serves on, bound before it starts (so a caller
/// learns the addresses, and port 0 picks free ones).
pub struct Listeners {
    /// The data plane.
    pub data: TcpListener,
    /// The data plane's own gRPC address (`[server] grpc_listen`), when
    /// set.
    pub grpc: Option<TcpListener>,
    /// The admin API, when enabled.
    pub admin: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses `[server] listen`, `[server] grpc_listen` and
    /// `[admin] listen` name.
    pub async fn bind(cfg: &CheckedConfig) -> Result<Listeners, NodeError> {
        let data = bind(cfg.server.listen, "data plane").await?;
        let grpc = match cfg.server.grpc_listen {
            Some(addr) => Some(bind(addr, "gRPC").await?),
            None => None,
        };
        let admin = if cfg.admin.enabled {
            Some(bind(cfg.admin.listen, "admin API").await?)
        } else {
            None
        };
        Ok(Listeners { data, grpc, admin })
    }
}

async fn bind(addr: std::net::SocketAddr, plane: &'static str) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| NodeError::Bind {
            addr,
            plane,
            source,
        })
}

impl Node {
    /// Builds the node: TLS and security first (a bad key or certificate
    /// fails before any model is compiled), then the engine, the restored
    /// deployments, telemetry and the pipeline.
    pub async fn build(cfg: CheckedConfig) -> Result<Node, NodeError> {
        let s = &cfg.server;
        let data_tls = setup::tls(
            "data plane",
            s.tls_cert.as_deref(),
            s.tls_key.as_deref(),
            s.tls_client_ca.as_deref(),
            s.tls_client_cert_required,
        )?;
        let a = &cfg.admin;
        let admin_tls = setup::tls(
            "admin API",
            a.tls_cert.as_deref(),
            a.tls_key.as_deref(),
            a.tls_client_ca.as_deref(),
            a.tls_client_cert_required,
        )?;
        let (auth, tenants, chains) = setup::security(&cfg)?;
        let deployer = Arc::new(restore(&cfg).await?);
        let registry = deployer.registry().clone();
        let telemetry = setup::telemetry(&cfg, &registry)?;
        let pipeline = Pipeline::new(registry, RequestLimits::for_server(&cfg.server))
            .with_prediction_log(telemetry.predlog.clone())
            .with_security(auth, tenants, chains)
            .with_telemetry(telemetry.metrics.clone(), telemetry.tracer.clone());
        let (fetcher, board) = setup::fleet(&cfg)?;
        if let (Some(m), Some(b)) = (&telemetry.metrics, &board) {
            m.observe_fleet(b.clone(), deployer.registry().clone());
        }
        // A node that follows models is ready once each has a version
        // (from the registry, or restored from its state after a restart).
        if board.as_ref().is_some_and(|b| !b.all_applied()) {
            pipeline.ready.store(false, Ordering::Release);
        }
        Ok(Node {
            cfg,
            deployer,
            fetcher,
            board,
            pipeline: Arc::new(pipeline),
            telemetry,
            data_tls,
            admin_tls,
        })
    }

    /// The inference pipeline the node's front-ends share.
    pub fn pipeline(&self) -> &Arc<Pipeline> {
        &self.pipeline
    }

    /// The control plane.
    pub fn deployer(&self) -> &Arc<Deployer> {
        &self.deployer
    }

    /// Serves until `shutdown` resolves: readiness turns false, the
    /// listeners stop accepting, requests in flight finish (within
    /// `[server] shutdown_timeout`), and the prediction log and exporters
    /// flush. Returns whether every connection finished in time.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> bool {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        self.background_tasks();
        let admin_task = listeners.admin.map(|l| {
            let serving = self.serve_admin(l, stopped(stop_rx.clone()));
            tokio::spawn(serving)
        });
        let pipeline = self.pipeline.clone();
        tokio::spawn(async move {
            shutdown.await;
            pipeline.ready.store(false, Ordering::Release);
            systemd::notify("STOPPING=1");
            let _ = stop_tx.send(true);
        });
        let plane = Arc::new(DataPlane::new(self.pipeline.clone(), stop_rx.clone()));
        let grpc_task = listeners.grpc.map(|l| {
            let serving = self.serve_front(plane.clone(), l, "gRPC", stopped(stop_rx.clone()));
            tokio::spawn(serving)
        });
        let drained = self
            .serve_front(plane, listeners.data, "data plane", stopped(stop_rx))
            .await;
        let drained = match grpc_task {
            Some(t) => t.await.unwrap_or(false) && drained,
            None => drained,
        };
        if let Some(t) = admin_task {
            let _ = t.await;
        }
        self.telemetry.flush().await;
        tracing::info!(drained, "stopped");
        drained
    }

    /// The rollout guard, the repository watcher when it polls, the
    /// fleet followers, and readiness (systemd's too).
    fn background_tasks(&self) {
        self.follow_tasks();
        tokio::spawn(run_guard(
            self.deployer.clone(),
            self.cfg.state.guard_interval.0,
        ));
        let poll = self.cfg.repository.poll_interval.0;
        if self.cfg.repository.path.is_some() && !poll.is_zero() {
            tokio::spawn(watch_repository(self.deployer.clone(), poll));
        }
    }

    /// One task per followed model; readiness once each has a version;
    /// systemd's `READY=1` then and its watchdog while the node lives.
    fn follow_tasks(&self) {
        let fleet = &self.cfg.fleet;
        if let Some(board) = &self.board {
            let poll = (fleet.poll_min.0, fleet.poll_max.0);
            for f in &fleet.follow {
                tokio::spawn(follow(
                    self.deployer.clone(),
                    self.fetcher.clone(),
                    board.clone(),
                    f.clone(),
                    fleet.reference_of(f),
                    poll,
                ));
            }
        }
        let board = self.board.clone();
        let pipeline = self.pipeline.clone();
        tokio::spawn(async move {
            if let Some(board) = board {
                while !board.all_applied() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                pipeline.ready.store(true, Ordering::Release);
                tracing::info!("every followed model has a version: ready");
            }
            systemd::notify("READY=1");
        });
        if let Some(every) = systemd::watchdog_interval() {
            let deployer = self.deployer.clone();
            tokio::spawn(async move {
                loop {
                    // Alive means the runtime answers: the control plane's
                    // table can be read.
                    let _ = deployer.registry().snapshot();
                    systemd::notify("WATCHDOG=1");
                    tokio::time::sleep(every).await;
                }
            });
        }
    }

    /// The data plane's front-ends (REST and gRPC) on `listener`, until
    /// `stop`.
    fn serve_front(
        &self,
        plane: Arc<DataPlane>,
        listener: TcpListener,
        what: &'static str,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = bool> + Send + 'static {
        let scheme = if self.data_tls.is_some() {
            "https"
        } else {
            "http"
        };
        if let Ok(addr) = listener.local_addr() {
            match what {
                "gRPC" => tracing::info!("gRPC also on {scheme}://{addr}"),
                _ => tracing::info!("listening on {scheme}://{addr}"),
            }
        }
        let opts = ListenerOptions::for_server(&self.cfg.server, self.data_tls.clone());
        let handler = move |req, conn| {
            let plane = plane.clone();
            async move { plane.handle(req, conn).await }
        };
        serve(listener, handler, opts, stop)
    }

    /// The admin API on `listener`, until `stop`.
    fn serve_admin(
        &self,
        listener: TcpListener,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = bool> + Send + 'static {
        if let Ok(a) = listener.local_addr() {
            let scheme = if self.admin_tls.is_some() {
                "https"
            } else {
                "http"
            };
            let token = if self.cfg.admin_token_set() {
                "required"
            } else {
                "not required: loopback only"
            };
            tracing::info!("admin API at {scheme}://{a} (token {token})");
        }
        let state = Arc::new(
            AdminState::for_config(
                &self.cfg,
                self.deployer.clone(),
                Some(self.telemetry.predlog.clone()),
                self.telemetry.metrics.clone(),
            )
            .with_fleet(self.fetcher.clone(), self.board.clone()),
        );
        let opts =
            ListenerOptions::for_admin(&self.cfg.admin, &self.cfg.server, self.admin_tls.clone());
        let handler = move |req, conn| crate::admin::handle(state.clone(), req, Some(conn));
        serve(listener, handler, opts, stop)
    }
}

/// The engine and the deployments: the repository's versions and every
/// deployed one, with the persisted traffic; what was refused is logged.
async fn restore(cfg: &CheckedConfig) -> Result<Deployer, NodeError> {
    let store = StateStore::open(&cfg.state.dir)?;
    let rt = Arc::new(setup::runtime(cfg, &store)?);
    let started = Instant::now();
    let (deployer, refused) = Deployer::start(
        rt,
        store,
        cfg.repository.path.clone(),
        cfg.model_defaults.clone(),
    )
    .await
    .map_err(NodeError::Deploy)?;
    let registry = deployer.registry();
    registry.set_version_pinning(cfg.server.version_pinning);
    let table = registry.snapshot();
    let mut loaded = 0;
    for (name, entry) in &table.models {
        for m in entry.versions.values() {
            loaded += 1;
            let component = m.component_id().unwrap_or_else(|| "-".into());
            tracing::info!(model = %name, version = %m.version, %component, sha256 = %m.digest, isolation = ?m.settings.isolation, compile = ?m.aot, "loaded");
        }
    }
    for r in &refused {
        tracing::error!(what = %r.what, reason = %r.error, "refused");
    }
    for message in crate::registry::dangling_bindings(&table, &cfg.policies) {
        tracing::error!("{message}");
    }
    let repository = cfg.repository.path.as_ref();
    tracing::info!(
        loaded,
        refused = refused.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "models loaded (repository: {}, state: {})",
        repository.map_or("none".to_string(), |p| p.display().to_string()),
        cfg.state.dir.display()
    );
    Ok(deployer)
}
