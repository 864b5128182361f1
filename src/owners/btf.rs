//! Just enough of a BTF reader (the kernel's type information,
//! `/sys/kernel/btf/vmlinux`) to build the owner iterator: find a function by
//! name, its parameters, and the byte offset and size of a struct member.
//!
//! BTF is a header, a type section and a string section. Types are numbered
//! from 1 in the order they appear, and each record's length depends on its
//! kind, so the type section is walked once to index it. The kernel's blob is
//! 5.5 MB; it is read in chunks and not kept: the caller names up front the
//! few strings it will ask about, one pass over the string section finds
//! where they are, and one pass over the types keeps each record's offset
//! (4 bytes a type) and the ids of records with a wanted name. Records are
//! read again by offset when asked about. Every read is bounds-checked: a
//! malformed blob gives an error, never a panic.

use std::fmt;
use std::io;

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
const CHUNK: usize = 64 * 1024;

// Kinds (include/uapi/linux/btf.h).
const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Why BTF could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfError(String);

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BTF: {}", self.0)
    }
}

impl std::error::Error for BtfError {}

fn err(what: impl Into<String>) -> BtfError {
    BtfError(what.into())
}

/// Where BTF bytes are read from: the kernel's file, or bytes in memory.
pub trait Source {
    /// Fills `buf` from `offset`; fewer bytes than asked is an error.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
}

impl Source for std::fs::File {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(self, buf, offset)
    }
}

impl Source for Vec<u8> {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.as_slice().read_exact_at(buf, offset)
    }
}

impl Source for [u8] {
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let src = usize::try_from(offset)
            .ok()
            .and_then(|at| self.get(at..at.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// An indexed BTF blob.
pub struct Btf<S: Source + ?Sized> {
    /// Where the type section starts in the source.
    types_at: u64,
    /// Offset of each type's record in the type section; index 0 is the
    /// void type.
    records: Vec<u32>,
    /// Each wanted string and its offsets in the string section (BTF from
    /// pahole has each string once, but nothing requires it). A dozen
    /// entries: a list is faster to search than a hash map.
    wanted: Vec<(String, Vec<u32>)>,
    /// Records whose name is wanted: (name offset, kind, id).
    named: Vec<(u32, u32, u32)>,
    /// Bytes read at a time.
    chunk: usize,
    source: S,
}

/// One type record's fixed part.
#[derive(Debug, Clone, Copy)]
struct Record {
    name_off: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    /// `size` or `type`, by kind.
    size_or_type: u32,
    /// Where the kind's trailing data starts, in the type section.
    extra: u64,
}

/// What a member of a struct is, as far as the iterator cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// An integer (or enum) of this many bytes.
    Int(u32),
    /// A pointer.
    Pointer,
    /// Anything else.
    Other,
}

/// A member found by [`Btf::member`]: its byte offset and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub offset: u32,
    pub shape: Shape,
}

impl<S: Source + ?Sized> fmt::Debug for Btf<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Btf({} types)", self.records.len() - 1)
    }
}

impl<S: Source> Btf<S> {
    /// Indexes the BTF in `source`, remembering where the strings in
    /// `wanted` are: names of types, members and parameters are compared
    /// only against these.
    pub fn open(source: S, wanted: &[&str]) -> Result<Btf<S>, BtfError> {
        Btf::open_chunked(source, wanted, CHUNK)
    }

    /// [`Btf::open`], reading `chunk` bytes at a time (tests cut records
    /// and strings at every place with small chunks).
    fn open_chunked(source: S, wanted: &[&str], chunk: usize) -> Result<Btf<S>, BtfError> {
        let mut header = [0u8; HEADER_LEN];
        source
            .read_exact_at(&mut header, 0)
            .map_err(|_| err("truncated header"))?;
        if read_u16(&header, 0) != Some(MAGIC) {
            return Err(err("bad magic (not BTF, or of the other byte order)"));
        }
        let word = |at| read_u32(&header, at).map_or(0, u64::from);
        let hdr_len = word(4);
        if hdr_len < HEADER_LEN as u64 {
            return Err(err("header too short"));
        }
        // Sections are addressed with u32 offsets; the sum cannot overflow.
        let types = (hdr_len + word(8), word(12));
        let strings = (hdr_len + word(16), word(20));
        let mut btf = Btf {
            types_at: types.0,
            records: vec![0],
            wanted: wanted
                .iter()
                .map(|w| ((*w).to_owned(), Vec::new()))
                .collect(),
            named: Vec::new(),
            chunk: chunk.max(12),
            source,
        };
        btf.find_strings(strings.0, strings.1)?;
        btf.index_types(types.1)?;
        Ok(btf)
    }
}

impl<S: Source + ?Sized> Btf<S> {
    /// One pass over the string section, noting where wanted strings are.
    fn find_strings(&mut self, at: u64, len: u64) -> Result<(), BtfError> {
        // Most strings are skipped by their length alone.
        let lengths = self
            .wanted
            .iter()
            .filter(|(w, _)| w.len() < 64)
            .fold(0u64, |mask, (w, _)| mask | 1 << w.len());
        let mut buf = vec![0u8; self.chunk];
        // The current string's start, and its bytes when it spans chunks.
        let (mut start, mut partial) = (0u64, Vec::new());
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(self.chunk as u64) as usize;
            self.source
                .read_exact_at(&mut buf[..n], at + done)
                .map_err(|_| err("string section outside the blob"))?;
            let mut from = 0;
            // CStr's search for the NUL is word-at-a-time.
            while let Some(nul) = std::ffi::CStr::from_bytes_until_nul(&buf[from..n])
                .ok()
                .map(|c| c.to_bytes().len())
            {
                let piece = &buf[from..from + nul];
                let text: &[u8] = if partial.is_empty() {
                    piece
                } else {
                    partial.extend_from_slice(piece);
                    &partial
                };
                let maybe = text.len() < 64 && lengths >> text.len() & 1 == 1;
                if let Some((_, offsets)) = self
                    .wanted
                    .iter_mut()
                    .find(|(w, _)| maybe && w.as_bytes() == text)
                {
                    offsets.push(start as u32);
                }
                partial.clear();
                from += nul + 1;
                start = done + from as u64;
            }
            // Only strings as long as a wanted one are worth carrying over.
            if partial.len() + (n - from) <= 256 {
                partial.extend_from_slice(&buf[from..n]);
            } else {
                partial.clear();
                partial.push(0xff); // matches nothing
            }
            done += n as u64;
        }
        Ok(())
    }

    /// One pass over the type section, keeping each record's offset.
    fn index_types(&mut self, len: u64) -> Result<(), BtfError> {
        let mut wanted_offsets: Vec<u32> =
            self.wanted.iter().flat_map(|(_, o)| o).copied().collect();
        wanted_offsets.sort_unstable();
        let mut chunk = Chunk::new(self.chunk);
        let mut pos = 0u64;
        while pos < len {
            if pos + 12 > len {
                return Err(err("truncated type record"));
            }
            let fixed = chunk.get(&self.source, self.types_at + pos, 12, self.types_at + len)?;
            let record = parse_record(fixed, pos);
            let next = pos + 12 + extra_len(&record)?;
            if next > len {
                return Err(err(format!(
                    "type {} runs past its section",
                    self.records.len()
                )));
            }
            let id = self.records.len() as u32;
            let offset = u32::try_from(pos).map_err(|_| err("type section too big"))?;
            if record.name_off != 0 && wanted_offsets.binary_search(&record.name_off).is_ok() {
                self.named.push((record.name_off, record.kind, id));
            }
            self.records.push(offset);
            pos = next;
        }
        Ok(())
    }

    /// Whether string offset `off` holds `name` (a wanted string).
    fn is(&self, off: u32, name: &str) -> bool {
        self.wanted
            .iter()
            .any(|(w, offsets)| w == name && offsets.contains(&off))
    }

    /// The id of the type of `kind` named `name`.
    fn find(&self, kind: u32, name: &str) -> Option<u32> {
        self.named
            .iter()
            .find(|&&(off, k, _)| k == kind && self.is(off, name))
            .map(|&(_, _, id)| id)
    }

    /// Whether function `name`'s parameters are named `params`, in order.
    pub fn function_params_are(&self, name: &str, params: &[&str]) -> Result<bool, BtfError> {
        let id = self.function_id(name)?;
        let func = self.record(id).ok_or_else(|| err("bad function"))?;
        let proto = self
            .record(func.size_or_type)
            .filter(|p| p.kind == KIND_FUNC_PROTO)
            .ok_or_else(|| err(format!("{name} has no prototype")))?;
        if proto.vlen != params.len() {
            return Ok(false);
        }
        let bytes = self
            .bytes(proto.extra, 8 * proto.vlen)
            .ok_or_else(|| err("truncated parameters"))?;
        Ok(params
            .iter()
            .enumerate()
            .all(|(i, param)| read_u32(&bytes, 8 * i).is_some_and(|off| self.is(off, param))))
    }

    /// The id of function `name` (what a tracing program attaches to).
    pub fn function_id(&self, name: &str) -> Result<u32, BtfError> {
        self.find(KIND_FUNC, name)
            .ok_or_else(|| err(format!("no function {name}")))
    }

    /// The id of typedef `name` (a `btf_trace_*` typedef is what a
    /// BTF-typed tracepoint program attaches to) and the number of
    /// parameters of the function it points to, if it points to one.
    pub fn typedef_id(&self, name: &str) -> Result<(u32, Option<usize>), BtfError> {
        let id = self
            .find(KIND_TYPEDEF, name)
            .ok_or_else(|| err(format!("no typedef {name}")))?;
        let params = self
            .record(id)
            .and_then(|t| self.record(t.size_or_type))
            .filter(|p| p.kind == KIND_PTR)
            .and_then(|p| self.record(p.size_or_type))
            .filter(|f| f.kind == KIND_FUNC_PROTO)
            .map(|f| f.vlen);
        Ok((id, params))
    }

    /// Member `member` of `struct name`, looking into anonymous structs and
    /// unions as C does.
    pub fn member(&self, name: &str, member: &str) -> Result<Member, BtfError> {
        let id = self
            .find(KIND_STRUCT, name)
            .ok_or_else(|| err(format!("no struct {name}")))?;
        // Anonymous members nest a few levels in real kernels; a blob whose
        // anonymous members fan out or loop must not make the search
        // explode, so it may look at this many members in all.
        let mut budget = 100_000u32;
        self.member_in(id, member, 0, &mut budget)
            .ok_or_else(|| err(format!("no member {member} in struct {name}")))
    }

    fn member_in(&self, id: u32, member: &str, depth: u32, budget: &mut u32) -> Option<Member> {
        let r = self.record(id)?;
        if !matches!(r.kind, KIND_STRUCT | KIND_UNION) || depth > 8 {
            return None;
        }
        let members = self.bytes(r.extra, 12 * r.vlen)?;
        for m in members.chunks_exact(12) {
            *budget = budget.checked_sub(1)?;
            let (name_off, ty, raw) = (read_u32(m, 0)?, read_u32(m, 4)?, read_u32(m, 8)?);
            // With kind_flag the top 8 bits are a bitfield's size.
            let bits = if r.kind_flag { raw & 0x00ff_ffff } else { raw };
            if name_off == 0 {
                // An anonymous member that leads nowhere is skipped.
                let inner = self
                    .resolve(ty)
                    .and_then(|t| self.member_in(t, member, depth + 1, budget));
                if let Some(found) = inner {
                    return Some(Member {
                        offset: found.offset.checked_add(bits / 8)?,
                        ..found
                    });
                }
            } else if self.is(name_off, member) {
                if bits % 8 != 0 {
                    return None;
                }
                return Some(Member {
                    offset: bits / 8,
                    shape: self.shape(ty)?,
                });
            }
        }
        None
    }

    /// `ty` with typedefs and qualifiers peeled off.
    fn resolve(&self, mut ty: u32) -> Option<u32> {
        for _ in 0..32 {
            let r = self.record(ty)?;
            match r.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    ty = r.size_or_type
                }
                _ => return Some(ty),
            }
        }
        None
    }

    fn shape(&self, ty: u32) -> Option<Shape> {
        let r = self.record(self.resolve(ty)?)?;
        Some(match r.kind {
            KIND_INT | KIND_ENUM | KIND_ENUM64 => Shape::Int(r.size_or_type),
            KIND_PTR => Shape::Pointer,
            _ => Shape::Other,
        })
    }

    fn record(&self, id: u32) -> Option<Record> {
        let at = u64::from(*self.records.get(id as usize).filter(|_| id != 0)?);
        let fixed = self.bytes(at, 12)?;
        Some(parse_record(&fixed, at))
    }

    /// `len` bytes at `at` in the type section (indexed, so in bounds).
    fn bytes(&self, at: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.source
            .read_exact_at(&mut buf, self.types_at + at)
            .ok()?;
        Some(buf)
    }
}

/// A window of the source, refilled as a walk moves past it.
struct Chunk {
    buf: Vec<u8>,
    /// Source offset of `buf[0]`, and how much of `buf` is valid.
    at: u64,
    len: usize,
}

impl Chunk {
    fn new(size: usize) -> Chunk {
        Chunk {
            buf: vec![0u8; size],
            at: 0,
            len: 0,
        }
    }

    /// `len` (at most the chunk's size) bytes at source offset `at`, reading ahead
    /// up to `end` (which is at least `at + len`).
    fn get<S: Source + ?Sized>(
        &mut self,
        source: &S,
        at: u64,
        len: usize,
        end: u64,
    ) -> Result<&[u8], BtfError> {
        if at < self.at || at + len as u64 > self.at + self.len as u64 {
            let want = (end - at).min(self.buf.len() as u64) as usize;
            source
                .read_exact_at(&mut self.buf[..want], at)
                .map_err(|_| err("type section outside the blob"))?;
            (self.at, self.len) = (at, want);
        }
        let from = (at - self.at) as usize;
        Ok(&self.buf[from..from + len])
    }
}

fn parse_record(fixed: &[u8], at: u64) -> Record {
    let word = |i| read_u32(fixed, i).unwrap_or(0);
    let info = word(4);
    Record {
        name_off: word(0),
        kind: (info >> 24) & 0x1f,
        vlen: (info & 0xffff) as usize,
        kind_flag: info >> 31 == 1,
        size_or_type: word(8),
        extra: at + 12,
    }
}

/// Bytes of kind-specific data after a record's 12 fixed bytes.
fn extra_len(r: &Record) -> Result<u64, BtfError> {
    let vlen = r.vlen as u64;
    Ok(match r.kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        kind => return Err(err(format!("unknown type kind {kind}"))),
    })
}

fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([b[0], b[1]]))
}

fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a BTF blob from type records (without ids) and names.
    struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
    }

    impl Builder {
        fn new() -> Builder {
            Builder {
                types: Vec::new(),
                strings: vec![0],
            }
        }

        fn name(&mut self, s: &str) -> u32 {
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn words(&mut self, words: &[u32]) {
            for w in words {
                self.types.extend_from_slice(&w.to_ne_bytes());
            }
        }

        fn record(&mut self, name: &str, kind: u32, vlen: u32, size_or_type: u32) {
            let n = if name.is_empty() { 0 } else { self.name(name) };
            self.words(&[n, kind << 24 | vlen, size_or_type]);
        }

        fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            for w in [
                u32::from(MAGIC) | 1 << 16,
                24,
                0,
                self.types.len() as u32,
                self.types.len() as u32,
                self.strings.len() as u32,
            ] {
                out.extend_from_slice(&w.to_ne_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }

    /// 1 int(4), 2 long(8), 3 ptr->4, 4 struct inner{ u16 mode @0; long ino @8 },
    /// 5 struct outer { int a @0; union(6) @64 bits }, 6 union { ptr p @0 },
    /// 7 typedef pid_t -> 1, 8 func_proto(meta, task), 9 func f -> 8,
    /// 10 u16.
    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        b.record("int", KIND_INT, 0, 4);
        b.words(&[32]);
        b.record("long", KIND_INT, 0, 8);
        b.words(&[64]);
        b.record("", KIND_PTR, 0, 4);
        b.record("inner", KIND_STRUCT, 3, 16);
        let (mode, ino, tgid) = (b.name("mode"), b.name("ino"), b.name("tgid"));
        b.words(&[mode, 10, 0, ino, 2, 64, tgid, 7, 32]);
        b.record("outer", KIND_STRUCT, 2, 16);
        let a = b.name("a");
        b.words(&[a, 1, 0, 0, 6, 64]);
        b.record("", KIND_UNION, 1, 8);
        let p = b.name("p");
        b.words(&[p, 3, 0]);
        b.record("pid_t", KIND_TYPEDEF, 0, 1);
        b.record("", KIND_FUNC_PROTO, 2, 1);
        let (meta, task) = (b.name("meta"), b.name("task"));
        b.words(&[meta, 3, task, 3]);
        b.record("f", KIND_FUNC, 0, 8);
        b.record("u16", KIND_INT, 0, 2);
        b.words(&[16]);
        b.build()
    }

    const WANTED: &[&str] = &[
        "inner", "outer", "mode", "ino", "tgid", "p", "a", "f", "meta", "task", "s", "x", "nope",
    ];

    fn open(bytes: Vec<u8>) -> Result<Btf<Vec<u8>>, BtfError> {
        Btf::open(bytes, WANTED)
    }

    #[test]
    fn finds_members_functions_and_their_shapes() {
        let btf = open(sample()).unwrap();
        let m = |s, f| btf.member(s, f).unwrap();
        assert_eq!(
            m("inner", "mode"),
            Member {
                offset: 0,
                shape: Shape::Int(2)
            }
        );
        assert_eq!(
            m("inner", "ino"),
            Member {
                offset: 8,
                shape: Shape::Int(8)
            }
        );
        // Through a typedef.
        assert_eq!(
            m("inner", "tgid"),
            Member {
                offset: 4,
                shape: Shape::Int(4)
            }
        );
        // Through an anonymous union at byte 8.
        assert_eq!(
            m("outer", "p"),
            Member {
                offset: 8,
                shape: Shape::Pointer
            }
        );
        assert_eq!(btf.function_id("f"), Ok(9));
        assert_eq!(btf.function_params_are("f", &["meta", "task"]), Ok(true));
        assert_eq!(btf.function_params_are("f", &["task", "meta"]), Ok(false));
        assert_eq!(btf.function_params_are("f", &["meta"]), Ok(false));
        assert!(btf.member("inner", "nope").is_err());
        assert!(btf.member("nope", "a").is_err());
        assert!(btf.function_id("g").is_err());
    }

    #[test]
    fn malformed_blobs_are_errors_not_panics() {
        let good = sample();
        // Every truncation, and every single-byte corruption of the header
        // and the first records.
        for len in 0..good.len() {
            let _ = open(good[..len].to_vec()).map(|b| b.member("inner", "ino"));
        }
        for at in 0..good.len().min(120) {
            for byte in [0x00, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = byte;
                if let Ok(btf) = open(bad) {
                    let _ = btf.member("outer", "p");
                    let _ = btf.function_params_are("f", &["meta", "task"]);
                }
            }
        }
        assert!(open(Vec::new()).is_err());
        let mut swapped = good.clone();
        swapped.swap(0, 1);
        assert!(open(swapped).unwrap_err().0.contains("magic"));
        let mut unknown_kind = good.clone();
        unknown_kind[24 + 7] = 30; // the first record's kind byte
        assert!(open(unknown_kind).unwrap_err().0.contains("kind"));
    }

    #[test]
    fn any_chunk_size_reads_the_same() {
        let bytes = sample();
        let whole = open(bytes.clone()).unwrap();
        for chunk in 12..=bytes.len() + 1 {
            let btf = Btf::open_chunked(bytes.clone(), WANTED, chunk).unwrap();
            for (s, m) in [
                ("inner", "mode"),
                ("inner", "ino"),
                ("inner", "tgid"),
                ("outer", "p"),
            ] {
                assert_eq!(
                    btf.member(s, m),
                    whole.member(s, m),
                    "chunk {chunk}: {s}.{m}"
                );
            }
            assert_eq!(
                btf.function_params_are("f", &["meta", "task"]),
                Ok(true),
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn fanned_out_anonymous_members_end_within_the_budget() {
        let mut b = Builder::new();
        // Struct 1 is named; structs 1-3 each have 2,000 anonymous members
        // of the next type, and 3's point back at 1: 2,000^9 paths.
        for (id, name) in [(1, "s"), (2, ""), (3, "")] {
            b.record(name, KIND_STRUCT, 2000, 8);
            let next = if id == 3 { 1 } else { id + 1 };
            for _ in 0..2000 {
                b.words(&[0, next, 0]);
            }
        }
        let btf = open(b.build()).unwrap();
        // Without the budget this would not return.
        assert!(btf.member("s", "x").is_err());
    }

    #[test]
    fn a_member_cycle_through_anonymous_types_ends() {
        let mut b = Builder::new();
        // struct s { union(2) @0 }, union { struct(1) @0 }: anonymous loop.
        b.record("s", KIND_STRUCT, 1, 8);
        b.words(&[0, 2, 0]);
        b.record("", KIND_UNION, 1, 8);
        b.words(&[0, 1, 0]);
        let btf = open(b.build()).unwrap();
        assert!(btf.member("s", "x").is_err());
    }

    #[test]
    fn reads_the_running_kernels_btf_when_it_has_one() {
        let Ok(file) = std::fs::File::open("/sys/kernel/btf/vmlinux") else {
            return;
        };
        let params = ["meta", "task", "fd", "file"];
        let wanted = [
            &["inode", "i_mode", "f_inode", "bpf_iter_task_file"][..],
            &params,
        ]
        .concat();
        let btf = Btf::open(file, &wanted).unwrap();
        assert_eq!(btf.member("inode", "i_mode").unwrap().shape, Shape::Int(2));
        assert_eq!(btf.member("file", "f_inode").unwrap().shape, Shape::Pointer);
        assert_eq!(
            btf.function_params_are("bpf_iter_task_file", &params),
            Ok(true)
        );
        // The same blob in memory, cut at every chunk boundary's
        // neighbourhood, reads the same or fails cleanly.
        let bytes = std::fs::read("/sys/kernel/btf/vmlinux").unwrap();
        let whole = Btf::open(bytes.clone(), &wanted).unwrap();
        assert_eq!(
            whole.member("file", "f_inode"),
            btf.member("file", "f_inode")
        );
        for cut in [CHUNK - 1, CHUNK, CHUNK + 11, bytes.len() - 1] {
            assert!(Btf::open(bytes[..cut].to_vec(), &wanted).is_err());
        }
    }
}
