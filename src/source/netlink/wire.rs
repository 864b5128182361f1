//! Netlink framing, as sock_diag dumps and destroy notifications share it:
//! the message header and the attribute layout. Also the one attribute a
//! request appends by hand.

/// Size of `struct nlmsghdr`.
pub(crate) const NLMSG_HDRLEN: usize = 16;
/// Size of `struct nlattr`.
pub(crate) const NLA_HDRLEN: usize = 4;
/// Strips NLA_F_NESTED and NLA_F_NET_BYTEORDER from `nla_type`.
pub(crate) const NLA_TYPE_MASK: u16 = 0x3fff;

/// Rounds a length up to netlink's 4-byte alignment (`NLMSG_ALIGN`,
/// `NLA_ALIGN`); saturates rather than wrap on a hostile length.
pub(crate) fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// The fields of a netlink message header we use.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NlHeader {
    /// `nlmsg_len`: header and payload, without the trailing padding.
    pub(crate) len: usize,
    pub(crate) kind: u16,
    pub(crate) flags: u16,
    pub(crate) seq: u32,
    pub(crate) port: u32,
}

/// The header at the start of `data`, if there is room for one.
pub(crate) fn read_nlmsghdr(data: &[u8]) -> Option<NlHeader> {
    let h: &[u8; NLMSG_HDRLEN] = data.get(..NLMSG_HDRLEN)?.try_into().ok()?;
    Some(NlHeader {
        len: u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize,
        kind: u16::from_ne_bytes([h[4], h[5]]),
        flags: u16::from_ne_bytes([h[6], h[7]]),
        seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
        port: u32::from_ne_bytes([h[12], h[13], h[14], h[15]]),
    })
}

/// Appends a netlink attribute, padded to 4 bytes, to the message in
/// `msg` and fixes its `nlmsg_len`. `None` (and `msg` unchanged) when the
/// value is too long for an attribute.
pub(crate) fn append_attribute(msg: &mut Vec<u8>, kind: u16, value: &[u8]) -> Option<()> {
    let nla_len = u16::try_from(NLA_HDRLEN + value.len()).ok()?;
    msg.resize(align4(msg.len()), 0);
    msg.extend(nla_len.to_ne_bytes());
    msg.extend(kind.to_ne_bytes());
    msg.extend(value);
    msg.resize(align4(msg.len()), 0);
    let total = u32::try_from(msg.len()).ok()?;
    msg[..4].copy_from_slice(&total.to_ne_bytes());
    Some(())
}

/// Hand-built messages and attributes, as the kernel lays them out, for the
/// tests of everything that reads them.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::{align4, NLA_HDRLEN, NLMSG_HDRLEN};

    /// One attribute, padded to 4 bytes.
    pub(crate) fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = ((NLA_HDRLEN + value.len()) as u16).to_ne_bytes().to_vec();
        a.extend(kind.to_ne_bytes());
        a.extend(value);
        a.resize(align4(a.len()), 0);
        a
    }

    /// A netlink message with header, padded to 4 bytes.
    pub(crate) fn nlmsg(kind: u16, flags: u16, seq: u32, port: u32, payload: &[u8]) -> Vec<u8> {
        let mut m = ((NLMSG_HDRLEN + payload.len()) as u32)
            .to_ne_bytes()
            .to_vec();
        m.extend(kind.to_ne_bytes());
        m.extend(flags.to_ne_bytes());
        m.extend(seq.to_ne_bytes());
        m.extend(port.to_ne_bytes());
        m.extend(payload);
        m.resize(align4(m.len()), 0);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_attribute_is_padded_and_counted_in_the_header() {
        let mut msg = vec![0; 20];
        append_attribute(&mut msg, 7, &[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(msg.len(), 20 + 12);
        assert_eq!(msg[20..22], 9u16.to_ne_bytes());
        assert_eq!(msg[..4], 32u32.to_ne_bytes());
        assert_eq!(append_attribute(&mut msg, 7, &[0; 65532]), None);
        assert_eq!(msg.len(), 32);
    }
}
