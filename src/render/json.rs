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
    w.write_all(b"[")?;
    for (i, s) in sockets.iter().enumerate() {
        w.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        let object = JsonSocket::of(s, owners, explain).in_netns(s, netns);
        serde_json::to_writer(&mut *w, &object)?;
    }
    w.write_all(b"\n]\n")
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
