//! A dump's datagrams received on a thread of their own. Most of a dump's
//! time is the kernel's: it walks its tables and fills the next datagram
//! inside each `recv`. Receiving on a second thread lets the dump's own
//! thread parse, filter and write the datagram before meanwhile, so that
//! a listing takes about the kernel's time alone. A small dump (up to
//! [`INLINE`] datagrams) is received on the dump's thread: a thread and
//! its wake-ups would cost it more than they hide.
//!
//! The receiving thread stops after the datagram that ends the dump as
//! the dump's thread reads it (the same walk of the headers, [`super::
//! headers_progress`]), after an error, or when the dump's thread stops
//! taking datagrams; it never waits in `recv` for a datagram that will not
//! come, since the kernel fills the next one before each `recv` returns
//! until the dump is done. Datagrams go over [`BATCH`] at a time, and
//! buffers come back to the receiving thread to be refilled: a dump holds
//! at most ([`DEPTH`] + 2) × [`BATCH`] of them.
//!
//! A dump split in two ([`each_datagram_of_two`]) has a receiving thread
//! for each half, handing over on one channel of twice the depth.

use std::io;
use std::sync::mpsc::{self, Receiver, SyncSender};

use netlink_sys::Socket as NetlinkSocket;

use super::{headers_progress, Expect, Progress};

/// Hand-overs received but not yet taken: enough that the receiving
/// thread rarely waits.
const DEPTH: usize = 2;

/// Datagrams (about 32 KiB each) handed over at once: each hand-over can
/// cost both threads a futex call and a wake-up, which per datagram came
/// to a fifth of a large dump's system time.
const BATCH: usize = 8;

/// Datagrams received on the dump's own thread before the rest go to a
/// receiving thread: a few hundred sockets.
const INLINE: usize = 4;

/// One datagram as received.
pub(super) struct Datagram {
    /// Its real length: more than `bytes` holds when it was truncated.
    pub len: usize,
    /// Sent by the kernel (port 0), not by another process.
    pub from_kernel: bool,
    /// What the buffer took of it.
    pub bytes: Vec<u8>,
}

/// Buffers for a dump's datagrams, kept across its walks and restarts.
pub(super) struct Buffers {
    /// The capacity each buffer is made with.
    pub len: usize,
    /// Buffers to reuse.
    pub spare: Vec<Vec<u8>>,
}

impl Buffers {
    pub fn new(len: usize) -> Buffers {
        Buffers {
            len,
            spare: Vec::new(),
        }
    }

    /// Makes later buffers hold `len` bytes; those kept are too small.
    pub fn grow(&mut self, len: usize) {
        self.len = len;
        self.spare.clear();
    }
}

/// Receives the datagrams of the dump requested on `sock`, the first
/// [`INLINE`] on this thread and the rest on a second, and hands each to
/// `take`, in order, on this one, until `take` returns something (which
/// it does at the datagram that ends the dump). Each datagram's buffer
/// goes back for reuse after `take`. `take` sees `Err` for a failed
/// `recv` (receiving has stopped then).
pub(super) fn each_datagram<T>(
    sock: &NetlinkSocket,
    expect: Expect,
    buffers: &mut Buffers,
    mut take: impl FnMut(io::Result<&Datagram>) -> Option<T>,
) -> Option<T> {
    for _ in 0..INLINE {
        let bytes = buffers
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(buffers.len));
        let (got, last) = receive_one(sock, expect, bytes);
        let taken = match got {
            Ok(datagram) => {
                let taken = take(Ok(&datagram));
                buffers.spare.push(datagram.bytes);
                taken
            }
            Err(e) => take(Err(e)),
        };
        if taken.is_some() || last {
            return taken;
        }
    }
    let (full, received) = mpsc::sync_channel(DEPTH);
    let (free, refill) = mpsc::channel();
    for spare in buffers.spare.drain(..) {
        let _ = free.send(spare);
    }
    let len = buffers.len;
    let (taken, refill) = std::thread::scope(|scope| {
        let receiver = scope
            .spawn(move || receive(sock, expect, len, refill, |batch| full.send(batch).is_ok()));
        let mut taken = None;
        // Ends when the receiving thread stops, having sent its last.
        'batches: while let Ok(batch) = received.recv() {
            for got in batch {
                let (result, bytes) = match got {
                    Ok(datagram) => (take(Ok(&datagram)), Some(datagram.bytes)),
                    Err(e) => (take(Err(e)), None),
                };
                if let Some(bytes) = bytes {
                    let _ = free.send(bytes);
                }
                if result.is_some() {
                    taken = result;
                    break 'batches;
                }
            }
        }
        // Its next hand-over fails, if it has not stopped already.
        drop(received);
        match receiver.join() {
            Ok(refill) => (taken, refill),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    buffers.spare.extend(refill.try_iter());
    taken
}

/// A receiving thread: receives datagrams into `len`-byte buffers (those
/// that come back, or new ones) and hands them over, [`BATCH`] at a
/// time, until the dump ends, fails, or `hand` says nobody takes them.
/// Returns the buffers that came back.
fn receive(
    sock: &NetlinkSocket,
    expect: Expect,
    len: usize,
    refill: Receiver<Vec<u8>>,
    mut hand: impl FnMut(Vec<io::Result<Datagram>>) -> bool,
) -> Receiver<Vec<u8>> {
    loop {
        let (batch, last) = receive_batch(sock, expect, len, &refill);
        if !hand(batch) || last {
            return refill;
        }
    }
}

/// Receives up to [`BATCH`] datagrams into buffers from `refill` (or new
/// ones of `len` bytes); true when no more should be received after them.
fn receive_batch(
    sock: &NetlinkSocket,
    expect: Expect,
    len: usize,
    refill: &Receiver<Vec<u8>>,
) -> (Vec<io::Result<Datagram>>, bool) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut last = false;
    while batch.len() < BATCH && !last {
        let bytes = refill
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(len));
        let got;
        (got, last) = receive_one(sock, expect, bytes);
        batch.push(got);
    }
    (batch, last)
}

/// Receives one datagram into `bytes`; true when no more should be
/// received after it: it ends the dump as [`super::walk_datagram`] reads
/// it, or it cannot be read (an error, empty, truncated).
fn receive_one(
    sock: &NetlinkSocket,
    expect: Expect,
    mut bytes: Vec<u8>,
) -> (io::Result<Datagram>, bool) {
    bytes.clear();
    let (len, from) = loop {
        // MSG_TRUNC makes netlink return the datagram's real length.
        match sock.recv_from(&mut bytes, libc::MSG_TRUNC) {
            Ok(got) => break got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return (Err(e), true),
        }
    };
    let from_kernel = from.port_number() == 0;
    let last = len == 0
        || len > bytes.len()
        || (from_kernel && !matches!(headers_progress(&bytes, expect), Ok(Progress::More)));
    let datagram = Datagram {
        len,
        from_kernel,
        bytes,
    };
    (Ok(datagram), last)
}

/// What [`each_datagram_of_two`]'s `take` says after a datagram.
pub(super) enum Flow<T> {
    /// Go on.
    More,
    /// Go on, and start the second dump if it is not started yet.
    StartSecond,
    /// Stop both dumps: this is the outcome.
    Stop(T),
}

/// Receives two dumps at once, each on a thread of its own, and hands
/// each datagram to `take` on this one with the number of its dump (0 or
/// 1), in the order they arrive. The first dump's request must have been
/// sent; the second's is sent (by `start_second`, on its thread) at once
/// with `start_now`, else when `take` first says [`Flow::StartSecond`],
/// so that it can wait for the first to be past what must come first.
/// Ends when `take` stops it, or with `None` when both receiving threads
/// stopped without it. Each receiving thread stops after its dump's last
/// datagram, as in [`each_datagram`].
pub(super) fn each_datagram_of_two<T>(
    socks: [(&NetlinkSocket, Expect); 2],
    start_second: impl FnOnce() -> io::Result<()> + Send,
    start_now: bool,
    buffers: &mut Buffers,
    mut take: impl FnMut(usize, io::Result<&Datagram>) -> Flow<T>,
) -> Option<T> {
    // Room for both threads' hand-overs.
    let (full, received) = mpsc::sync_channel(2 * DEPTH);
    let (free_first, refill_first) = mpsc::channel();
    let (free_second, refill_second) = mpsc::channel();
    let (open, gate) = mpsc::channel::<()>();
    let half = buffers.spare.len() / 2;
    for (i, spare) in buffers.spare.drain(..).enumerate() {
        let _ = if i < half { &free_second } else { &free_first }.send(spare);
    }
    let free = [free_first, free_second];
    let len = buffers.len;
    let (taken, refills) = std::thread::scope(|scope| {
        let [(first, first_expect), (second, second_expect)] = socks;
        let full_second = full.clone();
        let receivers = [
            scope.spawn(move || {
                let tagged = Tagged { tag: 0, full };
                receive(first, first_expect, len, refill_first, |b| tagged.hand(b))
            }),
            scope.spawn(move || {
                let tagged = Tagged {
                    tag: 1,
                    full: full_second,
                };
                // Never opened when the first dump stops everything.
                if gate.recv().is_ok() {
                    if let Err(e) = start_second() {
                        let _ = tagged.full.send((1, vec![Err(e)]));
                        return refill_second;
                    }
                    return receive(second, second_expect, len, refill_second, |b| {
                        tagged.hand(b)
                    });
                }
                refill_second
            }),
        ];
        let mut open = Some(open);
        if start_now {
            let _ = open.take().map(|open| open.send(()));
        }
        let mut taken = None;
        // Ends when both receiving threads stop, having sent their last.
        'batches: while let Ok((tag, batch)) = received.recv() {
            for got in batch {
                let (flow, bytes) = match got {
                    Ok(datagram) => (take(tag, Ok(&datagram)), Some(datagram.bytes)),
                    Err(e) => (take(tag, Err(e)), None),
                };
                if let Some(bytes) = bytes {
                    let _ = free[tag].send(bytes);
                }
                match flow {
                    Flow::More => {}
                    Flow::StartSecond => {
                        if let Some(open) = open.take() {
                            let _ = open.send(());
                        }
                    }
                    Flow::Stop(result) => {
                        taken = Some(result);
                        break 'batches;
                    }
                }
            }
        }
        // An unopened gate lets the second thread go; hand-overs fail.
        drop(open);
        drop(received);
        let refills = receivers.map(|r| match r.join() {
            Ok(refill) => refill,
            Err(panic) => std::panic::resume_unwind(panic),
        });
        (taken, refills)
    });
    for refill in refills {
        buffers.spare.extend(refill.try_iter());
    }
    taken
}

/// A receiving thread's side of a channel shared by two.
struct Tagged {
    tag: usize,
    full: SyncSender<(usize, Vec<io::Result<Datagram>>)>,
}

impl Tagged {
    /// Hands a batch over with its tag; false when nobody takes it.
    fn hand(&self, batch: Vec<io::Result<Datagram>>) -> bool {
        self.full.send((self.tag, batch)).is_ok()
    }
}

impl Drop for Tagged {
    /// A thread that panics says so on the channel: the other thread may
    /// be waiting to be started, and the taking thread with it, until a
    /// datagram says what to do.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let failed = io::Error::other("the receiving thread failed");
            let _ = self.full.send((self.tag, vec![Err(failed)]));
        }
    }
}
