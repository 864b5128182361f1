//! What the kernel tells about the inside of a connection: `struct tcp_info`
//! and the attributes sent beside it (`-i`), and the socket's memory
//! (`-m`). Units are the kernel's: microseconds for times the kernel keeps
//! in µs, milliseconds for the `last_*` ages, bytes per second for rates.
//!
//! A field the kernel's struct did not reach (older kernels send shorter
//! ones) is `None`: absent is not zero.

/// `tcpi_options` bits (`include/uapi/linux/tcp.h`).
pub mod option {
    /// Timestamps negotiated.
    pub const TIMESTAMPS: u8 = 1;
    /// SACK negotiated.
    pub const SACK: u8 = 2;
    /// Window scaling negotiated.
    pub const WSCALE: u8 = 4;
    /// ECN negotiated.
    pub const ECN: u8 = 8;
    /// An ECN-marked segment was received.
    pub const ECN_SEEN: u8 = 16;
    /// The SYN carried data (TCP Fast Open).
    pub const SYN_DATA: u8 = 32;
    /// Microsecond timestamps negotiated.
    pub const USEC_TS: u8 = 64;
}

/// `struct tcp_info`, with the congestion control attributes beside it.
///
/// The first block (up to `total_retrans`) is the 104-byte struct every
/// kernel with inet_diag sends; a shorter one leaves the whole info absent.
/// Later fields are `None` when the kernel's struct ends before them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// `tcpi_ca_state`: open, disorder, CWR, recovery, loss (0–4).
    pub ca_state: u8,
    /// Exponential backoff of the retransmit timer.
    pub backoff: u8,
    /// `tcpi_options`, see [`option`].
    pub options: u8,
    /// Send window scale (valid with [`option::WSCALE`]).
    pub snd_wscale: u8,
    /// Receive window scale (valid with [`option::WSCALE`]).
    pub rcv_wscale: u8,
    /// The last delivery rate sample was limited by the application.
    pub app_limited: bool,
    /// Retransmission timeout, µs.
    pub rto_us: u32,
    /// Delayed ACK timeout, µs.
    pub ato_us: u32,
    /// Send MSS.
    pub snd_mss: u32,
    /// Receive MSS estimate.
    pub rcv_mss: u32,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Segments selectively acknowledged.
    pub sacked: u32,
    /// Segments thought lost.
    pub lost: u32,
    /// Segments retransmitted and not yet acknowledged.
    pub retrans: u32,
    /// Forward-acknowledged segments (0 on modern kernels).
    pub fackets: u32,
    /// Since data was last sent, ms.
    pub last_data_sent_ms: u32,
    /// Since data was last received, ms.
    pub last_data_recv_ms: u32,
    /// Since an ACK was last received, ms.
    pub last_ack_recv_ms: u32,
    /// Path MTU.
    pub pmtu: u32,
    /// Receive slow-start threshold (window clamp while growing).
    pub rcv_ssthresh: u32,
    /// Smoothed round-trip time, µs.
    pub rtt_us: u32,
    /// Round-trip time variation, µs.
    pub rttvar_us: u32,
    /// Slow-start threshold, segments (≥ 0xFFFF: not set yet).
    pub snd_ssthresh: u32,
    /// Congestion window, segments.
    pub snd_cwnd: u32,
    /// Advertised MSS.
    pub advmss: u32,
    /// Reordering tolerance, segments.
    pub reordering: u32,
    /// Receiver-side RTT estimate, µs.
    pub rcv_rtt_us: u32,
    /// Receive buffer space being auto-tuned to.
    pub rcv_space: u32,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    /// Pacing rate, bytes/s (`u64::MAX`: unlimited).
    pub pacing_rate: Option<u64>,
    /// Largest pacing rate allowed (SO_MAX_PACING_RATE), bytes/s.
    pub max_pacing_rate: Option<u64>,
    /// Bytes acknowledged by the peer.
    pub bytes_acked: Option<u64>,
    /// Bytes received.
    pub bytes_received: Option<u64>,
    /// Segments sent, including pure ACKs and retransmissions.
    pub segs_out: Option<u32>,
    /// Segments received.
    pub segs_in: Option<u32>,
    /// Bytes written but not yet sent.
    pub notsent_bytes: Option<u32>,
    /// Lowest RTT seen, µs (`u32::MAX`: none yet).
    pub min_rtt_us: Option<u32>,
    /// Segments received carrying data.
    pub data_segs_in: Option<u32>,
    /// Segments sent carrying data.
    pub data_segs_out: Option<u32>,
    /// Latest delivery rate sample, bytes/s.
    pub delivery_rate: Option<u64>,
    /// Time with data in flight, µs.
    pub busy_time_us: Option<u64>,
    /// Time limited by the peer's receive window, µs.
    pub rwnd_limited_us: Option<u64>,
    /// Time limited by the send buffer, µs.
    pub sndbuf_limited_us: Option<u64>,
    /// Segments delivered (acknowledged, SACKed or marked lost-then-acked).
    pub delivered: Option<u32>,
    /// Delivered segments that carried an ECN CE mark.
    pub delivered_ce: Option<u32>,
    /// Bytes sent, retransmissions included.
    pub bytes_sent: Option<u64>,
    /// Bytes retransmitted.
    pub bytes_retrans: Option<u64>,
    /// Duplicate SACKs received.
    pub dsack_dups: Option<u32>,
    /// Reorderings seen.
    pub reord_seen: Option<u32>,
    /// Out-of-order packets received.
    pub rcv_ooopack: Option<u32>,
    /// The peer's advertised window, bytes.
    pub snd_wnd: Option<u32>,
    /// Our advertised window, bytes.
    pub rcv_wnd: Option<u32>,
    /// Times the flow was rehashed (PLB or timeouts).
    pub rehash: Option<u32>,
    /// The congestion control algorithm (INET_DIAG_CONG).
    pub congestion: Option<Box<str>>,
    /// IPv4 TOS byte (INET_DIAG_TOS).
    pub tos: Option<u8>,
    /// IPv6 traffic class (INET_DIAG_TCLASS).
    pub tclass: Option<u8>,
    /// Vegas's RTT view (INET_DIAG_VEGASINFO), when the algorithm sends it.
    pub vegas: Option<VegasInfo>,
    /// BBR's model (INET_DIAG_BBRINFO), when the algorithm is BBR.
    pub bbr: Option<BbrInfo>,
    /// How the counters moved since the previous pass of `-c` or
    /// `--events` (set by watch mode, never by a source); `None` on a
    /// first pass, or when the previous pass did not see this socket.
    /// Boxed: a one-shot listing of 100k rows never fills it.
    pub rates: Option<Box<Rates>>,
}

/// How a connection's counters moved between two passes: the increase of
/// each over `interval_us`. A counter missing from either pass, or lower
/// than before (it can only grow on one socket: a lower value is another
/// socket, or a 32-bit counter that wrapped), has no delta.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    /// Time between the two passes, µs (never 0).
    pub interval_us: u64,
    /// Increase of `bytes_acked`: bytes the peer acknowledged.
    pub acked_bytes: Option<u64>,
    /// Increase of `bytes_received`.
    pub received_bytes: Option<u64>,
    /// Increase of `segs_out`.
    pub segs_out: Option<u64>,
    /// Increase of `segs_in`.
    pub segs_in: Option<u64>,
    /// Increase of `total_retrans` (segments retransmitted).
    pub retrans: Option<u64>,
}

impl Rates {
    /// `delta` per second over this interval.
    pub fn per_sec(&self, delta: Option<u64>) -> Option<f64> {
        delta.map(|d| d as f64 * 1e6 / self.interval_us.max(1) as f64)
    }

    /// Bytes acknowledged per second (what the table calls `Send/s`).
    pub fn acked_per_sec(&self) -> Option<f64> {
        self.per_sec(self.acked_bytes)
    }

    /// Bytes received per second (`Recv/s`).
    pub fn received_per_sec(&self) -> Option<f64> {
        self.per_sec(self.received_bytes)
    }

    /// Segments retransmitted per second (`Retr/s`).
    pub fn retrans_per_sec(&self) -> Option<f64> {
        self.per_sec(self.retrans)
    }
}

/// `struct tcpvegas_info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VegasInfo {
    /// Vegas is active on the socket.
    pub enabled: bool,
    /// RTT samples taken.
    pub rtt_count: u32,
    /// Base RTT, µs.
    pub rtt_us: u32,
    /// Minimum RTT of the last round, µs.
    pub min_rtt_us: u32,
}

/// `struct tcp_bbr_info`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BbrInfo {
    /// Estimated bottleneck bandwidth, bytes/s.
    pub bw: u64,
    /// Minimum RTT, µs.
    pub min_rtt_us: u32,
    /// Pacing gain, ×256.
    pub pacing_gain: u32,
    /// Congestion window gain, ×256.
    pub cwnd_gain: u32,
}

impl TcpInfo {
    /// True when the option bit `bit` (see [`option`]) is set.
    pub fn has(&self, bit: u8) -> bool {
        self.options & bit != 0
    }

    /// The slow-start threshold once set (the kernel starts it "infinite").
    pub fn ssthresh(&self) -> Option<u32> {
        (self.snd_ssthresh < 0xFFFF).then_some(self.snd_ssthresh)
    }

    /// The RTO, unless it is the 3 s initial value of a socket with no
    /// RTT sample (ss leaves that out too).
    pub fn rto(&self) -> Option<u32> {
        (self.rto_us != 0 && self.rto_us != 3_000_000).then_some(self.rto_us)
    }

    /// The lowest RTT seen, once there is one.
    pub fn min_rtt(&self) -> Option<u32> {
        self.min_rtt_us.filter(|&r| r != 0 && r != u32::MAX)
    }

    /// The pacing rate when it is a limit (not `u64::MAX` nor 0).
    pub fn pacing(&self) -> Option<u64> {
        self.pacing_rate.filter(|&r| r != 0 && r != u64::MAX)
    }

    /// The pacing cap set by SO_MAX_PACING_RATE, if any.
    pub fn max_pacing(&self) -> Option<u64> {
        self.max_pacing_rate.filter(|&r| r != 0 && r != u64::MAX)
    }

    /// What the window allows sending, bits/s: cwnd × mss / rtt (ss's
    /// `send`), using Vegas's RTT when it has one.
    pub fn send_rate_bps(&self) -> Option<f64> {
        let rtt = match self.vegas {
            Some(v) if v.enabled && v.rtt_us != 0 && v.rtt_us != 0x7fff_ffff => v.rtt_us,
            _ => self.rtt_us,
        };
        if rtt == 0 || self.snd_mss == 0 || self.snd_cwnd == 0 {
            return None;
        }
        Some(f64::from(self.snd_cwnd) * f64::from(self.snd_mss) * 8_000_000.0 / f64::from(rtt))
    }
}

/// `INET_DIAG_SKMEMINFO`: the socket's memory, bytes (`SK_MEMINFO_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkMem {
    /// Receive queue memory in use.
    pub rmem_alloc: u32,
    /// SO_RCVBUF.
    pub rcvbuf: u32,
    /// Send memory in flight below the socket (qdisc, driver).
    pub wmem_alloc: u32,
    /// SO_SNDBUF.
    pub sndbuf: u32,
    /// Memory reserved ahead of use.
    pub fwd_alloc: u32,
    /// Send queue memory, sent and not.
    pub wmem_queued: u32,
    /// Option memory (socket filters, ancillary data).
    pub optmem: u32,
    /// Backlog queue (`None` when the kernel's array ends before it).
    pub backlog: Option<u32>,
    /// Packets dropped before reaching the socket (`None` when not sent).
    pub drops: Option<u32>,
}
