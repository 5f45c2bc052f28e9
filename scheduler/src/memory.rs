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

/// Caps glibc's malloc arenas at one per CPU (its default is eight per
/// CPU). Every arena keeps the memory freed into it, so with many arenas a
/// scheduler held far more than its live heap after a burst (a large
/// registration, a 100,000-node execution): in the 3-node bench this cut
/// the peak resident memory summed over all processes by about 110 MB
/// (0.93 GB to 0.82 GB). Threads beyond one per CPU mostly wait on I/O, so
/// sharing arenas costs little. Call before other threads start.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas() {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpus = libc::c_int::try_from(cpus).unwrap_or(libc::c_int::MAX);
    // SAFETY: mallopt only sets an allocator parameter; M_ARENA_MAX takes a
    // positive count. Its failure (0) leaves glibc's default, which is fine.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cpus);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas() {}

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
