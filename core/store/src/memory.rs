//! Keeping resident memory small (the scale targets: under 20 MiB at 10,000 repositories, 64
//! MiB at 100,000), in one place. glibc's allocator otherwise grows one arena per thread
//! (tokio's blocking pool runs many) and keeps freed memory after a large scan; sled keeps the
//! pages it read; large answers churn the heap. The knobs:
//!
//! - two arenas, and a fixed mmap threshold ([`MMAP_THRESHOLD`]): [`limit_arenas`];
//! - freed pages handed back after work that allocated a lot: [`release_free_memory`] and
//!   [`release_free_memory_now_and_soon`] (after start-up, a list rebuild, a check, a scrape);
//! - large answers sent in pieces of at least the threshold, each its own mapping returned once
//!   sent: [`LIST_CHUNK`] (the inflated list), [`SCRAPE_CHUNK`] (`/metrics`);
//! - sled's page cache at [`SLED_CACHE_BYTES`] rather than its 1 GiB default;
//! - idle blocking threads ended after [`BLOCKING_THREAD_KEEP_ALIVE`] rather than tokio's ten
//!   seconds.
//!
//! The workspace denies `unsafe`; these two libc calls are the one place allowed, each with its
//! safety note.
#![allow(unsafe_code)]

/// Allocations of this size and more are mmap'ed, and go back to the system when freed.
pub const MMAP_THRESHOLD: usize = 256 * 1024;
/// Bytes per chunk of the inflated list answer: the threshold itself.
pub const LIST_CHUNK: usize = MMAP_THRESHOLD;
/// Bytes per piece of a `/metrics` answer: above the threshold, since a piece is built a little
/// past it before it is cut (900 pieces in a scrape of 100,000 repositories).
pub const SCRAPE_CHUNK: usize = MMAP_THRESHOLD + 32 * 1024;
/// sled's page cache: the server keeps its own copy of what it serves and reads little from the
/// store after start-up (tokens).
pub const SLED_CACHE_BYTES: u64 = 1024 * 1024;
/// Blocking threads (the checks' readers, file writes) hold a stack and allocator caches each.
pub const BLOCKING_THREAD_KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(1);

/// Call once at start-up, before threads are spawned.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // Large answers (the list of 10,000 repositories is ~4 MiB) are rebuilt every second;
        // a fixed threshold keeps them in mmap'ed chunks that go back to the system when freed,
        // instead of glibc's sliding threshold moving them into the heap, where they stay.
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
    }
}

/// Hands freed heap pages back to the system, after work that allocated a lot at once.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory held by the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`release_free_memory`] now and once more two seconds later: sled frees the pages a large
/// read went through only when its epoch-based reclamation gets to them, after the read.
/// Calls made while one is pending share it.
pub fn release_free_memory_now_and_soon() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static PENDING: AtomicBool = AtomicBool::new(false);
    release_free_memory();
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new().name("release-memory".into()).spawn(|| {
        std::thread::sleep(std::time::Duration::from_secs(2));
        PENDING.store(false, Ordering::Release);
        release_free_memory();
    });
    if spawned.is_err() {
        PENDING.store(false, Ordering::Release);
    }
}
