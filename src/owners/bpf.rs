//! Socket owners from the kernel in one pass: a BPF task-file iterator.
//!
//! Reading `/proc/*/fd` costs one `readlinkat` per open descriptor (about
//! 3 µs of kernel time each, 0.3 s at 100k sockets). A `task_file` iterator
//! (Linux 5.8+) walks every process's descriptor table inside the kernel
//! and hands a small program each open file; ours writes `(inode, tgid,
//! fd)` for each socket into the iterator's output, which is then read like
//! a file.
//!
//! It answers what `/proc/PID/fd` (and so netstat and ss) would: only a
//! process's main thread's table is read. The kernel already skips threads
//! that share it; the program also skips threads with a table of their own
//! (after `unshare(CLONE_FILES)`), which `/proc/PID/fd` does not show, and
//! the threads of a process whose main thread has exited, each of which
//! the kernel would otherwise walk.
//!
//! The program is 26 instructions, assembled here; the field offsets it
//! needs (`file.f_inode`, `inode.i_mode`, `inode.i_ino`, `task_struct.pid`
//! and `.tgid`, `bpf_iter_meta.seq`) come from the running kernel's BTF, so
//! nothing is compiled against one kernel's layout. Loading it
//! needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) and kernel BTF; when
//! anything is missing, the caller falls back to `/proc`.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use super::btf::{Btf, Member, Shape, Source};
use crate::sys::bpf::{
    bpf_fd as bpf, insn, load_tracing_program, AttachTo, Attr, Insn, BPF_ITER_CREATE,
    BPF_LINK_CREATE,
};

// include/uapi/linux/bpf.h
const BPF_TRACE_ITER: u32 = 28;
const BPF_FUNC_SEQ_WRITE: i32 = 127;

/// What the iterator writes per socket descriptor: inode (8 bytes), tgid
/// (4), fd (4).
const RECORD: usize = 16;

/// A loaded and attached task-file iterator, ready to be run any number of
/// times (once per pass in watch mode).
pub struct TaskFiles {
    link: OwnedFd,
    _prog: OwnedFd,
}

impl TaskFiles {
    /// Loads the program for the running kernel.
    pub fn load() -> io::Result<TaskFiles> {
        let file = std::fs::File::open("/sys/kernel/btf/vmlinux")?;
        let btf = Btf::open(file, WANTED).map_err(io::Error::other)?;
        let layout = Layout::of(&btf)?;
        let prog = load_program(&program(&layout), layout.attach_id)?;
        let mut attr = Attr::new();
        attr.put_u32(0, prog.as_raw_fd() as u32); // link_create.prog_fd
        attr.put_u32(8, BPF_TRACE_ITER); // link_create.attach_type
        let link = bpf(BPF_LINK_CREATE, &mut attr)?;
        Ok(TaskFiles { link, _prog: prog })
    }

    /// Runs the iterator: `(tgid, inode, fd)` for every descriptor on a
    /// socket in every process (a process's in a row, not sorted). The
    /// output is parsed as it is read, a chunk at a time, so that a million
    /// descriptors are held once (16 MB), not also as the bytes they came
    /// in.
    pub fn run(&self) -> io::Result<Vec<(u32, u64, u32)>> {
        let mut attr = Attr::new();
        attr.put_u32(0, self.link.as_raw_fd() as u32); // iter_create.link_fd
        let iter = std::fs::File::from(bpf(BPF_ITER_CREATE, &mut attr)?);
        let mut records = Vec::new();
        let mut chunk = vec![0u8; CHUNK];
        let mut held = 0;
        loop {
            let n = match io::Read::read(&mut &iter, &mut chunk[held..]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            held += n;
            let whole = held - held % RECORD;
            parse_records(&chunk[..whole], &mut records);
            chunk.copy_within(whole..held, 0);
            held -= whole;
        }
        Ok(records)
    }
}

/// How much of the iterator's output is read at once: a multiple of
/// [`RECORD`], as big as the kernel's own seq_file buffer grows.
const CHUNK: usize = 64 * 1024;

/// Loads the program with its read of `file.f_inode` moved `skew` bytes
/// off where BTF puts it, and closes it again. For tests/owners.rs alone,
/// which needs root for it: a skew the verifier refuses must come back as
/// an error quoting the verifier.
#[doc(hidden)]
pub fn load_skewed_program(skew: i16) -> io::Result<()> {
    let file = std::fs::File::open("/sys/kernel/btf/vmlinux")?;
    let btf = Btf::open(file, WANTED).map_err(io::Error::other)?;
    let mut layout = Layout::of(&btf)?;
    layout.file_inode += skew;
    load_program(&program(&layout), layout.attach_id).map(drop)
}

/// Appends the `(tgid, inode, fd)` records of `bytes` (whole records) to
/// `records`; a trailing partial record (which the kernel never writes) is
/// ignored.
fn parse_records(bytes: &[u8], records: &mut Vec<(u32, u64, u32)>) {
    records.extend(bytes.chunks_exact(RECORD).map(|r| {
        let inode = u64::from_ne_bytes(r[..8].try_into().expect("8 bytes"));
        let tgid = u32::from_ne_bytes(r[8..12].try_into().expect("4 bytes"));
        let fd = u32::from_ne_bytes(r[12..].try_into().expect("4 bytes"));
        (tgid, inode, fd)
    }));
}

/// The iterator's attach point and its parameters, in order.
const ITER_FUNC: &str = "bpf_iter_task_file";
const ITER_PARAMS: [&str; 4] = ["meta", "task", "fd", "file"];

/// Every name [`Layout::of`] asks BTF about (the fuzz target asks the
/// same).
pub(crate) const WANTED: &[&str] = &[
    ITER_FUNC,
    "meta",
    "task",
    "fd",
    "file",
    "bpf_iter_meta",
    "seq",
    "f_inode",
    "inode",
    "i_mode",
    "i_ino",
    "task_struct",
    "tgid",
    "pid",
];

/// Offsets the program reads, from BTF.
struct Layout {
    /// BTF id of `bpf_iter_task_file`, the attach point.
    attach_id: u32,
    meta_seq: i16,
    file_inode: i16,
    inode_mode: i16,
    inode_ino: i16,
    task_tgid: i16,
    task_pid: i16,
}

impl Layout {
    fn of<S: Source>(btf: &Btf<S>) -> io::Result<Layout> {
        // The program's context is the iterator function's arguments, one
        // 8-byte slot each; the program reads them by position.
        if !btf
            .function_params_are(ITER_FUNC, &ITER_PARAMS)
            .map_err(io::Error::other)?
        {
            return Err(io::Error::other(format!(
                "{ITER_FUNC} does not take ({})",
                ITER_PARAMS.join(", ")
            )));
        }
        let field = |s: &str, m: &str, shape: Shape| -> io::Result<i16> {
            let found: Member = btf.member(s, m).map_err(io::Error::other)?;
            if found.shape != shape {
                return Err(io::Error::other(format!(
                    "{s}.{m} is {:?}, not {shape:?}",
                    found.shape
                )));
            }
            i16::try_from(found.offset).map_err(|_| io::Error::other(format!("{s}.{m} is too far")))
        };
        Ok(Layout {
            attach_id: btf.function_id(ITER_FUNC).map_err(io::Error::other)?,
            meta_seq: field("bpf_iter_meta", "seq", Shape::Pointer)?,
            file_inode: field("file", "f_inode", Shape::Pointer)?,
            inode_mode: field("inode", "i_mode", Shape::Int(2))?,
            inode_ino: field("inode", "i_ino", Shape::Int(8))?,
            task_tgid: field("task_struct", "tgid", Shape::Int(4))?,
            task_pid: field("task_struct", "pid", Shape::Int(4))?,
        })
    }
}

// Opcodes used below: class | size/op | source.
const LDX_DW: u8 = 0x79; // BPF_LDX | BPF_MEM | BPF_DW
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const LDX_H: u8 = 0x69; // BPF_LDX | BPF_MEM | BPF_H
const STX_DW: u8 = 0x7b; // BPF_STX | BPF_MEM | BPF_DW
const STX_W: u8 = 0x63; // BPF_STX | BPF_MEM | BPF_W
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const ADD_K: u8 = 0x07; // BPF_ALU64 | BPF_ADD | BPF_K
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;

const S_IFMT: i32 = 0o170000;
const S_IFSOCK: i32 = 0o140000;

/// The program, in C:
///
/// ```c
/// struct task_struct *t = ctx->task;
/// if (!t || t->pid != t->tgid) return 0;      /* main threads only */
/// if (!ctx->file || !ctx->file->f_inode) return 0;
/// struct inode *i = ctx->file->f_inode;
/// if ((i->i_mode & S_IFMT) != S_IFSOCK) return 0;
/// struct { u64 ino; u32 tgid, fd; } rec = { i->i_ino, t->tgid, ctx->fd };
/// bpf_seq_write(ctx->meta->seq, rec, sizeof rec);
/// return 0;
/// ```
fn program(l: &Layout) -> Vec<Insn> {
    // Jumps are relative to the next instruction; `out` is the last two.
    let mut p = vec![
        insn(MOV_X, 6, 1, 0, 0),             // r6 = ctx
        insn(LDX_DW, 2, 6, 8, 0),            // r2 = ctx->task
        insn(JEQ_K, 2, 0, 0, 0),             // if !r2 goto out
        insn(LDX_W, 7, 2, l.task_tgid, 0),   // r7 = task->tgid
        insn(LDX_W, 5, 2, l.task_pid, 0),    // r5 = task->pid
        insn(JNE_X, 5, 7, 0, 0),             // if r5 != r7 goto out
        insn(LDX_DW, 3, 6, 24, 0),           // r3 = ctx->file
        insn(JEQ_K, 3, 0, 0, 0),             // if !r3 goto out
        insn(LDX_DW, 4, 3, l.file_inode, 0), // r4 = file->f_inode
        insn(JEQ_K, 4, 0, 0, 0),             // if !r4 goto out
        insn(LDX_H, 5, 4, l.inode_mode, 0),  // r5 = inode->i_mode
        insn(AND_K, 5, 0, 0, S_IFMT),        // r5 &= S_IFMT
        insn(JNE_K, 5, 0, 0, S_IFSOCK),      // if r5 != S_IFSOCK goto out
        insn(LDX_DW, 5, 4, l.inode_ino, 0),  // r5 = inode->i_ino
        insn(STX_DW, 10, 5, -16, 0),         // rec[0] = r5
        insn(STX_W, 10, 7, -8, 0),           // rec.tgid = r7
        insn(LDX_DW, 5, 6, 16, 0),           // r5 = ctx->fd (its u64 slot)
        insn(STX_W, 10, 5, -4, 0),           // rec.fd = r5
        insn(LDX_DW, 1, 6, 0, 0),            // r1 = ctx->meta
        insn(LDX_DW, 1, 1, l.meta_seq, 0),   // r1 = meta->seq
        insn(MOV_X, 2, 10, 0, 0),            // r2 = rec
        insn(ADD_K, 2, 0, 0, -(RECORD as i32)),
        insn(MOV_K, 3, 0, 0, RECORD as i32), // r3 = sizeof rec
        insn(CALL, 0, 0, 0, BPF_FUNC_SEQ_WRITE),
    ];
    let out = p.len();
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    for (at, i) in p.iter_mut().enumerate() {
        if matches!(i.code, JEQ_K | JNE_K | JNE_X) {
            i.off = (out - at - 1) as i16;
        }
    }
    p
}

/// Loads the iterator program, attached to `attach_id`.
fn load_program(insns: &[Insn], attach_id: u32) -> io::Result<OwnedFd> {
    let to = AttachTo {
        expected_type: BPF_TRACE_ITER,
        btf_id: attach_id,
    };
    load_tracing_program(insns, "tcpstat_fds", to)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_appended_and_a_partial_tail_is_dropped() {
        let mut bytes = Vec::new();
        for (inode, tgid, fd) in [(42u64, 7u32, 3u32), (u64::MAX, 4_194_304, 1 << 20)] {
            bytes.extend_from_slice(&inode.to_ne_bytes());
            bytes.extend_from_slice(&tgid.to_ne_bytes());
            bytes.extend_from_slice(&fd.to_ne_bytes());
        }
        bytes.extend_from_slice(&[1, 2, 3]);
        let parsed = |bytes: &[u8]| {
            let mut records = vec![(1, 2, 3)];
            parse_records(bytes, &mut records);
            records
        };
        assert_eq!(
            parsed(&bytes),
            [(1, 2, 3), (7, 42, 3), (4_194_304, u64::MAX, 1 << 20)]
        );
        assert_eq!(parsed(&[]), [(1, 2, 3)]);
        assert_eq!(parsed(&[0; 15]), [(1, 2, 3)]);
    }

    #[test]
    fn every_jump_lands_on_the_return() {
        let l = Layout {
            attach_id: 1,
            meta_seq: 0,
            file_inode: 40,
            inode_mode: 0,
            inode_ino: 64,
            task_tgid: 1000,
            task_pid: 996,
        };
        let p = program(&l);
        assert_eq!(p.len(), 26);
        // (index, offset): each lands on instruction 24, `r0 = 0`.
        let jumps: Vec<(usize, i16)> = p
            .iter()
            .enumerate()
            .filter(|(_, i)| i.code & 0x07 == 0x05 && i.code != CALL && i.code != EXIT)
            .map(|(at, i)| (at, i.off))
            .collect();
        assert_eq!(jumps, [(2, 21), (5, 18), (7, 16), (9, 14), (12, 11)]);
        assert_eq!((p[24].code, p[24].imm), (MOV_K, 0));
        assert_eq!(p[25].code, EXIT);
        // Registers: `if r5 != r7`, dst in the low nibble here.
        if cfg!(target_endian = "little") {
            assert_eq!(p[5].regs, 0x75);
        }
    }
}
