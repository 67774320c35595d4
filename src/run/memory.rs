//! Giving the heap memory a step freed back to the system.

/// Runs `work` on the blocking pool, then returns to the system the pages malloc holds free.
///
/// A checkout or a commit allocates megabytes on a blocking thread (trees, index, inflate
/// buffers) and frees them, but glibc keeps freed pages in that thread's arena: over a run,
/// every arena grows to its largest step and stays so. Trimming after each git step keeps
/// the run's resident memory near what is live (100 changes in 16 slots: measured in
/// `scripts/bench/orchestrate.sh`), for well under a millisecond per step.
pub(crate) fn spawn_git_step<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(move || {
        let out = work();
        release_freed();
        out
    })
}

/// `malloc_trim(0)`: free pages of every arena go back to the system (glibc only; other
/// allocators return memory on their own terms).
fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks malloc's own free lists, under its own locks.
    unsafe {
        nix::libc::malloc_trim(0);
    }
}
