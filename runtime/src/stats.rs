//! Per-version counters kept on the request path with atomics only: totals
//! (calls, errors, time spent, the last call), and a ring of one-second
//! buckets (requests, server errors, a log2 latency
//! histogram) that the rollout guard reads over a window.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Seconds of history kept (the longest window that can be judged).
const RING: usize = 64;
/// Latency buckets: bucket `i` holds latencies below `2^i` microseconds
/// (the last one holds everything from about 8 s up).
const LAT_BUCKETS: usize = 24;

#[derive(Default)]
struct Bucket {
    second: AtomicU64,
    count: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LAT_BUCKETS],
}

/// Counters of one loaded version.
pub struct VersionStats {
    /// Inference calls answered (any outcome).
    pub requests: AtomicU64,
    /// Calls that failed on the model's side (5xx).
    pub errors: AtomicU64,
    /// Nanoseconds the calls that succeeded took, in all.
    pub success_ns: AtomicU64,
    /// Nanoseconds the calls that failed took, in all.
    pub error_ns: AtomicU64,
    /// When the last call ended: nanoseconds after the process origin
    /// (0: never called).
    last_call: AtomicU64,
    /// Requests routed to this version but answered with a 4xx by the host
    /// or a policy (bad input, too large, denied): the model was not
    /// called, or its answer did not reach the client. Not in `requests`.
    pub refused: AtomicU64,
    /// Shadow calls compared with the primary's answer.
    pub shadow_compared: AtomicU64,
    /// Shadow calls whose answer agreed with the primary's.
    pub shadow_agreed: AtomicU64,
    /// Shadow calls skipped because too many were in flight.
    pub shadow_dropped: AtomicU64,
    /// Shadow calls that failed (counted in `shadow_compared`).
    pub shadow_errors: AtomicU64,
    /// Shadow label elements equal to the primary's.
    pub shadow_labels_same: AtomicU64,
    /// Shadow label elements compared.
    pub shadow_labels_total: AtomicU64,
    /// Largest absolute numeric difference seen (f64 bits).
    pub shadow_max_abs: AtomicU64,
    /// Policy versions: requests or responses allowed unchanged.
    pub policy_allowed: AtomicU64,
    /// Policy versions: denials.
    pub policy_denied: AtomicU64,
    /// Policy versions: rewrites.
    pub policy_rewrote: AtomicU64,
    /// Policy versions: calls that failed (trap, deadline, unusable answer).
    pub policy_failed: AtomicU64,
    /// Allocated on the first call, so idle versions cost nothing.
    ring: std::sync::OnceLock<Box<[Bucket]>>,
}

impl Default for VersionStats {
    fn default() -> Self {
        VersionStats {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            success_ns: AtomicU64::new(0),
            error_ns: AtomicU64::new(0),
            last_call: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            shadow_compared: AtomicU64::new(0),
            shadow_agreed: AtomicU64::new(0),
            shadow_dropped: AtomicU64::new(0),
            shadow_errors: AtomicU64::new(0),
            shadow_labels_same: AtomicU64::new(0),
            shadow_labels_total: AtomicU64::new(0),
            shadow_max_abs: AtomicU64::new(0),
            policy_allowed: AtomicU64::new(0),
            policy_denied: AtomicU64::new(0),
            policy_rewrote: AtomicU64::new(0),
            policy_failed: AtomicU64::new(0),
            ring: std::sync::OnceLock::new(),
        }
    }
}

/// What a window of recent traffic looked like.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowSummary {
    /// Requests in the window.
    pub requests: u64,
    /// Server errors in the window.
    pub errors: u64,
    /// Upper bound of the 99th-percentile latency bucket.
    pub p99: Duration,
}

impl WindowSummary {
    /// Errors over requests (0 when idle).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// Whole seconds from a process-wide origin to `at`. Buckets only need
/// seconds relative to each other, so the request path turns an `Instant`
/// it already has into a bucket without reading the wall clock.
fn secs_at(at: Instant) -> u64 {
    since_origin(at).as_secs()
}

/// The process-wide origin, as an instant and on the wall clock.
static ORIGIN: OnceLock<(Instant, std::time::SystemTime)> = OnceLock::new();

/// Time from the process-wide origin to `at`.
fn since_origin(at: Instant) -> Duration {
    let (origin, _) = ORIGIN.get_or_init(|| (Instant::now(), std::time::SystemTime::now()));
    at.saturating_duration_since(*origin)
}

impl VersionStats {
    /// Records one call that ends now.
    pub fn record(&self, latency: Duration, server_error: bool) {
        self.record_at(Instant::now(), latency, server_error);
    }

    /// Records one call that ended at `ended` (an instant the caller has
    /// already read, so no clock is read here).
    pub fn record_at(&self, ended: Instant, latency: Duration, server_error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        if server_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
            self.error_ns.fetch_add(nanos, Ordering::Relaxed);
        } else {
            self.success_ns.fetch_add(nanos, Ordering::Relaxed);
        }
        let since = since_origin(ended);
        let ended_ns = u64::try_from(since.as_nanos()).unwrap_or(u64::MAX).max(1);
        // A plain store, not a read-modify-write: with calls ending at
        // once the last writer wins, which is close enough for "last".
        self.last_call.store(ended_ns, Ordering::Relaxed);
        let sec = since.as_secs();
        let ring = self
            .ring
            .get_or_init(|| (0..RING).map(|_| Bucket::default()).collect());
        let b = &ring[(sec as usize) % RING];
        let seen = b.second.load(Ordering::Acquire);
        if seen != sec
            && b.second
                .compare_exchange(seen, sec, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // First call in this second: clear what the bucket held a ring ago.
            b.count.store(0, Ordering::Relaxed);
            b.errors.store(0, Ordering::Relaxed);
            for l in &b.latency {
                l.store(0, Ordering::Relaxed);
            }
        }
        b.count.fetch_add(1, Ordering::Relaxed);
        if server_error {
            b.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = latency.as_micros().max(1) as u64;
        let idx = (64 - micros.leading_zeros() as usize).min(LAT_BUCKETS - 1);
        b.latency[idx].fetch_add(1, Ordering::Relaxed);
    }

    /// When the last call ended, on the wall clock (`None`: never called).
    pub fn last_call(&self) -> Option<std::time::SystemTime> {
        let ns = self.last_call.load(Ordering::Relaxed);
        let (_, wall) = ORIGIN.get()?;
        (ns > 0).then(|| *wall + Duration::from_nanos(ns))
    }

    /// Traffic over the last `window` (whole seconds, at most the ring).
    pub fn window(&self, window: Duration) -> WindowSummary {
        let now = secs_at(Instant::now());
        let secs = window.as_secs().clamp(1, RING as u64 - 1);
        let mut sum = WindowSummary::default();
        let mut hist = [0u64; LAT_BUCKETS];
        let Some(ring) = self.ring.get() else {
            return sum;
        };
        for b in ring.iter() {
            let s = b.second.load(Ordering::Acquire);
            if s + secs <= now || s > now {
                continue;
            }
            sum.requests += b.count.load(Ordering::Relaxed);
            sum.errors += b.errors.load(Ordering::Relaxed);
            for (h, l) in hist.iter_mut().zip(&b.latency) {
                *h += l.load(Ordering::Relaxed);
            }
        }
        let total: u64 = hist.iter().sum();
        if total > 0 {
            let target = total - total / 100;
            let mut seen = 0;
            for (i, h) in hist.iter().enumerate() {
                seen += h;
                if seen >= target {
                    sum.p99 = Duration::from_micros(1u64 << i);
                    break;
                }
            }
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_errors_and_latency() {
        let s = VersionStats::default();
        for _ in 0..98 {
            s.record(Duration::from_micros(100), false);
        }
        s.record(Duration::from_millis(50), true);
        s.record(Duration::from_millis(50), true);
        let w = s.window(Duration::from_secs(10));
        assert_eq!(w.requests, 100);
        assert_eq!(w.errors, 2);
        assert!((w.error_rate() - 0.02).abs() < 1e-9);
        assert!(w.p99 >= Duration::from_millis(50), "{:?}", w.p99);
        assert!(w.p99 <= Duration::from_millis(100), "{:?}", w.p99);
    }

    #[test]
    fn totals_keep_the_time_spent_and_the_last_call() {
        let s = VersionStats::default();
        assert_eq!(s.last_call(), None);
        let before = std::time::SystemTime::now() - Duration::from_secs(1);
        s.record(Duration::from_micros(300), false);
        s.record(Duration::from_micros(200), false);
        s.record(Duration::from_millis(5), true);
        assert_eq!(s.success_ns.load(Ordering::Relaxed), 500_000);
        assert_eq!(s.error_ns.load(Ordering::Relaxed), 5_000_000);
        let last = s.last_call().unwrap();
        assert!(last >= before, "{last:?}");
        assert!(last <= std::time::SystemTime::now() + Duration::from_secs(1));
    }
}
