//! Kernel-side port filtering: compiles the port predicates of a [`Filter`]
//! to an inet_diag bytecode program (the `INET_DIAG_REQ_BYTECODE`
//! attribute of a dump request), as ss does, so the kernel sends only the
//! sockets that can match instead of all of them.
//!
//! The program only has to keep a **superset** of what the filter keeps:
//! user space still applies the whole [`Filter`] to every row, so what
//! cannot be compiled (addresses, users, processes) is left to it, and the
//! program never drops a socket the filter would keep.
//!
//! # The kernel's machine (`net/ipv4/inet_diag.c`)
//! A program is a sequence of 4-byte `struct inet_diag_bc_op { u8 code;
//! u8 yes; u16 no; }`. A port comparison takes two ops, the second carrying
//! the port in `no`. `inet_diag_bc_run` evaluates the op at hand and moves
//! `yes` or `no` bytes forward; it accepts the socket when it lands exactly
//! on the end, and rejects it when it lands anywhere past it (jumping to
//! end + 4 is the idiom). `inet_diag_bc_audit` checks a program before any
//! socket sees it: it walks the `yes` chain linearly, so `yes` must step to
//! the very next op, and every `no` must be a forward jump to an op on that
//! chain, to the end or to end + 4.
//!
//! # Compile scheme
//! 1. **Lower** the filter to a condition over port tests: the port flags
//!    exactly, the expression as an upper bound (what holds whenever it
//!    does). Unknown predicates become "true" there, and a `not` flips to
//!    the lower bound of its operand, in which they are "false".
//! 2. **Emit** short-circuit code where each test falls through when true
//!    and jumps when false, with symbolic targets.
//! 3. **Assemble**: lay the ops out and turn targets into byte offsets.

use super::netlink::Split;
use crate::filter::{CmpOp, Expr, Filter, HostPattern, PortSet, Side};

/// Largest program sent; beyond it, the kernel gets none and user space
/// filters alone. ss sends programs of any size, but a filter that long is
/// a list of hundreds of ports, where the gain is small.
pub const MAX_PROGRAM_LEN: usize = 4096;

/// Size of one `struct inet_diag_bc_op`.
const OP_LEN: usize = 4;
/// A port comparison and the op that carries its port.
const PORT_TEST_LEN: usize = 2 * OP_LEN;

const BC_JMP: u8 = 1;
const BC_S_GE: u8 = 2;
const BC_S_LE: u8 = 3;
const BC_D_GE: u8 = 4;
const BC_D_LE: u8 = 5;
const BC_S_EQ: u8 = 11;
const BC_D_EQ: u8 = 12;

/// The bytecode for `filter`: accepts every socket the filter can keep,
/// judging only by ports. `None` when ports do not narrow the filter (no
/// program is needed) or the program would exceed [`MAX_PROGRAM_LEN`].
pub fn compile(filter: &Filter) -> Option<Vec<u8>> {
    assemble(&filter_cond(filter))
}

/// The programs of a dump split in two ([`Split`]): each keeps what
/// [`compile`]'s would, the first every listener (remote port 0) and one
/// half of the other sockets, the second the other half, each socket in
/// exactly one. `None` when a program would exceed [`MAX_PROGRAM_LEN`].
///
/// The halves must stay near even on any host with a bytecode's port
/// tests alone. A client's sockets share a few remote ports and differ by
/// their local, ephemeral, port; a server's share a local port and differ
/// by their peers' ephemeral ports, drawn from ranges this host does not
/// know. So a socket's half is the exclusive or of two tests that each
/// split one of those evenly: its local port at or above the middle of
/// this host's ephemeral range `local_ports`, and its remote port in
/// `REMOTE_HALF`, which holds exactly half of each of the ranges peers
/// draw from: Linux's default 32768–60999, the 49152–65535 of Windows,
/// macOS and the BSDs, and the 1024–65535 of NAT.
pub fn split(filter: &Filter, local_ports: (u16, u16)) -> Option<Split> {
    let filter = filter_cond(filter);
    let (lo, hi) = local_ports;
    let middle = lo / 2 + hi / 2 + (lo % 2 + hi % 2) / 2;
    let upper_local = Cond::test(Side::Local, Compare::Ge, middle.max(1));
    let remote_half = REMOTE_HALF
        .into_iter()
        .map(|(lo, hi)| range_cond(Side::Remote, lo, hi))
        .fold(Cond::False, Cond::or);
    let half = upper_local
        .clone()
        .and(remote_half.clone().not())
        .or(upper_local.not().and(remote_half));
    // `dport <= 0`, not `dport == 0`: kernels before 4.16 know no
    // equality op, and a refused program would cost the dump its split.
    let listener = Cond::test(Side::Remote, Compare::Le, 0);
    let first = filter.clone().and(listener.clone().or(half.clone()));
    let second = filter.and(listener.not()).and(half.not());
    Some(Split {
        first: assemble(&first)?,
        second: assemble(&second)?,
    })
}

/// Remote ports of the first half (with a local port below the middle):
/// 14,116 of Linux's 28,232 ephemeral ports (5,924 + 8,192), 8,192 of the
/// 16,384 of 49152–65535, and 32,256 of NAT's 64,512 (18,140 + 5,924 +
/// 8,192).
const REMOTE_HALF: [(u16, u16); 3] = [(1024, 19163), (32768, 38691), (49152, 57343)];

/// What a port test compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Eq,
    Ge,
    Le,
}

/// One comparison the kernel makes: `sport`/`dport` against a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortTest {
    side: Side,
    compare: Compare,
    port: u16,
}

impl PortTest {
    fn code(self) -> u8 {
        match (self.side, self.compare) {
            (Side::Local, Compare::Eq) => BC_S_EQ,
            (Side::Local, Compare::Ge) => BC_S_GE,
            (Side::Local, Compare::Le) => BC_S_LE,
            (Side::Remote, Compare::Eq) => BC_D_EQ,
            (Side::Remote, Compare::Ge) => BC_D_GE,
            (Side::Remote, Compare::Le) => BC_D_LE,
        }
    }
}

/// A condition on a socket's two ports. Built through [`Cond::not`],
/// [`Cond::and`] and [`Cond::or`], which fold constants away, so `True`
/// and `False` only ever stand alone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cond {
    True,
    False,
    Test(PortTest),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    fn test(side: Side, compare: Compare, port: u16) -> Cond {
        Cond::Test(PortTest {
            side,
            compare,
            port,
        })
    }

    fn not(self) -> Cond {
        match self {
            Cond::True => Cond::False,
            Cond::False => Cond::True,
            Cond::Not(c) => *c,
            c => Cond::Not(Box::new(c)),
        }
    }

    fn and(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::False, _) | (_, Cond::False) => Cond::False,
            (Cond::True, c) | (c, Cond::True) => c,
            (a, b) => Cond::And(Box::new(a), Box::new(b)),
        }
    }

    fn or(self, other: Cond) -> Cond {
        match (self, other) {
            (Cond::True, _) | (_, Cond::True) => Cond::True,
            (Cond::False, c) | (c, Cond::False) => c,
            (a, b) => Cond::Or(Box::new(a), Box::new(b)),
        }
    }
}

/// The port condition of the whole filter: its port flags (all must
/// hold) and the upper bound of its expression.
fn filter_cond(filter: &Filter) -> Cond {
    let either = filter
        .required_either_ports()
        .map(|set| set_cond(Side::Local, set).or(set_cond(Side::Remote, set)));
    let local = filter
        .required_local_ports()
        .map(|set| set_cond(Side::Local, set));
    let remote = filter
        .required_remote_ports()
        .map(|set| set_cond(Side::Remote, set));
    let expr = filter.expr().map(|e| Bounds::of(e).upper);
    [either, local, remote, expr]
        .into_iter()
        .flatten()
        .fold(Cond::True, Cond::and)
}

/// The port on `side` lies in one of the set's ranges.
fn set_cond(side: Side, set: &PortSet) -> Cond {
    set.ranges()
        .iter()
        .map(|&(lo, hi)| range_cond(side, lo, hi))
        .fold(Cond::False, Cond::or)
}

fn range_cond(side: Side, lo: u16, hi: u16) -> Cond {
    if lo == hi {
        return Cond::test(side, Compare::Eq, lo);
    }
    let above = match lo {
        0 => Cond::True,
        _ => Cond::test(side, Compare::Ge, lo),
    };
    let below = match hi {
        u16::MAX => Cond::True,
        _ => Cond::test(side, Compare::Le, hi),
    };
    above.and(below)
}

/// `side OP port` with the kernel's three comparisons.
fn compare_cond(side: Side, op: CmpOp, port: u16) -> Cond {
    match op {
        CmpOp::Eq => Cond::test(side, Compare::Eq, port),
        CmpOp::Ne => Cond::test(side, Compare::Eq, port).not(),
        CmpOp::Ge => Cond::test(side, Compare::Ge, port),
        CmpOp::Le => Cond::test(side, Compare::Le, port),
        CmpOp::Lt => Cond::test(side, Compare::Ge, port).not(),
        CmpOp::Gt => Cond::test(side, Compare::Le, port).not(),
    }
}

/// Port conditions around an expression: `upper` holds whenever the
/// expression does, and the expression holds whenever `lower` does. Both
/// are the same when the expression is all ports.
struct Bounds {
    upper: Cond,
    lower: Cond,
}

impl Bounds {
    fn exact(cond: Cond) -> Bounds {
        Bounds {
            upper: cond.clone(),
            lower: cond,
        }
    }

    fn of(expr: &Expr) -> Bounds {
        match expr {
            Expr::Port { side, op, port } => Bounds::exact(compare_cond(*side, *op, *port)),
            Expr::Host { side, pattern } => host_bounds(*side, pattern),
            // Not a port: any port may hold it, none makes it hold.
            Expr::Netns(_) => Bounds {
                upper: Cond::True,
                lower: Cond::False,
            },
            Expr::Not(e) => {
                let inner = Bounds::of(e);
                Bounds {
                    upper: inner.lower.not(),
                    lower: inner.upper.not(),
                }
            }
            Expr::And(a, b) => {
                let (a, b) = (Bounds::of(a), Bounds::of(b));
                Bounds {
                    upper: a.upper.and(b.upper),
                    lower: a.lower.and(b.lower),
                }
            }
            Expr::Or(a, b) => {
                let (a, b) = (Bounds::of(a), Bounds::of(b));
                Bounds {
                    upper: a.upper.or(b.upper),
                    lower: a.lower.or(b.lower),
                }
            }
        }
    }
}

/// `src`/`dst`: the port part is exact; an address is not compiled, so it
/// bounds the pattern by its port from above and by "never" from below.
fn host_bounds(side: Side, pattern: &HostPattern) -> Bounds {
    let port = pattern
        .port
        .map_or(Cond::True, |p| Cond::test(side, Compare::Eq, p));
    match pattern.addr {
        None => Bounds::exact(port),
        Some(_) => Bounds {
            upper: port,
            lower: Cond::False,
        },
    }
}

/// Where a jump goes: a label in the program (one placed after the last
/// op is its end, where the socket is accepted), or the reject exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// One op past the end: the socket is skipped.
    Reject,
    /// The op before which [`Emitter::place`] put this label.
    Label(usize),
}

/// Where one outcome of a piece of code goes: on to whatever follows the
/// piece, or to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dest {
    Next,
    To(Target),
}

/// An op before layout: a test that falls through when true, or a jump.
#[derive(Debug, Clone, Copy)]
enum Op {
    Test(PortTest, Target),
    Jump(Target),
}

impl Op {
    fn len(self) -> usize {
        match self {
            Op::Test(..) => PORT_TEST_LEN,
            Op::Jump(_) => OP_LEN,
        }
    }
}

/// Emits short-circuit code for conditions, with symbolic targets.
#[derive(Debug, Default)]
struct Emitter {
    ops: Vec<Op>,
    /// For each label, the index of the op it stands before (`ops.len()`
    /// for the end); `None` until placed.
    labels: Vec<Option<usize>>,
}

impl Emitter {
    /// Code that goes to `on_true` when `cond` holds, else to `on_false`.
    fn branch(&mut self, cond: &Cond, on_true: Dest, on_false: Dest) {
        match cond {
            Cond::True => self.jump(on_true),
            Cond::False => self.jump(on_false),
            Cond::Test(test) => self.test(*test, on_true, on_false),
            Cond::Not(c) => self.branch(c, on_false, on_true),
            Cond::And(a, b) => {
                let (fail, end) = self.target(on_false);
                self.branch(a, Dest::Next, Dest::To(fail));
                self.branch(b, on_true, on_false);
                self.place(end);
            }
            Cond::Or(a, b) => {
                let (pass, end) = self.target(on_true);
                self.branch(a, Dest::To(pass), Dest::Next);
                self.branch(b, on_true, on_false);
                self.place(end);
            }
        }
    }

    /// A test falls through when true; going elsewhere then takes a jump,
    /// which the false branch must skip.
    fn test(&mut self, test: PortTest, on_true: Dest, on_false: Dest) {
        match on_true {
            Dest::Next => {
                if let Dest::To(fail) = on_false {
                    self.ops.push(Op::Test(test, fail));
                }
            }
            Dest::To(pass) => {
                let (fail, end) = self.target(on_false);
                self.ops.push(Op::Test(test, fail));
                self.ops.push(Op::Jump(pass));
                self.place(end);
            }
        }
    }

    fn jump(&mut self, dest: Dest) {
        if let Dest::To(target) = dest {
            self.ops.push(Op::Jump(target));
        }
    }

    /// A target for `dest`: itself, or for `Next` a new label that the
    /// caller places after its code.
    fn target(&mut self, dest: Dest) -> (Target, Option<usize>) {
        match dest {
            Dest::To(target) => (target, None),
            Dest::Next => {
                self.labels.push(None);
                let label = self.labels.len() - 1;
                (Target::Label(label), Some(label))
            }
        }
    }

    /// Puts `label` (when there is one) before the next op emitted.
    fn place(&mut self, label: Option<usize>) {
        if let Some(label) = label {
            self.labels[label] = Some(self.ops.len());
        }
    }
}

/// Emits and lays out the program for `cond`. `None` for `True` (nothing
/// to check) and for a program longer than [`MAX_PROGRAM_LEN`].
fn assemble(cond: &Cond) -> Option<Vec<u8>> {
    if *cond == Cond::True {
        return None;
    }
    let mut emitter = Emitter::default();
    // Falling off the end accepts.
    emitter.branch(cond, Dest::Next, Dest::To(Target::Reject));
    let mut offsets = Vec::with_capacity(emitter.ops.len() + 1);
    let mut at = 0;
    for op in &emitter.ops {
        offsets.push(at);
        at += op.len();
    }
    offsets.push(at);
    let end = at;
    if end > MAX_PROGRAM_LEN {
        return None;
    }
    let offset_of = |target: Target| match target {
        Target::Reject => Some(end + OP_LEN),
        Target::Label(label) => emitter.labels[label].map(|index| offsets[index]),
    };
    let mut program = Vec::with_capacity(end);
    for (op, &at) in emitter.ops.iter().zip(&offsets) {
        // Targets are always ahead: `no` is unsigned and at least one op.
        let (code, yes, target) = match *op {
            Op::Test(test, target) => (test.code(), PORT_TEST_LEN, target),
            Op::Jump(target) => (BC_JMP, OP_LEN, target),
        };
        let no = offset_of(target)?.checked_sub(at).filter(|&no| no >= yes)?;
        push_op(&mut program, code, yes as u8, u16::try_from(no).ok()?);
        if let Op::Test(test, _) = op {
            push_op(&mut program, 0, 0, test.port);
        }
    }
    Some(program)
}

/// Appends one `struct inet_diag_bc_op` (host byte order, as the kernel
/// reads it).
fn push_op(program: &mut Vec<u8>, code: u8, yes: u8, no: u16) {
    program.push(code);
    program.push(yes);
    program.extend(no.to_ne_bytes());
}

#[doc(hidden)]
pub mod interpreter {
    //! The kernel's `inet_diag_bc_audit` (with `valid_cc`) and
    //! `inet_diag_bc_run`, rewritten to check programs in tests: the unit
    //! tests here and the kernel tests in tests/bytecode.rs. Public for
    //! those alone, hence hidden from the docs.

    use super::*;

    /// `(code, yes, no)` of the op at `at`.
    fn read_op(bc: &[u8], at: usize) -> Option<(u8, usize, usize)> {
        let op = bc.get(at..at + OP_LEN)?;
        let no = u16::from_ne_bytes([op[2], op[3]]);
        Some((op[0], usize::from(op[1]), usize::from(no)))
    }

    /// `valid_cc`: the yes chain from the start reaches the op that has
    /// `cc` bytes left after it.
    fn valid_cc(bc: &[u8], cc: isize) -> bool {
        let (mut len, mut at) = (bc.len() as isize, 0);
        while len >= 0 {
            if cc > len {
                return false;
            }
            if cc == len {
                return true;
            }
            match read_op(bc, at) {
                Some((_, yes, _)) if yes >= OP_LEN && yes % 4 == 0 => {
                    len -= yes as isize;
                    at += yes;
                }
                _ => return false,
            }
        }
        false
    }

    /// `inet_diag_bc_audit`, for the codes this compiler emits (any other
    /// is refused here; the kernel would check host conditions further).
    pub fn audit(bc: &[u8]) -> Result<(), String> {
        if bc.len() < OP_LEN {
            return Err("shorter than one op".into());
        }
        let (mut len, mut at) = (bc.len() as isize, 0);
        while len > 0 {
            let (code, yes, no) = read_op(bc, at).ok_or(format!("op cut at {at}"))?;
            let min_len = match code {
                BC_S_GE | BC_S_LE | BC_D_GE | BC_D_LE | BC_S_EQ | BC_D_EQ => PORT_TEST_LEN,
                0 | BC_JMP => OP_LEN,
                _ => return Err(format!("code {code} at {at}")),
            } as isize;
            let (yes, no) = (yes as isize, no as isize);
            if len < min_len {
                return Err(format!("port op cut at {at}"));
            }
            if code != 0 && (no < min_len || no > len + 4 || no & 3 != 0) {
                return Err(format!("bad no {no} at {at}"));
            }
            if code != 0 && no < len && !valid_cc(bc, len - no) {
                return Err(format!("no {no} at {at} lands off the yes chain"));
            }
            if yes < min_len || yes > len + 4 || yes & 3 != 0 {
                return Err(format!("bad yes {yes} at {at}"));
            }
            at += yes as usize;
            len -= yes;
        }
        match len {
            0 => Ok(()),
            _ => Err("yes chain runs past the end".into()),
        }
    }

    /// `inet_diag_bc_run` on the two ports of a socket (audited programs
    /// only: every step moves forward).
    pub fn run(bc: &[u8], sport: u16, dport: u16) -> bool {
        let (mut len, mut at) = (bc.len() as isize, 0);
        while len > 0 {
            let (code, yes, no) = read_op(bc, at).expect("audited");
            let port = || read_op(bc, at + OP_LEN).expect("audited").2 as u16;
            let holds = match code {
                0 => true,
                BC_JMP => false,
                BC_S_EQ => sport == port(),
                BC_S_GE => sport >= port(),
                BC_S_LE => sport <= port(),
                BC_D_EQ => dport == port(),
                BC_D_GE => dport >= port(),
                BC_D_LE => dport <= port(),
                _ => panic!("code {code}"),
            };
            let step = if holds { yes } else { no };
            at += step;
            len -= step as isize;
        }
        len == 0
    }
}

#[cfg(test)]
mod tests {
    //! The programs are run through [`super::interpreter`] and compared
    //! with [`Filter::matches`].

    use super::interpreter::{audit, run};
    use super::*;
    use crate::filter::{parse_expression, parse_ports, AddrPrefix, NoOwners, Query};
    use crate::model::{Socket, TcpState};
    use crate::test_support::{sock, XorShift};
    use std::net::{IpAddr, SocketAddr};

    const ADDRS: [&str; 2] = ["10.0.0.1", "192.168.1.1"];

    fn socket(local: &str, sport: u16, remote: &str, dport: u16) -> Socket {
        let end = |addr: &str, port| SocketAddr::new(addr.parse::<IpAddr>().unwrap(), port);
        let (local, remote) = (end(local, sport), end(remote, dport));
        sock(
            TcpState::Established,
            &local.to_string(),
            &remote.to_string(),
        )
    }

    /// Every port next to one of `ports`, and both extremes.
    fn around(ports: &[u16]) -> Vec<u16> {
        let mut out = vec![0, 1, u16::MAX - 1, u16::MAX];
        for &p in ports {
            out.extend([p.saturating_sub(1), p, p.saturating_add(1)]);
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Compiles `filter`, audits the program, and runs it on every pair of
    /// `ports` (with every pair of addresses): it must send each socket
    /// the filter keeps, and with `exact`, only those.
    fn check(filter: &Filter, ports: &[u16], exact: bool) -> Option<Vec<u8>> {
        let program = compile(filter);
        if let Some(bc) = &program {
            audit(bc).unwrap_or_else(|e| panic!("{filter:?}: audit: {e}: {bc:?}"));
        }
        for (&sport, &dport) in ports.iter().flat_map(|s| ports.iter().map(move |d| (s, d))) {
            for (local, remote) in ADDRS.iter().flat_map(|l| ADDRS.map(|r| (*l, r))) {
                let kept = filter.matches(&socket(local, sport, remote, dport), &NoOwners);
                let sent = program.as_deref().is_none_or(|bc| run(bc, sport, dport));
                let at = format!("{filter:?} on {local}:{sport} -> {remote}:{dport}");
                assert!(sent || !kept, "dropped a kept socket: {at}");
                assert!(!exact || sent == kept, "sent a socket never kept: {at}");
            }
        }
        program
    }

    fn expr_filter(text: &str) -> Filter {
        let query = parse_expression(&[text]).unwrap_or_else(|e| panic!("{text}: {e}"));
        Filter::new().with_query(query)
    }

    fn ports(text: &str) -> Vec<crate::filter::PortSet> {
        vec![parse_ports(text).unwrap()]
    }

    #[test]
    fn one_comparison_is_two_ops() {
        let program = compile(&Filter::new().with_dports(ports("7000"))).unwrap();
        let mut want = vec![BC_D_EQ, 8];
        want.extend(12u16.to_ne_bytes()); // false: end + 4, rejected
        want.extend([0, 0]);
        want.extend(7000u16.to_ne_bytes());
        assert_eq!(program, want);
        assert_eq!(compile(&expr_filter("dport = :7000")), Some(want));
    }

    #[test]
    fn port_flags_compile_exactly() {
        let probe = around(&[22, 80, 443, 1000, 8000, 8100]);
        let filters = [
            Filter::new().with_ports(ports("22,8000-8100")),
            Filter::new().with_sports(ports("1-1000")),
            Filter::new().with_sports(ports("1000-65535")),
            Filter::new().with_dports(ports("80,443,8000-8100")),
            Filter::new()
                .with_ports(ports("443"))
                .with_sports(ports("8000-8100,22"))
                .with_dports(ports("1-1000")),
            Filter::new()
                .with_dports(ports("80"))
                .with_dports(ports("443")),
        ];
        for filter in filters {
            assert!(check(&filter, &probe, true).is_some(), "{filter:?}");
        }
    }

    #[test]
    fn port_expressions_compile_exactly() {
        let probe = around(&[1, 2, 22, 80, 443, 1000, 2000, 8000]);
        for text in [
            "dport = :80",
            "sport >= :1000 and sport <= :2000",
            "not sport = :22",
            "sport = :22 or dport = :80",
            "( sport < :1000 or sport > :8000 ) and dport != :443",
            "not ( sport = :1 or not dport = :2 )",
            "sport > :0 and dport < :65535",
            "src *:22 or dst :443",
            "not ( not ( sport = :22 and dport = :80 ) or sport = :22 )",
            "sport != *",
        ] {
            assert!(check(&expr_filter(text), &probe, true).is_some(), "{text}");
        }
    }

    #[test]
    fn nothing_to_check_gives_no_program() {
        let probe = around(&[22]);
        for filter in [
            Filter::new(),
            expr_filter("src 10.0.0.1"),
            expr_filter("sport = *"),
            expr_filter("not ( src 10.0.0.1 and sport = :22 )"),
            expr_filter("src 10.0.0.1 or dport = :22"),
        ] {
            assert_eq!(check(&filter, &probe, false), None, "{filter:?}");
        }
    }

    #[test]
    fn addresses_are_left_to_user_space() {
        let probe = around(&[22, 80]);
        let program = |text| check(&expr_filter(text), &probe, false);
        assert_eq!(
            program("src 10.0.0.1 and dport = :80"),
            program("dport = :80")
        );
        assert_eq!(program("dst 10.0.0.0/8:80"), program("dport = :80"));
        // not (A or P) implies not P whatever A is.
        assert_eq!(
            program("not ( src 10.0.0.1 or sport = :22 )"),
            program("sport != :22")
        );
        let prefix: AddrPrefix = crate::filter::parse_addr_prefix("10.0.0.0/8").unwrap();
        let filter = Filter::new().with_src([prefix]).with_dports(ports("80"));
        assert_eq!(check(&filter, &probe, false), program("dport = :80"));
    }

    #[test]
    fn always_false_rejects_everything() {
        let program = check(&expr_filter("sport != *"), &around(&[]), true).unwrap();
        assert_eq!(program.len(), OP_LEN);
        assert!((0..=u16::MAX).step_by(97).all(|p| !run(&program, p, p)));
    }

    #[test]
    fn long_programs_are_not_sent() {
        // --port with n single ports: two 12-byte tests per port but the last.
        let list = |n: u16| (1..=n).map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        let fits = Filter::new().with_ports(ports(&list(170)));
        let program = check(&fits, &around(&[1, 170]), true).unwrap();
        assert!(program.len() <= MAX_PROGRAM_LEN && program.len() > MAX_PROGRAM_LEN - 24);
        let too_long = Filter::new().with_ports(ports(&list(171)));
        assert_eq!(check(&too_long, &around(&[1, 171]), false), None);
    }

    const PORTS: [u16; 7] = [0, 1, 22, 80, 443, 1000, 65535];

    /// A random expression of port predicates, with `src`/`dst` patterns
    /// (addresses or not) among them when `addresses`.
    fn random_expr(rng: &mut XorShift, depth: u32, addresses: bool) -> Expr {
        let side = rng.pick(&[Side::Local, Side::Remote]);
        let leaf = depth == 0 || rng.next().is_multiple_of(3);
        let choice = if leaf {
            rng.next() % 3
        } else {
            3 + rng.next() % 3
        };
        let sub = |rng: &mut XorShift| Box::new(random_expr(rng, depth - 1, addresses));
        match choice {
            0 | 1 if !addresses || choice == 0 => Expr::Port {
                side,
                op: rng.pick(&[
                    CmpOp::Eq,
                    CmpOp::Ne,
                    CmpOp::Lt,
                    CmpOp::Le,
                    CmpOp::Gt,
                    CmpOp::Ge,
                ]),
                port: rng.pick(&PORTS),
            },
            0..=2 => Expr::Host {
                side,
                pattern: HostPattern {
                    addr: (addresses && rng.next().is_multiple_of(2))
                        .then(|| crate::filter::parse_addr_prefix(rng.pick(&ADDRS)).unwrap()),
                    port: (rng.next().is_multiple_of(2)).then(|| rng.pick(&PORTS)),
                },
            },
            3 => Expr::Not(sub(rng)),
            4 => Expr::And(sub(rng), sub(rng)),
            _ => Expr::Or(sub(rng), sub(rng)),
        }
    }

    #[test]
    fn random_expressions_agree_with_matches() {
        let probe = around(&PORTS);
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        for round in 0..1500 {
            let addresses = round % 2 == 1;
            let expr = random_expr(&mut rng, 5, addresses);
            let filter = Filter::new().with_query(Query {
                states: None,
                expr: Some(expr),
            });
            check(&filter, &probe, !addresses);
        }
    }

    /// Every socket the filter keeps in exactly one half, listeners in
    /// the first; the halves near even for a client's and a server's
    /// ephemeral ports.
    #[test]
    fn split_halves_partition_what_the_filter_keeps() {
        let range = (32768, 60999);
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let mut probe = around(&[8191, 8192, 16383, 16384, 24575, 24576, 32767, 32768]);
        probe.extend(around(&[
            40959, 40960, 46883, 46884, 49151, 49152, 57343, 57344,
        ]));
        probe.extend([22, 80, 443, 5432, 60999, 61000]);
        for round in 0..300 {
            let filter = match round {
                0 => Filter::new(),
                _ => Filter::new().with_query(Query {
                    states: None,
                    expr: Some(random_expr(&mut rng, 4, false)),
                }),
            };
            let halves = split(&filter, range).expect("short programs");
            audit(&halves.first).unwrap();
            audit(&halves.second).unwrap();
            let whole = compile(&filter);
            for &sport in &probe {
                for &dport in &probe {
                    let (a, b) = (
                        run(&halves.first, sport, dport),
                        run(&halves.second, sport, dport),
                    );
                    let sent = whole.as_deref().is_none_or(|bc| run(bc, sport, dport));
                    let at = format!("{filter:?} on {sport} -> {dport}");
                    assert!(!(a && b), "in both halves: {at}");
                    assert_eq!(a || b, sent, "halves differ from the whole: {at}");
                    if dport == 0 && sent {
                        assert!(a, "a listener in the second half: {at}");
                    }
                }
            }
        }
        let all = split(&Filter::new(), range).unwrap();
        let share = |ends: &mut dyn Iterator<Item = (u16, u16)>| {
            let (mut first, mut n) = (0, 0);
            for (sport, dport) in ends {
                first += usize::from(run(&all.first, sport, dport));
                n += 1;
            }
            first as f64 / n as f64
        };
        let linux = || range.0..=range.1;
        // A client of one server port; a server of Linux, Windows and
        // NAT'd clients.
        let client = share(&mut linux().map(|p| (p, 443)));
        let server = share(&mut linux().map(|p| (443, p)));
        let windows = share(&mut (49152..=65535).map(|p| (443, p)));
        let nat = share(&mut (1024..=65535).map(|p| (443, p)));
        for (who, share) in [
            ("client", client),
            ("server", server),
            ("windows", windows),
            ("nat", nat),
        ] {
            assert!(
                (0.49..=0.51).contains(&share),
                "{who}: {share:.3} in the first half"
            );
        }
    }
}
