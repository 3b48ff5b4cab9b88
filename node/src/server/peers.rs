//! What one client address may hold: its connections, and the memory its
//! requests in flight take. An IPv6 client is counted by its /64 (one
//! host's usual allocation), an IPv4-mapped address as IPv4.
//!
//! The table is touched when a connection opens and closes, never per
//! request: a request reaches its peer's budget through its connection.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use crate::budget::Budget;

/// One client address with open connections.
#[derive(Debug)]
struct Peer {
    connections: u32,
    budget: Arc<Budget>,
}

/// Every client address with an open connection.
#[derive(Debug)]
pub(crate) struct PeerTable {
    peers: Mutex<HashMap<IpAddr, Peer>>,
    max_connections: u32,
    max_bytes: u64,
}

/// A connection counted against its peer; uncounted on drop.
#[derive(Debug)]
pub(crate) struct PeerSlot {
    table: Arc<PeerTable>,
    key: IpAddr,
    /// The memory the peer's requests in flight may take, in bytes
    /// (shared by its connections).
    pub(crate) budget: Arc<Budget>,
}

/// The address a peer is counted by.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut seg = v6.segments();
                seg[4..].fill(0);
                IpAddr::V6(seg.into())
            }
        },
        v4 => v4,
    }
}

impl PeerTable {
    /// Peers may hold `max_connections` connections and `max_bytes` of
    /// requests in flight each.
    pub(crate) fn new(max_connections: u32, max_bytes: u64) -> Arc<PeerTable> {
        Arc::new(PeerTable {
            peers: Mutex::new(HashMap::new()),
            max_connections: max_connections.max(1),
            max_bytes,
        })
    }

    /// Counts a new connection from `ip`, or `None` when that peer already
    /// holds its most.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PeerSlot> {
        let key = key(ip);
        let mut peers = self.lock();
        let peer = peers.entry(key).or_insert_with(|| Peer {
            connections: 0,
            budget: Arc::new(Budget::new(self.max_bytes)),
        });
        if peer.connections >= self.max_connections {
            return None;
        }
        peer.connections += 1;
        Some(PeerSlot {
            table: self.clone(),
            key,
            budget: peer.budget.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Peer>> {
        self.peers.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Peers with open connections.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut peers = self.table.lock();
        let gone = peers.get_mut(&self.key).is_some_and(|peer| {
            peer.connections = peer.connections.saturating_sub(1);
            peer.connections == 0
        });
        if gone {
            peers.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_connections_per_address_and_forgets_closed_ones() {
        let table = PeerTable::new(2, 100);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let one = table.admit(a).unwrap();
        let two = table.admit(a).unwrap();
        assert!(table.admit(a).is_none(), "a third from the same address");
        assert!(table.admit("10.0.0.2".parse().unwrap()).is_some());
        assert!(Arc::ptr_eq(&one.budget, &two.budget), "one budget per peer");
        drop(one);
        let three = table.admit(a).unwrap();
        drop((two, three));
        assert_eq!(table.len(), 0);
    }

    #[test]
    fn ipv6_hosts_count_by_their_64_and_mapped_v4_as_v4() {
        let table = PeerTable::new(1, 100);
        let _x = table.admit("2001:db8:1:2::1".parse().unwrap()).unwrap();
        assert!(table.admit("2001:db8:1:2::ffff".parse().unwrap()).is_none());
        assert!(table.admit("2001:db8:1:3::1".parse().unwrap()).is_some());
        let _v4 = table.admit("192.0.2.7".parse().unwrap()).unwrap();
        assert!(table.admit("::ffff:192.0.2.7".parse().unwrap()).is_none());
    }
}
