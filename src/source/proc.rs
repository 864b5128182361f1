//! The /proc fallback source: parses `/proc/net/tcp` and `/proc/net/tcp6`,
//! and their UDP, UDP-Lite and raw twins (`udp`, `udplite`, `raw` and
//! their `6`s).
//!
//! The TCP tables are written by the kernel's `get_tcp4_sock`,
//! `get_timewait4_sock` and `get_openreq4` (and their IPv6 twins in
//! `tcp_ipv6.c`); the others by `udp4_format_sock` and `raw_sock_seq_show`
//! (and theirs), in the same layout with `ref pointer drops` after the
//! inode. After a header line every row starts with the same ten fields:
//!
//! ```text
//!    0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 …
//!   sl  local         remote        st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout inode
//! ```
//!
//! Addresses are 32-bit words printed `%08X` in host byte order, so they are
//! decoded with `u32::to_ne_bytes`. What follows the inode (refcount,
//! pointer, rto, …) depends on the kind of socket and is ignored.
//!
//! The parser is our own rather than `procfs`'s `TcpNetEntry`, which drops
//! the timer, retransmit and probe columns that netstat's `-o` shows. It
//! walks each line with `split_ascii_whitespace` and allocates nothing per
//! row beyond the `Socket` it pushes, because busy hosts have 100k+ rows.
//!
//! The kernel writes a table one `read()` at a time, each time walking its
//! hash tables again to the bucket and offset where the last read stopped
//! (`tcp_seek_last_pos`), and each read gets at most one page of rows,
//! however large the buffer; a buffer smaller than a row gets one row per
//! walk. Sockets that come and go in a bucket already partly read shift
//! that offset, so one listing could show a socket twice (or miss one). So
//! the tables are read in large pieces (a few walks per thousand rows
//! rather than one per row), and a row whose socket was already listed is
//! dropped: a socket is known by its inode, or, for those without one
//! (TIME_WAIT, request and orphaned sockets), by its state and addresses.
//! A socket that moves during the read may still be missed.
//!
//! Every line and every table is bounded ([`MAX_LINE`],
//! [`MAX_TABLE_BYTES`]), so that a `--proc-root` whose tables are endless
//! streams ends in an error, not in all the memory there is.

use std::collections::HashSet;
use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use crate::error::{os_text, Error, Result};
use crate::model::{Endpoint, Family, Protocol, Socket, StateSet, TcpState, Timer, TimerKind};

/// Fields every kernel row has: the ten we read plus refcount and pointer.
/// TIME_WAIT and request rows stop there; full sockets print five more.
const MIN_FIELDS: usize = 12;

/// Longest field value quoted in an error, so a garbage line cannot produce
/// a huge message.
const MAX_QUOTED: usize = 48;

/// Longest line accepted: the kernel's rows are under 200 bytes.
pub const MAX_LINE: usize = 4096;

/// Largest table accepted: 1 GiB, some 7 million rows, more than any host
/// we know of holds; past it the file is taken for an endless stream.
pub const MAX_TABLE_BYTES: u64 = 1 << 30;

/// Bytes asked for per `read()`: far more than the page the kernel gives
/// at most, so that every read gets a whole page of rows.
const READ_LEN: usize = 256 << 10;

/// The name of `protocol`'s IPv4 table under `/proc/net` (the IPv6 one
/// adds a `6`).
pub fn table_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::UdpLite => "udplite",
        Protocol::Raw => "raw",
    }
}

/// Reads `protocol`'s tables `<root>/net/NAME` and/or `<root>/net/NAME6`
/// (root is normally `/proc`; tests point it at fixture dirs; `families`
/// says which of IPv4 and IPv6), keeping rows whose state bit is in
/// `states` ([`TcpState::mask_bit`]), each socket once, appended to `out`.
///
/// A missing IPv6 table (IPv6 disabled) yields no IPv6 rows, a missing
/// `udplite` (a kernel without UDP-Lite) none; any other missing table is
/// an error naming the path.
pub fn read(
    root: &Path,
    protocol: Protocol,
    (ipv4, ipv6): (bool, bool),
    states: StateSet,
    out: &mut Vec<Socket>,
) -> Result<()> {
    let ticks_per_sec = clock_ticks();
    let name = table_name(protocol);
    let tables = [
        (ipv4, format!("net/{name}"), Family::Inet),
        (ipv6, format!("net/{name}6"), Family::Inet6),
    ];
    for (wanted, name, family) in tables {
        if !wanted {
            continue;
        }
        let path = root.join(name);
        let reading =
            |e: io::Error| Error::runtime(format!("reading {}: {}", path.display(), os_text(&e)));
        let optional = family == Family::Inet6 || protocol == Protocol::UdpLite;
        let mut file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound && optional => continue,
            Err(e) => return Err(reading(e)),
        };
        let mut table = Table::new(family, ticks_per_sec, states).of(protocol);
        let start = out.len();
        if let Err(e) = read_table(&mut file, &mut table, out) {
            out.truncate(start);
            return Err(match e {
                TableError::Io(e) => reading(e),
                TableError::Parse(line, kind) => {
                    let file = path.display().to_string();
                    Error::runtime(ParseError { file, line, kind }.to_string())
                }
            });
        }
    }
    Ok(())
}

/// Why a table could not be read: the read failed, or a line (1-based)
/// did not parse.
#[derive(Debug)]
pub enum TableError {
    /// `read()` failed.
    Io(io::Error),
    /// This line (1-based) is wrong, or the table too large.
    Parse(usize, ParseErrorKind),
}

/// Reads a table from `file` in large pieces, parsing each line as it
/// arrives, into `out`; stops at [`MAX_TABLE_BYTES`] and at a line longer
/// than [`MAX_LINE`]. On error, rows already pushed stay in `out`.
pub fn read_table(
    file: &mut impl Read,
    table: &mut Table,
    out: &mut Vec<Socket>,
) -> Result<(), TableError> {
    let mut buf = vec![0u8; READ_LEN];
    let (mut kept, mut total) = (0usize, 0u64);
    loop {
        let n = match file.read(&mut buf[kept..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(TableError::Io(e)),
        };
        total += n as u64;
        if total > MAX_TABLE_BYTES {
            return Err(TableError::Parse(table.lines + 1, ParseErrorKind::TooLarge));
        }
        let end = kept + n;
        let mut start = 0;
        while let Some(len) = buf[start..end].iter().position(|&b| b == b'\n') {
            table
                .line(&buf[start..start + len], out)
                .map_err(parse_error)?;
            start += len + 1;
        }
        if n == 0 {
            // The last line may lack its newline.
            if start < end {
                table.line(&buf[start..end], out).map_err(parse_error)?;
            }
            return table.finish().map_err(parse_error);
        }
        kept = end - start;
        if kept > MAX_LINE {
            return Err(TableError::Parse(table.lines + 1, ParseErrorKind::LongLine));
        }
        buf.copy_within(start..end, 0);
    }
}

fn parse_error((line, kind): (usize, ParseErrorKind)) -> TableError {
    TableError::Parse(line, kind)
}

/// Parses the text of one table, header line included, appending the rows
/// whose state is in `states` to `out`, each socket once. `file` names
/// the table in errors. `ticks_per_sec` is USER_HZ (see [`clock_ticks`]).
///
/// Blank lines are skipped. On error `out` is left as it was on entry.
pub fn parse_table(
    text: &str,
    family: Family,
    file: &str,
    ticks_per_sec: u64,
    states: StateSet,
    out: &mut Vec<Socket>,
) -> Result<(), ParseError> {
    let start = out.len();
    let mut table = Table::new(family, ticks_per_sec, states);
    let result = text
        .lines()
        .try_for_each(|line| table.line(line.as_bytes(), out))
        .and_then(|()| table.finish());
    result.map_err(|(line, kind)| {
        out.truncate(start);
        ParseError {
            file: file.to_owned(),
            line,
            kind,
        }
    })
}

/// A table being parsed line by line: the header, then rows, each socket
/// kept once.
#[derive(Debug)]
pub struct Table {
    family: Family,
    protocol: Protocol,
    ticks_per_sec: u64,
    states: StateSet,
    /// Lines seen so far.
    lines: usize,
    /// The sockets listed so far.
    listed: HashSet<Identity>,
}

/// What tells one socket from another within a table: its inode, unique
/// while it lives; without one (TIME_WAIT, request and orphaned sockets),
/// its state and addresses, of which the kernel's hash tables hold one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Identity {
    Inode(u64),
    Connection(TcpState, Endpoint, Endpoint),
}

impl Identity {
    fn of(s: &Socket) -> Identity {
        match s.inode {
            0 => Identity::Connection(s.state, s.local, s.remote),
            inode => Identity::Inode(inode),
        }
    }
}

impl Table {
    /// A table of `family` whose rows are kept when their state is in
    /// `states`; `ticks_per_sec` is USER_HZ.
    pub fn new(family: Family, ticks_per_sec: u64, states: StateSet) -> Table {
        Table {
            family,
            protocol: Protocol::Tcp,
            ticks_per_sec,
            states,
            lines: 0,
            listed: HashSet::new(),
        }
    }

    /// The same table holding `protocol`'s sockets (TCP unless said).
    pub fn of(mut self, protocol: Protocol) -> Table {
        self.protocol = protocol;
        self
    }

    /// Parses the next line (without its newline; a trailing CR is
    /// ignored), pushing its socket to `out` unless its state is not
    /// wanted or it was listed already. Errors carry the 1-based line.
    pub fn line(
        &mut self,
        line: &[u8],
        out: &mut Vec<Socket>,
    ) -> Result<(), (usize, ParseErrorKind)> {
        self.lines += 1;
        let at = self.lines;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let line = std::str::from_utf8(line).map_err(|_| (at, ParseErrorKind::NotText))?;
        if at == 1 {
            return match line.split_ascii_whitespace().next() {
                Some("sl") => Ok(()),
                _ => Err((1, ParseErrorKind::MissingHeader)),
            };
        }
        if line.trim_ascii().is_empty() {
            return Ok(());
        }
        let socket = parse_row(line, self.family, self.protocol, self.ticks_per_sec)
            .map_err(|kind| (at, kind))?;
        if self.states.contains(socket.state) && self.listed.insert(Identity::of(&socket)) {
            out.push(socket);
        }
        Ok(())
    }

    /// Ends the table: an error if it had no header line at all.
    pub fn finish(&self) -> Result<(), (usize, ParseErrorKind)> {
        match self.lines {
            0 => Err((1, ParseErrorKind::MissingHeader)),
            _ => Ok(()),
        }
    }
}

/// Parses one row of the table.
fn parse_row(
    line: &str,
    family: Family,
    protocol: Protocol,
    ticks_per_sec: u64,
) -> Result<Socket, ParseErrorKind> {
    let mut words = line.split_ascii_whitespace();
    let mut f = [""; MIN_FIELDS];
    for (found, slot) in f.iter_mut().enumerate() {
        *slot = words.next().ok_or(ParseErrorKind::FieldCount(found))?;
    }
    let bad = |field: &'static str, value: &str| ParseErrorKind::bad(field, value);

    f[0].strip_suffix(':')
        .and_then(|sl| dec(sl, u64::MAX))
        .ok_or_else(|| bad("slot", f[0]))?;
    let local = parse_endpoint(f[1], family).ok_or_else(|| bad("local address", f[1]))?;
    let remote = parse_endpoint(f[2], family).ok_or_else(|| bad("remote address", f[2]))?;
    let st = hex(f[3].as_bytes(), u8::MAX.into()).ok_or_else(|| bad("state", f[3]))? as u8;
    let state = TcpState::from_kernel(st).ok_or(ParseErrorKind::UnknownState(st))?;
    let (tx_queue, rx_queue) = hex_pair(f[4]).ok_or_else(|| bad("tx_queue:rx_queue", f[4]))?;
    let (kind, ticks) = parse_timer(f[5]).ok_or_else(|| bad("tr:tm->when", f[5]))?;
    let retransmits = hex(f[6].as_bytes(), u32::MAX.into()).ok_or_else(|| bad("retrnsmt", f[6]))?;
    let uid = dec(f[7], u32::MAX.into()).ok_or_else(|| bad("uid", f[7]))?;
    let probes = dec(f[8], u32::MAX.into()).ok_or_else(|| bad("timeout", f[8]))?;
    let inode = dec(f[9], u64::MAX).ok_or_else(|| bad("inode", f[9]))?;

    let expires_ms = match kind {
        TimerKind::Off => 0,
        _ => ticks_to_ms(ticks, ticks_per_sec),
    };
    // The `as` casts below narrow values already range-checked against the
    // target type's MAX by hex()/dec().
    Ok(Socket {
        family,
        state,
        local,
        remote,
        recv_q: rx_queue,
        send_q: tx_queue,
        uid: uid as u32,
        inode,
        netns: 0,
        timer: Timer {
            kind,
            expires_ms,
            retransmits: retransmits as u32,
            probes: probes as u32,
        },
        shutdown: None,
        info: None,
        memory: None,
        diag_id: None,
        backlog: None,
        protocol,
    })
}

/// Parses `ADDR:PORT`, ADDR being 8 (IPv4) or 32 (IPv6) hex digits of
/// host-order 32-bit words.
fn parse_endpoint(s: &str, family: Family) -> Option<Endpoint> {
    let (addr, port) = s.split_once(':')?;
    let port = hex(port.as_bytes(), u16::MAX.into())? as u16;
    let addr = addr.as_bytes();
    let addr = match family {
        Family::Inet if addr.len() == 8 => IpAddr::V4(Ipv4Addr::from(word(addr)?.to_ne_bytes())),
        Family::Inet6 if addr.len() == 32 => {
            let mut octets = [0u8; 16];
            for (dst, src) in octets.chunks_exact_mut(4).zip(addr.chunks_exact(8)) {
                dst.copy_from_slice(&word(src)?.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(Endpoint { addr, port })
}

/// One `%08X` word of an address.
fn word(digits: &[u8]) -> Option<u32> {
    hex(digits, u32::MAX.into()).map(|w| w as u32)
}

/// Parses `tx_queue:rx_queue`.
fn hex_pair(s: &str) -> Option<(u32, u32)> {
    let (a, b) = s.split_once(':')?;
    let a = hex(a.as_bytes(), u32::MAX.into())?;
    let b = hex(b.as_bytes(), u32::MAX.into())?;
    Some((a as u32, b as u32))
}

/// Parses `tr:tm->when` into the timer kind and clock ticks left.
fn parse_timer(s: &str) -> Option<(TimerKind, u64)> {
    let (tr, when) = s.split_once(':')?;
    let tr = hex(tr.as_bytes(), u8::MAX.into())? as u8;
    let when = when.as_bytes();
    let ticks = hex(when, u64::MAX)?;
    // tm->when is a `long` printed `%08lX`. Current kernels clamp it at 0
    // (jiffies_delta_to_clock_t), but a negative delta would appear in two's
    // complement: 16 digits from a 64-bit long, 8 from a 32-bit one. An
    // 8-digit value with the top bit set is read as negative too; as a
    // positive count it would be 248+ days at 100 Hz, which no TCP timer is.
    let negative = if when.len() > 8 {
        ticks > i64::MAX as u64
    } else {
        ticks > i32::MAX as u64
    };
    Some((TimerKind::from_kernel(tr), if negative { 0 } else { ticks }))
}

/// Clock ticks to milliseconds, saturating rather than overflowing.
fn ticks_to_ms(ticks: u64, ticks_per_sec: u64) -> u64 {
    let ms = u128::from(ticks) * 1000 / u128::from(ticks_per_sec.max(1));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Parses 1 to 16 hex digits (either case) into a value no larger than `max`.
/// Unlike `from_str_radix`, rejects a leading sign.
fn hex(digits: &[u8], max: u64) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    let mut value = 0u64;
    for &b in digits {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'F' => b - b'A' + 10,
            b'a'..=b'f' => b - b'a' + 10,
            _ => return None,
        };
        value = value << 4 | u64::from(d);
    }
    (value <= max).then_some(value)
}

/// Parses unsigned decimal digits into a value no larger than `max`.
fn dec(s: &str, max: u64) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut value = 0u64;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (value <= max).then_some(value)
}

/// USER_HZ, the unit of `tm->when`: `sysconf(_SC_CLK_TCK)`, or 100 if that
/// is unavailable.
pub fn clock_ticks() -> u64 {
    crate::sys::process::clock_ticks().unwrap_or(100)
}

/// A line of a /proc TCP table that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The table, e.g. `/proc/net/tcp`.
    pub file: String,
    /// 1-based line number; the header is line 1.
    pub line: usize,
    /// What is wrong with the line.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line of a /proc TCP table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseErrorKind {
    /// The text is empty or does not start with the `sl local_address …`
    /// header.
    MissingHeader,
    /// A row has fewer than the 12 fields every kernel prints; holds how
    /// many it has.
    FieldCount(usize),
    /// A field is not valid hex or decimal, overflows its type, or is an
    /// address of the wrong length. `value` is the field as found
    /// (shortened if very long).
    BadField { field: &'static str, value: String },
    /// A state number the kernel does not define.
    UnknownState(u8),
    /// A line longer than [`MAX_LINE`].
    LongLine,
    /// A line that is not UTF-8 (the kernel writes ASCII).
    NotText,
    /// More than [`MAX_TABLE_BYTES`] before the end: an endless stream.
    TooLarge,
}

impl ParseErrorKind {
    fn bad(field: &'static str, value: &str) -> ParseErrorKind {
        let mut value = value.to_owned();
        if value.len() > MAX_QUOTED {
            let mut end = MAX_QUOTED;
            while !value.is_char_boundary(end) {
                end -= 1;
            }
            value.truncate(end);
            value.push('…');
        }
        ParseErrorKind::BadField { field, value }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ParseErrorKind::TooLarge {
            return write!(
                f,
                "{}: more than {MAX_TABLE_BYTES} bytes, which no kernel table is",
                self.file
            );
        }
        write!(f, "{} line {}: ", self.file, self.line)?;
        match &self.kind {
            ParseErrorKind::MissingHeader => f.write_str("missing \"sl local_address ...\" header"),
            ParseErrorKind::FieldCount(n) => {
                write!(f, "expected at least {MIN_FIELDS} fields, found {n}")
            }
            ParseErrorKind::BadField { field, value } => write!(f, "bad {field} {value:?}"),
            ParseErrorKind::UnknownState(st) => write!(f, "unknown state 0x{st:02X}"),
            ParseErrorKind::LongLine => write!(f, "longer than {MAX_LINE} bytes"),
            ParseErrorKind::NotText => f.write_str("not text (invalid UTF-8)"),
            ParseErrorKind::TooLarge => f.write_str("table too large"),
        }
    }
}

impl std::error::Error for ParseError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::XorShift;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    const HEADER4: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";
    const HEADER6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

    // Rows captured from a 6.x kernel (tests/fixtures/proc/capture.py).
    const LISTEN_NOBODY: &str = "   0: 0100007F:138C 00000000:0000 0A 00000000:00000000 00:00000000 00000000 65534        0 9313 1 0000000035a17162 100 0 0 10 0";
    const LISTEN_BACKLOG: &str = "   4: 0100007F:138A 00000000:0000 0A 00000000:00000001 00:00000000 00000000     0        0 9299 2 00000000bb62e3fa 100 0 0 10 0";
    const REQUEST: &str = "   7: 0100007F:1389 0100007F:D702 03 00000000:00000000 01:00000123 00000002     0        0 0 0 00000000849c14ce";
    const PROBE: &str = "  11: 0100007F:AAF8 0100007F:138B 01 00213000:00000000 04:000000F6 00000000     0        0 9303 2 00000000014aee41 20 0 0 12 -1";
    const SYN_SENT: &str = "  13: 0100007F:A3B0 0100007F:138A 02 00000001:00000000 01:00000061 00000004     0        0 9301 2 000000005c378ede 100 0 0 1 -1";
    const KEEPALIVE: &str = "  15: 0100007F:B80E 0100007F:1388 01 00000000:0000000A 02:0000E8BB 00000000     0        0 9291 2 0000000085ce45c1 20 4 30 10 -1";
    const TIME_WAIT: &str = "  16: 0100007F:B81A 0100007F:1388 06 00000000:00000000 03:000015D5 00000000     0        0 0 3 0000000096549be4";
    const LISTEN6: &str = "   0: 00000000000000000000000000000000:1770 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 9305 1 00000000e06f8b13 100 0 0 10 0";
    const MAPPED6: &str = "   1: 0000000000000000FFFF00000100007F:1770 0000000000000000FFFF00000100007F:A2DC 01 00000000:00000000 00:00000000 00000000     0        0 9307 1 000000009bcb1a7e 20 0 0 10 -1";
    const LOOPBACK6: &str = "   2: 00000000000000000000000001000000:1770 00000000000000000000000001000000:E44C 01 00000000:00000000 00:00000000 00000000     0        0 9309 1 000000002e0567a3 20 0 0 10 -1";
    const TIME_WAIT6: &str = "   4: 00000000000000000000000001000000:E452 00000000000000000000000001000000:1770 06 00000000:00000000 03:000015DE 00000000     0        0 0 3 00000000409c0dc2";

    const ROWS4: [&str; 7] = [
        LISTEN_NOBODY,
        LISTEN_BACKLOG,
        REQUEST,
        PROBE,
        SYN_SENT,
        KEEPALIVE,
        TIME_WAIT,
    ];
    const ROWS6: [&str; 4] = [LISTEN6, MAPPED6, LOOPBACK6, TIME_WAIT6];

    fn all_states() -> StateSet {
        StateSet::ALL
    }

    fn table(family: Family, rows: &[&str]) -> String {
        let header = match family {
            Family::Inet => HEADER4,
            Family::Inet6 => HEADER6,
        };
        let mut text = format!("{header}\n");
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    fn parse(family: Family, rows: &[&str], states: StateSet) -> Result<Vec<Socket>, ParseError> {
        let mut out = Vec::new();
        parse_table(
            &table(family, rows),
            family,
            "/proc/net/tcp",
            100,
            states,
            &mut out,
        )?;
        Ok(out)
    }

    fn one(family: Family, row: &str) -> Socket {
        let mut rows = parse(family, &[row], all_states()).unwrap();
        assert_eq!(rows.len(), 1);
        rows.pop().unwrap()
    }

    fn ep(s: &str) -> Endpoint {
        let a: SocketAddr = s.parse().unwrap();
        Endpoint {
            addr: a.ip(),
            port: a.port(),
        }
    }

    fn timer(kind: TimerKind, expires_ms: u64, retransmits: u32, probes: u32) -> Timer {
        Timer {
            kind,
            expires_ms,
            retransmits,
            probes,
        }
    }

    /// An IPv4 address as the kernel prints it on this machine.
    fn hex4(a: Ipv4Addr) -> String {
        format!("{:08X}", u32::from_ne_bytes(a.octets()))
    }

    /// An IPv6 address as the kernel prints it on this machine.
    fn hex6(a: Ipv6Addr) -> String {
        a.octets()
            .chunks_exact(4)
            .map(|w| format!("{:08X}", u32::from_ne_bytes(w.try_into().unwrap())))
            .collect()
    }

    fn fixture(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/proc")
            .join(case)
    }

    /// The captured rows were printed by a little-endian kernel.
    #[cfg(target_endian = "little")]
    mod captured {
        use super::*;

        #[test]
        fn listen_rows() {
            let s = one(Family::Inet, LISTEN_NOBODY);
            assert_eq!(s.family, Family::Inet);
            assert_eq!(s.state, TcpState::Listen);
            assert_eq!(s.local, ep("127.0.0.1:5004"));
            assert_eq!(s.remote, ep("0.0.0.0:0"));
            assert_eq!((s.recv_q, s.send_q, s.uid, s.inode), (0, 0, 65534, 9313));
            assert_eq!(s.timer, Timer::OFF);
            assert_eq!(s.shutdown, None);
            // A full accept queue shows in rx_queue.
            assert_eq!(one(Family::Inet, LISTEN_BACKLOG).recv_q, 1);
        }

        #[test]
        fn established_keepalive_row() {
            let s = one(Family::Inet, KEEPALIVE);
            assert_eq!(s.state, TcpState::Established);
            assert_eq!(
                (s.local, s.remote),
                (ep("127.0.0.1:47118"), ep("127.0.0.1:5000"))
            );
            assert_eq!((s.recv_q, s.send_q, s.inode), (10, 0, 9291));
            // 0xE8BB = 59579 ticks at 100 Hz; netstat showed keepalive (595.77/0/0).
            assert_eq!(s.timer, timer(TimerKind::Keepalive, 595_790, 0, 0));
        }

        #[test]
        fn time_wait_short_row() {
            let s = one(Family::Inet, TIME_WAIT);
            assert_eq!(s.state, TcpState::TimeWait);
            assert_eq!(
                (s.local, s.remote),
                (ep("127.0.0.1:47130"), ep("127.0.0.1:5000"))
            );
            assert_eq!(s.inode, 0);
            assert_eq!(s.timer, timer(TimerKind::TimeWait, 55_890, 0, 0));
        }

        #[test]
        fn request_socket_row() {
            let s = one(Family::Inet, REQUEST);
            assert_eq!(s.state, TcpState::SynRecv);
            assert_eq!(
                (s.local, s.remote),
                (ep("127.0.0.1:5001"), ep("127.0.0.1:55042"))
            );
            assert_eq!(s.inode, 0);
            // netstat: on (2.90/2/0); the SYN-ACK was retransmitted twice.
            assert_eq!(s.timer, timer(TimerKind::On, 2_910, 2, 0));
        }

        #[test]
        fn retransmitting_syn_sent_row() {
            let s = one(Family::Inet, SYN_SENT);
            assert_eq!(s.state, TcpState::SynSent);
            assert_eq!((s.recv_q, s.send_q), (0, 1));
            assert_eq!(s.timer, timer(TimerKind::On, 970, 4, 0));
        }

        #[test]
        fn zero_window_probe_row() {
            let s = one(Family::Inet, PROBE);
            assert_eq!(s.send_q, 0x21_3000);
            assert_eq!(s.timer, timer(TimerKind::Probe, 2_460, 0, 0));
        }

        #[test]
        fn ipv6_rows() {
            let s = one(Family::Inet6, LISTEN6);
            assert_eq!((s.family, s.state), (Family::Inet6, TcpState::Listen));
            assert_eq!((s.local, s.remote), (ep("[::]:6000"), ep("[::]:0")));
            let s = one(Family::Inet6, LOOPBACK6);
            assert_eq!((s.local, s.remote), (ep("[::1]:6000"), ep("[::1]:58444")));
            assert_eq!(s.inode, 9309);
            let s = one(Family::Inet6, TIME_WAIT6);
            assert_eq!(s.timer, timer(TimerKind::TimeWait, 55_980, 0, 0));
        }

        #[test]
        fn ipv4_mapped_ipv6_row() {
            let s = one(Family::Inet6, MAPPED6);
            assert_eq!(s.local, ep("[::ffff:127.0.0.1]:6000"));
            assert_eq!(
                s.remote.display_addr(),
                "127.0.0.1".parse::<IpAddr>().unwrap()
            );
            assert_eq!(s.remote.port, 41692);
        }

        #[test]
        fn reads_fixture_tables() {
            let kept = one(Family::Inet, LISTEN_NOBODY);
            let mut out = vec![kept.clone()]; // read() appends after it
            read(
                &fixture("loopback"),
                Protocol::Tcp,
                (true, true),
                all_states(),
                &mut out,
            )
            .unwrap();
            assert_eq!(out.remove(0), kept);
            assert_eq!(out.len(), 18 + 5);
            assert_eq!(out.iter().filter(|s| s.family == Family::Inet6).count(), 5);
            assert_eq!(
                out.iter().filter(|s| s.state == TcpState::Listen).count(),
                6
            );
            let mapped = out.iter().find(|s| s.inode == 9307).unwrap();
            assert_eq!(mapped.remote.display_addr().to_string(), "127.0.0.1");

            out.clear();
            read(
                &fixture("loopback"),
                Protocol::Tcp,
                (false, true),
                StateSet::of(TcpState::TimeWait),
                &mut out,
            )
            .unwrap();
            assert_eq!(out.len(), 1);
            assert_eq!(out[0].local, ep("[::1]:58450"));
        }
    }

    #[test]
    fn udp_and_raw_rows_parse_as_tcp_rows_do() {
        // From /proc/net/udp and /proc/net/raw6 of a test namespace.
        let udp = " 1342: 0100007F:14E9 00000000:0000 07 00000000:00000340 00:00000000 00000000     0        0 11910 2 00000000a797e665 0";
        let s = parse_row(udp, Family::Inet, Protocol::Udp, 100).unwrap();
        assert_eq!(
            (s.proto(), s.state, s.recv_q),
            ("udp", TcpState::Close, 832)
        );
        assert_eq!((s.local, s.inode), (ep("127.0.0.1:5353"), 11910));
        let raw6 = "  146: 00000000000000000000000000000000:003A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 11916 2 000000000fc640cb 0";
        let s = parse_row(raw6, Family::Inet6, Protocol::Raw, 100).unwrap();
        assert_eq!((s.proto(), s.local.port, s.inode), ("raw6", 58, 11916));
    }

    #[test]
    fn addresses_follow_host_byte_order() {
        let v4: Ipv4Addr = "192.168.1.20".parse().unwrap();
        let v6: Ipv6Addr = "2001:db8::8a2e:370:7334".parse().unwrap();
        let row4 = format!(
            "   0: {}:01BB {}:C350 01 00000010:00000020 00:00000000 00000000  1000        0 77 1 0",
            hex4(v4),
            hex4(Ipv4Addr::LOCALHOST)
        );
        let s = one(Family::Inet, &row4);
        assert_eq!(
            (s.local, s.remote),
            (ep("192.168.1.20:443"), ep("127.0.0.1:50000"))
        );
        assert_eq!((s.send_q, s.recv_q, s.uid, s.inode), (16, 32, 1000, 77));
        let row6 = format!(
            "   0: {}:01BB {}:C350 01 00000000:00000000 00:00000000 00000000  1000        0 78 1 0",
            hex6(v6),
            hex6(v4.to_ipv6_mapped())
        );
        let s = one(Family::Inet6, &row6);
        assert_eq!(s.local, ep("[2001:db8::8a2e:370:7334]:443"));
        assert_eq!(s.remote.display_addr(), IpAddr::V4(v4));
    }

    #[test]
    fn filters_by_state() {
        let listen = parse(Family::Inet, &ROWS4, StateSet::listening()).unwrap();
        assert_eq!(listen.len(), 2);
        assert!(listen.iter().all(|s| s.state == TcpState::Listen));
        let mask: StateSet = [TcpState::SynRecv, TcpState::TimeWait]
            .into_iter()
            .collect();
        let states: Vec<_> = parse(Family::Inet, &ROWS4, mask)
            .unwrap()
            .iter()
            .map(|s| s.state)
            .collect();
        assert_eq!(states, [TcpState::SynRecv, TcpState::TimeWait]);
        assert!(parse(Family::Inet, &ROWS4, StateSet::EMPTY)
            .unwrap()
            .is_empty());
        assert_eq!(parse(Family::Inet6, &ROWS6, all_states()).unwrap().len(), 4);
    }

    #[test]
    fn timer_edge_cases() {
        let row = |tr_when: &str| KEEPALIVE.replace("02:0000E8BB", tr_when);
        let ms = |tr_when: &str| one(Family::Inet, &row(tr_when)).timer.expires_ms;
        // Negative deltas from old kernels, 64- and 32-bit longs, mean "due".
        assert_eq!(ms("01:FFFFFFFFFFFFFF9C"), 0);
        assert_eq!(ms("01:FFFFFFF0"), 0);
        assert_eq!(ms("01:0000000000000064"), 1_000);
        // No time left is reported for a timer that is off.
        assert_eq!(ms("00:00000064"), 0);
        let s = one(Family::Inet, &row("07:00000001"));
        assert_eq!(s.timer.kind, TimerKind::Unknown(7));
        // USER_HZ other than 100.
        let mut out = Vec::new();
        parse_table(
            &table(Family::Inet, &[&row("01:000000FA")]),
            Family::Inet,
            "t",
            250,
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap();
        assert_eq!(out[0].timer.expires_ms, 1_000);
        assert_eq!(ticks_to_ms(u64::MAX, 1), u64::MAX);
    }

    #[test]
    fn blank_lines_and_crlf_are_accepted() {
        let text = format!("{HEADER4}\r\n{KEEPALIVE}\r\n\n   \n");
        let mut out = Vec::new();
        parse_table(
            &text,
            Family::Inet,
            "t",
            100,
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
        parse_table(
            HEADER4,
            Family::Inet,
            "t",
            100,
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1, "a header alone is an empty table");
    }

    /// Parses a table whose line 3 is `bad`, expecting an error on that line.
    fn error_on_line_3(family: Family, bad: &str) -> ParseErrorKind {
        let good = match family {
            Family::Inet => KEEPALIVE,
            Family::Inet6 => LOOPBACK6,
        };
        let err = parse(family, &[good, bad, good], all_states()).unwrap_err();
        assert_eq!(err.line, 3, "{err}");
        err.kind
    }

    fn bad(field: &'static str, value: &str) -> ParseErrorKind {
        ParseErrorKind::BadField {
            field,
            value: value.to_owned(),
        }
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let err = parse(
            Family::Inet,
            &[
                KEEPALIVE,
                &KEEPALIVE.replace("0100007F:1388", "0100007F:ZZ"),
            ],
            StateSet::from_bits(u32::MAX),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"/proc/net/tcp line 3: bad remote address "0100007F:ZZ""#
        );

        let fields: Vec<&str> = KEEPALIVE.split_ascii_whitespace().collect();
        assert_eq!(
            error_on_line_3(Family::Inet, &fields[..11].join(" ")),
            ParseErrorKind::FieldCount(11)
        );
        assert_eq!(
            error_on_line_3(Family::Inet, &fields[..3].join(" ")),
            ParseErrorKind::FieldCount(3)
        );
        let cases4 = [
            ("  15:", "  x:", bad("slot", "x:")),
            ("  15: ", "  15 ", bad("slot", "15")),
            (
                "0100007F:B80E",
                "0100007:B80E",
                bad("local address", "0100007:B80E"),
            ),
            (
                "0100007F:B80E",
                "0100007G:B80E",
                bad("local address", "0100007G:B80E"),
            ),
            (
                "0100007F:B80E",
                "0100007F:1B80E",
                bad("local address", "0100007F:1B80E"),
            ),
            (
                "0100007F:B80E",
                "0100007FB80E",
                bad("local address", "0100007FB80E"),
            ),
            (
                "0100007F:B80E",
                "0100007F:+B80",
                bad("local address", "0100007F:+B80"),
            ),
            (
                "0100007F:B80E",
                "0100007F:",
                bad("local address", "0100007F:"),
            ),
            (" 01 ", " 0D ", ParseErrorKind::UnknownState(0x0D)),
            (" 01 ", " 00 ", ParseErrorKind::UnknownState(0)),
            (" 01 ", " 101 ", bad("state", "101")),
            (
                "00000000:0000000A",
                "00000000:10000000A",
                bad("tx_queue:rx_queue", "00000000:10000000A"),
            ),
            (
                "00000000:0000000A",
                "000000000000000A",
                bad("tx_queue:rx_queue", "000000000000000A"),
            ),
            (
                "02:0000E8BB",
                "102:0000E8BB",
                bad("tr:tm->when", "102:0000E8BB"),
            ),
            (
                "02:0000E8BB",
                "02:10000000000000000",
                bad("tr:tm->when", "02:10000000000000000"),
            ),
            ("02:0000E8BB", "02:-1", bad("tr:tm->when", "02:-1")),
            (
                "02:0000E8BB 00000000",
                "02:0000E8BB 100000000",
                bad("retrnsmt", "100000000"),
            ),
            (
                "     0        0 9291",
                " 4294967296        0 9291",
                bad("uid", "4294967296"),
            ),
            (
                "     0        0 9291",
                "     -1        0 9291",
                bad("uid", "-1"),
            ),
            (
                "     0        0 9291",
                "     0        -1 9291",
                bad("timeout", "-1"),
            ),
            (
                " 9291 ",
                " 18446744073709551616 ",
                bad("inode", "18446744073709551616"),
            ),
            (" 9291 ", " 92é1 ", bad("inode", "92é1")),
        ];
        for (from, to, kind) in cases4 {
            let line = KEEPALIVE.replacen(from, to, 1);
            assert_ne!(line, KEEPALIVE, "{from} not in the sample row");
            assert_eq!(error_on_line_3(Family::Inet, &line), kind, "{to}");
        }
        // An address of the other family's length.
        let v4_in_v6 = LISTEN_NOBODY;
        assert_eq!(
            error_on_line_3(Family::Inet6, v4_in_v6),
            bad("local address", "0100007F:138C")
        );
        let short6 = LOOPBACK6.replacen(
            "00000000000000000000000001000000:1770",
            "0000000000000000000000000100000:1770",
            1,
        );
        assert!(matches!(
            error_on_line_3(Family::Inet6, &short6),
            ParseErrorKind::BadField {
                field: "local address",
                ..
            }
        ));
        assert!(matches!(
            error_on_line_3(Family::Inet, LOOPBACK6),
            ParseErrorKind::BadField {
                field: "local address",
                ..
            }
        ));
    }

    #[test]
    fn each_socket_is_listed_once() {
        let listener_twin = LISTEN_NOBODY.replace(" 9313 ", " 9314 ");
        let rows = [
            KEEPALIVE,
            TIME_WAIT,
            REQUEST,
            KEEPALIVE,
            TIME_WAIT,
            REQUEST,
            // The same inode in another state: the same socket, moved.
            &KEEPALIVE.replacen(" 01 ", " 08 ", 1),
            // Same addresses, other state: another socket.
            &TIME_WAIT.replacen(" 06 ", " 03 ", 1),
            // SO_REUSEPORT listeners share addresses, not inodes.
            LISTEN_NOBODY,
            &listener_twin,
        ];
        let got = parse(Family::Inet, &rows, all_states()).unwrap();
        let states: Vec<_> = got.iter().map(|s| (s.state, s.inode)).collect();
        assert_eq!(
            states,
            [
                (TcpState::Established, 9291),
                (TcpState::TimeWait, 0),
                (TcpState::SynRecv, 0),
                (TcpState::SynRecv, 0),
                (TcpState::Listen, 9313),
                (TcpState::Listen, 9314),
            ]
        );
    }

    /// A reader that hands out a few bytes at a time, as a slow pipe does.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn streamed_reads_parse_as_the_whole_text_does() {
        let text = table(Family::Inet, &ROWS4);
        let whole = parse(Family::Inet, &ROWS4, all_states()).unwrap();
        for text in [
            text.clone(),
            text.trim_end().to_string(),
            text.replace('\n', "\r\n"),
        ] {
            let mut t = Table::new(Family::Inet, 100, all_states());
            let mut out = Vec::new();
            read_table(&mut Trickle(text.as_bytes(), 0), &mut t, &mut out).unwrap();
            assert_eq!(out, whole);
        }
    }

    #[test]
    fn long_lines_and_binary_end_the_read() {
        let read = |bytes: &[u8]| {
            let mut t = Table::new(Family::Inet, 100, all_states());
            match read_table(&mut &bytes[..], &mut t, &mut Vec::new()) {
                Err(TableError::Parse(line, kind)) => (line, kind),
                other => panic!("{other:?}"),
            }
        };
        let mut endless_line = format!("{HEADER4}\n{KEEPALIVE}\n").into_bytes();
        endless_line.resize(READ_LEN * 3, b'0');
        assert_eq!(read(&endless_line), (3, ParseErrorKind::LongLine));
        assert_eq!(read(&[0; 100]), (1, ParseErrorKind::MissingHeader));
        let mut binary = format!("{HEADER4}\n{KEEPALIVE}\n").into_bytes();
        let at = binary.len() - 2;
        binary[at] = 0xff;
        assert_eq!(read(&binary), (2, ParseErrorKind::NotText));
    }

    #[test]
    fn missing_header_is_line_1() {
        for text in ["", "\n", KEEPALIVE] {
            let mut out = Vec::new();
            let err = parse_table(
                text,
                Family::Inet,
                "f",
                100,
                StateSet::from_bits(u32::MAX),
                &mut out,
            )
            .unwrap_err();
            assert_eq!((err.line, err.kind), (1, ParseErrorKind::MissingHeader));
        }
    }

    #[test]
    fn error_leaves_out_as_it_was() {
        let mut out = vec![one(Family::Inet, KEEPALIVE)];
        let text = table(Family::Inet, &[KEEPALIVE, TIME_WAIT, "garbage"]);
        parse_table(
            &text,
            Family::Inet,
            "f",
            100,
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap_err();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn long_values_are_shortened_in_errors() {
        let long = format!("{}é", "9".repeat(MAX_QUOTED - 1)); // 'é' straddles the cut
        let err = error_on_line_3(
            Family::Inet,
            &KEEPALIVE.replacen(" 9291 ", &format!(" {long} "), 1),
        );
        let ParseErrorKind::BadField { value, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(value, format!("{}…", "9".repeat(MAX_QUOTED - 1)));
    }

    #[test]
    fn mutated_lines_never_panic() {
        const PIECES: [&str; 16] = [
            "0",
            "9",
            "A",
            "f",
            "G",
            ":",
            " ",
            "-",
            "+",
            "\t",
            "\n",
            "é",
            "\u{0}",
            "FFFFFFFFFFFFFFFFF",
            "99999999999999999999",
            "0100007F",
        ];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let (mut ok, mut failed) = (0, 0);
        for _ in 0..20_000 {
            let (family, rows) = if rng.below(2) == 0 {
                (Family::Inet, &ROWS4[..])
            } else {
                (Family::Inet6, &ROWS6[..])
            };
            let mut line: Vec<char> = rows[rng.below(rows.len())].chars().collect();
            for _ in 0..=rng.below(3) {
                let at = rng.below(line.len() + 1);
                match rng.below(4) {
                    0 => line.truncate(at),
                    1 if at < line.len() => {
                        line.remove(at);
                    }
                    2 => {
                        let piece = PIECES[rng.below(PIECES.len())];
                        line.splice(at..at, piece.chars());
                    }
                    _ if at < line.len() => {
                        line[at] = PIECES[rng.below(PIECES.len())].chars().next().unwrap()
                    }
                    _ => {}
                }
            }
            let line: String = line.into_iter().collect();
            let text = table(family, &[&line]);
            let mut out = Vec::new();
            match parse_table(
                &text,
                family,
                "f",
                100,
                StateSet::from_bits(u32::MAX),
                &mut out,
            ) {
                Ok(()) => {
                    assert!(out.len() <= 2, "{line:?}");
                    ok += 1;
                }
                Err(e) => {
                    assert!(e.line >= 2 && e.line <= text.lines().count(), "{e}");
                    assert!(out.is_empty());
                    failed += 1;
                }
            }
        }
        // Both outcomes must be exercised for the loop to mean anything.
        assert!(ok > 1_000 && failed > 1_000, "ok {ok}, failed {failed}");
    }

    #[test]
    fn read_reports_missing_and_malformed_tables() {
        let mut out = Vec::new();
        // IPv6 disabled: no tcp6, no error.
        read(
            &fixture("no_tcp6"),
            Protocol::Tcp,
            (true, true),
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 3);
        out.clear();
        read(
            &fixture("no_tcp6"),
            Protocol::Tcp,
            (false, true),
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap();
        assert!(out.is_empty());

        let missing = fixture("does-not-exist");
        let err = read(
            &missing,
            Protocol::Tcp,
            (true, true),
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(&missing.join("net/tcp").display().to_string()),
            "{err}"
        );

        let malformed = fixture("malformed");
        let err = read(
            &malformed,
            Protocol::Tcp,
            (true, false),
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap_err()
        .to_string();
        let tcp = malformed.join("net/tcp").display().to_string();
        assert_eq!(
            err,
            format!(r#"{tcp} line 3: bad remote address "0100007F:ZZ""#)
        );
        let err = read(
            &malformed,
            Protocol::Tcp,
            (false, true),
            StateSet::from_bits(u32::MAX),
            &mut out,
        )
        .unwrap_err()
        .to_string();
        let tcp6 = malformed.join("net/tcp6").display().to_string();
        assert_eq!(
            err,
            format!("{tcp6} line 2: expected at least 12 fields, found 9")
        );
    }
}
