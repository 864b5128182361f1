//! The `bpf(2)` edge: the attribute block, program loading, maps, and the
//! shared memory of a BPF ring buffer. Two loaders use it: the task-file
//! iterator of `owners::bpf` and the state-change tracepoint of
//! `source::transitions`. Both assemble their programs from [`Insn`]s with
//! offsets taken from the running kernel's BTF; what they hand the kernel
//! (instructions, license, log, keys) is passed here as raw pointers inside
//! the attribute block, which is why all of it lives at this edge.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

// Commands (include/uapi/linux/bpf.h, enum bpf_cmd).
pub const BPF_MAP_CREATE: libc::c_long = 0;
pub const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
pub const BPF_PROG_LOAD: libc::c_long = 5;
pub const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
pub const BPF_LINK_CREATE: libc::c_long = 28;
pub const BPF_ITER_CREATE: libc::c_long = 33;

/// `BPF_PROG_TYPE_TRACING`: BTF-typed programs (iterators, `tp_btf`).
pub const BPF_PROG_TYPE_TRACING: u32 = 26;

/// A zeroed `union bpf_attr` (144 bytes on Linux 6.x; the kernel accepts a
/// shorter or longer one as long as unknown bytes are zero).
#[repr(C, align(8))]
pub struct Attr {
    bytes: [u8; 144],
}

impl Attr {
    /// All zero.
    pub fn new() -> Attr {
        Attr { bytes: [0; 144] }
    }

    /// Writes `v` at byte `at`.
    pub fn put_u32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    /// Writes `v` at byte `at`.
    pub fn put_u64(&mut self, at: usize, v: u64) {
        self.bytes[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }

    /// Writes `name` (at most 15 bytes kept, NUL-terminated) at byte `at`:
    /// a program's or map's name.
    pub fn put_name(&mut self, at: usize, name: &str) {
        let n = name.len().min(15);
        self.bytes[at..at + n].copy_from_slice(&name.as_bytes()[..n]);
        self.bytes[at + n] = 0;
    }
}

impl Default for Attr {
    fn default() -> Self {
        Attr::new()
    }
}

/// The `bpf(2)` call, returning what it returns.
fn call(cmd: libc::c_long, attr: &mut Attr) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid, writable bpf_attr of the size passed; every
    // pointer stored in it by this module (instructions, license, log, keys,
    // values) is alive for the call, which is the only time the kernel
    // reads or writes through them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.bytes.as_mut_ptr(),
            attr.bytes.len() as libc::c_uint,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc)
}

/// `bpf(2)` for a command that returns a new descriptor (load, create,
/// attach). Only descriptor numbers and plain values may be in `attr`:
/// commands that take pointers have their own functions here.
pub fn bpf_fd(cmd: libc::c_long, attr: &mut Attr) -> io::Result<OwnedFd> {
    let fd = call(cmd, attr)?;
    // SAFETY: the kernel just returned this new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// One instruction, encoded as the kernel reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

/// Encodes one instruction: `code`, registers `dst` and `src`, offset and
/// immediate.
pub const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    // The kernel's `dst_reg:4, src_reg:4` bitfield: dst in the low nibble
    // on little-endian machines, in the high one on big-endian ones.
    let regs = if cfg!(target_endian = "little") {
        src << 4 | dst
    } else {
        dst << 4 | src
    };
    Insn {
        code,
        regs,
        off,
        imm,
    }
}

/// Where a program attaches: its expected attach type and the BTF id of
/// the function or tracepoint type.
#[derive(Debug, Clone, Copy)]
pub struct AttachTo {
    pub expected_type: u32,
    pub btf_id: u32,
}

/// `BPF_PROG_LOAD` of a GPL tracing program named `name`; on failure,
/// loads again with the verifier's log and puts its last line in the
/// error.
pub fn load_tracing_program(insns: &[Insn], name: &str, to: AttachTo) -> io::Result<OwnedFd> {
    let license = c"GPL"; // bpf_seq_write and the ring buffer are for GPL programs
    let load = |log: &mut [u8]| {
        let mut attr = Attr::new();
        attr.put_u32(0, BPF_PROG_TYPE_TRACING);
        attr.put_u32(4, insns.len() as u32);
        attr.put_u64(8, insns.as_ptr() as u64);
        attr.put_u64(16, license.as_ptr() as u64);
        if !log.is_empty() {
            attr.put_u32(24, 1); // log_level
            attr.put_u32(28, log.len() as u32);
            attr.put_u64(32, log.as_mut_ptr() as u64);
        }
        attr.put_name(48, name); // prog_name
        attr.put_u32(68, to.expected_type); // expected_attach_type
        attr.put_u32(108, to.btf_id); // attach_btf_id
        bpf_fd(BPF_PROG_LOAD, &mut attr)
    };
    load(&mut []).or_else(|e| {
        // Missing privilege (EPERM) needs no log; a verifier rejection
        // (EACCES, EINVAL) is worth one.
        if e.raw_os_error() == Some(libc::EPERM) {
            return Err(e);
        }
        let mut log = vec![0u8; 256 * 1024];
        let again = load(&mut log);
        let text = String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)])
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .map(str::to_owned);
        match (again, text) {
            (Ok(fd), _) => Ok(fd),
            (Err(e), Some(line)) => Err(io::Error::new(e.kind(), format!("{e}: verifier: {line}"))),
            (Err(e), None) => Err(e),
        }
    })
}

/// `BPF_MAP_CREATE` of a map without flags.
pub fn map_create(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    name: &str,
) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(0, map_type);
    attr.put_u32(4, key_size);
    attr.put_u32(8, value_size);
    attr.put_u32(12, max_entries);
    attr.put_name(28, name); // map_name
    bpf_fd(BPF_MAP_CREATE, &mut attr)
}

/// The `u64` value at `key` of an array map whose values are 8 bytes.
pub fn map_lookup_u64(map: &OwnedFd, key: u32) -> io::Result<u64> {
    let mut value = 0u64;
    let mut attr = Attr::new();
    attr.put_u32(0, map.as_raw_fd() as u32);
    attr.put_u64(8, &key as *const u32 as u64);
    attr.put_u64(16, &mut value as *mut u64 as u64);
    call(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
    Ok(value)
}

/// A `BPF_MAP_TYPE_RINGBUF` map's shared memory, as libbpf maps it: the
/// consumer page read-write (we publish how far we have read), the
/// producer page and the data read-only. The data area is mapped twice
/// back to back by the kernel, so a record that wraps can be read as one
/// piece.
pub struct RingMemory {
    consumer: *mut u8,
    producer: *mut u8,
    page: usize,
    /// Bytes of data (the map's max_entries, a power of two).
    size: usize,
}

// SAFETY: the mapping is owned by this value alone; reads and the one
// write go through atomics or bounded copies.
unsafe impl Send for RingMemory {}

impl RingMemory {
    /// Maps the ring buffer `map` of `size` data bytes.
    pub fn map(map: RawFd, size: usize) -> io::Result<RingMemory> {
        let page = crate::sys::process::page_size();
        if !size.is_power_of_two() || !size.is_multiple_of(page) {
            return Err(io::Error::other(
                "ring size is not a power-of-two number of pages",
            ));
        }
        let consumer = mmap(map, page, libc::PROT_READ | libc::PROT_WRITE, 0)?;
        let producer = match mmap(map, page + 2 * size, libc::PROT_READ, page) {
            Ok(p) => p,
            Err(e) => {
                munmap(consumer, page);
                return Err(e);
            }
        };
        Ok(RingMemory {
            consumer,
            producer,
            page,
            size,
        })
    }

    /// Bytes of data the ring holds.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How far the consumer (we) has read.
    pub fn consumer_pos(&self) -> u64 {
        self.position(self.consumer).load(Ordering::Acquire)
    }

    /// How far the producers (the kernel) have reserved.
    pub fn producer_pos(&self) -> u64 {
        self.position(self.producer).load(Ordering::Acquire)
    }

    /// Publishes that everything before `pos` has been read.
    pub fn set_consumer_pos(&self, pos: u64) {
        self.position(self.consumer).store(pos, Ordering::Release);
    }

    /// The 32-bit length word of the record header at `pos` (which is
    /// 8-aligned), read with acquire order as the kernel commits it.
    pub fn header_len(&self, pos: u64) -> u32 {
        let at = (pos as usize) & (self.size - 1);
        // SAFETY: `at` is 8-aligned (every position is) and below `size`,
        // so the word is inside the data mapping and aligned.
        let word = unsafe { &*(self.producer.add(self.page + at) as *const AtomicU32) };
        word.load(Ordering::Acquire)
    }

    /// Copies `out.len()` bytes starting at ring position `pos`; a copy
    /// that would run past the double mapping is refused.
    pub fn copy(&self, pos: u64, out: &mut [u8]) -> bool {
        let at = (pos as usize) & (self.size - 1);
        if out.len() > self.size || at + out.len() > 2 * self.size {
            return false;
        }
        // SAFETY: [at, at + len) lies inside the data area's double mapping
        // (checked above); the kernel does not write a committed record
        // until we move the consumer position past it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.producer.add(self.page + at),
                out.as_mut_ptr(),
                out.len(),
            )
        };
        true
    }

    fn position(&self, page: *mut u8) -> &AtomicU64 {
        // SAFETY: both pages start with the 8-byte, page-aligned position,
        // alive as long as `self`.
        unsafe { &*(page as *const AtomicU64) }
    }
}

impl Drop for RingMemory {
    fn drop(&mut self) {
        munmap(self.consumer, self.page);
        munmap(self.producer, self.page + 2 * self.size);
    }
}

fn mmap(fd: RawFd, len: usize, prot: libc::c_int, offset: usize) -> io::Result<*mut u8> {
    // SAFETY: a fresh shared mapping of a descriptor; nothing else is
    // mapped at the returned address.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            prot,
            libc::MAP_SHARED,
            fd,
            offset as libc::off_t,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *mut u8)
}

fn munmap(p: *mut u8, len: usize) {
    // SAFETY: `p` and `len` are those of a mapping made by [`mmap`] and not
    // yet unmapped.
    unsafe { libc::munmap(p as *mut libc::c_void, len) };
}
