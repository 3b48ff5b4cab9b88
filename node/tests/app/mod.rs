//! The node driven in-process: built from a repository and a config like
//! `edgeserve serve`, its data-plane handler called directly with
//! requests, no socket and no process. For HTTP behaviour that does not
//! need a process (signals, TLS, kill -9, the compile worker do).

use std::sync::Arc;

use bytes::Bytes;
use edgeserve_node::config::ServeConfig;
use edgeserve_node::node::{CheckedConfig, Node};
use edgeserve_node::pipeline::Pipeline;
use edgeserve_test_support::{Repo, tempfile};
use http_body_util::{BodyExt, Full};

/// A node's data plane, in this process.
pub(crate) struct App {
    pipeline: Arc<Pipeline>,
    rt: tokio::runtime::Runtime,
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
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// `(status, JSON body)`.
    pub(crate) fn pair(&self) -> (u16, serde_json::Value) {
        (self.status, self.json())
    }
}

impl App {
    /// A node serving `repo` with the extra TOML `config` (no admin API).
    pub(crate) fn start(repo: &Repo, config: &str) -> App {
        let state = tempfile::tempdir().expect("state folder");
        let text = format!(
            "{config}\n[repository]\npath = {:?}\n[state]\ndir = {:?}\n",
            repo.path(),
            state.path().join("state")
        );
        let mut cfg: ServeConfig = toml::from_str(&text).expect("config parses");
        cfg.admin.enabled = false;
        let cfg = CheckedConfig::new(cfg).expect("config is valid");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let node = rt.block_on(Node::build(cfg)).expect("node builds");
        App {
            pipeline: node.pipeline().clone(),
            rt,
            _state: state,
        }
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
        let pipeline = self.pipeline.clone();
        self.rt.block_on(async move {
            let resp = edgeserve_node::server::handle(pipeline, req, None).await;
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
    }

    /// `GET path`.
    pub(crate) fn get(&self, path: &str) -> Reply {
        self.call("GET", path, &[], Bytes::new())
    }

    /// `POST path` with a JSON body.
    pub(crate) fn post_json(&self, path: &str, body: &serde_json::Value) -> Reply {
        self.call(
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string(),
        )
    }
}
