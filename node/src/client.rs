//! A small client for the admin API, used by the CLI's deploy commands:
//! plain HTTP on loopback, or HTTPS (a private CA, or the public roots)
//! with an optional client certificate; bounded connect and answer times.
//! It sends and reads the [`crate::contract`] documents.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::contract::{
    ChangeReply, DeployRequest, ErrorReply, ModelStatus, NodeStatus, TrafficRequest,
};
use tokio::io::{AsyncRead, AsyncWrite};

/// How long connecting (and the TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a call did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `http(s)://host:port`.
    #[error("admin URL {0:?} must look like http://127.0.0.1:8082 or https://node:8082")]
    Url(String),
    /// The TLS settings cannot be used as given.
    #[error("admin TLS: {0}")]
    Tls(String),
    /// A TLS file cannot be read or used.
    #[error("admin TLS: {what}")]
    TlsFile {
        /// The file, or what was being set up.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The server could not be reached or the exchange failed.
    #[error("cannot reach the admin API at {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The server refused the call.
    #[error("refused ({}): {}", status.as_u16(), reply.error)]
    Refused {
        /// The HTTP status.
        status: StatusCode,
        /// The server's answer.
        reply: ErrorReply,
    },
    /// The answer is not the document this client expects (another
    /// version of edgeserve?).
    #[error("the admin API at {url} answered {status} with an unexpected document: {source}")]
    Answer {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
}

/// Which traffic role a change sets or clears.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Traffic {
    /// The primary (set only).
    Primary,
    /// The canary.
    Canary,
    /// The shadow.
    Shadow,
}

impl Traffic {
    fn path(self) -> &'static str {
        match self {
            Traffic::Primary => "primary",
            Traffic::Canary => "canary",
            Traffic::Shadow => "shadow",
        }
    }
}

/// TLS files for an `https://` admin URL.
#[derive(Clone, Debug, Default)]
pub struct ClientTls {
    /// PEM bundle of the CAs that sign the node's certificate (default: the
    /// public web roots).
    pub ca: Option<PathBuf>,
    /// PEM client certificate, when the node requires one.
    pub cert: Option<PathBuf>,
    /// Its PEM private key.
    pub key: Option<PathBuf>,
}

/// The admin API at one address.
#[derive(Clone)]
pub struct AdminClient {
    base: String,
    authority: String,
    token: Option<String>,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    timeout: Duration,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("tls", &self.tls.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(bad(format!("cannot read {}", path.display())))
}

/// A TLS failure about `what`, keeping its cause.
fn bad<E: std::error::Error + Send + Sync + 'static>(
    what: impl Into<String>,
) -> impl FnOnce(E) -> ClientError {
    move |e| ClientError::TlsFile {
        what: what.into(),
        source: Box::new(e),
    }
}

fn connector(files: &ClientTls) -> Result<tokio_rustls::TlsConnector, ClientError> {
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca {
        Some(ca) => {
            let name = ca.display().to_string();
            for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
                roots
                    .add(cert.map_err(bad(name.clone()))?)
                    .map_err(bad(name.clone()))?;
            }
            if roots.is_empty() {
                return Err(ClientError::Tls(format!(
                    "{} holds no PEM certificate",
                    ca.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(bad("TLS versions"))?
        .with_root_certificates(roots);
    let mut config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(bad(cert.display().to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                .map_err(bad(key.display().to_string()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(bad("the client certificate and key"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ClientError::Tls(
                "a client certificate needs both --cert and --key".into(),
            ));
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

impl AdminClient {
    /// A client for `url` (`http://host:port` or `https://host:port`),
    /// with an optional token, TLS files for `https`, and the longest it
    /// waits for an answer.
    pub fn new(
        url: &str,
        token: Option<String>,
        tls: &ClientTls,
        timeout: Duration,
    ) -> Result<AdminClient, ClientError> {
        let (secure, rest) = match url.split_once("://") {
            Some(("http", rest)) => (false, rest),
            Some(("https", rest)) => (true, rest),
            _ => return Err(ClientError::Url(url.to_string())),
        };
        let authority = rest.trim_end_matches('/').to_string();
        if authority.is_empty() || authority.contains('/') {
            return Err(ClientError::Url(url.to_string()));
        }
        let tls = if secure {
            let host = crate::admin::host_name(&authority);
            let name = ServerName::try_from(host.to_string())
                .map_err(|_| ClientError::Url(url.to_string()))?;
            Some((connector(tls)?, name))
        } else {
            None
        };
        Ok(AdminClient {
            base: format!("{}://{authority}", if secure { "https" } else { "http" }),
            authority,
            token: token.filter(|t| !t.is_empty()),
            tls,
            timeout,
        })
    }

    fn fail(&self, message: impl std::fmt::Display) -> ClientError {
        ClientError::Connect {
            url: self.base.clone(),
            message: message.to_string(),
        }
    }

    /// `GET /admin/v1/models`: every model and recent events.
    pub async fn status(&self) -> Result<NodeStatus, ClientError> {
        self.call(Method::GET, "/admin/v1/models", None::<&()>)
            .await
    }

    /// `GET /admin/v1/models/{m}`: one model.
    pub async fn model(&self, name: &str) -> Result<ModelStatus, ClientError> {
        let path = format!("/admin/v1/models/{name}");
        self.call(Method::GET, &path, None::<&()>).await
    }

    /// Deploys `name@version` from an upload or a node folder.
    pub async fn deploy(
        &self,
        name: &str,
        version: &str,
        request: &DeployRequest,
    ) -> Result<ChangeReply, ClientError> {
        let path = format!("/admin/v1/models/{name}/versions/{version}");
        self.call(Method::PUT, &path, Some(request)).await
    }

    /// Makes a version the primary, the canary (with its weight) or the
    /// shadow.
    pub async fn set(
        &self,
        name: &str,
        role: Traffic,
        request: &TrafficRequest,
    ) -> Result<ChangeReply, ClientError> {
        let path = format!("/admin/v1/models/{name}/{}", role.path());
        self.call(Method::PUT, &path, Some(request)).await
    }

    /// Stops the canary or the shadow.
    pub async fn clear(&self, name: &str, role: Traffic) -> Result<ChangeReply, ClientError> {
        let path = format!("/admin/v1/models/{name}/{}", role.path());
        self.call(Method::DELETE, &path, None::<&()>).await
    }

    /// Goes back to the previous primary.
    pub async fn rollback(&self, name: &str) -> Result<ChangeReply, ClientError> {
        let path = format!("/admin/v1/models/{name}/rollback");
        self.call(Method::POST, &path, None::<&()>).await
    }

    /// Removes a version without traffic.
    pub async fn remove(&self, name: &str, version: &str) -> Result<ChangeReply, ClientError> {
        let path = format!("/admin/v1/models/{name}/versions/{version}");
        self.call(Method::DELETE, &path, None::<&()>).await
    }

    /// Sends one request with an optional JSON body and reads the answer
    /// as `T` (a refusal as [`ClientError::Refused`]).
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl Serialize + ?Sized)>,
    ) -> Result<T, ClientError> {
        let payload = match body {
            Some(b) => serde_json::to_vec(b).map_err(|e| self.fail(e))?,
            None => Vec::new(),
        };
        let (status, bytes) = self.send(method, path, payload).await?;
        let bad = |source| ClientError::Answer {
            url: self.base.clone(),
            status,
            source,
        };
        if !status.is_success() {
            let reply = serde_json::from_slice(&bytes).unwrap_or_else(|_| ErrorReply {
                error: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            });
            return Err(ClientError::Refused { status, reply });
        }
        serde_json::from_slice(&bytes).map_err(bad)
    }

    /// One exchange within the connect and answer limits.
    async fn send(
        &self,
        method: Method,
        path: &str,
        payload: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let connect = async {
            let tcp = tokio::net::TcpStream::connect(&self.authority)
                .await
                .map_err(|e| self.fail(e))?;
            match &self.tls {
                None => Ok::<_, ClientError>(Box::new(tcp) as Box<dyn Io>),
                Some((connector, name)) => {
                    let tls = connector
                        .connect(name.clone(), tcp)
                        .await
                        .map_err(|e| self.fail(format!("TLS: {e}")))?;
                    Ok(Box::new(tls) as Box<dyn Io>)
                }
            }
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| self.fail(format!("no connection within {CONNECT_TIMEOUT:?}")))??;
        let exchange = self.exchange(stream, method, path, payload);
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| {
                self.fail(format!(
                    "no answer within {:?} (--timeout; a deploy compiles its component first)",
                    self.timeout
                ))
            })?
    }

    async fn exchange(
        &self,
        stream: Box<dyn Io>,
        method: Method,
        path: &str,
        payload: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.fail(e))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(t) = &self.token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| self.fail(e))?;
        let resp = sender.send_request(req).await.map_err(|e| self.fail(e))?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.fail(e))?
            .to_bytes();
        Ok((status, bytes))
    }
}

/// A plain or TLS stream.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::reply::with_causes;

    #[test]
    fn tls_file_errors_keep_their_cause() {
        let tls = ClientTls {
            ca: Some(PathBuf::from("/nonexistent/ca.pem")),
            ..ClientTls::default()
        };
        let Err(e) = AdminClient::new("https://127.0.0.1:8082", None, &tls, Duration::from_secs(1))
        else {
            panic!("a missing CA file must be refused");
        };
        assert!(matches!(e, ClientError::TlsFile { .. }), "{e:?}");
        let text = with_causes(&e);
        assert!(
            text.starts_with("admin TLS: cannot read /nonexistent/ca.pem: "),
            "{text}"
        );
        let io = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .map(std::io::Error::kind);
        assert_eq!(io, Some(std::io::ErrorKind::NotFound), "{text}");

        let tls = ClientTls {
            cert: Some(PathBuf::from("/nonexistent/cert.pem")),
            ..ClientTls::default()
        };
        let Err(e) = AdminClient::new("https://127.0.0.1:8082", None, &tls, Duration::from_secs(1))
        else {
            panic!("a certificate without a key must be refused");
        };
        assert_eq!(
            e.to_string(),
            "admin TLS: a client certificate needs both --cert and --key"
        );
    }
}
