//! A lock-free counting budget for try-only admission: a request takes some
//! units or is refused at once, and gives them back when its guard drops.
//!
//! The request path never waits for units, so it needs no waiter queue;
//! a counting semaphore would take a lock on every release.

use std::sync::atomic::{AtomicU64, Ordering};

/// Units in use out of a fixed capacity.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    capacity: u64,
}

/// Units taken from a [`Budget`], given back on drop.
#[derive(Debug)]
#[must_use = "the units are given back when the guard drops"]
pub struct Taken<'a> {
    budget: &'a Budget,
    units: u64,
}

impl Budget {
    /// A budget of `capacity` units, all free.
    pub fn new(capacity: u64) -> Self {
        Budget {
            used: AtomicU64::new(0),
            capacity,
        }
    }

    /// Takes `units`, or `None` when fewer are free.
    pub fn try_take(&self, units: u64) -> Option<Taken<'_>> {
        self.used
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |used| {
                used.checked_add(units).filter(|&n| n <= self.capacity)
            })
            .ok()
            .map(|_| Taken {
                budget: self,
                units,
            })
    }

    /// The total capacity.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Units in use now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.units, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    #[test]
    fn takes_up_to_the_capacity_and_gives_back_on_drop() {
        let b = Budget::new(3);
        let one = b.try_take(1).expect("1 of 3");
        let two = b.try_take(2).expect("3 of 3");
        assert!(b.try_take(1).is_none());
        assert_eq!(b.used(), 3);
        drop(two);
        assert_eq!(b.used(), 1);
        assert!(b.try_take(3).is_none());
        let again = b.try_take(2).expect("3 of 3 again");
        drop((one, again));
        assert_eq!(b.used(), 0);
        assert!(b.try_take(u64::MAX).is_none(), "overflow is a refusal");
    }

    #[test]
    fn concurrent_takers_never_exceed_the_capacity() {
        let b = Budget::new(4);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        if let Some(t) = b.try_take(1) {
                            assert!(b.used() <= 4);
                            drop(t);
                        }
                    }
                });
            }
        });
        assert_eq!(b.used(), 0);
    }
}
