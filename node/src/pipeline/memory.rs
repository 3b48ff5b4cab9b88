//! The memory one request holds, counted as it is spent (body bytes as
//! they arrive, then its decoded tensors) in every budget it belongs to:
//! its connection's, its client address's, its tenant's and the server's.
//! Nothing is reserved for what a client merely declares, so a client
//! that announces large bodies and sends nothing holds nothing; and no
//! single connection, address or tenant can take the whole server's room.

use std::time::Duration;

use http::StatusCode;

use super::error::ApiError;
use crate::budget::{Budget, Taken};
use crate::units::ByteSize;

/// Requests holding at most this much may wait for room.
const SMALL: u64 = 256 << 10;

/// Who a budget belongs to, for the refusal's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Holder {
    /// The connection's budget.
    Connection,
    /// The client address's budget.
    Peer,
    /// The tenant's budget.
    Tenant,
    /// The server's budget.
    Server,
}

/// A request's share of each budget it belongs to; all of it is given back
/// when the request ends.
pub struct RequestMemory<'a> {
    shares: [Option<(Holder, Taken<'a>)>; 4],
    /// How long a request waits for room before it is refused.
    wait: Duration,
}

impl<'a> RequestMemory<'a> {
    /// A request that holds nothing yet, counted against the server's
    /// budget and whichever of its connection's, peer's and tenant's exist.
    pub(crate) fn new(
        server: &'a Budget,
        connection: Option<&'a Budget>,
        peer: Option<&'a Budget>,
        tenant: Option<&'a Budget>,
        wait: Duration,
    ) -> RequestMemory<'a> {
        let share = |holder, budget: Option<&'a Budget>| budget.map(|b| (holder, Taken::none(b)));
        RequestMemory {
            // The narrowest first: a client over its own limit is refused
            // before it waits for room the server gives everyone.
            shares: [
                share(Holder::Connection, connection),
                share(Holder::Peer, peer),
                share(Holder::Tenant, tenant),
                share(Holder::Server, Some(server)),
            ],
            wait,
        }
    }

    /// Takes `bytes` more in every budget. A small request (holding at
    /// most [`SMALL`] with these bytes) waits up to the request's wait for
    /// room; a larger one is answered at once, so requests that already
    /// hold memory never sit waiting for each other's. Refused with 413
    /// when this request alone would pass a limit, 429 when the client's
    /// (or tenant's) other requests hold the room, 503 when the server's is
    /// spent.
    pub(crate) async fn grow(&mut self, bytes: u64, tenant: Option<&str>) -> Result<(), ApiError> {
        let now = tokio::time::Instant::now();
        for (holder, taken) in self.shares.iter_mut().flatten() {
            let small = taken.units().saturating_add(bytes) <= SMALL;
            let until = if small { now + self.wait } else { now };
            if taken.grow_by(bytes, until).await {
                continue;
            }
            let capacity = taken.budget().capacity();
            let alone = taken.units().saturating_add(bytes) > capacity;
            return Err(refusal(*holder, alone, ByteSize(capacity), tenant));
        }
        Ok(())
    }
}

impl<'a> RequestMemory<'a> {
    /// Counts the request against its tenant's budget too, once the tenant
    /// is known (before any byte is taken: nothing is moved over).
    pub(crate) fn join_tenant(&mut self, budget: Option<&'a Budget>) {
        let share = &mut self.shares[2];
        if share.as_ref().is_none_or(|(_, t)| t.units() == 0) {
            *share = budget.map(|b| (Holder::Tenant, Taken::none(b)));
        }
    }

    /// Bytes the request holds now (its share of the server's budget).
    pub(crate) fn held(&self) -> u64 {
        self.shares
            .iter()
            .flatten()
            .find(|(h, _)| *h == Holder::Server)
            .map_or(0, |(_, t)| t.units())
    }

    /// Gives back `bytes` in every budget (a transient copy is gone).
    pub(crate) fn shrink(&mut self, bytes: u64) {
        for (_, taken) in self.shares.iter_mut().flatten() {
            taken.shrink(bytes);
        }
    }
}

impl Drop for RequestMemory<'_> {
    fn drop(&mut self) {
        if self.held() >= crate::allocator::LARGE_REQUEST {
            crate::allocator::release_after_large_request();
        }
    }
}

/// The refusal when `holder`'s budget (of `limit`) has no room: 413 when
/// the request `alone` would pass it, otherwise 429 (the client's other
/// requests hold it) or 503 (the server's is spent).
pub(crate) fn refusal(
    holder: Holder,
    alone: bool,
    limit: ByteSize,
    tenant: Option<&str>,
) -> ApiError {
    let (setting, whose) = match holder {
        Holder::Connection => (
            "max_inflight_body_per_connection",
            "this connection's requests".to_string(),
        ),
        Holder::Peer => (
            "max_inflight_body_per_peer",
            "the requests of this client address".to_string(),
        ),
        Holder::Tenant => (
            "the tenant's max_inflight_body",
            format!("tenant '{}'", tenant.unwrap_or("-")),
        ),
        Holder::Server => ("max_inflight_body", "all requests".to_string()),
    };
    if alone {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "this request needs more memory than {whose} may hold at once ({limit}, [server] \
                 {setting}); send a smaller batch"
            ),
        );
    }
    let (status, message) = match holder {
        Holder::Server => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is holding too many requests in memory right now; retry later".to_string(),
        ),
        _ => (
            StatusCode::TOO_MANY_REQUESTS,
            format!("{whose} already hold {limit} of memory; retry when one has finished"),
        ),
    };
    ApiError {
        status,
        message,
        retry_after: Some(1),
        challenge: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_in_every_budget_and_names_the_one_that_is_full() {
        let server = Budget::new(1000);
        let conn = Budget::new(100);
        let peer = Budget::new(300);
        let wait = Duration::from_millis(10);
        let mut a = RequestMemory::new(&server, Some(&conn), Some(&peer), None, wait);
        a.grow(60, None).await.unwrap();
        assert_eq!((server.used(), conn.used(), peer.used()), (60, 60, 60));
        // Alone past the connection's limit: 413.
        let err = a.grow(50, None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Another request on the connection while `a` holds 60: 429.
        let mut b = RequestMemory::new(&server, Some(&conn), Some(&peer), None, wait);
        let err = b.grow(50, None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(err.message.contains("this connection"), "{}", err.message);
        drop((a, b));
        assert_eq!((server.used(), conn.used(), peer.used()), (0, 0, 0));
        // The server's budget spent by others: 503 with Retry-After.
        let _others = server.try_take(990).unwrap();
        let mut c = RequestMemory::new(&server, None, None, None, wait);
        let err = c.grow(20, None).await.unwrap_err();
        assert_eq!(err.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(err.retry_after, Some(1));
    }
}
