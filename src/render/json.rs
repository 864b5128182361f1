//! Writing JSON: the `--json` array of a listing, and the one-object lines
//! of `-s`, `why`, `-c` and `--events`. What is written is always a
//! [`wire`](super::wire) type, never text assembled here.

use super::wire::JsonSocket;
use crate::model::Socket;
use crate::netns::label::Labels;
use crate::owners::ProcessMap;
use serde::Serialize;
use std::io::{self, Write};

/// Writes the sockets as one JSON array, one object per line; with
/// `explain`, each object carries its note; with `netns` (`-N all`), its
/// namespace.
pub fn write<W: Write>(
    w: &mut W,
    sockets: &[Socket],
    owners: Option<&ProcessMap>,
    explain: bool,
    netns: Option<&Labels>,
) -> io::Result<()> {
    let mut array = Array::default();
    array.objects(w, sockets, owners, explain, netns)?;
    array.close(w)
}

/// A JSON array of sockets written as they come: `[`, then one object per
/// line, then `]`; the same bytes as [`write()`] of all of them at once.
#[derive(Debug, Default)]
pub struct Array {
    written: usize,
}

impl Array {
    /// Writes more objects (opening the array before the first).
    pub fn objects<W: Write>(
        &mut self,
        w: &mut W,
        sockets: &[Socket],
        owners: Option<&ProcessMap>,
        explain: bool,
        netns: Option<&Labels>,
    ) -> io::Result<()> {
        self.push(w, (b"[\n", b",\n"), sockets, owners, (explain, netns))
    }

    /// Writes more objects as elements of an array already opened, on
    /// one line (a `-c --json` pass's `sockets`).
    pub fn elements<W: Write>(
        &mut self,
        w: &mut W,
        sockets: &[Socket],
        owners: Option<&ProcessMap>,
        explain: bool,
        netns: Option<&Labels>,
    ) -> io::Result<()> {
        self.push(w, (b"", b","), sockets, owners, (explain, netns))
    }

    /// Writes each socket's object, `before_first` ahead of the array's
    /// first and `between` ahead of every other.
    fn push<W: Write>(
        &mut self,
        w: &mut W,
        (before_first, between): (&[u8], &[u8]),
        sockets: &[Socket],
        owners: Option<&ProcessMap>,
        (explain, netns): (bool, Option<&Labels>),
    ) -> io::Result<()> {
        for s in sockets {
            let separator = if self.written == 0 {
                before_first
            } else {
                between
            };
            w.write_all(separator)?;
            self.written += 1;
            let object = JsonSocket::of(s, owners, explain).in_netns(s, netns);
            serde_json::to_writer(&mut *w, &object)?;
        }
        Ok(())
    }

    /// Ends the array.
    pub fn close<W: Write>(&mut self, w: &mut W) -> io::Result<()> {
        match self.written {
            0 => w.write_all(b"[\n]\n"),
            _ => w.write_all(b"\n]\n"),
        }
    }
}

/// Writes `object` as one line of JSON.
pub fn write_line<W: Write>(w: &mut W, object: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *w, object)?;
    w.write_all(b"\n")
}

/// Writes unix sockets (`-x --json`) as one JSON array, one object per
/// line.
pub fn write_unix<W: Write>(
    w: &mut W,
    sockets: &[crate::model::unix::UnixSocket],
    owners: Option<&ProcessMap>,
) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, s) in sockets.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        serde_json::to_writer(&mut *w, &super::wire::JsonUnixSocket::of(s, owners))?;
    }
    w.write_all(b"\n]\n")
}
