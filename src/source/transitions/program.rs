//! The two BPF programs of exact mode, assembled here with the field
//! offsets of the running kernel's BTF (as `owners::bpf` does for its
//! iterator: no compiler, nothing built against one kernel's layout).
//!
//! Both write the same fixed [`record`] into one ring
//! buffer and count, in an array map, each record the ring had no room
//! for:
//!
//! - on the tracepoint `sock:inet_sock_set_state` (BTF-typed, attached
//!   by its `btf_trace_inet_sock_set_state` type): every state change a
//!   full TCP socket makes, old and new state from the tracepoint's
//!   arguments;
//! - at the entry of `tcp_time_wait(sk, state, timeo)` (fentry): the
//!   kernel never moves a full socket to TIME_WAIT; it replaces it with a
//!   timewait socket here (which keeps its cookie) and then moves the full
//!   socket to CLOSE. This program reports that entry, old state from
//!   `sk->sk_state`, new state from the `state` argument (TIME_WAIT, or
//!   FIN_WAIT2 for an orphan's short FIN_WAIT2 wait).
//!
//! Each keeps only TCP sockets (`sk_protocol == 6`) and, when asked, those
//! of one network namespace (`sk->__sk_common.skc_net.net->ns.inum`, an
//! immediate in the program), so that other namespaces' events never
//! reach user space. The socket's cookie comes from
//! `bpf_get_socket_cookie`, which assigns it as inet_diag does, so it is
//! the id `ss -e` shows.

use super::record::{self, Origin};
use crate::owners::btf::{Btf, Member, Shape, Source};
use crate::sys::bpf::{insn, Insn};
use std::io;

// Helpers (include/uapi/linux/bpf.h, enum bpf_func_id).
const FUNC_MAP_LOOKUP_ELEM: i32 = 1;
const FUNC_KTIME_GET_NS: i32 = 5;
const FUNC_GET_SOCKET_COOKIE: i32 = 46;
const FUNC_RINGBUF_OUTPUT: i32 = 130;
const FUNC_SKC_TO_TCP_SOCK: i32 = 137;

// Opcodes: class | size/op | source.
const LDX_DW: u8 = 0x79;
const LDX_W: u8 = 0x61;
const LDX_H: u8 = 0x69;
const LDX_B: u8 = 0x71;
const STX_DW: u8 = 0x7b;
const STX_W: u8 = 0x63;
const STX_H: u8 = 0x6b;
const STX_B: u8 = 0x73;
const ST_DW: u8 = 0x7a;
const ST_W: u8 = 0x62;
const ST_B: u8 = 0x72;
const MOV_X: u8 = 0xbf;
const MOV_K: u8 = 0xb7;
const ADD_K: u8 = 0x07;
const JEQ_K: u8 = 0x15;
const JNE_K: u8 = 0x55;
const JNE32_K: u8 = 0x56; // BPF_JMP32: the namespace inode is a u32
const JA: u8 = 0x05;
const LD_IMM64: u8 = 0x18;
const ATOMIC_DW: u8 = 0xdb; // BPF_STX | BPF_ATOMIC | BPF_DW
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
/// `src_reg` of an `LD_IMM64` whose immediate is a map descriptor.
const PSEUDO_MAP_FD: u8 = 1;

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const IPPROTO_TCP: i32 = 6;

/// The tracepoint's BTF type, and the function timewait sockets are made in.
pub const TRACEPOINT: &str = "btf_trace_inet_sock_set_state";
pub const TIME_WAIT_FUNC: &str = "tcp_time_wait";

/// Every name [`Layout::of`] asks BTF about (the fuzz target asks the
/// same).
pub(crate) const WANTED: &[&str] = &[
    TRACEPOINT,
    TIME_WAIT_FUNC,
    "sk",
    "state",
    "timeo",
    "sock",
    "sock_common",
    "__sk_common",
    "sk_protocol",
    "sk_socket",
    "skc_family",
    "skc_state",
    "inet_sock",
    "inet_sport",
    "skc_dport",
    "skc_daddr",
    "skc_rcv_saddr",
    "skc_v6_daddr",
    "skc_v6_rcv_saddr",
    "skc_net",
    "net",
    "ns",
    "ns_common",
    "inum",
    "socket",
    "file",
    "f_inode",
    "inode",
    "i_ino",
];

/// Offsets the programs read, from BTF, and where they attach.
#[derive(Debug, Clone)]
pub struct Layout {
    /// BTF id of `btf_trace_inet_sock_set_state`.
    pub tracepoint_id: u32,
    /// BTF id of `tcp_time_wait`, when it can be traced.
    pub time_wait_id: Option<u32>,
    protocol: i16,
    family: i16,
    state: i16,
    /// `inet_sock.inet_sport`: the port the tracepoint itself reports
    /// (`skc_num` is already 0 when a socket that owned its port closes).
    sport: i16,
    dport: i16,
    daddr: i16,
    rcv_saddr: i16,
    v6_daddr: i16,
    v6_rcv_saddr: i16,
    net: i16,
    /// `net.ns` plus `ns_common.inum`.
    ns_inum: i16,
    sk_socket: i16,
    socket_file: i16,
    file_inode: i16,
    inode_ino: i16,
}

impl Layout {
    /// Reads the offsets from `btf`; an error names what is missing.
    pub fn of<S: Source>(btf: &Btf<S>) -> io::Result<Layout> {
        let (tracepoint_id, params) = btf.typedef_id(TRACEPOINT).map_err(io::Error::other)?;
        // (void *data, const struct sock *sk, int oldstate, int newstate)
        if params != Some(4) {
            return Err(io::Error::other(format!(
                "{TRACEPOINT} does not take (data, sk, oldstate, newstate)"
            )));
        }
        let time_wait_id = btf
            .function_params_are(TIME_WAIT_FUNC, &["sk", "state", "timeo"])
            .ok()
            .filter(|&ok| ok)
            .and_then(|_| btf.function_id(TIME_WAIT_FUNC).ok());
        let field = |s: &str, m: &str, shape: Option<Shape>| -> io::Result<i16> {
            let found: Member = btf.member(s, m).map_err(io::Error::other)?;
            if shape.is_some_and(|want| found.shape != want) {
                return Err(io::Error::other(format!(
                    "{s}.{m} is {:?}, not {shape:?}",
                    found.shape
                )));
            }
            i16::try_from(found.offset).map_err(|_| io::Error::other(format!("{s}.{m} is too far")))
        };
        if field("sock", "__sk_common", None)? != 0 {
            return Err(io::Error::other("sock.__sk_common is not at its start"));
        }
        let (int2, ptr) = (Some(Shape::Int(2)), Some(Shape::Pointer));
        Ok(Layout {
            tracepoint_id,
            time_wait_id,
            protocol: field("sock", "sk_protocol", int2)?,
            family: field("sock_common", "skc_family", int2)?,
            state: field("sock_common", "skc_state", Some(Shape::Int(1)))?,
            sport: field("inet_sock", "inet_sport", int2)?,
            dport: field("sock_common", "skc_dport", int2)?,
            daddr: field("sock_common", "skc_daddr", Some(Shape::Int(4)))?,
            rcv_saddr: field("sock_common", "skc_rcv_saddr", Some(Shape::Int(4)))?,
            v6_daddr: field("sock_common", "skc_v6_daddr", None)?,
            v6_rcv_saddr: field("sock_common", "skc_v6_rcv_saddr", None)?,
            // possible_net_t: one pointer, `net`, at its start.
            net: field("sock_common", "skc_net", None)?,
            ns_inum: field("net", "ns", None)? + field("ns_common", "inum", Some(Shape::Int(4)))?,
            sk_socket: field("sock", "sk_socket", ptr)?,
            socket_file: field("socket", "file", ptr)?,
            file_inode: field("file", "f_inode", ptr)?,
            inode_ino: field("inode", "i_ino", Some(Shape::Int(8)))?,
        })
    }
}

/// What a program is built for.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// Which attach point: its arguments differ.
    pub origin: Origin,
    /// Keep only sockets of the namespace with this inode number.
    pub netns: Option<u32>,
    /// The ring buffer and the lost-record counter (descriptors).
    pub ring_fd: i32,
    pub lost_fd: i32,
}

/// Where the record is built on the stack, and the counter's key.
const REC: i16 = -(record::LEN as i16);
const KEY: i16 = REC - 8;

/// The program, in C:
///
/// ```c
/// struct sock *sk = ctx[0];                     /* both attach points */
/// if (!sk || sk->sk_protocol != IPPROTO_TCP) return 0;
/// sk = bpf_skc_to_tcp_sock(sk); if (!sk) return 0;
/// u32 ns = sk->skc_net.net->ns.inum;
/// if (NETNS && ns != NETNS) return 0;
/// struct record r = { bpf_ktime_get_ns(), bpf_get_socket_cookie(sk),
///     sk->sk_socket->file->f_inode->i_ino /* 0 when none */, ns,
///     sk->skc_family, OLD, NEW, inet_sk(sk)->inet_sport, sk->skc_dport,
///     ORIGIN };
/// copy the v4 or v6 addresses by family;
/// if (bpf_ringbuf_output(&ring, &r, sizeof r, 0))
///     __sync_fetch_and_add(bpf_map_lookup_elem(&lost, &zero), 1);
/// return 0;
/// ```
///
/// OLD and NEW are `ctx[1]` and `ctx[2]` on the tracepoint, `sk->sk_state`
/// and `ctx[1]` in `tcp_time_wait`.
pub fn program(l: &Layout, t: Target) -> Vec<Insn> {
    let mut p = Program::default();
    p.head(l, t);
    p.body(l, t);
    p.emit(t);
    p.finish()
}

/// Instructions being assembled; jumps to `out` are patched at the end.
#[derive(Default)]
struct Program {
    insns: Vec<Insn>,
    to_out: Vec<usize>,
}

impl Program {
    fn push(&mut self, i: Insn) {
        self.insns.push(i);
    }

    /// A conditional jump to the final `return 0`.
    fn out_if(&mut self, code: u8, reg: u8, imm: i32) {
        self.to_out.push(self.insns.len());
        self.push(insn(code, reg, 0, 0, imm));
    }

    /// r6 = ctx, r7 = sk; the protocol and namespace tests.
    fn head(&mut self, l: &Layout, t: Target) {
        self.push(insn(MOV_X, 6, 1, 0, 0)); // r6 = ctx
        self.push(insn(LDX_DW, 7, 6, 0, 0)); // r7 = sk
        self.out_if(JEQ_K, 7, 0);
        self.push(insn(LDX_H, 1, 7, l.protocol, 0));
        self.out_if(JNE_K, 1, IPPROTO_TCP);
        // As a `struct tcp_sock *`, so that the verifier lets the program
        // read `inet_sport` (past the end of `struct sock`).
        self.push(insn(MOV_X, 1, 7, 0, 0));
        self.push(insn(CALL, 0, 0, 0, FUNC_SKC_TO_TCP_SOCK));
        self.out_if(JEQ_K, 0, 0);
        self.push(insn(MOV_X, 7, 0, 0, 0)); // r7 = tcp_sk(sk)
        self.push(insn(LDX_DW, 1, 7, l.net, 0)); // r1 = sk->skc_net.net
        self.push(insn(LDX_W, 8, 1, l.ns_inum, 0)); // r8 = net->ns.inum
        if let Some(ns) = t.netns {
            self.out_if(JNE32_K, 8, ns as i32);
        }
    }

    /// Fills the record on the stack, except the addresses' branches.
    fn body(&mut self, l: &Layout, t: Target) {
        // Zero the addresses and the origin word first: every byte the
        // helper reads must have been written.
        for at in [
            record::SADDR,
            record::SADDR + 8,
            record::DADDR,
            record::DADDR + 8,
        ] {
            self.push(insn(ST_DW, 10, 0, REC + at as i16, 0));
        }
        self.push(insn(ST_W, 10, 0, REC + record::ORIGIN as i16, 0));
        self.push(insn(
            ST_B,
            10,
            0,
            REC + record::ORIGIN as i16,
            t.origin as i32,
        ));
        self.push(insn(STX_W, 10, 8, REC + record::NETNS as i16, 0));
        self.push(insn(CALL, 0, 0, 0, FUNC_KTIME_GET_NS));
        self.push(insn(STX_DW, 10, 0, REC + record::TIME as i16, 0));
        self.push(insn(MOV_X, 1, 7, 0, 0));
        self.push(insn(CALL, 0, 0, 0, FUNC_GET_SOCKET_COOKIE));
        self.push(insn(STX_DW, 10, 0, REC + record::COOKIE as i16, 0));
        // sk->sk_socket->file->f_inode->i_ino: a NULL on the way reads as 0
        // (these loads are the kernel's fault-handled BTF pointer reads).
        self.push(insn(LDX_DW, 1, 7, l.sk_socket, 0));
        self.push(insn(LDX_DW, 1, 1, l.socket_file, 0));
        self.push(insn(LDX_DW, 1, 1, l.file_inode, 0));
        self.push(insn(LDX_DW, 1, 1, l.inode_ino, 0));
        self.push(insn(STX_DW, 10, 1, REC + record::INODE as i16, 0));
        match t.origin {
            Origin::Tracepoint => {
                self.push(insn(LDX_DW, 1, 6, 8, 0)); // oldstate
                self.push(insn(LDX_DW, 2, 6, 16, 0)); // newstate
            }
            Origin::TimeWait => {
                self.push(insn(LDX_B, 1, 7, l.state, 0)); // sk->sk_state
                self.push(insn(LDX_DW, 2, 6, 8, 0)); // state argument
            }
        }
        self.push(insn(STX_B, 10, 1, REC + record::OLD as i16, 0));
        self.push(insn(STX_B, 10, 2, REC + record::NEW as i16, 0));
        self.push(insn(LDX_H, 1, 7, l.sport, 0));
        self.push(insn(STX_H, 10, 1, REC + record::SPORT as i16, 0));
        self.push(insn(LDX_H, 1, 7, l.dport, 0));
        self.push(insn(STX_H, 10, 1, REC + record::DPORT as i16, 0));
        self.push(insn(LDX_H, 9, 7, l.family, 0));
        self.push(insn(STX_H, 10, 9, REC + record::FAMILY as i16, 0));
        self.addresses(l);
    }

    /// IPv4: one word each; IPv6: four words each; another family: zeros.
    fn addresses(&mut self, l: &Layout) {
        let v4 = [(l.rcv_saddr, record::SADDR), (l.daddr, record::DADDR)];
        // if family != AF_INET skip the v4 copy (4 insns) and its jump.
        self.push(insn(JNE_K, 9, 0, 5, AF_INET));
        for (from, to) in v4 {
            self.push(insn(LDX_W, 1, 7, from, 0));
            self.push(insn(STX_W, 10, 1, REC + to as i16, 0));
        }
        self.push(insn(JA, 0, 0, 17, 0)); // over the v6 test and copy
        self.push(insn(JNE_K, 9, 0, 16, AF_INET6));
        for (from, to) in [(l.v6_rcv_saddr, record::SADDR), (l.v6_daddr, record::DADDR)] {
            for word in 0..4i16 {
                self.push(insn(LDX_W, 1, 7, from + 4 * word, 0));
                self.push(insn(STX_W, 10, 1, REC + to as i16 + 4 * word, 0));
            }
        }
    }

    /// `bpf_ringbuf_output`, and the lost counter when it fails.
    fn emit(&mut self, t: Target) {
        self.map_fd(1, t.ring_fd);
        self.push(insn(MOV_X, 2, 10, 0, 0));
        self.push(insn(ADD_K, 2, 0, 0, REC as i32));
        self.push(insn(MOV_K, 3, 0, 0, record::LEN as i32));
        self.push(insn(MOV_K, 4, 0, 0, 0));
        self.push(insn(CALL, 0, 0, 0, FUNC_RINGBUF_OUTPUT));
        self.out_if(JEQ_K, 0, 0);
        self.push(insn(ST_W, 10, 0, KEY, 0));
        self.map_fd(1, t.lost_fd);
        self.push(insn(MOV_X, 2, 10, 0, 0));
        self.push(insn(ADD_K, 2, 0, 0, KEY as i32));
        self.push(insn(CALL, 0, 0, 0, FUNC_MAP_LOOKUP_ELEM));
        self.out_if(JEQ_K, 0, 0);
        self.push(insn(MOV_K, 1, 0, 0, 1));
        self.push(insn(ATOMIC_DW, 0, 1, 0, 0)); // lock *(u64 *)r0 += r1
    }

    /// `reg = map` (a two-instruction load the kernel resolves).
    fn map_fd(&mut self, reg: u8, fd: i32) {
        self.push(insn(LD_IMM64, reg, PSEUDO_MAP_FD, 0, fd));
        self.push(insn(0, 0, 0, 0, 0));
    }

    fn finish(mut self) -> Vec<Insn> {
        let out = self.insns.len();
        self.push(insn(MOV_K, 0, 0, 0, 0));
        self.push(insn(EXIT, 0, 0, 0, 0));
        for at in self.to_out {
            self.insns[at].off = (out - at - 1) as i16;
        }
        self.insns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout {
            tracepoint_id: 1,
            time_wait_id: Some(2),
            protocol: 500,
            family: 16,
            state: 18,
            sport: 700,
            dport: 12,
            daddr: 0,
            rcv_saddr: 4,
            v6_daddr: 56,
            v6_rcv_saddr: 72,
            net: 48,
            ns_inum: 200,
            sk_socket: 600,
            socket_file: 16,
            file_inode: 32,
            inode_ino: 64,
        }
    }

    fn target(netns: Option<u32>) -> Target {
        Target {
            origin: Origin::Tracepoint,
            netns,
            ring_fd: 7,
            lost_fd: 8,
        }
    }

    /// Every jump, taken or not, lands inside the program, and the
    /// address branches land where their comments say.
    #[test]
    fn jumps_land_where_they_should() {
        for netns in [None, Some(4026531840)] {
            let p = program(&layout(), target(netns));
            let ret = p.len() - 2;
            assert_eq!((p[ret].code, p[ret + 1].code), (MOV_K, EXIT));
            for (at, i) in p.iter().enumerate() {
                let is_jump =
                    matches!(i.code & 0x07, 0x05 | 0x06) && i.code != CALL && i.code != EXIT;
                if is_jump {
                    let to = at as i64 + 1 + i64::from(i.off);
                    assert!(
                        to > at as i64 && to <= ret as i64,
                        "insn {at} jumps to {to}"
                    );
                }
            }
            // The v4 test skips the v4 copy to the v6 test; the v4 copy's
            // `ja` and the v6 test both land on the ring output (the map
            // load, LD_IMM64).
            let v4_test = p
                .iter()
                .position(|i| i.code == JNE_K && i.imm == AF_INET)
                .unwrap();
            let v6_test = v4_test + 6;
            assert_eq!((p[v6_test].code, p[v6_test].imm), (JNE_K, AF_INET6));
            assert_eq!(v4_test + 1 + p[v4_test].off as usize, v6_test);
            let ja = v6_test - 1;
            assert_eq!(p[ja].code, JA);
            let emit = ja + 1 + p[ja].off as usize;
            assert_eq!(p[emit].code, LD_IMM64);
            assert_eq!(v6_test + 1 + p[v6_test].off as usize, emit);
        }
    }

    #[test]
    fn the_namespace_test_is_there_only_when_asked() {
        let with = program(&layout(), target(Some(4026531840)));
        let without = program(&layout(), target(None));
        assert_eq!(with.len(), without.len() + 1);
        assert!(with
            .iter()
            .any(|i| i.code == JNE32_K && i.imm == 4026531840u32 as i32));
    }
}
