//! Versions being loaded right now. A deploy compiles and checks its
//! version (seconds for a large component) without holding the control
//! plane's lock, so traffic changes and rollbacks on other versions go on
//! meanwhile; this set keeps two loads, or a load and a removal, of the
//! same `model@version` apart.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

/// The `(model, version)` pairs with a load or a removal in progress.
#[derive(Debug, Default)]
pub(crate) struct Loading(Mutex<HashSet<(String, u64)>>);

/// Holds one pair in the set until dropped.
#[derive(Debug)]
pub(crate) struct LoadingSlot<'a> {
    set: &'a Loading,
    key: (String, u64),
}

impl Loading {
    /// Reserves `name@version`; `None` when another load holds it.
    pub(crate) fn reserve(&self, name: &str, version: u64) -> Option<LoadingSlot<'_>> {
        let key = (name.to_string(), version);
        let fresh = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key.clone());
        // Built only when reserved: a slot dropped here would free the
        // holder's pair.
        fresh.then(|| LoadingSlot { set: self, key })
    }
}

impl Drop for LoadingSlot<'_> {
    fn drop(&mut self) {
        self.set
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_held_until_its_slot_drops() {
        let loading = Loading::default();
        let slot = loading.reserve("m", 2);
        assert!(slot.is_some());
        assert!(loading.reserve("m", 2).is_none());
        assert!(
            loading.reserve("m", 2).is_none(),
            "a refused reservation must not free the holder's"
        );
        assert!(loading.reserve("m", 3).is_some(), "other versions are free");
        drop(slot);
        assert!(loading.reserve("m", 2).is_some());
    }
}
