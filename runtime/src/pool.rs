//! Warm instances of one loaded version (pooled isolation): a lock-free
//! bounded queue, checked out per request and returned when healthy.

use crossbeam_queue::ArrayQueue;
use wasmtime::Store;

use super::bindings::{v1, v2};
use super::host_state::HostState;

/// The typed exports of an instance: a model's or a policy's, in the WIT
/// series it was built for.
pub(crate) enum Bound {
    /// A model component built for `edgeserve:ml@0.1.x`.
    ModelV1(v1::Model),
    /// A model component built for `edgeserve:ml@0.2.x`.
    ModelV2(v2::Model),
    /// A policy component built for `edgeserve:ml@0.1.x`.
    PolicyV1(v1::policy::Policy),
    /// A policy component built for `edgeserve:ml@0.2.x`.
    PolicyV2(v2::policy::Policy),
}

/// One instantiated component with its store.
pub(crate) struct Instance {
    pub(crate) store: Store<HostState>,
    pub(crate) bound: Bound,
    pub(crate) uses: u32,
}

/// Idle warm instances; at most `capacity` are kept.
pub(crate) struct InstancePool {
    idle: ArrayQueue<Instance>,
    max_uses: u32,
}

impl InstancePool {
    /// An empty pool. `capacity` of zero keeps nothing (every call fresh).
    pub(crate) fn new(capacity: u32, max_uses: u32) -> Self {
        InstancePool {
            idle: ArrayQueue::new(capacity.max(1) as usize),
            max_uses: max_uses.max(1),
        }
    }

    /// An idle instance, if any.
    pub(crate) fn take(&self) -> Option<Instance> {
        self.idle.pop()
    }

    /// Returns an instance after a successful call. One that has served
    /// `max_uses` calls, or does not fit a full pool, is handed back to be
    /// retired.
    pub(crate) fn give_back(&self, mut inst: Instance) -> Option<Instance> {
        inst.uses += 1;
        if inst.uses < self.max_uses {
            self.idle.push(inst).err()
        } else {
            Some(inst)
        }
    }

    /// Idle instances now.
    pub(crate) fn idle(&self) -> usize {
        self.idle.len()
    }
}
