//! Entry points for the `cargo fuzz` targets in `fuzz/`: one per parser of
//! bytes that come from outside the program (the kernel, files, the
//! command line), each taking arbitrary bytes and driving the parser the
//! way tcpstat does. Not part of the library's interface: hidden from its
//! docs, and kept here so that the parsers themselves stay private.
//!
//! Each function must return for any input; a panic, an overflow or a
//! runaway allocation is a bug in the parser it drives.

use crate::filter::{parse_expression, Filter, NoOwners};
use crate::model::{Endpoint, Family, Protocol, Socket, StateSet, TcpState, Timer};
use crate::owners::btf::Btf;
use crate::source::proc::{parse_table, read_table, ParseErrorKind, Table, TableError};

/// A /proc/net/tcp{,6} table, as the file reader streams it (in pieces of
/// every size, so line breaks fall anywhere) and as a whole text.
pub fn proc_table(bytes: &[u8]) {
    let Some((&first, text)) = bytes.split_first() else {
        return;
    };
    let family = if first & 1 == 0 {
        Family::Inet
    } else {
        Family::Inet6
    };
    let states = StateSet::from_bits(u32::from(first >> 1).wrapping_mul(0x0101_0101) | 1 << 10);
    let mut streamed = Vec::new();
    let mut table = Table::new(family, 100, states);
    let result = read_table(
        &mut Pieces(text, usize::from(first)),
        &mut table,
        &mut streamed,
    );
    if let Ok(text) = std::str::from_utf8(text) {
        let mut whole = Vec::new();
        let parsed = parse_table(text, family, "tcp", 100, states, &mut whole);
        // Both read the same lines the same way, but for the stream's
        // bound on line length.
        let long_line = matches!(result, Err(TableError::Parse(_, ParseErrorKind::LongLine)));
        match (&parsed, &result) {
            (Ok(()), Ok(())) => assert_eq!(whole, streamed),
            (Err(e), Err(TableError::Parse(line, _))) => assert!(e.line == *line || long_line),
            _ => assert!(long_line, "{parsed:?} but streamed {result:?}"),
        }
        if let Err(e) = parsed {
            let _ = e.to_string();
        }
    }
}

/// A /proc/net/{udp,udplite,raw}{,6} table, streamed as the source reads
/// it: every row it keeps is of the protocol and family of the table.
pub fn proc_datagram_table(bytes: &[u8]) {
    let Some((&first, text)) = bytes.split_first() else {
        return;
    };
    let family = if first & 1 == 0 {
        Family::Inet
    } else {
        Family::Inet6
    };
    let protocol = [Protocol::Udp, Protocol::UdpLite, Protocol::Raw][usize::from(first >> 1) % 3];
    let states = StateSet::from_bits(1 << 1 | 1 << 7);
    let mut rows = Vec::new();
    let mut table = Table::new(family, 100, states).of(protocol);
    let _ = read_table(&mut Pieces(text, usize::from(first)), &mut table, &mut rows);
    for row in &rows {
        assert_eq!((row.protocol, row.family), (protocol, family));
        assert!(states.contains(row.state));
        assert_eq!(row.proto(), family.proto(protocol));
    }
}

/// A reader that hands out pieces of 1 to 16 bytes.
struct Pieces<'a>(&'a [u8], usize);

impl std::io::Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.1 = self.1.wrapping_mul(31).wrapping_add(7);
        let n = (self.1 % 16 + 1).min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// One datagram of a sock_diag dump: netlink framing, each message's
/// `inet_diag_msg` and attributes.
pub fn inet_diag(bytes: &[u8]) {
    for timer_counters in [false, true] {
        if let Err(e) = crate::source::netlink::parse_inet_diag(bytes, timer_counters) {
            let _ = e.to_string();
        }
    }
    crate::source::netlink::walk_datagram_for_fuzzing(bytes);
}

/// One datagram answering a `-K` SOCK_DESTROY request (acknowledgements).
pub fn kill_ack(bytes: &[u8]) {
    crate::source::netlink::kill::read_ack_for_fuzzing(bytes);
}

/// One datagram of destroy notifications.
pub fn destroy(bytes: &[u8]) {
    let (mut out, mut skipped) = (Vec::new(), 0);
    crate::source::destroy::walk_datagram(bytes, &mut out, 64, &mut skipped);
    assert!(out.len() <= 64);
    let _ = crate::source::destroy::parse_destroyed(bytes);
}

/// Command-line words of a filter expression (separated by NUL bytes in
/// the input), parsed, printed, and run on a few sockets.
pub fn filter(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let words: Vec<&str> = text.split('\0').collect();
    match parse_expression(&words) {
        Ok(query) => {
            if let Some(expr) = &query.expr {
                let _ = expr.to_string();
            }
            let filter = Filter::new().with_query(query);
            for socket in sample_sockets() {
                let _ = filter.matches(&socket, &NoOwners);
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    for word in &words {
        let _ = crate::filter::parse_ports(word);
        let _ = crate::filter::parse_addr_prefix(word);
        let _ = crate::filter::parse_states(word);
    }
}

/// Sockets of both families, listening and connected.
fn sample_sockets() -> [Socket; 3] {
    let socket = |family, state, local: &str, lport, remote: &str, rport| Socket {
        family,
        state,
        local: Endpoint {
            addr: local.parse().expect("address"),
            port: lport,
        },
        remote: Endpoint {
            addr: remote.parse().expect("address"),
            port: rport,
        },
        recv_q: 0,
        send_q: 0,
        uid: 1000,
        inode: 42,
        netns: 0,
        timer: Timer::OFF,
        shutdown: None,
        info: None,
        memory: None,
        diag_id: None,
        backlog: None,
        protocol: crate::model::Protocol::Tcp,
    };
    [
        socket(Family::Inet, TcpState::Listen, "0.0.0.0", 22, "0.0.0.0", 0),
        socket(
            Family::Inet,
            TcpState::Established,
            "10.0.0.1",
            443,
            "192.168.1.9",
            50000,
        ),
        socket(
            Family::Inet6,
            TcpState::TimeWait,
            "::ffff:127.0.0.1",
            8080,
            "::1",
            1,
        ),
    ]
}

/// A BTF blob, indexed and asked what the BPF owner iterator asks, and
/// what exact mode's state-change programs ask.
pub fn btf(bytes: &[u8]) {
    if let Ok(btf) = Btf::open(bytes.to_vec(), crate::source::transitions::program::WANTED) {
        let _ = crate::source::transitions::program::Layout::of(&btf);
    }
    let Ok(btf) = Btf::open(bytes.to_vec(), crate::owners::bpf::WANTED) else {
        return;
    };
    let _ = btf.function_params_are("bpf_iter_task_file", &["meta", "task", "fd", "file"]);
    let _ = btf.function_id("bpf_iter_task_file");
    for (name, member) in [
        ("bpf_iter_meta", "seq"),
        ("file", "f_inode"),
        ("inode", "i_mode"),
        ("inode", "i_ino"),
        ("task_struct", "tgid"),
        ("task_struct", "pid"),
    ] {
        let _ = btf.member(name, member);
    }
}

/// Exact mode's ring-buffer records: the bytes whole, cut or padded to the
/// size the programs write, and cut into records of that size.
pub fn transition_record(bytes: &[u8]) {
    use crate::source::transitions::record;
    let _ = record::parse(bytes);
    let mut one = [0u8; record::LEN];
    let n = bytes.len().min(record::LEN);
    one[..n].copy_from_slice(&bytes[..n]);
    for chunk in std::iter::once(&one[..]).chain(bytes.chunks(record::LEN)) {
        if let Ok(t) = record::parse(chunk) {
            assert!(!t.socket.state.name().is_empty());
        }
    }
}

/// A services(5) table, looked up by a name and walked whole.
pub fn services(bytes: &[u8]) {
    let Ok(table) = std::str::from_utf8(bytes) else {
        return;
    };
    for name in ["ssh", "http", "www", "postgres", "x"] {
        let _ = crate::names::services::lookup(table, name);
    }
    for (_, _, aliases) in crate::names::services::tcp_entries(table) {
        let _ = aliases.count();
    }
}

/// What `-N all` reads from outside: `/proc/self/mountinfo` (mount points
/// are anyone's choice of path) and the Docker Engine's reply.
pub fn namespaces(bytes: &[u8]) {
    let _ = crate::netns::mountinfo::net_namespaces(bytes);
    let _ = crate::netns::docker::parse_reply(bytes);
}

/// The small things read from the kernel besides the tables: an fd link
/// target (`socket:[INODE]`), the sysctls the summary compares with, and
/// `/proc/net/sockstat(6)`, whose count decides a dump's split.
pub fn kernel_text(bytes: &[u8]) {
    let _ = crate::owners::procfs::socket_inode(bytes);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = crate::sys::sysctl::parse_number(text);
        let _ = crate::sys::sysctl::parse_range(text);
        let _ = crate::source::split::tcp_sockets_in(text, text);
    }
}

/// A unix_diag dump datagram (framing, `unix_diag_msg`, its attributes
/// and the rows rebuilt from a listener's pending list), walked as a dump
/// walks it, expecting the sequence number and port of its first message.
pub fn unix_diag(bytes: &[u8]) {
    use crate::source::netlink::unix_diag::walk_datagram;
    let (seq, port) = match bytes {
        [_, _, _, _, _, _, _, _, s0, s1, s2, s3, p0, p1, p2, p3, ..] => (
            u32::from_ne_bytes([*s0, *s1, *s2, *s3]),
            u32::from_ne_bytes([*p0, *p1, *p2, *p3]),
        ),
        _ => (0, 0),
    };
    let _ = crate::source::netlink::unix_diag::parse_unix_diag(bytes);
    let (mut out, mut skipped) = (Vec::new(), 0);
    let _ = walk_datagram(bytes, seq, port, &mut out, &mut skipped);
    for s in &out {
        let _ = (s.state_name(), s.is_listening());
    }
}

/// A `/proc/net/unix` table, parsed as the /proc source parses it; each
/// row's path then escaped for the table, as the table escapes it.
pub fn proc_unix(bytes: &[u8]) {
    let mut out = Vec::new();
    crate::source::proc_unix::parse_table(bytes, &mut out);
    for s in &out {
        if let Some(name) = &s.name {
            let _ = crate::escape::escape_bytes(&name.shown_bytes());
        }
    }
}

/// Terminal input, as `top` reads it: the first byte sets the size of the
/// reads the rest is cut into, so sequences and characters split anywhere.
/// At most one key per byte comes out, and nothing unbounded is kept.
pub fn top_keys(bytes: &[u8]) {
    let Some((&size, rest)) = bytes.split_first() else {
        return;
    };
    let mut parser = crate::top::keys::KeyParser::new();
    let mut keys = 0;
    for chunk in rest.chunks(usize::from(size).max(1)) {
        keys += parser.feed(chunk).len();
    }
    assert!(keys <= rest.len());
}

#[cfg(test)]
mod tests {
    /// The entry points hold on real inputs cut at every length, so that
    /// `cargo test` runs them too (the fuzzers run them on far more).
    #[test]
    fn entry_points_take_every_prefix_of_real_inputs() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/proc");
        for (table, first) in [("loopback/net/tcp", 0), ("loopback/net/tcp6", 0x1f)] {
            let text = std::fs::read(format!("{root}/{table}")).unwrap();
            let mut input = vec![first];
            input.extend(&text[..text.len().min(2000)]);
            for cut in 0..input.len() {
                super::proc_table(&input[..cut]);
            }
        }
        let filter = b"state\0established\0( sport = :22 or dst 10.0.0.0/8 )";
        let services = b"ssh 22/tcp\nhttp 80/tcp www # web\n";
        for cut in 0..filter.len() {
            super::filter(&filter[..cut]);
        }
        for cut in 0..services.len() {
            super::services(&services[..cut]);
            super::kernel_text(&services[..cut]);
        }
        for bytes in [&[0u8; 100][..], b"socket:[42]"] {
            super::inet_diag(bytes);
            super::destroy(bytes);
            super::btf(bytes);
            super::unix_diag(bytes);
            super::proc_unix(bytes);
        }
        let unix = b"Num RefCount\n0000: 00000002 00000000 00010000 0001 01 7 /a b\nc\xff\n\
            0001: 00000002 00000000 00000000 0002 01 8 @x@y\n";
        for cut in 0..unix.len() {
            super::proc_unix(&unix[..cut]);
        }
    }
}
