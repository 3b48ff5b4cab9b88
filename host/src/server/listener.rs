//! Accept loop: plain TCP or TLS, HTTP/1.1 with keep-alive and HTTP/2
//! (h2c by prior knowledge, or ALPN over TLS), bounded header read time,
//! and graceful shutdown that drains in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};

/// What the listener knows about a connection, handed to the handler with
/// each of its requests.
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub peer: std::net::SocketAddr,
    /// Subject common name of a verified TLS client certificate.
    pub client_cert_cn: Option<Arc<str>>,
}

/// The subject common name of the first (leaf) certificate, if it parses
/// and has one. rustls has already verified the chain.
fn leaf_common_name(certs: Option<&[rustls::pki_types::CertificateDer<'_>]>) -> Option<Arc<str>> {
    let leaf = certs?.first()?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?.as_str().ok()?;
    Some(Arc::from(cn))
}

/// Listener behaviour.
#[derive(Clone, Debug)]
pub struct ListenerOptions {
    /// Time a client has to send request headers (and finish a TLS
    /// handshake).
    pub header_read_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Connections served at once.
    pub max_connections: u32,
    /// TLS settings; plain TCP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// Serves connections with `handler` until `shutdown` resolves, then stops
/// accepting and waits up to `shutdown_timeout` for in-flight requests.
/// The handler gets each request with its connection's [`ConnInfo`] (an
/// `Arc` clone, not a per-request allocation). Returns whether every
/// connection finished in time.
pub async fn serve<H, F>(
    listener: TcpListener,
    handler: H,
    opts: ListenerOptions,
    shutdown: impl Future<Output = ()>,
) -> bool
where
    H: Fn(Request<Incoming>, Arc<ConnInfo>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<Full<Bytes>>> + Send + 'static,
{
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    let builder = Arc::new(builder);
    let tls = opts.tls.clone().map(TlsAcceptor::from);
    let graceful = GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(
        opts.max_connections.max(1) as usize
    ));
    tokio::pin!(shutdown);

    loop {
        // Wait for a free connection slot before accepting: excess clients
        // queue in the kernel's backlog instead of in our memory.
        let permit = tokio::select! {
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let handler = handler.clone();
        let service = move |info: Arc<ConnInfo>| {
            service_fn(move |req: Request<Incoming>| {
                let fut = handler(req, info.clone());
                async move { Ok::<_, std::convert::Infallible>(fut.await) }
            })
        };
        let builder = builder.clone();
        match &tls {
            None => {
                // A client that connects and sends nothing must not hold a
                // connection slot: hyper's protocol detection has no timer.
                let first_byte = opts.header_read_timeout;
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let mut probe = [0u8; 1];
                    if !matches!(
                        tokio::time::timeout(first_byte, stream.peek(&mut probe)).await,
                        Ok(Ok(1))
                    ) {
                        tracing::debug!(%peer, "no request bytes in time; closing");
                        return;
                    }
                    let info = Arc::new(ConnInfo {
                        peer,
                        client_cert_cn: None,
                    });
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service(info))
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let timeout = opts.header_read_timeout;
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let info = Arc::new(ConnInfo {
                        peer,
                        client_cert_cn: leaf_common_name(stream.get_ref().1.peer_certificates()),
                    });
                    let conn = builder
                        .serve_connection(TokioIo::new(stream), service(info))
                        .into_owned();
                    if let Err(e) = watcher.watch(conn).await {
                        tracing::debug!(%peer, error = %e, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
        }
    }

    drop(listener);
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    match tokio::time::timeout(opts.shutdown_timeout, graceful.shutdown()).await {
        Ok(()) => {
            tracing::info!("all connections drained");
            true
        }
        Err(_) => {
            tracing::warn!(timeout = ?opts.shutdown_timeout, "shutdown timeout passed with requests still in flight");
            false
        }
    }
}
