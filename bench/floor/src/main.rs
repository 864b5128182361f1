//! The physical floor of a listing, for `bench/scale`: what the kernel must
//! do and the least user-space work that gets it done.
//!
//! - `dump [--info]`: one TCPDIAG_GETSOCK dump of every TCP socket of both
//!   families (the request tcpstat sends, with the shutdown attribute and,
//!   with `--info` as for `-o`, `tcp_info`), received into one 64 KiB
//!   buffer and only counted.
//! - `fds`: every `/proc/PID/fd` directory read and each entry's link read
//!   (the `/proc` owner scan), counting socket links.
//! - `both [--info]`: the two at once on two threads, as tcpstat -p runs
//!   them.
//! - `halves [--info]`: the dump as two dumps side by side on two threads,
//!   as tcpstat runs a big one (`--parallel`), each with a bytecode
//!   program: local port below 32768 or not. On bench/population.py's
//!   loopback pairs (one end on a listener's port, the other on an
//!   ephemeral one) that is an exact half each, a split at least as even
//!   as tcpstat's own, which must work on any host.
//!
//! Prints the counts on stderr. Not part of tcpstat: it exists to be timed.

use std::ffi::CStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;

const NETLINK_SOCK_DIAG: i32 = 4;
const TCPDIAG_GETSOCK: u16 = 18;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_DONE: u16 = 3;
const NLMSG_ERROR: u16 = 2;
const INET_DIAG_INFO: u8 = 2;
const INET_DIAG_SHUTDOWN: u8 = 8;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
/// inet_diag bytecode: local port >= / <= the port in the next op.
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
/// Where the halves part.
const HALF: u16 = 32768;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let info = args.iter().any(|a| a == "--info");
    match args.first().map(String::as_str) {
        Some("dump") => eprintln!("sockets {}", dump(info, None)),
        Some("halves") => {
            let (low, high) = std::thread::scope(|s| {
                let high = s.spawn(|| dump(info, Some(BC_S_GE)));
                (dump(info, Some(BC_S_LE)), high.join().unwrap())
            });
            eprintln!("sockets {low} + {high}");
        }
        Some("fds") => eprintln!("socket links {}", fds()),
        Some("both") => {
            let (sockets, links) = std::thread::scope(|s| {
                let scan = s.spawn(fds);
                (dump(info, None), scan.join().unwrap())
            });
            eprintln!("sockets {sockets} socket links {links}");
        }
        _ => {
            eprintln!("usage: tcpstat-floor dump|fds|both|halves [--info]");
            std::process::exit(2);
        }
    }
}

/// One dump of all TCP sockets, or with `half` (`BC_S_LE` or `BC_S_GE`)
/// of those whose local port is below [`HALF`] or not; returns how many
/// messages it brought.
fn dump(info: bool, half: Option<u8>) -> usize {
    // SAFETY: plain socket calls on a descriptor this function owns; the
    // buffers passed live across each call.
    unsafe {
        let fd = libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let mut req = vec![0u8; 16 + 60]; // nlmsghdr, inet_diag_req
        if let Some(code) = half {
            // One comparison, two ops: false jumps to end + 4 (reject).
            let port = if code == BC_S_LE { HALF - 1 } else { HALF };
            req.extend(12u16.to_ne_bytes()); // nlattr: len, type
            req.extend(INET_DIAG_REQ_BYTECODE.to_ne_bytes());
            req.extend([code, 8]);
            req.extend(12u16.to_ne_bytes());
            req.extend([0, 0]);
            req.extend(port.to_ne_bytes());
        }
        let len = req.len() as u32;
        req[0..4].copy_from_slice(&len.to_ne_bytes());
        req[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
        req[6..8].copy_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
        req[8..12].copy_from_slice(&1u32.to_ne_bytes());
        let ext = (1u8 << (INET_DIAG_SHUTDOWN - 1)) | if info { 1 << (INET_DIAG_INFO - 1) } else { 0 };
        req[16] = libc::AF_INET as u8;
        req[19] = ext;
        req[16 + 44..16 + 52].fill(0xff); // no cookie
        req[16 + 52..16 + 56].copy_from_slice(&0xfffu32.to_ne_bytes()); // every state
        let mut to: libc::sockaddr_nl = std::mem::zeroed();
        to.nl_family = libc::AF_NETLINK as u16;
        let sent = libc::sendto(fd, req.as_ptr().cast(), req.len(), 0,
            (&to as *const libc::sockaddr_nl).cast(), std::mem::size_of::<libc::sockaddr_nl>() as u32);
        assert_eq!(sent, req.len() as isize, "send: {}", std::io::Error::last_os_error());
        let mut buf = vec![0u8; 64 << 10];
        let mut count = 0;
        loop {
            let n = libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0);
            assert!(n > 0, "recv: {}", std::io::Error::last_os_error());
            let mut at = 0usize;
            while at + 16 <= n as usize {
                let len = u32::from_ne_bytes(buf[at..at + 4].try_into().unwrap()) as usize;
                let kind = u16::from_ne_bytes(buf[at + 4..at + 6].try_into().unwrap());
                if kind == NLMSG_DONE || kind == NLMSG_ERROR {
                    libc::close(fd);
                    return count;
                }
                count += 1;
                at += (len + 3) & !3;
                if len < 16 {
                    break;
                }
            }
        }
    }
}

/// Reads every descriptor link of every process; returns the socket links.
fn fds() -> usize {
    let mut links = 0;
    let mut target = [0u8; 64];
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        if !name.as_bytes().iter().all(u8::is_ascii_digit) {
            continue;
        }
        let dir = entry.path().join("fd");
        let Ok(fds) = fs::read_dir(&dir) else { continue };
        let Ok(dirfd) = fs::File::open(&dir) else { continue };
        for fd in fds.flatten() {
            let mut path = fd.file_name().as_bytes().to_vec();
            path.push(0);
            let path = CStr::from_bytes_with_nul(&path).unwrap();
            // SAFETY: readlinkat writes at most target.len() bytes into target.
            let n = unsafe {
                use std::os::fd::AsRawFd;
                libc::readlinkat(dirfd.as_raw_fd(), path.as_ptr(), target.as_mut_ptr().cast(), target.len())
            };
            if n > 8 && target.starts_with(b"socket:[") {
                links += 1;
            }
        }
    }
    links
}
