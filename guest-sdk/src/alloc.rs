//! The guest's memory allocator: power-of-two size classes with free lists
//! for small blocks, the system allocator (wasi-libc's dlmalloc) for large
//! ones.
//!
//! Every call moves its arguments into the guest through `cabi_realloc` and
//! frees them, and its answer, afterwards: a small request makes a few dozen
//! small allocations. dlmalloc spends a few hundred Wasm instructions on
//! each (it was about 60 % of the Iris model's instructions per call); a
//! size-class list pops or pushes one pointer. Freed small blocks are kept
//! for their class only, so the small-block memory is the peak each class
//! needed.
//!
//! Wasm components run single-threaded, which is what makes the unlocked
//! state sound; with the `atomics` target feature (shared-memory threads)
//! the allocator is not installed. Turn off the SDK's default `allocator`
//! feature to use your own `#[global_allocator]`.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Smallest block: 16 bytes (`1 << MIN_SHIFT`).
const MIN_SHIFT: u32 = 4;
/// Size classes: 16, 32, …, 4096 bytes.
const CLASSES: usize = 9;
/// Largest block served from the size classes.
const MAX_SMALL: usize = 1 << (MIN_SHIFT as usize + CLASSES - 1);
/// Small blocks are carved from chunks of this size. Small, so a fresh
/// instance's first allocations fit the memory it starts with (a bigger
/// chunk made dlmalloc grow the memory on every fresh instance).
const CHUNK: usize = 8 * 1024;
/// Alignment of chunks and blocks: layouts that need more go to the system
/// allocator.
const ALIGN: usize = 16;

struct State {
    /// Head of each class's free list; a free block holds the next pointer.
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    next: usize,
    end: usize,
}

/// The SDK's global allocator (see the module docs).
pub struct SizeClasses(UnsafeCell<State>);

// SAFETY: installed only on single-threaded Wasm targets (no `atomics`), where
// no two calls can touch the state at once.
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    /// An allocator with no memory yet.
    pub const fn new() -> Self {
        SizeClasses(UnsafeCell::new(State {
            free: [ptr::null_mut(); CLASSES],
            next: 0,
            end: 0,
        }))
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of a layout, or `None` for a large or over-aligned block.
/// A block of class `c` is `1 << (c + MIN_SHIFT)` bytes, aligned to 16.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > MAX_SMALL || layout.align() > ALIGN {
        return None;
    }
    let bits = size
        .max(1 << MIN_SHIFT)
        .next_power_of_two()
        .trailing_zeros();
    Some((bits - MIN_SHIFT) as usize)
}

impl State {
    /// A fresh block of class `c`, carved from the current chunk (or a new
    /// one); null when memory is exhausted.
    #[cold]
    #[inline(never)]
    unsafe fn carve(&mut self, c: usize) -> *mut u8 {
        let size = 1usize << (c + MIN_SHIFT as usize);
        let mut start = self.next;
        if start == 0 || start + size > self.end {
            // SAFETY: CHUNK and its alignment are valid and non-zero.
            let chunk = unsafe { System.alloc(Layout::from_size_align_unchecked(CHUNK, ALIGN)) };
            if chunk.is_null() {
                return ptr::null_mut();
            }
            // The rest of the old chunk (less than one block) is given up.
            start = chunk as usize;
            self.end = start + CHUNK;
        }
        self.next = start + size;
        start as *mut u8
    }
}

/// The system allocator for a large block, out of line.
#[inline(never)]
unsafe fn large_alloc(layout: Layout) -> *mut u8 {
    // SAFETY: the caller's layout, passed through.
    unsafe { System.alloc(layout) }
}

/// Frees a large block, out of line.
#[inline(never)]
unsafe fn large_dealloc(block: *mut u8, layout: Layout) {
    // SAFETY: the block came from `large_alloc` with this layout.
    unsafe { System.dealloc(block, layout) }
}

// SAFETY: blocks are handed out once until freed, sized and aligned for the
// layout (see `class`); large layouts go to the system allocator unchanged.
//
// Every method is kept out of line: with LTO an inlined allocator lands in
// every allocation site (it grew the ONNX runner from 17.2 to 19.4 MB).
unsafe impl GlobalAlloc for SizeClasses {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(c) = class(layout) else {
            // SAFETY: the caller's layout, passed through.
            return unsafe { large_alloc(layout) };
        };
        // SAFETY: single-threaded (see the `Sync` impl); not reentrant.
        let state = unsafe { &mut *self.0.get() };
        let head = state.free[c];
        if head.is_null() {
            // SAFETY: as above.
            unsafe { state.carve(c) }
        } else {
            // SAFETY: a free block starts with the next free block's address.
            state.free[c] = unsafe { head.cast::<*mut u8>().read() };
            head
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(c) = class(layout) else {
            // SAFETY: large blocks came from the system allocator with this layout.
            return unsafe { large_dealloc(block, layout) };
        };
        // SAFETY: single-threaded; the block is ours, at least 16 bytes and
        // pointer-aligned, and no longer used by the caller.
        unsafe {
            let state = &mut *self.0.get();
            block.cast::<*mut u8>().write(state.free[c]);
            state.free[c] = block;
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class(layout) {
            // SAFETY: the caller's layout, passed through (fresh pages are zero).
            None => unsafe { System.alloc_zeroed(layout) },
            Some(_) => {
                // SAFETY: `alloc` returns a block of at least `layout.size()` bytes.
                unsafe {
                    let block = self.alloc(layout);
                    if !block.is_null() {
                        block.write_bytes(0, layout.size());
                    }
                    block
                }
            }
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: GlobalAlloc's contract: the new layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class(layout), class(new_layout)) {
            // Same block size: nothing to move.
            (Some(a), Some(b)) if a == b => block,
            // SAFETY: both large: the system allocator owns the block.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: a fresh block, the overlap copied, the old one freed.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_cover_size_and_alignment() {
        let l = |s, a| Layout::from_size_align(s, a).unwrap();
        assert_eq!(class(l(1, 1)), Some(0));
        assert_eq!(class(l(16, 8)), Some(0));
        assert_eq!(class(l(17, 1)), Some(1));
        assert_eq!(
            class(l(8, 32)),
            None,
            "over-aligned blocks are the system's"
        );
        assert_eq!(class(l(4096, 8)), Some(CLASSES - 1));
        assert_eq!(class(l(4097, 8)), None);
        assert_eq!(class(l(8, 8192)), None);
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused() {
        let a = SizeClasses::new();
        unsafe {
            let mut seen = Vec::new();
            for size in [1usize, 7, 16, 24, 100, 1000, 4096, 5000, 70_000] {
                for align in [1usize, 8, 16, 64] {
                    let layout = Layout::from_size_align(size, align).unwrap();
                    let p = a.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "{size}/{align}");
                    p.write_bytes(0xAB, size);
                    seen.push((p, layout));
                }
            }
            let mut starts: Vec<usize> = seen.iter().map(|(p, _)| *p as usize).collect();
            starts.sort_unstable();
            starts.dedup();
            assert_eq!(starts.len(), seen.len(), "no block handed out twice");
            let (p, layout) = seen[1];
            a.dealloc(p, layout);
            assert_eq!(a.alloc(layout), p, "a freed block is reused for its class");
            for (p, layout) in seen {
                a.dealloc(p, layout);
            }
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes() {
        let a = SizeClasses::new();
        unsafe {
            let small = Layout::from_size_align(10, 1).unwrap();
            let p = a.alloc(small);
            for i in 0..10 {
                p.add(i).write(i as u8);
            }
            let same = a.realloc(p, small, 12);
            assert_eq!(same, p, "12 bytes still fit the 16-byte block");
            let grown = a.realloc(same, Layout::from_size_align(12, 1).unwrap(), 10_000);
            for i in 0..10 {
                assert_eq!(grown.add(i).read(), i as u8);
            }
            let shrunk = a.realloc(grown, Layout::from_size_align(10_000, 1).unwrap(), 20);
            for i in 0..10 {
                assert_eq!(shrunk.add(i).read(), i as u8);
            }
            a.dealloc(shrunk, Layout::from_size_align(20, 1).unwrap());
            let z = a.alloc_zeroed(Layout::from_size_align(20, 1).unwrap());
            assert!(
                (0..20).all(|i| z.add(i).read() == 0),
                "recycled block zeroed"
            );
        }
    }
}
