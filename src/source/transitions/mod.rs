//! Exact mode's source: every TCP state change, from the kernel, as it
//! happens.
//!
//! Why this mechanism: a BPF program is the only way to hear each change
//! (the `sock:inet_sock_set_state` tracepoint fires inside the kernel's
//! `tcp_set_state`), and the project already loads one: `owners::bpf`
//! assembles a task-file iterator from a few instructions with offsets
//! read from the running kernel's BTF. A fresh machine has no clang and no
//! bpf-linker, so the programs here are assembled the same way
//! ([`program`]): no build step, no object file, nothing compiled against
//! one kernel's layout. They are BTF-typed (`tp_btf` and `fentry`), so
//! they attach without tracefs, and the socket is read through typed
//! pointers the verifier checks.
//!
//! Records come through a BPF ring buffer (one for all CPUs, so that one
//! socket's changes arrive in the order the kernel made them), mapped as
//! libbpf maps it ([`crate::sys::bpf::RingMemory`]); the map's descriptor
//! polls readable when records are waiting. A record the ring has no room
//! for is counted in a second map and reported by [`StateChanges::lost`],
//! never silently dropped.

pub mod program;
pub mod record;

use crate::model::event::Transition;
use crate::owners::btf::Btf;
use crate::sys::bpf::{
    bpf_fd, load_tracing_program, map_create, map_lookup_u64, AttachTo, Attr, RingMemory,
    BPF_RAW_TRACEPOINT_OPEN,
};
use program::{Layout, Target};
use record::Origin;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

// include/uapi/linux/bpf.h
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_RINGBUF: u32 = 27;
const BPF_TRACE_RAW_TP: u32 = 23;
const BPF_TRACE_FENTRY: u32 = 24;
const RINGBUF_BUSY_BIT: u32 = 1 << 31;
const RINGBUF_DISCARD_BIT: u32 = 1 << 30;
const RINGBUF_HDR_SZ: u64 = 8;

/// Bytes of ring: 2 MiB holds 26,000 records (80 bytes each with their
/// header), 26 s of changes at 1,000 a second should the reader stall.
pub const RING_BYTES: usize = 2 << 20;

/// The loaded and attached programs and their ring.
pub struct StateChanges {
    ring: RingMemory,
    ring_map: OwnedFd,
    lost_map: OwnedFd,
    /// Whether `tcp_time_wait` is traced (TIME_WAIT entries are seen).
    time_wait: bool,
    /// Attachments, then programs: dropping them detaches.
    _links: Vec<OwnedFd>,
    _progs: Vec<OwnedFd>,
    record: Vec<u8>,
}

/// What one [`StateChanges::drain`] read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Records turned into transitions.
    pub read: usize,
    /// Records that could not be parsed (counted, not shown).
    pub malformed: usize,
}

impl StateChanges {
    /// Loads and attaches the programs for the running kernel, keeping
    /// only sockets of the network namespace with inode `netns`, or those
    /// of every namespace (`None`: each record carries its namespace).
    pub fn load(netns: Option<u32>) -> io::Result<StateChanges> {
        let file = std::fs::File::open("/sys/kernel/btf/vmlinux")?;
        let btf = Btf::open(file, program::WANTED).map_err(io::Error::other)?;
        let layout = Layout::of(&btf)?;
        let ring_map = map_create(
            BPF_MAP_TYPE_RINGBUF,
            0,
            0,
            RING_BYTES as u32,
            "tcpstat_ring",
        )?;
        let lost_map = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 1, "tcpstat_lost")?;
        let target = |origin| Target {
            origin,
            netns,
            ring_fd: ring_map.as_raw_fd(),
            lost_fd: lost_map.as_raw_fd(),
        };
        let to = AttachTo {
            expected_type: BPF_TRACE_RAW_TP,
            btf_id: layout.tracepoint_id,
        };
        let insns = program::program(&layout, target(Origin::Tracepoint));
        let prog = load_tracing_program(&insns, "tcpstat_state", to)?;
        let mut links = vec![attach(&prog)?];
        let mut progs = vec![prog];
        // TIME_WAIT entries: without them the changes are still exact,
        // only the timewait socket's arrival is not seen.
        let time_wait = layout.time_wait_id.and_then(|btf_id| {
            let to = AttachTo {
                expected_type: BPF_TRACE_FENTRY,
                btf_id,
            };
            let insns = program::program(&layout, target(Origin::TimeWait));
            let prog = load_tracing_program(&insns, "tcpstat_tw", to).ok()?;
            let link = attach(&prog).ok()?;
            Some((prog, link))
        });
        let covers = time_wait.is_some();
        if let Some((prog, link)) = time_wait {
            progs.push(prog);
            links.push(link);
        }
        let ring = RingMemory::map(ring_map.as_raw_fd(), RING_BYTES)?;
        Ok(StateChanges {
            ring,
            ring_map,
            lost_map,
            time_wait: covers,
            _links: links,
            _progs: progs,
            record: vec![0; record::LEN],
        })
    }

    /// The descriptor that polls readable when records are waiting.
    pub fn fd(&self) -> RawFd {
        self.ring_map.as_raw_fd()
    }

    /// Whether TIME_WAIT entries are reported (`tcp_time_wait` traced).
    pub fn covers_time_wait(&self) -> bool {
        self.time_wait
    }

    /// Records the ring had no room for, since loading.
    pub fn lost(&self) -> io::Result<u64> {
        map_lookup_u64(&self.lost_map, 0)
    }

    /// Appends what is waiting to `out`, at most `limit` transitions.
    pub fn drain(&mut self, out: &mut Vec<Transition>, limit: usize) -> io::Result<Drained> {
        let mut drained = Drained::default();
        let mut cons = self.ring.consumer_pos();
        let size = self.ring.size() as u64;
        while drained.read < limit {
            let prod = self.ring.producer_pos();
            if cons >= prod {
                break;
            }
            let word = self.ring.header_len(cons);
            if word & RINGBUF_BUSY_BIT != 0 {
                break; // reserved, not yet committed
            }
            let len = u64::from(word & !(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT));
            let total = (len + RINGBUF_HDR_SZ + 7) & !7;
            if total > size || cons + total > prod {
                return Err(io::Error::other(format!(
                    "ring buffer record of {len} bytes at {cons}, {prod} written"
                )));
            }
            if word & RINGBUF_DISCARD_BIT == 0 {
                self.take(cons + RINGBUF_HDR_SZ, len as usize, out, &mut drained);
            }
            cons += total;
            self.ring.set_consumer_pos(cons);
        }
        Ok(drained)
    }

    /// Parses the record of `len` bytes at ring position `at`.
    fn take(&mut self, at: u64, len: usize, out: &mut Vec<Transition>, drained: &mut Drained) {
        if len != record::LEN || !self.ring.copy(at, &mut self.record) {
            drained.malformed += 1;
            return;
        }
        match record::parse(&self.record) {
            Ok(t) => {
                out.push(t);
                drained.read += 1;
            }
            Err(_) => drained.malformed += 1,
        }
    }
}

/// `BPF_RAW_TRACEPOINT_OPEN` with no name: a BTF-typed program attaches
/// where its `attach_btf_id` says (tracepoint or function entry).
fn attach(prog: &OwnedFd) -> io::Result<OwnedFd> {
    let mut attr = Attr::new();
    attr.put_u32(8, prog.as_raw_fd() as u32); // raw_tracepoint.prog_fd
    bpf_fd(BPF_RAW_TRACEPOINT_OPEN, &mut attr)
}

/// The inode of this thread's network namespace: what `load` filters on,
/// after `-N` has entered the namespace asked for.
pub fn current_netns() -> io::Result<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata("/proc/thread-self/ns/net")?.ino();
    u32::try_from(ino).map_err(|_| io::Error::other("namespace inode beyond 32 bits"))
}
