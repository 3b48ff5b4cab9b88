//! How the host's memory allocator hands memory back to the system.
//!
//! glibc's malloc raises its mmap threshold each time a large block is
//! freed, so after a few 30 MB request bodies every later one comes from
//! the heap and stays resident when freed: a node that served eight large
//! requests kept hundreds of megabytes it no longer used. A fixed
//! threshold keeps large blocks in their own mappings, returned on free,
//! and an occasional trim returns freed heap pages after large requests.

use std::sync::atomic::{AtomicU64, Ordering};

/// Blocks from this size up get their own mapping, returned when freed.
const MMAP_THRESHOLD: i32 = 256 << 10;

/// Fixes the allocator's thresholds for a long-running server. Call once,
/// early in `main`.
pub fn tune_for_serving() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and only changes malloc's
    // parameters; any value is accepted or refused with a return code.
    #[allow(unsafe_code, reason = "glibc's mallopt, two integer arguments")]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD);
    }
}

/// Hands memory the allocator holds but no longer uses back to the
/// system (compiles and large requests leave freed pages in the heap).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only returns free pages.
    #[allow(unsafe_code, reason = "glibc's malloc_trim, no arguments to get wrong")]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Milliseconds after [`EPOCH`] of the last trim (0: never).
static LAST_TRIM_MS: AtomicU64 = AtomicU64::new(0);
static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

/// After a request that held at least this much, freed pages are returned.
pub const LARGE_REQUEST: u64 = 8 << 20;

/// Schedules [`release_freed`] off the async workers, at most once a
/// second, when a large request ends.
pub fn release_after_large_request() {
    let now = EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_millis() as u64
        + 1;
    let last = LAST_TRIM_MS.load(Ordering::Relaxed);
    // 0: never trimmed, so the first large request trims at once.
    if (last != 0 && now.saturating_sub(last) < 1000)
        || LAST_TRIM_MS
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    if let Ok(handle) = tokio::runtime::Handle::try_current() {
        handle.spawn_blocking(release_freed);
    }
}
