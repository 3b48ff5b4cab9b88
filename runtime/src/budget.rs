//! A lock-free counting budget: a request takes some units (bytes, slots)
//! and gives them back when its guard drops. Taking is one atomic update;
//! only a taker that chose to wait for room (briefly, up to a deadline)
//! registers to be woken, and a release wakes waiters only when there are
//! any, so the common path never locks.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Units in use out of a fixed capacity.
#[derive(Debug)]
pub struct Budget {
    used: AtomicU64,
    capacity: u64,
    /// Takers waiting for room.
    waiters: AtomicUsize,
    /// Signalled when units are given back while someone waits.
    freed: Notify,
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
            waiters: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Takes `units`, or `None` when fewer are free.
    pub fn try_take(&self, units: u64) -> Option<Taken<'_>> {
        // `then`, not `then_some`: a guard built for a refusal would give
        // back units it never took when dropped.
        self.reserve(units).then(|| Taken {
            budget: self,
            units,
        })
    }

    /// Takes `units`, waiting for room until `until`. `None` at the
    /// deadline, or at once when `units` exceeds the whole capacity.
    pub async fn take_by(&self, units: u64, until: tokio::time::Instant) -> Option<Taken<'_>> {
        if units > self.capacity {
            return None;
        }
        loop {
            if let Some(t) = self.try_take(units) {
                return Some(t);
            }
            let notified = self.freed.notified();
            tokio::pin!(notified);
            // Registered before looking again, so a release between the
            // look and the wait is not missed. The waiter count and `used`
            // are sequentially consistent on both sides (count up, then
            // look; give back, then read the count): otherwise, on weakly
            // ordered CPUs, a waiter could see the budget full while the
            // releaser sees no waiter, and neither would act.
            notified.as_mut().enable();
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let again = self.try_take(units);
            let woken = match again {
                Some(_) => Ok(()),
                None => tokio::time::timeout_at(until, notified).await,
            };
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if let Some(t) = again {
                return Some(t);
            }
            if woken.is_err() {
                // One last look at the deadline.
                return self.try_take(units);
            }
        }
    }

    /// Takes `units` without a guard, for a holder that does not borrow
    /// the budget (it must hold an `Arc` to it and give the units back with
    /// [`Budget::give_back`]); whether there was room.
    pub fn try_reserve(&self, units: u64) -> bool {
        self.reserve(units)
    }

    /// Gives back units taken with [`Budget::try_reserve`].
    pub fn give_back(&self, units: u64) {
        self.release(units);
    }

    fn reserve(&self, units: u64) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                used.checked_add(units).filter(|&n| n <= self.capacity)
            })
            .is_ok()
    }

    fn release(&self, units: u64) {
        if units == 0 {
            return;
        }
        self.used.fetch_sub(units, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.freed.notify_waiters();
        }
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

impl<'a> Taken<'a> {
    /// Nothing taken yet from `budget` (grown later).
    pub fn none(budget: &'a Budget) -> Taken<'a> {
        Taken { budget, units: 0 }
    }

    /// Takes `more` units into this guard, waiting for room until `until`;
    /// `false` (nothing changed) at the deadline or when the guard would
    /// hold more than the whole capacity.
    pub async fn grow_by(&mut self, more: u64, until: tokio::time::Instant) -> bool {
        if self.budget.reserve(more) {
            self.units += more;
            return true;
        }
        if self.units.saturating_add(more) > self.budget.capacity {
            return false;
        }
        match self.budget.take_by(more, until).await {
            Some(extra) => {
                self.units += extra.units;
                std::mem::forget(extra);
                true
            }
            None => false,
        }
    }

    /// Units held.
    pub fn units(&self) -> u64 {
        self.units
    }

    /// Gives back `units` of what this guard holds (at most all of it).
    pub fn shrink(&mut self, units: u64) {
        let n = units.min(self.units);
        self.units -= n;
        self.budget.release(n);
    }

    /// The budget they come from.
    pub fn budget(&self) -> &'a Budget {
        self.budget
    }
}

impl Drop for Taken<'_> {
    fn drop(&mut self) {
        self.budget.release(self.units);
    }
}

/// Units taken from a shared [`Budget`] by a guard that may outlive the
/// borrow (it moves into a background task); given back on drop.
#[derive(Debug)]
#[must_use = "the units are given back when the guard drops"]
pub struct OwnedTaken {
    budget: std::sync::Arc<Budget>,
    units: u64,
}

impl Budget {
    /// Takes `units` into an owned guard, or `None` when fewer are free.
    pub fn try_take_owned(self: &std::sync::Arc<Self>, units: u64) -> Option<OwnedTaken> {
        self.reserve(units).then(|| OwnedTaken {
            budget: self.clone(),
            units,
        })
    }
}

impl Drop for OwnedTaken {
    fn drop(&mut self) {
        self.budget.release(self.units);
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;
    use std::time::Duration;

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

    #[tokio::test]
    async fn a_waiter_gets_room_when_it_is_given_back_and_not_after_its_deadline() {
        let b = Budget::new(10);
        let held = b.try_take(8).unwrap();
        let soon = tokio::time::Instant::now() + Duration::from_millis(30);
        assert!(
            b.take_by(5, soon).await.is_none(),
            "no room before the deadline"
        );
        let later = tokio::time::Instant::now() + Duration::from_secs(10);
        let (got, ()) = tokio::join!(b.take_by(5, later), async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(held);
        });
        assert_eq!(got.map(|t| t.units()), Some(5));
        assert!(
            b.take_by(11, later).await.is_none(),
            "more than the capacity"
        );
    }

    #[tokio::test]
    async fn a_guard_grows_and_gives_everything_back() {
        let b = Budget::new(10);
        let until = tokio::time::Instant::now() + Duration::from_millis(10);
        let mut t = super::Taken::none(&b);
        assert!(t.grow_by(4, until).await);
        assert!(t.grow_by(6, until).await);
        assert!(!t.grow_by(1, until).await);
        assert_eq!((t.units(), b.used()), (10, 10));
        drop(t);
        assert_eq!(b.used(), 0);
    }
}
