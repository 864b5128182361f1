//! netstat's "Active UNIX domain sockets" table (`netstat -x`), byte for
//! byte as net-tools' `unix_do_one` prints it, but for the path: netstat
//! reads it with `sscanf("%s")`, so it prints a path only up to its first
//! space and breaks a path with a newline into a "bogus unix line"; here
//! the whole path is printed, escaped for a terminal (`\n`, `\xff`; the
//! NULs of an abstract name as `@`, as netstat and ss show them).
//! A reference count that was not read (a socket that came after the
//! `/proc/net/unix` read that supplies it) is `-`.

use crate::config::Scope;
use crate::escape::{self, escape_bytes};
use crate::model::unix::{UnixSocket, SO_ACCEPTCON, SO_NOSPACE, SO_WAITDATA};
use crate::owners::ProcessMap;
use std::borrow::Cow;
use std::io::{self, Write};

use super::table::program_label;

/// net-tools' `PROGNAME_WIDTH`, as in the Internet table.
const PROGRAM_WIDTH: usize = 20;

/// The table printer: its options and a reused line buffer.
pub struct UnixTable<'a> {
    /// The owner map when `-p` was asked.
    owners: Option<&'a ProcessMap>,
    /// `-W`: program names are not cut.
    wide: bool,
    line: Vec<u8>,
    /// Each owner's padded ` PID/name` cell, made on first use (by owner
    /// slot, see `ProcessMap::first_owner`): rows of one process repeat it.
    labels: Vec<Option<Box<str>>>,
}

impl<'a> UnixTable<'a> {
    /// A printer showing owners from `owners` (`-p`) when given.
    pub fn new(owners: Option<&'a ProcessMap>, wide: bool) -> UnixTable<'a> {
        UnixTable {
            owners,
            wide,
            line: Vec::with_capacity(256),
            labels: Vec::new(),
        }
    }

    /// Writes the two header lines for `scope`, then one line per socket.
    pub fn write<W: Write>(
        &mut self,
        w: &mut W,
        scope: Scope,
        sockets: &[UnixSocket],
    ) -> io::Result<()> {
        write_header(w, scope, self.owners.is_some())?;
        for s in sockets {
            self.write_row(w, s)?;
        }
        Ok(())
    }

    fn write_row<W: Write>(&mut self, w: &mut W, s: &UnixSocket) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        // printf("%-5s %-6ld %-11s %-10s %-13s ", proto, refcnt, flags, type, state)
        line.extend_from_slice(b"unix  ");
        match s.refcnt {
            Some(n) => push_number(line, n.into(), 6),
            None => push_left(line, b"-", 6),
        }
        line.push(b' ');
        push_left(line, flags_text(s.flags).as_bytes(), 11);
        line.push(b' ');
        push_left(line, s.kind.name().as_bytes(), 10);
        line.push(b' ');
        push_left(line, s.state_name().as_bytes(), 13);
        line.push(b' ');
        push_number(line, s.inode, 8);
        if self.owners.is_some() {
            self.push_program(s.inode);
        }
        let line = &mut self.line;
        line.push(b' ');
        if let Some(name) = &s.name {
            line.extend_from_slice(escape_bytes(&name.shown_bytes()).as_bytes());
        }
        line.push(b'\n');
        w.write_all(line)
    }

    /// Appends the ` PID/Program name` cell: the first owner, cut as
    /// netstat cuts it (unless `-W`), or `-`.
    fn push_program(&mut self, inode: u64) {
        let owner = match self.owners {
            Some(map) if inode != 0 => map.first_owner(inode).map(|o| (map, o)),
            _ => None,
        };
        let Some((map, (slot, owner))) = owner else {
            self.line.push(b' ');
            return push_left(&mut self.line, b"-", PROGRAM_WIDTH);
        };
        if self.labels.len() < map.slots() {
            self.labels.resize(map.slots(), None);
        }
        let wide = self.wide;
        let label = self.labels[slot].get_or_insert_with(|| {
            let mut label = program_label(owner.pid, &owner.name);
            if !wide {
                label.truncate(escape::cut(&label, PROGRAM_WIDTH - 1));
            }
            format!(" {label:<PROGRAM_WIDTH$}").into_boxed_str()
        });
        self.line.extend_from_slice(label.as_bytes());
    }
}

/// netstat's two header lines for this scope, with the program column
/// when `program` (`-p`).
pub fn write_header<W: Write>(w: &mut W, scope: Scope, program: bool) -> io::Result<()> {
    let what = match scope {
        Scope::All => "servers and established",
        Scope::Listening => "only servers",
        Scope::Connected => "w/o servers",
    };
    writeln!(w, "Active UNIX domain sockets ({what})")?;
    w.write_all(b"Proto RefCnt Flags       Type       State         I-Node  ")?;
    if program {
        write!(w, " {:<PROGRAM_WIDTH$}", "PID/Program name")?;
    }
    w.write_all(b" Path\n")
}

/// netstat's Flags cell: `[ ACC W N ]`, each letter for its flag.
pub fn flags_text(flags: u32) -> Cow<'static, str> {
    match flags & (SO_ACCEPTCON | SO_WAITDATA | SO_NOSPACE) {
        0 => return Cow::Borrowed("[ ]"),
        SO_ACCEPTCON => return Cow::Borrowed("[ ACC ]"),
        _ => {}
    }
    let mut text = String::from("[ ");
    for (flag, letter) in [
        (SO_ACCEPTCON, "ACC "),
        (SO_WAITDATA, "W "),
        (SO_NOSPACE, "N "),
    ] {
        if flags & flag != 0 {
            text.push_str(letter);
        }
    }
    text.push(']');
    Cow::Owned(text)
}

/// `text` (ASCII) left-aligned in `width` bytes, never cut.
fn push_left(line: &mut Vec<u8>, text: &[u8], width: usize) {
    line.extend_from_slice(text);
    line.resize(line.len() + width.saturating_sub(text.len()), b' ');
}

/// `n` in decimal, left-aligned in `width` bytes (`%-Nlu`).
fn push_number(line: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n;
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    push_left(line, &digits[at..], width);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unix::{UnixName, UnixState, UnixType};

    fn socket(name: Option<&[u8]>, flags: u32, refcnt: Option<u32>) -> UnixSocket {
        UnixSocket {
            kind: UnixType::Stream,
            state: UnixState::Unconnected,
            flags,
            refcnt,
            inode: 224564,
            peer: None,
            name: name.map(|n| UnixName(n.into())),
            queues: None,
            pending: Vec::new(),
        }
    }

    fn printed(sockets: &[UnixSocket], scope: Scope) -> String {
        let mut out = Vec::new();
        let keep = |s: &&UnixSocket| match scope {
            Scope::All => true,
            Scope::Listening => s.is_listening(),
            Scope::Connected => !s.is_listening(),
        };
        let kept: Vec<_> = sockets.iter().filter(keep).cloned().collect();
        UnixTable::new(None, false)
            .write(&mut out, scope, &kept)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rows_as_net_tools_prints_them() {
        let sockets = [
            socket(Some(b"/tmp/d/listen"), SO_ACCEPTCON, Some(2)),
            socket(Some(b"\0abs\0tract"), 0, Some(2)),
            socket(None, 0, None),
        ];
        // Copied from `netstat -xan` (net-tools 2.10), inodes aside.
        assert_eq!(
            printed(&sockets, Scope::All),
            "Active UNIX domain sockets (servers and established)\n\
             Proto RefCnt Flags       Type       State         I-Node   Path\n\
             unix  2      [ ACC ]     STREAM     LISTENING     224564   /tmp/d/listen\n\
             unix  2      [ ]         STREAM                   224564   @abs@tract\n\
             unix  -      [ ]         STREAM                   224564   \n"
        );
        let listening = printed(&sockets, Scope::Listening);
        assert!(listening.starts_with("Active UNIX domain sockets (only servers)\n"));
        assert_eq!(listening.lines().count(), 3);
        let connected = printed(&sockets, Scope::Connected);
        assert!(connected.starts_with("Active UNIX domain sockets (w/o servers)\n"));
        assert_eq!(connected.lines().count(), 4);
    }

    #[test]
    fn header_with_programs_and_every_flag() {
        let mut out = Vec::new();
        write_header(&mut out, Scope::All, true).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap().lines().nth(1),
            Some("Proto RefCnt Flags       Type       State         I-Node   PID/Program name     Path")
        );
        assert_eq!(
            flags_text(SO_ACCEPTCON | SO_WAITDATA | SO_NOSPACE),
            "[ ACC W N ]"
        );
        assert_eq!(flags_text(SO_NOSPACE), "[ N ]");
        let mut line = Vec::new();
        push_number(&mut line, 0, 3);
        push_number(&mut line, u64::MAX, 3);
        assert_eq!(line, b"0  18446744073709551615");
    }

    #[test]
    fn hostile_paths_are_escaped_whole() {
        let s = socket(Some(b"/t/a b\n\x1b[2J\xff"), 0, Some(2));
        let out = printed(&[s], Scope::All);
        assert!(
            out.ends_with("224564   /t/a b\\n\\u{1b}[2J\\xff\n"),
            "{out}"
        );
    }
}
