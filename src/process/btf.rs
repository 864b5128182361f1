//! Just enough of a BTF reader (the kernel's type information,
//! `/sys/kernel/btf/vmlinux`) to build the owner iterator: find a function by
//! name, its parameters, and the byte offset and size of a struct member.
//!
//! BTF is a header, a type section and a string section. Types are numbered
//! from 1 in the order they appear, and each record's length depends on its
//! kind, so the type section is walked once to index it. Every read is
//! bounds-checked: a malformed blob gives an error, never a panic.

use std::fmt;

const MAGIC: u16 = 0xeb9f;

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

/// An indexed BTF blob.
pub struct Btf {
    bytes: Vec<u8>,
    /// Byte range of the string section.
    strings: std::ops::Range<usize>,
    /// Byte offset of each type's record; index 0 is the void type.
    records: Vec<usize>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Btf({} types, {} bytes)",
            self.records.len() - 1,
            self.bytes.len()
        )
    }
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
    /// Where the kind's trailing data starts.
    extra: usize,
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

impl Btf {
    /// Parses and indexes `bytes`.
    pub fn parse(bytes: Vec<u8>) -> Result<Btf, BtfError> {
        let u16_at = |at: usize| read_u16(&bytes, at).ok_or_else(|| err("truncated header"));
        let u32_at = |at: usize| read_u32(&bytes, at).ok_or_else(|| err("truncated header"));
        if u16_at(0)? != MAGIC {
            return Err(err("bad magic (not BTF, or of the other byte order)"));
        }
        let hdr_len = u32_at(4)? as usize;
        let (type_off, type_len) = (u32_at(8)? as usize, u32_at(12)? as usize);
        let (str_off, str_len) = (u32_at(16)? as usize, u32_at(20)? as usize);
        let section = |off: usize, len: usize| {
            let start = hdr_len.checked_add(off).filter(|_| hdr_len >= 24);
            let end = start.and_then(|s| s.checked_add(len));
            match (start, end) {
                (Some(s), Some(e)) if e <= bytes.len() => Ok(s..e),
                _ => Err(err("section outside the blob")),
            }
        };
        let types = section(type_off, type_len)?;
        let strings = section(str_off, str_len)?;
        let mut btf = Btf {
            records: vec![0],
            strings,
            bytes: Vec::new(),
        };
        let mut at = types.start;
        while at < types.end {
            let record = record_at(&bytes, at)?;
            let next = record.extra + extra_len(&record)?;
            if next > types.end {
                return Err(err(format!(
                    "type {} runs past its section",
                    btf.records.len()
                )));
            }
            btf.records.push(at);
            at = next;
        }
        btf.bytes = bytes;
        Ok(btf)
    }

    /// The id of the type of `kind` named `name`.
    fn find(&self, kind: u32, name: &str) -> Option<u32> {
        (1..self.records.len()).find_map(|id| {
            let r = self.record(id as u32)?;
            (r.kind == kind && self.name(r.name_off) == Some(name.as_bytes())).then_some(id as u32)
        })
    }

    /// The names of the parameters of function `name`, in order.
    pub fn function_params(&self, name: &str) -> Result<Vec<String>, BtfError> {
        let id = self
            .find(KIND_FUNC, name)
            .ok_or_else(|| err(format!("no function {name}")))?;
        let func = self.record(id).ok_or_else(|| err("bad function"))?;
        let proto = self
            .record(func.size_or_type)
            .filter(|p| p.kind == KIND_FUNC_PROTO)
            .ok_or_else(|| err(format!("{name} has no prototype")))?;
        (0..proto.vlen)
            .map(|i| {
                let name_off = read_u32(&self.bytes, proto.extra + 8 * i)
                    .ok_or_else(|| err("truncated parameters"))?;
                let name = self
                    .name(name_off)
                    .ok_or_else(|| err("bad parameter name"))?;
                Ok(String::from_utf8_lossy(name).into_owned())
            })
            .collect()
    }

    /// The id of function `name` (what a tracing program attaches to).
    pub fn function_id(&self, name: &str) -> Result<u32, BtfError> {
        self.find(KIND_FUNC, name)
            .ok_or_else(|| err(format!("no function {name}")))
    }

    /// Member `member` of `struct name`, looking into anonymous structs and
    /// unions as C does.
    pub fn member(&self, name: &str, member: &str) -> Result<Member, BtfError> {
        let id = self
            .find(KIND_STRUCT, name)
            .ok_or_else(|| err(format!("no struct {name}")))?;
        self.member_in(id, member.as_bytes(), 0)
            .ok_or_else(|| err(format!("no member {member} in struct {name}")))
    }

    fn member_in(&self, id: u32, member: &[u8], depth: u32) -> Option<Member> {
        let r = self.record(id)?;
        if !matches!(r.kind, KIND_STRUCT | KIND_UNION) || depth > 8 {
            return None;
        }
        for i in 0..r.vlen {
            let at = r.extra + 12 * i;
            let (name_off, ty, raw) = (
                read_u32(&self.bytes, at)?,
                read_u32(&self.bytes, at + 4)?,
                read_u32(&self.bytes, at + 8)?,
            );
            // With kind_flag the top 8 bits are a bitfield's size.
            let bits = if r.kind_flag { raw & 0x00ff_ffff } else { raw };
            if name_off == 0 {
                let inner = self.member_in(self.resolve(ty)?, member, depth + 1);
                if let Some(found) = inner {
                    return Some(Member {
                        offset: found.offset.checked_add(bits / 8)?,
                        ..found
                    });
                }
            } else if self.name(name_off)? == member {
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
        let at = *self.records.get(id as usize).filter(|_| id != 0)?;
        record_at(&self.bytes, at).ok()
    }

    /// The NUL-terminated string at `off` in the string section.
    fn name(&self, off: u32) -> Option<&[u8]> {
        let start = self.strings.start.checked_add(off as usize)?;
        let rest = self.bytes.get(start..self.strings.end)?;
        let len = rest.iter().position(|&b| b == 0)?;
        Some(&rest[..len])
    }
}

fn record_at(bytes: &[u8], at: usize) -> Result<Record, BtfError> {
    let truncated = || err("truncated type record");
    let name_off = read_u32(bytes, at).ok_or_else(truncated)?;
    let info = read_u32(bytes, at + 4).ok_or_else(truncated)?;
    let size_or_type = read_u32(bytes, at + 8).ok_or_else(truncated)?;
    Ok(Record {
        name_off,
        kind: (info >> 24) & 0x1f,
        vlen: (info & 0xffff) as usize,
        kind_flag: info >> 31 == 1,
        size_or_type,
        extra: at + 12,
    })
}

/// Bytes of kind-specific data after a record's 12 fixed bytes.
fn extra_len(r: &Record) -> Result<usize, BtfError> {
    Ok(match r.kind {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * r.vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * r.vlen,
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

    #[test]
    fn finds_members_functions_and_their_shapes() {
        let btf = Btf::parse(sample()).unwrap();
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
        assert_eq!(btf.function_params("f").unwrap(), ["meta", "task"]);
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
            let _ = Btf::parse(good[..len].to_vec()).map(|b| b.member("inner", "ino"));
        }
        for at in 0..good.len().min(120) {
            for byte in [0x00, 0x7f, 0xff] {
                let mut bad = good.clone();
                bad[at] = byte;
                if let Ok(btf) = Btf::parse(bad) {
                    let _ = btf.member("outer", "p");
                    let _ = btf.function_params("f");
                }
            }
        }
        assert!(Btf::parse(Vec::new()).is_err());
        let mut swapped = good.clone();
        swapped.swap(0, 1);
        assert!(Btf::parse(swapped).unwrap_err().0.contains("magic"));
        let mut unknown_kind = good.clone();
        unknown_kind[24 + 7] = 30; // the first record's kind byte
        assert!(Btf::parse(unknown_kind).unwrap_err().0.contains("kind"));
    }

    #[test]
    fn a_member_cycle_through_anonymous_types_ends() {
        let mut b = Builder::new();
        // struct s { union(2) @0 }, union { struct(1) @0 }: anonymous loop.
        b.record("s", KIND_STRUCT, 1, 8);
        b.words(&[0, 2, 0]);
        b.record("", KIND_UNION, 1, 8);
        b.words(&[0, 1, 0]);
        let btf = Btf::parse(b.build()).unwrap();
        assert!(btf.member("s", "x").is_err());
    }

    #[test]
    fn reads_the_running_kernels_btf_when_it_has_one() {
        let Ok(bytes) = std::fs::read("/sys/kernel/btf/vmlinux") else {
            return;
        };
        let btf = Btf::parse(bytes).unwrap();
        assert_eq!(btf.member("inode", "i_mode").unwrap().shape, Shape::Int(2));
        assert_eq!(btf.member("file", "f_inode").unwrap().shape, Shape::Pointer);
        assert_eq!(
            btf.function_params("bpf_iter_task_file").unwrap(),
            ["meta", "task", "fd", "file"]
        );
    }
}
