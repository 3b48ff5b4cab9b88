//! Counting a gRPC message's bytes as they arrive. tonic reads each
//! message whole before the service sees it, so the request body it reads
//! is metered: every data frame is taken from the connection's, the client
//! address's and the server's memory budgets as it arrives, exactly as the
//! REST front-end counts a body, and refused (RESOURCE_EXHAUSTED or
//! UNAVAILABLE, REST's wording) when there is no room. The bytes are given
//! back when the message moves into the pipeline, which counts it in the
//! request's own account from there on. The body's gRPC framing is
//! followed too, so a message announcing more than `[server] max_body` is
//! refused from its 5-byte header, before its bytes are received, with
//! REST's wording.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};

use super::status::to_status;
use crate::budget::Budget;
use crate::pipeline::{BodyRules, ConnInfo, Holder, refusal};
use crate::units::ByteSize;

/// The bytes one gRPC call's body holds in its connection's, client
/// address's and the server's budgets; all given back when it drops.
pub(crate) struct Meter {
    conn: Arc<ConnInfo>,
    server: Arc<Budget>,
    held: AtomicU64,
}

impl Meter {
    /// A meter holding nothing yet.
    pub(crate) fn new(conn: Arc<ConnInfo>, server: Arc<Budget>) -> Meter {
        Meter {
            conn,
            server,
            held: AtomicU64::new(0),
        }
    }

    /// The connection the call came over.
    pub(crate) fn conn(&self) -> &ConnInfo {
        &self.conn
    }

    fn budgets(&self) -> [(Holder, Option<&Budget>); 3] {
        [
            (Holder::Connection, Some(&self.conn.budget)),
            (Holder::Peer, self.conn.peer_budget.as_deref()),
            (Holder::Server, Some(&self.server)),
        ]
    }

    /// Takes `bytes` more in every budget, or says which one is full
    /// (nothing is taken then).
    fn take(&self, bytes: u64) -> Result<(), tonic::Status> {
        let budgets = self.budgets();
        for (i, (holder, budget)) in budgets.iter().enumerate() {
            let Some(budget) = budget else { continue };
            if budget.try_reserve(bytes) {
                continue;
            }
            for (_, taken) in &budgets[..i] {
                if let Some(b) = taken {
                    b.give_back(bytes);
                }
            }
            let held = self.held.load(Ordering::Acquire);
            let alone = held.saturating_add(bytes) > budget.capacity();
            return Err(to_status(refusal(
                *holder,
                alone,
                ByteSize(budget.capacity()),
                None,
            )));
        }
        self.held.fetch_add(bytes, Ordering::AcqRel);
        Ok(())
    }

    /// Gives back up to `bytes` (a message moved into the pipeline, which
    /// counts it from now on).
    pub(crate) fn give_back(&self, bytes: u64) {
        let mut given = 0;
        let _ = self
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                given = held.min(bytes);
                Some(held - given)
            });
        for (_, budget) in self.budgets() {
            if let Some(b) = budget {
                b.give_back(given);
            }
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let held = *self.held.get_mut();
        self.give_back(held);
    }
}

/// Where a body is in gRPC's framing: each message is a 5-byte header (a
/// compression flag and a big-endian length) and that many bytes.
#[derive(Default)]
struct Frames {
    header: [u8; 5],
    have: usize,
    remaining: u64,
}

impl Frames {
    /// Follows `data`; the length a message header announces when it is
    /// more than `max`.
    fn follow(&mut self, mut data: &[u8], max: u64) -> Result<(), u64> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let n = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= n as u64;
                data = &data[n..];
                continue;
            }
            let n = (self.header.len() - self.have).min(data.len());
            self.header[self.have..self.have + n].copy_from_slice(&data[..n]);
            self.have += n;
            data = &data[n..];
            if self.have == self.header.len() {
                let [_, a, b, c, d] = self.header;
                let len = u64::from(u32::from_be_bytes([a, b, c, d]));
                if len > max {
                    return Err(len);
                }
                (self.remaining, self.have) = (len, 0);
            }
        }
        Ok(())
    }
}

/// A request body whose data frames are counted in a [`Meter`], and whose
/// messages may be at most `max_body`.
pub(crate) struct Metered<B> {
    body: B,
    meter: Arc<Meter>,
    frames: Frames,
    rules: BodyRules,
}

impl<B> Metered<B> {
    /// Counts `body`'s bytes in `meter`, under `rules`' `max_body`.
    pub(crate) fn new(body: B, meter: Arc<Meter>, rules: BodyRules) -> Metered<B> {
        Metered {
            body,
            meter,
            frames: Frames::default(),
            rules,
        }
    }

    /// Counts one data frame; the refusal when it cannot be held.
    fn count(&mut self, data: &[u8]) -> Result<(), tonic::Status> {
        let max = self.rules.max_body as u64;
        if self.frames.follow(data, max).is_err() {
            return Err(to_status(self.rules.too_large()));
        }
        self.meter.take(data.len() as u64)
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => return Poll::Pending,
        };
        let counted = match frame.data_ref() {
            Some(data) => self.count(data),
            None => Ok(()),
        };
        if let Err(refused) = counted {
            // tonic finds the status in the error and answers with it.
            return Poll::Ready(Some(Err(Box::new(refused))));
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(capacity: u64, peer: Option<Arc<Budget>>) -> Arc<ConnInfo> {
        Arc::new(ConnInfo {
            peer: "127.0.0.1:9".parse().unwrap(),
            client_cert_cn: None,
            budget: Budget::new(capacity),
            peer_budget: peer,
        })
    }

    #[test]
    fn counts_in_every_budget_and_gives_back_on_drop() {
        let server = Arc::new(Budget::new(1000));
        let peer = Arc::new(Budget::new(300));
        let c = conn(100, Some(peer.clone()));
        let meter = Meter::new(c.clone(), server.clone());
        meter.take(60).unwrap();
        assert_eq!((server.used(), peer.used(), c.budget.used()), (60, 60, 60));
        // Past the connection's budget: nothing more is taken anywhere.
        let refused = meter.take(50).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("this connection"), "{refused:?}");
        assert_eq!((server.used(), peer.used(), c.budget.used()), (60, 60, 60));
        meter.give_back(20);
        assert_eq!(server.used(), 40);
        // Giving back more than is held gives back what is held.
        meter.give_back(1000);
        assert_eq!(server.used(), 0);
        meter.take(30).unwrap();
        drop(meter);
        assert_eq!((server.used(), peer.used(), c.budget.used()), (0, 0, 0));
    }

    #[test]
    fn frames_are_followed_across_pieces() {
        let mut f = Frames::default();
        let frame = |len: u32| {
            let mut v = vec![0u8];
            v.extend_from_slice(&len.to_be_bytes());
            v.extend(std::iter::repeat_n(7u8, len as usize));
            v
        };
        // Two messages, an empty one, then a header split in two pieces.
        let mut all = frame(3);
        all.extend(frame(0));
        all.extend(frame(10));
        for piece in all.chunks(2) {
            f.follow(piece, 10).unwrap();
        }
        assert_eq!((f.have, f.remaining), (0, 0));
        let big = frame(11);
        f.follow(&big[..3], 10).unwrap();
        assert_eq!(f.follow(&big[3..5], 10), Err(11));
    }

    #[test]
    fn the_servers_budget_spent_is_unavailable() {
        let server = Arc::new(Budget::new(100));
        let _others = server.try_take(90).unwrap();
        let meter = Meter::new(conn(1000, None), server.clone());
        let refused = meter.take(20).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::Unavailable);
        assert_eq!(server.used(), 90);
    }
}
