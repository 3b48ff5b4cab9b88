//! Accept loop: plain TCP or TLS, HTTP/1.1 with keep-alive and HTTP/2
//! (h2c by prior knowledge, or ALPN over TLS), and the limits that keep one
//! client from holding what others need: connections served at once and
//! per client address, a bounded time to send the first byte, the TLS
//! handshake and request headers, and an idle timeout that closes a
//! connection (HTTP/1.1 or HTTP/2) with no request in flight. A request
//! counts as in flight until its answer's body has been sent (a gRPC
//! stream for as long as it is open). Shutdown stops accepting and drains
//! in-flight requests.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::peers::{PeerSlot, PeerTable};
use crate::budget::Budget;
pub use crate::pipeline::ConnInfo;

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
    /// Time a client has to send its first byte, finish a TLS handshake,
    /// and send each request's headers.
    pub header_read_timeout: Duration,
    /// A connection with no request in flight for this long is closed.
    pub idle_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_timeout: Duration,
    /// Connections served at once.
    pub max_connections: u32,
    /// Connections one client address may hold.
    pub max_connections_per_peer: u32,
    /// Memory (bytes) the requests of one connection may hold at once.
    pub connection_memory: u64,
    /// Memory (bytes) the requests of one client address may hold at once.
    pub peer_memory: u64,
    /// HTTP/2 streams one connection may have open at once.
    pub max_streams: u32,
    /// TLS settings; plain TCP when `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ListenerOptions {
    /// The data plane's listener, as `[server]` sets it.
    pub fn for_server(
        s: &crate::config::ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ListenerOptions {
        ListenerOptions {
            header_read_timeout: s.header_read_timeout.0,
            idle_timeout: s.idle_timeout.0,
            shutdown_timeout: s.shutdown_timeout.0,
            max_connections: s.max_connections,
            max_connections_per_peer: s.max_connections_per_peer,
            connection_memory: s.connection_memory().0,
            peer_memory: s.peer_memory().0,
            max_streams: 256,
            tls,
        }
    }

    /// The admin listener: its own connection limits (its slots are taken
    /// before authentication, so one client must not hold them all).
    pub fn for_admin(
        a: &crate::config::AdminConfig,
        s: &crate::config::ServerConfig,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> ListenerOptions {
        ListenerOptions {
            header_read_timeout: s.header_read_timeout.0,
            idle_timeout: a.idle_timeout.0,
            shutdown_timeout: s.shutdown_timeout.0,
            max_connections: a.max_connections,
            max_connections_per_peer: a.max_connections_per_peer,
            // An upload, and its pieces joined into one.
            connection_memory: a.max_upload.0.saturating_mul(2),
            peer_memory: a.max_upload.0.saturating_mul(2),
            max_streams: 16,
            tls,
        }
    }
}

/// How long a connection told to close may take to finish its requests.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// Requests in flight on one connection, and when the last one ended.
#[derive(Debug)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds after `opened` when the connection last became idle.
    idle_since_ms: AtomicU64,
    opened: Instant,
}

/// Counts a request as in flight until its answer has been sent (or the
/// request is dropped).
struct InFlight(Arc<Activity>);

/// An answer's body that keeps its request in flight until hyper has sent
/// the last of it (or dropped it): a streamed answer is not idle.
struct Answer<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B: Body + Unpin> Body for Answer<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl InFlight {
    fn new(activity: &Arc<Activity>) -> InFlight {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.idle_since_ms
            .store(a.opened.elapsed().as_millis() as u64, Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Activity {
    /// When the connection will have been idle for `idle`, or `None` while
    /// a request is in flight.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        (self.in_flight.load(Ordering::Acquire) == 0).then(|| {
            self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire)) + idle
        })
    }
}

/// Connections being served, so shutdown can wait for them.
#[derive(Debug, Default)]
struct Live {
    count: AtomicUsize,
    drained: tokio::sync::Notify,
}

struct LiveGuard(Arc<Live>);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

/// Serves connections with `handler` until `shutdown` resolves, then stops
/// accepting and waits up to `shutdown_timeout` for in-flight requests.
/// The handler gets each request with its connection's [`ConnInfo`] (an
/// `Arc` clone, not a per-request allocation). Returns whether every
/// connection finished in time.
pub async fn serve<H, F, R>(
    listener: TcpListener,
    handler: H,
    opts: ListenerOptions,
    shutdown: impl Future<Output = ()>,
) -> bool
where
    H: Fn(Request<Incoming>, Arc<ConnInfo>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<R>> + Send + 'static,
    R: Body<Data = Bytes> + Send + Unpin + 'static,
    R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let builder = http_builder(&opts);
    let tls = opts.tls.clone().map(TlsAcceptor::from);
    let peers = PeerTable::new(opts.max_connections_per_peer, opts.peer_memory);
    let live = Arc::new(Live::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
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
        let Some(slot) = peers.admit(peer.ip()) else {
            tracing::debug!(%peer, "this client address holds its most connections; closing");
            continue;
        };
        let _ = stream.set_nodelay(true);
        live.count.fetch_add(1, Ordering::AcqRel);
        let conn = Connection {
            peer,
            slot,
            live: LiveGuard(live.clone()),
            permit,
            builder: builder.clone(),
            opts: opts.clone(),
            stop: stop_rx.clone(),
        };
        let handler = handler.clone();
        match &tls {
            None => {
                tokio::spawn(conn.serve_plain(stream, handler));
            }
            Some(acceptor) => {
                tokio::spawn(conn.serve_tls(stream, acceptor.clone(), handler));
            }
        }
    }

    drop(listener);
    tracing::info!("shutting down: no new connections, draining in-flight requests");
    let _ = stop_tx.send(true);
    drain(&live, opts.shutdown_timeout).await
}

/// The HTTP/1.1 and HTTP/2 settings every connection is served with.
fn http_builder(opts: &ListenerOptions) -> Arc<auto::Builder<TokioExecutor>> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(opts.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(opts.max_streams)
        .max_pending_accept_reset_streams(64)
        .max_local_error_reset_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(10));
    Arc::new(builder)
}

/// Waits up to `timeout` for every connection to finish; whether they did.
async fn drain(live: &Live, timeout: Duration) -> bool {
    let drained = async {
        loop {
            let notified = live.drained.notified();
            if live.count.load(Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    };
    match tokio::time::timeout(timeout, drained).await {
        Ok(()) => {
            tracing::info!("all connections drained");
            true
        }
        Err(_) => {
            tracing::warn!(
                ?timeout,
                "shutdown timeout passed with requests still in flight"
            );
            false
        }
    }
}

/// One accepted connection and everything it holds until it closes.
struct Connection {
    peer: std::net::SocketAddr,
    slot: PeerSlot,
    live: LiveGuard,
    permit: tokio::sync::OwnedSemaphorePermit,
    builder: Arc<auto::Builder<TokioExecutor>>,
    opts: ListenerOptions,
    stop: tokio::sync::watch::Receiver<bool>,
}

impl Connection {
    /// Serves a plain TCP connection; a client that connects and sends
    /// nothing does not hold a slot (hyper's protocol detection has no
    /// timer).
    async fn serve_plain<H, F, R>(self, stream: tokio::net::TcpStream, handler: H)
    where
        H: Fn(Request<Incoming>, Arc<ConnInfo>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<R>> + Send + 'static,
        R: Body<Data = Bytes> + Send + Unpin + 'static,
        R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let mut probe = [0u8; 1];
        let first = tokio::time::timeout(self.opts.header_read_timeout, stream.peek(&mut probe));
        if !matches!(first.await, Ok(Ok(1))) {
            tracing::debug!(peer = %self.peer, "no request bytes in time; closing");
            return;
        }
        self.drive(stream, None, handler).await;
    }

    /// Serves a TLS connection once its handshake finishes in time.
    async fn serve_tls<H, F, R>(
        self,
        stream: tokio::net::TcpStream,
        acceptor: TlsAcceptor,
        handler: H,
    ) where
        H: Fn(Request<Incoming>, Arc<ConnInfo>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<R>> + Send + 'static,
        R: Body<Data = Bytes> + Send + Unpin + 'static,
        R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let stream = match tokio::time::timeout(
            self.opts.header_read_timeout,
            acceptor.accept(stream),
        )
        .await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "TLS handshake timed out");
                return;
            }
        };
        let cn = leaf_common_name(stream.get_ref().1.peer_certificates());
        self.drive(stream, cn, handler).await;
    }

    /// Runs HTTP on the connection until the client closes it, it stays
    /// idle past `idle_timeout`, or the server shuts down; then lets its
    /// requests finish (within a grace period) and frees its slots.
    async fn drive<I, H, F, R>(mut self, io: I, client_cert_cn: Option<Arc<str>>, handler: H)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, Arc<ConnInfo>) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Response<R>> + Send + 'static,
        R: Body<Data = Bytes> + Send + Unpin + 'static,
        R::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let info = Arc::new(ConnInfo {
            peer: self.peer,
            client_cert_cn,
            budget: Budget::new(self.opts.connection_memory),
            peer_budget: Some(self.slot.budget.clone()),
        });
        let activity = Arc::new(Activity {
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
            opened: Instant::now(),
        });
        let service = {
            let activity = activity.clone();
            service_fn(move |req: Request<Incoming>| {
                let in_flight = InFlight::new(&activity);
                let fut = handler(req, info.clone());
                async move {
                    let resp = fut.await.map(|body| Answer {
                        body,
                        _in_flight: in_flight,
                    });
                    Ok::<_, std::convert::Infallible>(resp)
                }
            })
        };
        let conn = self
            .builder
            .serve_connection(TokioIo::new(io), service)
            .into_owned();
        tokio::pin!(conn);
        let idle = self.opts.idle_timeout;
        let ending = loop {
            let wake = activity
                .idle_deadline(idle)
                .unwrap_or_else(|| Instant::now() + idle);
            tokio::select! {
                done = conn.as_mut() => {
                    if let Err(e) = done {
                        tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
                    }
                    break None;
                }
                () = tokio::time::sleep_until(wake.into()) => {
                    if activity.idle_deadline(idle).is_some_and(|d| d <= Instant::now()) {
                        tracing::debug!(peer = %self.peer, ?idle, "idle connection; closing");
                        break Some(CLOSE_GRACE);
                    }
                }
                _ = self.stop.wait_for(|stop| *stop) => break Some(self.opts.shutdown_timeout),
            }
        };
        if let Some(grace) = ending {
            // HTTP/2: GOAWAY; HTTP/1.1: close after the current response.
            // A client that never reads its answers is dropped after that.
            conn.as_mut().graceful_shutdown();
            if tokio::time::timeout(grace, conn.as_mut()).await.is_err() {
                tracing::debug!(peer = %self.peer, "connection did not close in time; dropped");
            }
        }
        drop((self.permit, self.slot, self.live));
    }
}
