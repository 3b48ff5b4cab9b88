//! The node driven in-process: built from a repository and a config like
//! `edgeserve serve`, its data-plane handler called directly with
//! requests, no socket and no process, and its log captured. For HTTP
//! behaviour that does not need a process (signals, TLS, kill -9, the
//! compile worker, the admin API's listener and the CLI do: those tests
//! start the real binary, in `cli/tests`).

#![allow(dead_code, reason = "each test file uses a part")]

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use edgeserve_node::config::ServeConfig;
use edgeserve_node::node::{CheckedConfig, Node};
use edgeserve_node::pipeline::{ConnInfo, Pipeline};
use edgeserve_node::server::reply::with_causes;
use edgeserve_runtime::budget::Budget;
use edgeserve_test_support::{Repo, tempfile};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tracing::Dispatch;

/// A node's data plane, in this process.
pub(crate) struct App {
    pipeline: Arc<Pipeline>,
    /// The node (kept for its life: it owns the engine, whose epoch
    /// ticker enforces deadlines).
    node: Node,
    rt: tokio::runtime::Runtime,
    log: Log,
    dispatch: Dispatch,
    /// The one connection every call arrives on, as a listener would
    /// describe it: a loopback peer with the configured memory budgets.
    conn: Arc<ConnInfo>,
    _state: tempfile::TempDir,
}

/// An answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status.
    pub(crate) status: u16,
    /// Headers.
    pub(crate) headers: http::HeaderMap,
    /// Body.
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as JSON (`Null` when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// `(status, JSON body)`.
    pub(crate) fn pair(&self) -> (u16, Value) {
        (self.status, self.json())
    }

    /// The body as text.
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, when present and text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One node's log lines, in the binary's format: the node's threads (and
/// every call made through [`App`]) log here, not to the test's output.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl App {
    /// A node serving `repo` with the extra TOML `config` (no admin API).
    pub(crate) fn start(repo: &Repo, config: &str) -> App {
        match App::try_start(repo, config) {
            Ok(app) => app,
            Err(e) => panic!("the node does not start: {e}"),
        }
    }

    /// Like [`App::start`], with the reason a node refuses to start (the
    /// error `edgeserve serve` would print, causes included).
    pub(crate) fn try_start(repo: &Repo, config: &str) -> Result<App, String> {
        let state = tempfile::tempdir().expect("state folder");
        let text = format!(
            "{config}\n[repository]\npath = {:?}\n[state]\ndir = {:?}\n",
            repo.path(),
            state.path().join("state")
        );
        let mut cfg: ServeConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        cfg.admin.enabled = false;
        let conn = Arc::new(ConnInfo {
            peer: std::net::SocketAddr::from(([127, 0, 0, 1], 40000)),
            client_cert_cn: None,
            budget: Budget::new(cfg.server.connection_memory().0),
            peer_budget: Some(Arc::new(Budget::new(cfg.server.peer_memory().0))),
        });
        let cfg = CheckedConfig::new(cfg).map_err(|e| with_causes(&e))?;
        let log = Log::default();
        let writer = log.clone();
        let dispatch = Dispatch::new(
            tracing_subscriber::fmt()
                .with_ansi(false)
                .with_max_level(tracing::Level::INFO)
                .with_writer(move || writer.clone())
                .finish(),
        );
        let on_start = dispatch.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || {
                // The thread logs to this node for as long as it lives.
                std::mem::forget(tracing::dispatcher::set_default(&on_start));
            })
            .build()
            .expect("runtime");
        let node = tracing::dispatcher::with_default(&dispatch, || rt.block_on(Node::build(cfg)))
            .map_err(|e| with_causes(&e))?;
        Ok(App {
            pipeline: node.pipeline().clone(),
            node,
            rt,
            log,
            dispatch,
            conn,
            _state: state,
        })
    }

    /// The node's deployer (the admin API's operations, called directly).
    pub(crate) fn deployer(&self) -> &edgeserve_node::deploy::Deployer {
        self.node.deployer()
    }

    /// Runs a future on the node's runtime (e.g. a deployer operation).
    pub(crate) fn run<F: std::future::Future>(&self, f: F) -> F::Output {
        tracing::dispatcher::with_default(&self.dispatch, || self.rt.block_on(f))
    }

    /// The admin API's status document of one model (`Null` when unknown),
    /// read from the node's deployer.
    pub(crate) fn model_status(&self, name: &str) -> Value {
        serde_json::to_value(self.node.deployer().model_status(name)).unwrap_or_default()
    }

    /// Everything the node logged so far.
    pub(crate) fn log(&self) -> String {
        let bytes = self.log.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// Waits until the log contains `needle`.
    pub(crate) fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        edgeserve_test_support::wait_until(timeout, || self.log().contains(needle))
    }

    /// Sends one request through the data plane's handler.
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        let mut req = http::Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body.into())).expect("request");
        let (pipeline, conn) = (self.pipeline.clone(), self.conn.clone());
        tracing::dispatcher::with_default(&self.dispatch, || {
            self.rt.block_on(async move {
                let resp = edgeserve_node::server::handle(pipeline, req, Some(conn)).await;
                let (parts, body) = resp.into_parts();
                let body = body
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                Reply {
                    status: parts.status.as_u16(),
                    headers: parts.headers,
                    body,
                }
            })
        })
    }

    /// `GET path`.
    pub(crate) fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], Bytes::new())
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.post_with(path, body, &[])
    }

    /// `POST path` with a JSON body and extra headers.
    pub(crate) fn post_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Reply {
        let mut all = vec![("content-type", "application/json")];
        all.extend_from_slice(headers);
        self.call("POST", path, &all, body.to_string())
    }
}
