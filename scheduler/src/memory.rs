//! How much heap the process holds, for `baton cluster status` and the
//! benchmark's bytes-per-node figure. The resident size (RSS) is too coarse
//! for that: the allocator keeps freed memory, so RSS only ever grows.

/// Bytes of heap in use (allocated and not freed), 0 where unknown.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn heap_in_use() -> u64 {
    // SAFETY: mallinfo2 takes no arguments and only reads the allocator's
    // counters (under its own locks); glibc has had it since 2.33.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn heap_in_use() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn grows_with_a_live_allocation_and_shrinks_when_it_is_freed() {
        let before = super::heap_in_use();
        let block = vec![1u8; 64 << 20];
        let during = super::heap_in_use();
        assert!(during >= before + (48 << 20), "{before} -> {during}");
        drop(block);
        let after = super::heap_in_use();
        assert!(after + (48 << 20) <= during, "{during} -> {after}");
    }
}
