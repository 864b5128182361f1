//! Reading `struct tcp_info` (INET_DIAG_INFO), the attributes the
//! congestion control sends beside it (INET_DIAG_CONG, VEGASINFO,
//! BBRINFO), the TOS/traffic class, and `INET_DIAG_SKMEMINFO`.
//!
//! Every struct is read by the length the kernel sent: older kernels send
//! shorter `tcp_info`s and newer ones add fields at the end, so a field is
//! read only when the attribute reaches past its end, and anything beyond
//! what we know is ignored. An attribute too short for its fixed part
//! gives nothing (`None`) rather than zeros.

use crate::model::info::{BbrInfo, SkMem, TcpInfo, VegasInfo};

/// The fixed part every kernel sends (through `tcpi_total_retrans`).
pub(crate) const TCP_INFO_BASE_LEN: usize = 104;
/// `SK_MEMINFO_OPTMEM + 1` u32s: what every kernel with SKMEMINFO sends.
const SKMEM_BASE_LEN: usize = 7 * 4;

/// Little helper over the attribute bytes: reads host-endian integers at
/// fixed offsets, `None` past the end.
#[derive(Clone, Copy)]
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(self, at: usize) -> u8 {
        self.0.get(at).copied().unwrap_or(0)
    }

    fn u32_opt(self, at: usize) -> Option<u32> {
        let b = self.0.get(at..at + 4)?;
        Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64_opt(self, at: usize) -> Option<u64> {
        let b: [u8; 8] = self.0.get(at..at + 8)?.try_into().ok()?;
        Some(u64::from_ne_bytes(b))
    }

    /// A field of the fixed part; callers check the base length first.
    fn u32(self, at: usize) -> u32 {
        self.u32_opt(at).unwrap_or(0)
    }
}

/// `struct tcp_info` from an INET_DIAG_INFO payload of any length; `None`
/// when it is shorter than the fixed part.
pub(crate) fn parse_tcp_info(value: &[u8]) -> Option<TcpInfo> {
    if value.len() < TCP_INFO_BASE_LEN {
        return None;
    }
    let b = Bytes(value);
    let wscale = b.u8(6);
    Some(TcpInfo {
        ca_state: b.u8(1),
        backoff: b.u8(4),
        options: b.u8(5),
        snd_wscale: wscale & 0x0f,
        rcv_wscale: wscale >> 4,
        app_limited: b.u8(7) & 1 != 0,
        rto_us: b.u32(8),
        ato_us: b.u32(12),
        snd_mss: b.u32(16),
        rcv_mss: b.u32(20),
        unacked: b.u32(24),
        sacked: b.u32(28),
        lost: b.u32(32),
        retrans: b.u32(36),
        fackets: b.u32(40),
        last_data_sent_ms: b.u32(44),
        // 48: tcpi_last_ack_sent, never set by Linux.
        last_data_recv_ms: b.u32(52),
        last_ack_recv_ms: b.u32(56),
        pmtu: b.u32(60),
        rcv_ssthresh: b.u32(64),
        rtt_us: b.u32(68),
        rttvar_us: b.u32(72),
        snd_ssthresh: b.u32(76),
        snd_cwnd: b.u32(80),
        advmss: b.u32(84),
        reordering: b.u32(88),
        rcv_rtt_us: b.u32(92),
        rcv_space: b.u32(96),
        total_retrans: b.u32(100),
        pacing_rate: b.u64_opt(104),
        max_pacing_rate: b.u64_opt(112),
        bytes_acked: b.u64_opt(120),
        bytes_received: b.u64_opt(128),
        segs_out: b.u32_opt(136),
        segs_in: b.u32_opt(140),
        notsent_bytes: b.u32_opt(144),
        min_rtt_us: b.u32_opt(148),
        data_segs_in: b.u32_opt(152),
        data_segs_out: b.u32_opt(156),
        delivery_rate: b.u64_opt(160),
        busy_time_us: b.u64_opt(168),
        rwnd_limited_us: b.u64_opt(176),
        sndbuf_limited_us: b.u64_opt(184),
        delivered: b.u32_opt(192),
        delivered_ce: b.u32_opt(196),
        bytes_sent: b.u64_opt(200),
        bytes_retrans: b.u64_opt(208),
        dsack_dups: b.u32_opt(216),
        reord_seen: b.u32_opt(220),
        rcv_ooopack: b.u32_opt(224),
        snd_wnd: b.u32_opt(228),
        rcv_wnd: b.u32_opt(232),
        rehash: b.u32_opt(236),
        ..TcpInfo::default()
    })
}

/// INET_DIAG_CONG: the algorithm's name, NUL-terminated. `None` when it
/// is empty or not UTF-8 (names are kernel module names, ASCII).
pub(crate) fn parse_congestion(value: &[u8]) -> Option<Box<str>> {
    let name = value.split(|&c| c == 0).next().unwrap_or_default();
    let name = std::str::from_utf8(name).ok()?;
    (!name.is_empty() && name.bytes().all(|c| c.is_ascii_graphic())).then(|| name.into())
}

/// `struct tcpvegas_info`: four u32s.
pub(crate) fn parse_vegas(value: &[u8]) -> Option<VegasInfo> {
    let b = Bytes(value);
    Some(VegasInfo {
        enabled: b.u32_opt(0)? != 0,
        rtt_count: b.u32_opt(4)?,
        rtt_us: b.u32_opt(8)?,
        min_rtt_us: b.u32_opt(12)?,
    })
}

/// `struct tcp_bbr_info`: bw as two u32 halves, min_rtt, the two gains.
pub(crate) fn parse_bbr(value: &[u8]) -> Option<BbrInfo> {
    let b = Bytes(value);
    let lo = u64::from(b.u32_opt(0)?);
    let hi = u64::from(b.u32_opt(4)?);
    Some(BbrInfo {
        bw: hi << 32 | lo,
        min_rtt_us: b.u32_opt(8)?,
        pacing_gain: b.u32_opt(12)?,
        cwnd_gain: b.u32_opt(16)?,
    })
}

/// INET_DIAG_SKMEMINFO: an array of u32 indexed by `SK_MEMINFO_*`.
pub(crate) fn parse_skmem(value: &[u8]) -> Option<SkMem> {
    if value.len() < SKMEM_BASE_LEN {
        return None;
    }
    let b = Bytes(value);
    Some(SkMem {
        rmem_alloc: b.u32(0),
        rcvbuf: b.u32(4),
        wmem_alloc: b.u32(8),
        sndbuf: b.u32(12),
        fwd_alloc: b.u32(16),
        wmem_queued: b.u32(20),
        optmem: b.u32(24),
        backlog: b.u32_opt(28),
        drops: b.u32_opt(32),
    })
}

/// A one-byte attribute (TOS, TCLASS).
pub(crate) fn parse_byte(value: &[u8]) -> Option<u8> {
    value.first().copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tcp_info of `len` bytes whose every u32 slot holds its offset.
    fn numbered(len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        for at in (8..len.saturating_sub(3)).step_by(4) {
            v[at..at + 4].copy_from_slice(&(at as u32).to_ne_bytes());
        }
        v
    }

    #[test]
    fn reads_fields_by_the_length_the_kernel_sent() {
        // 104: the 2.6 struct; 160: 4.x; 232: 6.1; 248: 6.7; 300: a future one.
        for len in [104, 136, 160, 232, 248, 300] {
            let info = parse_tcp_info(&numbered(len)).unwrap();
            assert_eq!(info.rto_us, 8);
            assert_eq!(info.total_retrans, 100);
            assert_eq!(info.segs_out.is_some(), len >= 140, "{len}");
            assert_eq!(info.rcv_wnd.is_some(), len >= 236, "{len}");
            assert_eq!(info.rehash, (len >= 240).then_some(236));
            assert_eq!(info.delivery_rate.is_some(), len >= 168);
        }
        let info = parse_tcp_info(&numbered(232)).unwrap();
        assert_eq!(info.snd_wnd, Some(228));
        assert_eq!(info.rcv_wnd, None);
    }

    #[test]
    fn a_field_cut_in_the_middle_is_absent() {
        // 124 bytes: bytes_acked (120..128) is cut, max_pacing_rate whole.
        let info = parse_tcp_info(&numbered(124)).unwrap();
        assert!(info.max_pacing_rate.is_some());
        assert_eq!(info.bytes_acked, None);
    }

    #[test]
    fn short_attributes_give_nothing() {
        assert_eq!(parse_tcp_info(&numbered(103)), None);
        assert_eq!(parse_tcp_info(&[]), None);
        assert_eq!(parse_skmem(&[0; 27]), None);
        assert_eq!(parse_vegas(&[0; 15]), None);
        assert_eq!(parse_bbr(&[0; 19]), None);
        assert_eq!(parse_byte(&[]), None);
        assert_eq!(parse_congestion(b"\0"), None);
        assert_eq!(parse_congestion(b""), None);
        assert_eq!(parse_congestion(b"cu\x1bbic\0"), None);
    }

    #[test]
    fn first_bytes_and_wscale_nibbles() {
        let mut v = numbered(104);
        v[..8].copy_from_slice(&[1, 4, 0, 0, 2, 0x07, 0x9a, 1]);
        let info = parse_tcp_info(&v).unwrap();
        assert_eq!((info.ca_state, info.backoff, info.options), (4, 2, 7));
        assert_eq!((info.snd_wscale, info.rcv_wscale), (0xa, 0x9));
        assert!(info.app_limited && info.has(crate::model::info::option::WSCALE));
    }

    #[test]
    fn skmem_backlog_and_drops_only_when_sent() {
        let words = |n: u32| (1..=n).flat_map(|w| w.to_ne_bytes()).collect::<Vec<u8>>();
        let m = parse_skmem(&words(7)).unwrap();
        assert_eq!(
            (m.rmem_alloc, m.optmem, m.backlog, m.drops),
            (1, 7, None, None)
        );
        let m = parse_skmem(&words(9)).unwrap();
        assert_eq!((m.backlog, m.drops), (Some(8), Some(9)));
        // Oversized: a newer kernel's extra slots are ignored.
        assert_eq!(parse_skmem(&words(12)).unwrap(), m);
    }

    #[test]
    fn congestion_companions() {
        assert_eq!(parse_congestion(b"cubic\0").as_deref(), Some("cubic"));
        assert_eq!(parse_congestion(b"bbr").as_deref(), Some("bbr"));
        let mut bbr = Vec::new();
        for w in [5u32, 1, 900, 739, 512] {
            bbr.extend(w.to_ne_bytes());
        }
        let b = parse_bbr(&bbr).unwrap();
        assert_eq!((b.bw, b.min_rtt_us, b.cwnd_gain), (1 << 32 | 5, 900, 512));
        let vegas: Vec<u8> = [1u32, 2, 3, 4]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        let v = parse_vegas(&vegas).unwrap();
        assert!(v.enabled && v.rtt_us == 3);
    }
}
