//! The /proc fallback for unix sockets: parses `/proc/net/unix`, the file
//! netstat reads. The kernel's `unix_seq_show` writes, after a header:
//!
//! ```text
//! 0000000000000000: 00000002 00000000 00010000 0001 01 12345 /run/a.sock
//! Num               RefCount Protocol Flags    Type St Inode Path
//! ```
//!
//! The path is written byte for byte after one space, with an abstract
//! name's NULs (the leading one included) written as `@`. So the file
//! cannot tell an abstract name from a path that begins with `@` (taken
//! here as abstract), nor a NUL from `@` in an abstract name, and a path
//! with a newline runs onto the next line: a line that is not a row is
//! taken as the rest of the previous row's path (a path can be made to
//! look like a row; unix_diag, the default source, has none of these
//! ambiguities). RefCnt, which netlink lacks, is read here.
//!
//! The file is read in large pieces, so that the kernel walks its table
//! few times; a socket listed twice by a walk that shifted (sockets come
//! and go while it is read) is kept once, by inode.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{os_text, Error, Result};
use crate::model::unix::{UnixName, UnixSocket, UnixState, UnixType};

/// Bytes asked for per `read()`.
const READ_LEN: usize = 256 << 10;
/// Largest file accepted (see `proc::MAX_TABLE_BYTES`).
const MAX_TABLE_BYTES: usize = 1 << 30;

/// What a read of the table found besides the sockets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Lines that were neither a row nor the rest of a path.
    pub skipped: usize,
}

/// Reads `<root>/net/unix` into `out` (cleared first).
pub fn read(root: &Path, out: &mut Vec<UnixSocket>) -> Result<Stats> {
    let path = root.join("net/unix");
    let reading =
        |e: io::Error| Error::runtime(format!("reading {}: {}", path.display(), os_text(&e)));
    let mut file = File::open(&path).map_err(reading)?;
    let text = read_bounded(&mut file).map_err(reading)?;
    out.clear();
    Ok(parse_table(&text, out))
}

/// The whole of `file`, in large reads, up to [`MAX_TABLE_BYTES`].
fn read_bounded(file: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut text = Vec::with_capacity(READ_LEN);
    loop {
        if text.len() > MAX_TABLE_BYTES {
            return Err(io::Error::other("larger than 1 GiB; not a kernel table"));
        }
        let start = text.len();
        text.resize(start + READ_LEN, 0);
        match file.read(&mut text[start..]) {
            Ok(0) => {
                text.truncate(start);
                return Ok(text);
            }
            Ok(n) => text.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => text.truncate(start),
            Err(e) => return Err(e),
        }
    }
}

/// Parses the text of a `/proc/net/unix` table into `out`.
pub fn parse_table(text: &[u8], out: &mut Vec<UnixSocket>) -> Stats {
    let mut stats = Stats::default();
    let mut seen = HashSet::new();
    // Whether the last line read was a row kept in `out` (a path's next
    // line belongs to it).
    let mut last_kept = false;
    // The table ends with a newline; an empty line before it is the
    // end of a path that ends with one.
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if n == 0 && line.starts_with(b"Num ") {
            continue;
        }
        match parse_row(line) {
            Some(row) if row.inode == 0 || seen.insert(row.inode) => {
                out.push(row);
                last_kept = true;
            }
            Some(_) => last_kept = false, // listed twice
            None => match out.last_mut().and_then(|s| s.name.as_mut()) {
                Some(name) if last_kept => {
                    let mut bytes = std::mem::take(&mut name.0).into_vec();
                    bytes.push(b'\n');
                    bytes.extend_from_slice(line);
                    name.0 = bytes.into();
                }
                _ => stats.skipped += 1,
            },
        }
    }
    stats
}

/// One row: `Num: RefCount Protocol Flags Type St Inode[ Path]`.
fn parse_row(line: &[u8]) -> Option<UnixSocket> {
    let colon = line.iter().position(|&b| b == b':')?;
    let (num, mut rest) = (&line[..colon], &line[colon + 1..]);
    if num.is_empty() || num.len() > 16 || !num.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let refcnt = u32::try_from(hex(field(&mut rest)?)?).ok()?;
    let _protocol = hex(field(&mut rest)?)?;
    let flags = u32::try_from(hex(field(&mut rest)?)?).ok()?;
    let kind = u16::try_from(hex(field(&mut rest)?)?).ok()?;
    let state = u8::try_from(hex(field(&mut rest)?)?).ok()?;
    let inode = decimal(field(&mut rest)?)?;
    let name = match rest {
        [] => None,
        [b' ', path @ ..] => Some(name_of(path)),
        _ => return None,
    };
    Some(UnixSocket {
        kind: UnixType::from_kernel(kind),
        state: UnixState::from_kernel(state),
        flags,
        refcnt: Some(refcnt),
        inode,
        peer: None,
        name,
        queues: None,
        pending: Vec::new(),
    })
}

/// The next field after one or more spaces; `rest` moves past it.
fn field<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let start = rest.iter().position(|&b| b != b' ')?;
    if start == 0 {
        return None;
    }
    let text = &rest[start..];
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    *rest = &text[end..];
    Some(&text[..end])
}

/// The address as written: `@…` is taken for an abstract name.
fn name_of(path: &[u8]) -> UnixName {
    match path {
        [b'@', rest @ ..] => {
            let mut bytes = Vec::with_capacity(path.len());
            bytes.push(0);
            bytes.extend_from_slice(rest);
            UnixName(bytes.into())
        }
        _ => UnixName(path.into()),
    }
}

fn hex(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 16 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        Some(n << 4 | u64::from(v))
    })
}

fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 20 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::unix::SO_ACCEPTCON;

    /// The lines the kernel wrote for a test's sockets (see tests/unix.rs).
    const TABLE: &[u8] = b"Num       RefCount Protocol Flags    Type St Inode Path\n\
00000000c98e0dd1: 00000003 00000000 00000000 0001 03 224572\n\
000000004ddb9a67: 00000003 00000000 00000000 0001 03 224566 /tmp/d/listen sp.sock\n\
00000000cad31ab5: 00000003 00000000 00000000 0001 02     0 /tmp/d/listen sp.sock\n\
000000003527c723: 00000002 00000000 00010000 0001 01 224564 /tmp/d/listen sp.sock\n\
0000000019f88d33: 00000002 00000000 00010000 0005 01 224569 /tmp/d/nl\nx\xff.sock\n\
00000000482993e7: 00000002 00000000 00000000 0002 01 224568 @abs@tract\n";

    #[test]
    fn rows_paths_and_states() {
        let mut out = Vec::new();
        assert_eq!(parse_table(TABLE, &mut out), Stats::default());
        let names: Vec<_> = out.iter().map(|s| s.name.clone()).collect();
        let name = |b: &[u8]| Some(UnixName(b.into()));
        assert_eq!(
            names,
            [
                None,
                name(b"/tmp/d/listen sp.sock"),
                name(b"/tmp/d/listen sp.sock"),
                name(b"/tmp/d/listen sp.sock"),
                name(b"/tmp/d/nl\nx\xff.sock"),
                name(b"\0abs@tract"),
            ]
        );
        assert_eq!(out[2].state, UnixState::Connecting);
        assert_eq!((out[2].inode, out[2].refcnt), (0, Some(3)));
        assert!(out[3].is_listening() && out[3].flags == SO_ACCEPTCON);
        assert_eq!(out[4].kind, UnixType::Seqpacket);
        assert_eq!(out[5].kind, UnixType::Dgram);
    }

    #[test]
    fn rows_listed_twice_are_kept_once_and_garbage_is_counted() {
        let row = b"00000000c98e0dd1: 00000003 00000000 00000000 0001 03 7\n";
        let mut text = row.to_vec();
        text.extend_from_slice(row);
        text.extend_from_slice(b"garbage\n00: 1 2 3\n");
        let mut out = Vec::new();
        assert_eq!(parse_table(&text, &mut out).skipped, 2);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn no_panic_on_any_cut_or_bad_number() {
        for cut in 0..TABLE.len() {
            let mut out = Vec::new();
            parse_table(&TABLE[..cut], &mut out);
        }
        for bad in [
            &b"0: 100000000 0 0 1 1 5"[..],
            b"0: 1 0 0 1 100 5",
            b"0: 1 0 0 1 1 99999999999999999999999",
            b"0:1 0 0 1 1 5",
            b"0: 1 0 0 1 1 5x",
        ] {
            assert_eq!(parse_row(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }
}
