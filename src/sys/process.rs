//! Facts and limits of this process: the clock tick, the open-files limit.

use std::io;

/// USER_HZ, `sysconf(_SC_CLK_TCK)`; `None` if unavailable.
pub fn clock_ticks() -> Option<u64> {
    // SAFETY: sysconf takes a plain integer name and touches no memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0)
}

/// The open-files limit (`RLIMIT_NOFILE`): soft and hard.
pub fn open_files_limit() -> io::Result<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a writable rlimit.
    match unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } {
        0 => Ok(limit),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sets the open-files limit (`RLIMIT_NOFILE`).
pub fn set_open_files_limit(limit: &libc::rlimit) -> io::Result<()> {
    // SAFETY: `limit` is a valid rlimit, only read.
    match unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, limit) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The size of a memory page.
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}

/// `CLOCK_MONOTONIC` and `CLOCK_REALTIME` read back to back, in
/// nanoseconds: what turns a kernel timestamp (`bpf_ktime_get_ns`) into
/// wall-clock time.
pub fn monotonic_and_realtime_ns() -> (u64, i128) {
    let read = |clock| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write; both clocks exist on Linux.
        unsafe { libc::clock_gettime(clock, &mut ts) };
        ts.tv_sec as i128 * 1_000_000_000 + ts.tv_nsec as i128
    };
    let mono = read(libc::CLOCK_MONOTONIC);
    let real = read(libc::CLOCK_REALTIME);
    (mono as u64, real)
}

/// Fixes glibc's mmap threshold at its initial 128 KiB. By default glibc
/// raises it to the size of each mapped block freed (up to 32 MiB), after
/// which blocks below that size come from its heap, which it seldom gives
/// back: a watch that builds and drops a 16 MB owner map every pass grew
/// by that much each time (`--events -p` at a million sockets: 40 MB after
/// one pass, 71 MB after three). With the threshold fixed, every big
/// buffer is its own mapping and is returned to the kernel when freed.
pub fn keep_big_allocations_mapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes two integers and changes only the allocator's
    // policy for later allocations; it is called before any other thread
    // exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}
