//! A child without netlink: a seccomp filter, installed between fork and
//! exec, fails `socket(AF_NETLINK, …)` with EAFNOSUPPORT (as on a kernel
//! built without it), and allows every other call. This is how a test
//! sees `--source auto` fall back to /proc for real.

use std::os::unix::process::CommandExt;
use std::process::Command;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// `struct seccomp_data` offsets: `nr`, `arch`, and the low half of
/// `args[0]` (little-endian).
const NR: u32 = 0;
const ARCH: u32 = 4;
const ARG0: u32 = 16;

/// The filter: other architectures and other calls are allowed.
fn program() -> Vec<libc::sock_filter> {
    let load = |at: u32| libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k: at,
    };
    // Falls through when equal, else jumps `to_allow` ahead.
    let equal = |k: u32, to_allow: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt: 0,
        jf: to_allow,
        k,
    };
    let ret = |k: u32| libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        load(ARCH),
        equal(AUDIT_ARCH, 5),
        load(NR),
        equal(libc::SYS_socket as u32, 3),
        load(ARG0),
        equal(libc::AF_NETLINK as u32, 1),
        ret(libc::SECCOMP_RET_ERRNO | libc::EAFNOSUPPORT as u32),
        ret(libc::SECCOMP_RET_ALLOW),
    ]
}

/// Makes `command`'s child unable to open netlink sockets.
pub fn deny_netlink(command: &mut Command) -> &mut Command {
    let filter = program();
    // SAFETY: between fork and exec the closure makes only two prctl
    // calls (async-signal-safe) on memory it owns; `filter` outlives them.
    unsafe {
        command.pre_exec(move || {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr().cast_mut(),
            };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
                || libc::prctl(
                    libc::PR_SET_SECCOMP,
                    libc::SECCOMP_MODE_FILTER,
                    std::ptr::from_ref(&prog),
                ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })
    }
}
