//! Keeping resident memory small on glibc, whose allocator otherwise grows one arena per
//! thread (tokio's blocking pool runs many) and keeps freed memory after a large scan.
//!
//! The workspace denies `unsafe`; these two libc calls are the one place allowed, each with its
//! safety note.
#![allow(unsafe_code)]

/// Call once at start-up, before threads are spawned.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        // Large answers (the list of 10,000 repositories is ~4 MiB) are rebuilt every second;
        // a fixed threshold keeps them in mmap'ed chunks that go back to the system when freed,
        // instead of glibc's sliding threshold moving them into the heap, where they stay.
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
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
