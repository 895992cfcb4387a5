//! Gives the C allocator's free pages back to the system after a burst of work (a probe cycle, a
//! file-integrity pass). glibc's malloc returns freed memory only from the top of each arena, so
//! the pages that sled's copy-on-write nodes and the probes' buffers freed below live data stay
//! resident: measured, 12 of 14 MB of an arena were free after the first baseline (BENCHMARKS.md,
//! Agent). This is the agent's only `unsafe` (the workspace denies it everywhere else).

/// Asks glibc to return the free pages of every arena (`malloc_trim(0)`, which also releases whole
/// free pages in the middle of a heap). Returns whether anything was given back. Takes each
/// arena's lock in turn for well under a millisecond on the agent's heap, so call it after a burst,
/// not in a loop.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn release_free() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes no pointer and touches only the allocator's own state, under the
    // allocator's locks; glibc has exported it with this signature since 2.0.
    unsafe { malloc_trim(0) == 1 }
}

/// Other C libraries (musl) return memory on their own: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free() -> bool {
    false
}

#[cfg(test)]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod tests {
    use super::release_free;

    /// Resident pages of this process, from /proc/self/statm.
    fn resident_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    #[test]
    fn freed_heap_below_live_data_goes_back_to_the_system() {
        // 16 MiB in blocks under glibc's mmap threshold, then a live block above them: freeing the
        // 16 MiB leaves them below live data, where free() alone never returns them.
        let blocks: Vec<Vec<u8>> = (0..512u32).map(|i| vec![i as u8; 32 * 1024]).collect();
        let live = vec![1u8; 32 * 1024];
        drop(blocks);
        let before = resident_bytes();
        assert!(release_free(), "nothing was released");
        let after = resident_bytes();
        assert!(
            after + 8 * 1024 * 1024 < before,
            "resident {before} B before, {after} B after"
        );
        assert_eq!(live.iter().map(|&b| u64::from(b)).sum::<u64>(), 32 * 1024);
    }
}
