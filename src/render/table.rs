//! netstat's table, byte for byte where netstat defines it: the same
//! headers, column widths, address truncation (unless `-W`) and timer text.
//! Written straight into a buffered writer: the big listing must stay fast,
//! so no table crate and no per-row allocation beyond two reused strings.

use crate::config::{Columns, Config, Scope};
use crate::escape::{self, Escaped};
use crate::model::addr::Ntop;
use crate::model::{Endpoint, Protocol, Socket, TcpState, Timer};
use crate::names::hosts::Resolver;
use crate::names::users::UserNames;
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;

/// netstat's width of an address column before truncation (`addr:port`).
const ADDR_SHORT_LEN: usize = 22;
/// netstat's width of the PID/Program name column.
const PROGRAM_WIDTH: usize = 20;
/// Width of the NETNS column (`-N all`) before truncation (unless `-W`):
/// a Docker short id.
const NETNS_WIDTH: usize = 12;

/// Name lookups used when `-n` is not given.
pub struct Names {
    /// Host and service names; `None` under `-n`.
    pub resolver: Option<Resolver>,
    /// User names; unused under `-n`.
    pub users: UserNames,
}

impl Names {
    /// The name of user `uid` escaped for a terminal, for the table and
    /// events alike; `None` under `-n` (`numeric`) or when the uid has no
    /// name: print the number.
    pub fn user(&mut self, uid: u32, numeric: bool) -> Option<Cow<'_, str>> {
        if numeric {
            return None;
        }
        self.users.name(uid).map(escape::escape)
    }
}

/// A process as the table and events show it, `PID/name`, its name
/// escaped for a terminal.
pub fn program_label(pid: u32, name: &str) -> String {
    format!("{pid}/{}", Escaped(name))
}

/// The table printer with its reusable buffers.
pub struct Table<'a> {
    cfg: &'a Config,
    owners: Option<&'a ProcessMap>,
    names: &'a mut Names,
    local: String,
    remote: String,
    /// The row being built.
    line: Vec<u8>,
    /// Each owner's padded ` PID/name` cell, made on first use: rows of
    /// one process repeat it (by owner slot, see `ProcessMap::first_owner`).
    labels: Vec<Option<Box<str>>>,
    /// Namespace labels, when rows come from several (`-N all`).
    netns: Option<&'a Labels>,
}

impl<'a> Table<'a> {
    /// A printer for this config; `owners` is set when `-p` was asked.
    pub fn new(cfg: &'a Config, owners: Option<&'a ProcessMap>, names: &'a mut Names) -> Self {
        Table {
            cfg,
            owners,
            names,
            local: String::with_capacity(64),
            remote: String::with_capacity(64),
            line: Vec::with_capacity(256),
            labels: Vec::new(),
            netns: None,
        }
    }

    /// Rows from several namespaces: a NETNS column first, named by
    /// `labels`.
    pub fn with_netns(mut self, labels: Option<&'a Labels>) -> Self {
        self.netns = labels;
        self
    }

    /// Writes the two header lines (unless `-H`), then one line per socket.
    pub fn write<W: Write>(&mut self, w: &mut W, sockets: &[Socket]) -> io::Result<()> {
        self.write_header(w)?;
        self.write_rows(w, sockets)
    }

    /// Writes one line per socket, without the header: the next rows of a
    /// listing written as it is read.
    pub fn write_rows<W: Write>(&mut self, w: &mut W, sockets: &[Socket]) -> io::Result<()> {
        for s in sockets {
            self.write_row(w, s)?;
        }
        Ok(())
    }

    /// Writes the two header lines, unless `-H`.
    pub fn write_header<W: Write>(&self, w: &mut W) -> io::Result<()> {
        if self.cfg.no_header {
            return Ok(());
        }
        let netns = self.netns.map(|_| self.cfg.wide);
        write_header(w, self.cfg.scope, self.cfg.columns, netns)
    }

    fn write_row<W: Write>(&mut self, w: &mut W, s: &Socket) -> io::Result<()> {
        let resolver = self.names.resolver.as_ref();
        let named = resolver.map(|r| (r, s.protocol));
        format_endpoint(&mut self.local, &s.local, named, self.cfg.wide);
        format_endpoint(&mut self.remote, &s.remote, named, self.cfg.wide);
        // The row is built in one buffer and written at once; formatting
        // through `write!` cost a third of the user time at 100k rows.
        let line = &mut self.line;
        line.clear();
        if let Some(labels) = self.netns {
            let name = labels.get(&s.netns).map_or("?", |l| l.name.as_str());
            push_netns(line, name, self.cfg.wide);
        }
        // netstat writes `%-4s  ` for tcp and raw, `%-5s ` for udp: the
        // same but for `udpl6`.
        push_left(line, s.proto(), 5);
        line.push(b' ');
        push_uint_right(line, s.recv_q.into(), 6);
        line.push(b' ');
        push_uint_right(line, s.send_q.into(), 6);
        line.push(b' ');
        push_left(line, &self.local, 23);
        line.push(b' ');
        push_left(line, &self.remote, 23);
        line.push(b' ');
        push_state(line, s);
        let cols = self.cfg.columns;
        if cols.rates {
            super::inside::push_rate_cells(line, s);
        }
        if cols.extended {
            let user = self.names.user(s.uid, self.cfg.numeric_users);
            line.push(b' ');
            match user {
                Some(user) => push_left(line, &user, 10),
                None => push_uint_left(line, s.uid.into(), 10),
            }
            line.push(b' ');
            push_uint_left(line, s.inode, 10);
        }
        if cols.users {
            self.push_users(s.inode);
        } else if cols.program {
            self.push_program(s.inode);
        }
        let line = &mut self.line;
        if cols.timer {
            line.push(b' ');
            push_timer(line, &s.timer);
        }
        if cols.note {
            if let Some(note) = crate::diagnose::explain(s) {
                line.extend_from_slice(b"  ");
                line.extend_from_slice(note.as_bytes());
            }
        }
        line.push(b'\n');
        if cols.info || cols.memory {
            super::inside::push_continuation(line, s, self.cfg.numeric);
        }
        w.write_all(line)
    }

    /// Appends the `--users` cell: every owner as ss writes them,
    /// `users:(("nginx",pid=1,fd=6),…)`, names escaped.
    fn push_users(&mut self, inode: u64) {
        let mut cell = String::new();
        if let Some(map) = self.owners.filter(|_| inode != 0) {
            for (_, o) in map.owners_with_slots(inode) {
                cell.push_str(if cell.is_empty() { "users:((" } else { ",(" });
                let _ = write!(cell, "\"{}\",pid={},fd={})", Escaped(&o.name), o.pid, o.fd);
            }
        }
        if cell.is_empty() {
            cell.push('-');
        } else {
            cell.push(')');
        }
        self.line.push(b' ');
        push_left(&mut self.line, &cell, PROGRAM_WIDTH);
    }

    /// Appends the ` PID/Program name` cell: the socket's first owner, or
    /// under `--pid`/`--program` the first one they match.
    fn push_program(&mut self, inode: u64) {
        let filter = &self.cfg.filter;
        let owner = match self.owners {
            Some(map) if inode != 0 => {
                let mut owners = map.owners_with_slots(inode);
                let first = map.first_owner(inode);
                let matched = owners.find(|(_, o)| filter.owner_matches(o));
                matched.or(first).map(|o| (map, o))
            }
            _ => None,
        };
        let Some((map, (slot, owner))) = owner else {
            self.line.push(b' ');
            return push_left(&mut self.line, "-", PROGRAM_WIDTH);
        };
        if self.labels.len() < map.slots() {
            self.labels.resize(map.slots(), None);
        }
        let wide = self.cfg.wide;
        let label = self.labels[slot].get_or_insert_with(|| {
            let mut label = program_label(owner.pid, &owner.name);
            if !wide {
                // netstat keeps PROGRAM_WIDTH - 1 bytes (of the escaped
                // name here, never half an escape).
                label.truncate(escape::cut(&label, PROGRAM_WIDTH - 1));
            }
            format!(" {label:<PROGRAM_WIDTH$}").into_boxed_str()
        });
        self.line.extend_from_slice(label.as_bytes());
    }
}

/// The State cell as netstat writes it per protocol: TCP's state name;
/// for UDP `ESTABLISHED` when connected, nothing when not (and `UNKNOWN`
/// for a state UDP never has); for raw sockets the kernel's state number.
fn push_state(line: &mut Vec<u8>, s: &Socket) {
    match (s.protocol, s.state) {
        (Protocol::Tcp, state) => push_left(line, state.name(), 11),
        (Protocol::Raw, state) => push_uint_left(line, state as u64, 11),
        (_, TcpState::Established) => push_left(line, "ESTABLISHED", 11),
        (_, TcpState::Close) => push_left(line, "", 11),
        (_, _) => push_left(line, "UNKNOWN", 11),
    }
}

/// netstat's two header lines for this scope and these columns.
/// `netns` is `Some(wide)` when the NETNS column leads (`-N all`).
pub fn write_header<W: Write>(
    w: &mut W,
    scope: Scope,
    cols: Columns,
    netns: Option<bool>,
) -> io::Result<()> {
    let what = match scope {
        Scope::All => "servers and established",
        Scope::Listening => "only servers",
        Scope::Connected => "w/o servers",
    };
    writeln!(w, "Active Internet connections ({what})")?;
    if let Some(wide) = netns {
        let mut cell = Vec::new();
        push_netns(&mut cell, "NETNS", wide);
        w.write_all(&cell)?;
    }
    w.write_all(
        b"Proto Recv-Q Send-Q Local Address           Foreign Address         State      ",
    )?;
    if cols.rates {
        w.write_all(super::inside::RATE_HEADERS.as_bytes())?;
    }
    if cols.extended {
        w.write_all(b" User       Inode     ")?;
    }
    if cols.users {
        write!(w, " {:<PROGRAM_WIDTH$}", "Users")?;
    } else if cols.program {
        write!(w, " {:<PROGRAM_WIDTH$}", "PID/Program name")?;
    }
    if cols.timer {
        w.write_all(b" Timer")?;
    }
    if cols.note {
        w.write_all(b"  Note")?;
    }
    w.write_all(b"\n")
}

/// The NETNS cell and its separating space: the name escaped, cut to
/// [`NETNS_WIDTH`] (unless `wide`, `-W`) and padded to it.
pub(super) fn push_netns(line: &mut Vec<u8>, name: &str, wide: bool) {
    let name = escape::escape(name);
    let shown = match name.char_indices().nth(NETNS_WIDTH) {
        Some((cut, _)) if !wide => &name[..cut],
        _ => &name[..],
    };
    push_left(line, shown, NETNS_WIDTH);
    line.push(b' ');
}

/// The timer as netstat prints it, `kind (seconds/retransmits/probes)`,
/// as a string (top's detail pane).
pub fn timer_text(t: &Timer) -> String {
    let mut line = Vec::with_capacity(32);
    push_timer(&mut line, t);
    String::from_utf8_lossy(&line).into_owned()
}

/// The timer as netstat prints it: `kind (seconds/retransmits/probes)`.
fn push_timer(line: &mut Vec<u8>, t: &Timer) {
    line.extend_from_slice(t.kind.name().as_bytes());
    line.extend_from_slice(b" (");
    push_seconds(line, t.expires_ms);
    line.push(b'/');
    push_uint(line, t.retransmits.into());
    line.push(b'/');
    push_uint(line, t.probes.into());
    line.push(b')');
}

/// `ms` as seconds with two decimals, exactly as `{:.2}` prints
/// `ms as f64 / 1000.0`. Only a last digit of 5 sits near a rounding tie,
/// where the f64's error decides; those (and absurd values) go through the
/// float formatter, the rest are rounded in integers.
fn push_seconds(line: &mut Vec<u8>, ms: u64) {
    if ms % 10 == 5 || ms >= 1 << 40 {
        let _ = write!(line, "{:.2}", ms as f64 / 1000.0);
        return;
    }
    let centis = ms / 10 + u64::from(ms % 10 > 5);
    push_uint(line, centis / 100);
    let frac = (centis % 100) as u8;
    line.extend_from_slice(&[b'.', b'0' + frac / 10, b'0' + frac % 10]);
}

/// `n` in decimal.
fn push_uint(line: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let at = decimal(n, &mut digits);
    line.extend_from_slice(&digits[at..]);
}

/// `n` right-aligned in `width`, as `{:>width$}`.
fn push_uint_right(line: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let at = decimal(n, &mut digits);
    line.resize(line.len() + width.saturating_sub(20 - at), b' ');
    line.extend_from_slice(&digits[at..]);
}

/// `n` left-aligned in `width`, as `{:<width$}`.
fn push_uint_left(line: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let at = decimal(n, &mut digits);
    line.extend_from_slice(&digits[at..]);
    line.resize(line.len() + width.saturating_sub(20 - at), b' ');
}

/// Writes `n`'s digits at the end of `buf`; returns where they start.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> usize {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// `text` left-aligned in `width` characters, as `{:<width$}` (never cut).
fn push_left(line: &mut Vec<u8>, text: &str, width: usize) {
    line.extend_from_slice(text.as_bytes());
    let chars = if text.is_ascii() {
        text.len()
    } else {
        text.chars().count()
    };
    line.resize(line.len() + width.saturating_sub(chars), b' ');
}

/// Formats `addr:port` into `out` as netstat does: names when a resolver is
/// given (ports named as the socket's protocol names them) (escaped for a terminal: they come from DNS and /etc files),
/// addresses as `inet_ntop(3)` writes them, `*` for port 0, and (unless
/// `wide`) the address cut so the whole fits in 23 characters. Lengths
/// and cuts are those of the escaped text, and never split an escape.
pub fn format_endpoint(
    out: &mut String,
    e: &Endpoint,
    resolver: Option<(&Resolver, Protocol)>,
    wide: bool,
) {
    out.clear();
    let (resolver, protocol) = match resolver {
        Some((r, p)) => (Some(r), p),
        None => (None, Protocol::Tcp),
    };
    let addr = e.display_addr();
    // netstat asks getnameinfo(3) for an IPv4-mapped address as an IPv6
    // one, which hosts(5) does not name: it prints it dotted, never as
    // `localhost`.
    let mapped = addr != e.addr;
    let name = resolver.filter(|_| !mapped).and_then(|r| r.host(addr));
    match (name, addr) {
        (Some(name), _) => escape::push_escaped(out, name),
        // netstat spells the IPv6 wildcard `[::]` when resolving names.
        (None, IpAddr::V6(v6))
            if resolver.is_some_and(Resolver::names_hosts) && v6.is_unspecified() =>
        {
            out.push_str("[::]")
        }
        (None, IpAddr::V4(v4)) => push_ipv4(out, v4),
        (None, addr) => {
            let _ = write!(out, "{}", Ntop(addr));
        }
    }
    let addr_len = out.len();
    out.push(':');
    match resolver.and_then(|r| r.service_of(protocol, e.port)) {
        _ if e.port == 0 => out.push('*'),
        Some(service) => escape::push_escaped(out, service),
        None => push_decimal(out, e.port.into()),
    }
    let port_start = addr_len + 1;
    let full_port_len = out.len() - port_start;
    if !wide && addr_len + full_port_len > ADDR_SHORT_LEN {
        // net-tools addr_do_one(): assume the port name is short, keep at
        // most 18 of its characters and give the rest to the address.
        let port_len = full_port_len.min(ADDR_SHORT_LEN - 4);
        out.truncate(port_start + escape::cut(&out[port_start..], port_len));
        let keep = escape::cut(&out[..addr_len], ADDR_SHORT_LEN - port_len);
        out.replace_range(keep..addr_len, "");
    }
}

/// `a` dotted, as its `Display` writes it.
fn push_ipv4(out: &mut String, a: std::net::Ipv4Addr) {
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        push_decimal(out, octet.into());
    }
}

/// `n` in decimal, onto a string.
fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let at = decimal(n, &mut digits);
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimerKind;

    fn endpoint(addr: &str, port: u16, wide: bool) -> String {
        let mut out = String::new();
        let e = Endpoint {
            addr: addr.parse().unwrap(),
            port,
        };
        format_endpoint(&mut out, &e, None, wide);
        out
    }

    #[test]
    fn numeric_endpoints_look_like_netstat() {
        assert_eq!(endpoint("127.0.0.1", 22, false), "127.0.0.1:22");
        assert_eq!(endpoint("0.0.0.0", 0, false), "0.0.0.0:*");
        assert_eq!(endpoint("::", 0, false), ":::*");
        assert_eq!(endpoint("::ffff:10.0.0.1", 443, false), "10.0.0.1:443");
    }

    #[test]
    fn ipv4_compatible_addresses_are_written_as_inet_ntop_does() {
        assert_eq!(endpoint("::a4d:301", 8080, false), "::10.77.3.1:8080");
        assert_eq!(endpoint("::ffff:10.77.3.1", 80, false), "10.77.3.1:80");
    }

    /// `e` named by a resolver that calls every address `host` and reads
    /// services from `services`.
    fn named(e: &str, host: &'static str, services: &str, wide: bool) -> String {
        let path = std::env::temp_dir().join(format!(
            "tcpstat-table-services-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::write(&path, services).unwrap();
        let mut resolver = Resolver::new(true, true)
            .with_services_file(&path)
            .with_lookup(move |_| Some(host.to_string()));
        let e = crate::test_support::endpoint(e);
        resolver.prefetch([e.addr], std::time::Duration::from_secs(5));
        let mut out = String::new();
        format_endpoint(&mut out, &e, Some((&resolver, Protocol::Tcp)), wide);
        std::fs::remove_file(&path).unwrap();
        out
    }

    #[test]
    fn names_are_escaped_and_cut_on_their_escaped_text() {
        let hostile = "ev\x1b[2Jil\x07x";
        assert_eq!(
            named("10.0.0.1:34567", hostile, "", true),
            r"ev\u{1b}[2Jil\u{7}x:34567"
        );
        // 17 bytes are left for the name; the 17th falls inside `\u{7}`,
        // which is dropped whole.
        assert_eq!(
            named("10.0.0.1:34567", hostile, "", false),
            r"ev\u{1b}[2Jil:34567"
        );
        assert_eq!(
            named("10.0.0.1:22", "h", "s\x1bh 22/tcp\n", false),
            r"h:s\u{1b}h"
        );
        // Ordinary names are cut as before.
        assert_eq!(
            named(
                "10.0.0.1:22",
                "a-rather-long-host-name.example",
                "ssh 22/tcp\n",
                false
            ),
            "a-rather-long-host-:ssh"
        );
    }

    #[test]
    fn program_labels_are_escaped_and_never_end_in_half_an_escape() {
        assert_eq!(program_label(812, "nginx"), "812/nginx");
        assert_eq!(program_label(7, "a\x1b[2J\nb\\"), r"7/a\u{1b}[2J\nb\\");
        let mut label = program_label(4_194_304, "\x1b\x1b\x1b");
        label.truncate(escape::cut(&label, PROGRAM_WIDTH - 1));
        assert_eq!(label, r"4194304/\u{1b}");
    }

    #[test]
    fn long_addresses_are_cut_like_netstat_unless_wide() {
        let long = "fd00:1234:5678:9abc:def0:1234:5678:9abc";
        assert_eq!(endpoint(long, 41820, false), "fd00:1234:5678:9a:41820");
        assert_eq!(endpoint(long, 41820, false).len(), 23);
        assert_eq!(endpoint(long, 41820, true), format!("{long}:41820"));
    }

    #[test]
    fn timers_are_written_as_netstat_does() {
        let mut out = Vec::new();
        let t = Timer {
            kind: TimerKind::Keepalive,
            expires_ms: 7_197_160,
            retransmits: 0,
            probes: 2,
        };
        push_timer(&mut out, &t);
        push_timer(&mut out, &Timer::OFF);
        let t = Timer {
            kind: TimerKind::Unknown(9),
            expires_ms: 560,
            retransmits: 3,
            probes: 0,
        };
        push_timer(&mut out, &t);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "keepalive (7197.16/0/2)off (0.00/0/0)unkn-9 (0.56/3/0)"
        );
    }

    #[test]
    fn hand_formatting_equals_std_formatting() {
        let text = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut line = Vec::new();
            f(&mut line);
            String::from_utf8(line).unwrap()
        };
        let mut rng = crate::test_support::XorShift(0x5eed);
        let numbers = (0..200_000u64)
            .chain([u64::MAX, 1 << 40, (1 << 40) - 1, 4_294_967_295])
            .chain(std::iter::repeat_with(move || {
                let shift = rng.next() % 64;
                rng.next() >> shift
            }))
            .take(400_004);
        for n in numbers {
            assert_eq!(
                text(&|l| push_seconds(l, n)),
                format!("{:.2}", n as f64 / 1000.0),
                "{n} ms"
            );
            assert_eq!(text(&|l| push_uint(l, n)), n.to_string());
            assert_eq!(text(&|l| push_uint_right(l, n, 6)), format!("{n:>6}"));
            assert_eq!(text(&|l| push_uint_left(l, n, 10)), format!("{n:<10}"));
            let v4 = std::net::Ipv4Addr::from(n as u32);
            let mut out = String::new();
            push_ipv4(&mut out, v4);
            assert_eq!(out, v4.to_string());
        }
        for word in [
            "",
            "tcp",
            "ESTABLISHED",
            "größe",
            "日本語のなまえ",
            "exactly-eleven",
        ] {
            assert_eq!(text(&|l| push_left(l, word, 11)), format!("{word:<11}"));
        }
    }

    #[test]
    fn headers_match_netstat_byte_for_byte() {
        let mut out = Vec::new();
        let all = Columns {
            extended: true,
            program: true,
            timer: true,
            ..Columns::default()
        };
        write_header(&mut out, Scope::All, all, None).unwrap();
        write_header(&mut out, Scope::Connected, Columns::default(), None).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Active Internet connections (servers and established)\n\
             Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      PID/Program name     Timer\n\
             Active Internet connections (w/o servers)\n\
             Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n"
        );
    }
}
