//! netstat's table, byte for byte where netstat defines it: the same
//! headers, column widths, address truncation (unless `-W`) and timer text.
//! Written straight into a buffered writer: the big listing must stay fast,
//! so no table crate and no per-row allocation beyond two reused strings.

use crate::config::{Columns, Config, Scope};
use crate::model::{Endpoint, Socket, Timer};
use crate::process::ProcessMap;
use crate::resolve::Resolver;
use crate::users::UserNames;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::net::IpAddr;

/// netstat's width of an address column before truncation (`addr:port`).
const ADDR_SHORT_LEN: usize = 22;
/// netstat's width of the PID/Program name column.
const PROGRAM_WIDTH: usize = 20;

/// Name lookups used when `-n` is not given.
pub struct Names {
    /// Host and service names; `None` under `-n`.
    pub resolver: Option<Resolver>,
    /// User names; unused under `-n`.
    pub users: UserNames,
}

/// The table printer with its reusable buffers.
pub struct Table<'a> {
    cfg: &'a Config,
    owners: Option<&'a ProcessMap>,
    names: &'a mut Names,
    local: String,
    remote: String,
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
        }
    }

    /// Writes the two header lines, then one line per socket.
    pub fn write<W: Write>(&mut self, w: &mut W, sockets: &[Socket]) -> io::Result<()> {
        write_header(w, self.cfg.scope, self.cfg.columns)?;
        for s in sockets {
            self.write_row(w, s)?;
        }
        Ok(())
    }

    fn write_row<W: Write>(&mut self, w: &mut W, s: &Socket) -> io::Result<()> {
        let resolver = self.names.resolver.as_ref();
        format_endpoint(&mut self.local, &s.local, resolver, self.cfg.wide);
        format_endpoint(&mut self.remote, &s.remote, resolver, self.cfg.wide);
        write!(
            w,
            "{:<4}  {:>6} {:>6} {:<23} {:<23} {:<11}",
            s.family.proto(),
            s.recv_q,
            s.send_q,
            self.local,
            self.remote,
            s.state.name()
        )?;
        let cols = self.cfg.columns;
        if cols.extended {
            let user = if self.cfg.numeric {
                None
            } else {
                self.names.users.name(s.uid)
            };
            match user {
                Some(user) => write!(w, " {user:<10} ")?,
                None => write!(w, " {:<10} ", s.uid)?,
            }
            write!(w, "{:<10}", s.inode)?;
        }
        if cols.program {
            self.write_program(w, s.inode)?;
        }
        if cols.timer {
            write!(w, " ")?;
            write_timer(w, &s.timer)?;
        }
        if cols.note {
            if let Some(note) = crate::diagnose::explain(s) {
                write!(w, "  {note}")?;
            }
        }
        w.write_all(b"\n")
    }

    fn write_program<W: Write>(&mut self, w: &mut W, inode: u64) -> io::Result<()> {
        let owner = match self.owners {
            Some(map) if inode != 0 => map.owners(inode).first(),
            _ => None,
        };
        let Some(owner) = owner else {
            return write!(w, " {:<PROGRAM_WIDTH$}", "-");
        };
        self.local.clear();
        let _ = write!(self.local, "{}/{}", owner.pid, super::sanitize(&owner.name));
        if !self.cfg.wide {
            // netstat keeps PROGRAM_WIDTH - 1 characters.
            truncate_chars(&mut self.local, PROGRAM_WIDTH - 1);
        }
        write!(w, " {:<PROGRAM_WIDTH$}", self.local)
    }
}

/// netstat's two header lines for this scope and these columns.
pub fn write_header<W: Write>(w: &mut W, scope: Scope, cols: Columns) -> io::Result<()> {
    let what = match scope {
        Scope::All => "servers and established",
        Scope::Listening => "only servers",
        Scope::Connected => "w/o servers",
    };
    writeln!(w, "Active Internet connections ({what})")?;
    w.write_all(
        b"Proto Recv-Q Send-Q Local Address           Foreign Address         State      ",
    )?;
    if cols.extended {
        w.write_all(b" User       Inode     ")?;
    }
    if cols.program {
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

/// The timer as netstat prints it: `kind (seconds/retransmits/probes)`.
pub fn write_timer<W: Write>(w: &mut W, t: &Timer) -> io::Result<()> {
    let secs = t.expires_ms as f64 / 1000.0;
    write!(
        w,
        "{} ({:.2}/{}/{})",
        t.kind.name(),
        secs,
        t.retransmits,
        t.probes
    )
}

/// Formats `addr:port` into `out` as netstat does: names when a resolver is
/// given, `*` for port 0, and (unless `wide`) the address cut so the whole
/// fits in 23 characters.
pub fn format_endpoint(out: &mut String, e: &Endpoint, resolver: Option<&Resolver>, wide: bool) {
    out.clear();
    let addr = e.display_addr();
    let name = resolver.and_then(|r| r.host(addr));
    match (name, addr) {
        (Some(name), _) => out.push_str(name),
        // netstat spells the IPv6 wildcard `[::]` when resolving names.
        (None, IpAddr::V6(v6)) if resolver.is_some() && v6.is_unspecified() => out.push_str("[::]"),
        (None, addr) => {
            let _ = write!(out, "{addr}");
        }
    }
    let addr_len = out.len();
    out.push(':');
    match resolver.and_then(|r| r.service(e.port)) {
        _ if e.port == 0 => out.push('*'),
        Some(service) => out.push_str(service),
        None => {
            let _ = write!(out, "{}", e.port);
        }
    }
    let port_start = addr_len + 1;
    let full_port_len = out.len() - port_start;
    if !wide && addr_len + full_port_len > ADDR_SHORT_LEN {
        // net-tools addr_do_one(): assume the port name is short, keep at
        // most 18 of its characters and give the rest to the address.
        let port_len = full_port_len.min(ADDR_SHORT_LEN - 4);
        truncate_chars(out, port_start + port_len);
        let keep = floor_boundary(out, (ADDR_SHORT_LEN - port_len).min(addr_len));
        out.replace_range(keep..addr_len, "");
    }
}

fn floor_boundary(s: &str, mut at: usize) -> usize {
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn truncate_chars(s: &mut String, max_bytes: usize) {
    if s.len() > max_bytes {
        let cut = floor_boundary(s, max_bytes);
        s.truncate(cut);
    }
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
        write_timer(&mut out, &t).unwrap();
        write_timer(&mut out, &Timer::OFF).unwrap();
        let t = Timer {
            kind: TimerKind::Unknown(9),
            expires_ms: 560,
            retransmits: 3,
            probes: 0,
        };
        write_timer(&mut out, &t).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "keepalive (7197.16/0/2)off (0.00/0/0)unkn-9 (0.56/3/0)"
        );
    }

    #[test]
    fn headers_match_netstat_byte_for_byte() {
        let mut out = Vec::new();
        let all = Columns {
            extended: true,
            program: true,
            timer: true,
            note: false,
        };
        write_header(&mut out, Scope::All, all).unwrap();
        write_header(&mut out, Scope::Connected, Columns::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Active Internet connections (servers and established)\n\
             Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      PID/Program name     Timer\n\
             Active Internet connections (w/o servers)\n\
             Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n"
        );
    }
}
