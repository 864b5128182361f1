//! The `info` (`-i`) and `memory` (`-m`) objects of a socket: `tcp_info`
//! and `SK_MEMINFO_*` with units in the key names (`_us`, `_ms`, `_bps`
//! for bits per second, `_bytes`); a key whose field the kernel did not
//! send is absent, never 0.

use crate::model::info::{option, BbrInfo, Rates, SkMem, TcpInfo, VegasInfo};
use serde::Serialize;

/// `struct tcp_info` and its companions. Keys follow the kernel's names.
#[derive(Debug, Serialize)]
pub struct JsonTcpInfo {
    /// The congestion control algorithm, e.g. `cubic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub congestion: Option<Box<str>>,
    /// 0 open, 1 disorder, 2 CWR, 3 recovery, 4 loss.
    pub ca_state: u8,
    /// Options negotiated on the connection.
    pub options: JsonTcpOptions,
    /// Send window scale; absent without window scaling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_wscale: Option<u8>,
    /// Receive window scale; absent without window scaling.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_wscale: Option<u8>,
    pub rto_us: u32,
    pub backoff: u8,
    pub ato_us: u32,
    pub rtt_us: u32,
    pub rttvar_us: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub advmss: u32,
    pub pmtu: u32,
    pub snd_cwnd: u32,
    /// Absent while "infinite" (the kernel's initial ≥ 0xFFFF).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_ssthresh: Option<u32>,
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    /// Segments retransmitted and not yet acknowledged.
    pub retrans: u32,
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    pub fackets: u32,
    pub reordering: u32,
    pub last_data_sent_ms: u32,
    pub last_data_recv_ms: u32,
    pub last_ack_recv_ms: u32,
    pub rcv_rtt_us: u32,
    pub rcv_space: u32,
    pub rcv_ssthresh: u32,
    /// cwnd × mss / rtt, as ss's `send`; absent without an RTT.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_rate_bps: Option<u64>,
    /// The last delivery rate sample was application-limited.
    pub app_limited: bool,
    /// Absent when unlimited (the kernel's `~0`) or not sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pacing_rate_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pacing_rate_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_acked: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_received: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_out: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_in: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notsent_bytes: Option<u32>,
    /// Absent until there is an RTT sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_rtt_us: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_segs_in: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_segs_out: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivery_rate_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub busy_time_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rwnd_limited_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sndbuf_limited_us: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_ce: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_sent: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes_retrans: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dsack_dups: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reord_seen: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_ooopack: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snd_wnd: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcv_wnd: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rehash: Option<u32>,
    /// IPv4 TOS byte.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos: Option<u8>,
    /// IPv6 traffic class.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tclass: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bbr: Option<JsonBbr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vegas: Option<JsonVegas>,
    /// With -c or --events, from the second pass that lists the socket:
    /// how its counters moved since the previous pass.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rates: Option<JsonRates>,
}

/// Per-second rates between two passes; a key whose counter the kernel
/// did not send in both passes, or that went backwards, is absent.
#[derive(Debug, Serialize)]
pub struct JsonRates {
    /// Time between the two passes.
    pub interval_us: u64,
    /// Bytes acknowledged by the peer, as bits per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acked_bps: Option<u64>,
    /// Bytes received, as bits per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_bps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_out_per_sec: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segs_in_per_sec: Option<f64>,
    /// Segments retransmitted per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrans_per_sec: Option<f64>,
}

impl From<&Rates> for JsonRates {
    fn from(r: &Rates) -> Self {
        let bits = |bytes: Option<f64>| bytes.map(|b| (b * 8.0).round() as u64);
        JsonRates {
            interval_us: r.interval_us,
            acked_bps: bits(r.acked_per_sec()),
            received_bps: bits(r.received_per_sec()),
            segs_out_per_sec: r.per_sec(r.segs_out),
            segs_in_per_sec: r.per_sec(r.segs_in),
            retrans_per_sec: r.retrans_per_sec(),
        }
    }
}

/// `tcpi_options` as booleans.
#[derive(Debug, Serialize)]
pub struct JsonTcpOptions {
    pub timestamps: bool,
    pub sack: bool,
    pub wscale: bool,
    pub ecn: bool,
    pub ecn_seen: bool,
    pub syn_data: bool,
    pub usec_ts: bool,
}

/// BBR's model.
#[derive(Debug, Serialize)]
pub struct JsonBbr {
    pub bw_bps: u64,
    pub min_rtt_us: u32,
    /// ×256, as the kernel keeps it.
    pub pacing_gain: u32,
    /// ×256, as the kernel keeps it.
    pub cwnd_gain: u32,
}

/// Vegas's RTT view.
#[derive(Debug, Serialize)]
pub struct JsonVegas {
    pub enabled: bool,
    pub rtt_count: u32,
    pub rtt_us: u32,
    pub min_rtt_us: u32,
}

/// `SK_MEMINFO_*`, bytes (drops in packets).
#[derive(Debug, Serialize)]
pub struct JsonSkMem {
    pub rmem_alloc_bytes: u32,
    pub rcvbuf_bytes: u32,
    pub wmem_alloc_bytes: u32,
    pub sndbuf_bytes: u32,
    pub fwd_alloc_bytes: u32,
    pub wmem_queued_bytes: u32,
    pub optmem_bytes: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backlog_bytes: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<u32>,
}

/// Bytes per second to bits per second, saturating.
fn bps(bytes_per_sec: u64) -> u64 {
    bytes_per_sec.saturating_mul(8)
}

impl From<&TcpInfo> for JsonTcpInfo {
    fn from(i: &TcpInfo) -> Self {
        let wscale = i.has(option::WSCALE);
        JsonTcpInfo {
            congestion: i.congestion.clone(),
            ca_state: i.ca_state,
            options: JsonTcpOptions {
                timestamps: i.has(option::TIMESTAMPS),
                sack: i.has(option::SACK),
                wscale,
                ecn: i.has(option::ECN),
                ecn_seen: i.has(option::ECN_SEEN),
                syn_data: i.has(option::SYN_DATA),
                usec_ts: i.has(option::USEC_TS),
            },
            snd_wscale: wscale.then_some(i.snd_wscale),
            rcv_wscale: wscale.then_some(i.rcv_wscale),
            rto_us: i.rto_us,
            backoff: i.backoff,
            ato_us: i.ato_us,
            rtt_us: i.rtt_us,
            rttvar_us: i.rttvar_us,
            snd_mss: i.snd_mss,
            rcv_mss: i.rcv_mss,
            advmss: i.advmss,
            pmtu: i.pmtu,
            snd_cwnd: i.snd_cwnd,
            snd_ssthresh: i.ssthresh(),
            unacked: i.unacked,
            sacked: i.sacked,
            lost: i.lost,
            retrans: i.retrans,
            total_retrans: i.total_retrans,
            fackets: i.fackets,
            reordering: i.reordering,
            last_data_sent_ms: i.last_data_sent_ms,
            last_data_recv_ms: i.last_data_recv_ms,
            last_ack_recv_ms: i.last_ack_recv_ms,
            rcv_rtt_us: i.rcv_rtt_us,
            rcv_space: i.rcv_space,
            rcv_ssthresh: i.rcv_ssthresh,
            send_rate_bps: i.send_rate_bps().map(|r| r.round() as u64),
            app_limited: i.app_limited,
            pacing_rate_bps: i.pacing().map(bps),
            max_pacing_rate_bps: i.max_pacing().map(bps),
            bytes_acked: i.bytes_acked,
            bytes_received: i.bytes_received,
            segs_out: i.segs_out,
            segs_in: i.segs_in,
            notsent_bytes: i.notsent_bytes,
            min_rtt_us: i.min_rtt(),
            data_segs_in: i.data_segs_in,
            data_segs_out: i.data_segs_out,
            delivery_rate_bps: i.delivery_rate.map(bps),
            busy_time_us: i.busy_time_us,
            rwnd_limited_us: i.rwnd_limited_us,
            sndbuf_limited_us: i.sndbuf_limited_us,
            delivered: i.delivered,
            delivered_ce: i.delivered_ce,
            bytes_sent: i.bytes_sent,
            bytes_retrans: i.bytes_retrans,
            dsack_dups: i.dsack_dups,
            reord_seen: i.reord_seen,
            rcv_ooopack: i.rcv_ooopack,
            snd_wnd: i.snd_wnd,
            rcv_wnd: i.rcv_wnd,
            rehash: i.rehash,
            tos: i.tos,
            tclass: i.tclass,
            bbr: i.bbr.as_ref().map(JsonBbr::from),
            vegas: i.vegas.as_ref().map(JsonVegas::from),
            rates: i.rates.as_deref().map(JsonRates::from),
        }
    }
}

impl From<&BbrInfo> for JsonBbr {
    fn from(b: &BbrInfo) -> Self {
        JsonBbr {
            bw_bps: bps(b.bw),
            min_rtt_us: b.min_rtt_us,
            pacing_gain: b.pacing_gain,
            cwnd_gain: b.cwnd_gain,
        }
    }
}

impl From<&VegasInfo> for JsonVegas {
    fn from(v: &VegasInfo) -> Self {
        JsonVegas {
            enabled: v.enabled,
            rtt_count: v.rtt_count,
            rtt_us: v.rtt_us,
            min_rtt_us: v.min_rtt_us,
        }
    }
}

impl From<&SkMem> for JsonSkMem {
    fn from(m: &SkMem) -> Self {
        JsonSkMem {
            rmem_alloc_bytes: m.rmem_alloc,
            rcvbuf_bytes: m.rcvbuf,
            wmem_alloc_bytes: m.wmem_alloc,
            sndbuf_bytes: m.sndbuf,
            fwd_alloc_bytes: m.fwd_alloc,
            wmem_queued_bytes: m.wmem_queued,
            optmem_bytes: m.optmem,
            backlog_bytes: m.backlog,
            drops: m.drops,
        }
    }
}
