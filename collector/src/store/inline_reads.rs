//! A thread's promise that it may block on store reads: a store whose reads are blocking I/O (the
//! sled store) runs them on tokio's blocking pool, one hand-off per read, unless the calling thread
//! is marked here, in which case it reads in place. For a plain thread that only drives a future
//! with `Handle::block_on` (the snapshot's gathering threads, thousands of small reads each), never
//! for a runtime worker.

use std::cell::Cell;

thread_local! {
    static INLINE: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with this thread marked as one that may block on store reads.
pub fn with_inline_reads<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            INLINE.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(INLINE.with(|c| c.replace(true)));
    f()
}

/// Whether this thread is inside [`with_inline_reads`].
pub fn reads_inline() -> bool {
    INLINE.with(Cell::get)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_holds_inside_only_and_on_this_thread() {
        assert!(!reads_inline());
        with_inline_reads(|| {
            assert!(reads_inline());
            assert!(!std::thread::spawn(reads_inline).join().unwrap());
            with_inline_reads(|| assert!(reads_inline()));
            assert!(reads_inline());
        });
        assert!(!reads_inline());
    }
}
