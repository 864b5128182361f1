//! Netlink framing, as sock_diag dumps and destroy notifications share it:
//! the message header, the attribute layout, and walks over both that check
//! every length against the bytes actually received, so that no reply can
//! make a read run past its buffer. Also the one attribute a request
//! appends by hand.

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

fn read_nlmsghdr(data: &[u8]) -> Option<NlHeader> {
    let h: &[u8; NLMSG_HDRLEN] = data.get(..NLMSG_HDRLEN)?.try_into().ok()?;
    Some(NlHeader {
        len: u32::from_ne_bytes([h[0], h[1], h[2], h[3]]) as usize,
        kind: u16::from_ne_bytes([h[4], h[5]]),
        flags: u16::from_ne_bytes([h[6], h[7]]),
        seq: u32::from_ne_bytes([h[8], h[9], h[10], h[11]]),
        port: u32::from_ne_bytes([h[12], h[13], h[14], h[15]]),
    })
}

/// Why the rest of a datagram cannot be read as netlink messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// Some bytes are left, but fewer than a message header.
    ShortHeader,
    /// `nlmsg_len` is smaller than the header or runs past the datagram.
    Length,
}

/// The messages of one datagram, in order, each as its header and payload.
/// The walk ends after the first `Err`: once one length is wrong, where
/// the next message starts is unknown.
pub(crate) fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages { rest: datagram }
}

/// See [`messages`].
pub(crate) struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<(NlHeader, &'a [u8]), Framing>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        let Some(hdr) = read_nlmsghdr(rest) else {
            return Some(Err(Framing::ShortHeader));
        };
        // None as well when `len` is below the header (start past end).
        let Some(payload) = rest.get(NLMSG_HDRLEN..hdr.len) else {
            return Some(Err(Framing::Length));
        };
        self.rest = rest.get(align4(hdr.len)..).unwrap_or_default();
        Some(Ok((hdr, payload)))
    }
}

/// Why the rest of an attribute list cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttributeError {
    /// Fewer bytes left than an attribute header.
    Header { left: usize },
    /// `nla_len` smaller than the attribute header itself.
    Length { len: usize },
    /// `nla_len` runs past the end of the message.
    PastEnd { len: usize, left: usize },
}

/// The attributes in `list` (what follows a message's fixed part), in
/// order, each as its type (flags stripped) and value; no allocation, as a
/// dump parses this for every socket. The walk ends after the first `Err`.
pub(crate) fn attributes(list: &[u8]) -> Attributes<'_> {
    Attributes { rest: list }
}

/// See [`attributes`].
pub(crate) struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(u16, &'a [u8]), AttributeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = std::mem::take(&mut self.rest);
        let (len, kind) = match rest {
            [a, b, c, d, ..] => (
                usize::from(u16::from_ne_bytes([*a, *b])),
                u16::from_ne_bytes([*c, *d]) & NLA_TYPE_MASK,
            ),
            _ => return Some(Err(AttributeError::Header { left: rest.len() })),
        };
        if len < NLA_HDRLEN {
            return Some(Err(AttributeError::Length { len }));
        }
        let Some(value) = rest.get(NLA_HDRLEN..len) else {
            let left = rest.len();
            return Some(Err(AttributeError::PastEnd { len, left }));
        };
        // The last attribute may lack its padding.
        self.rest = rest.get(align4(len)..).unwrap_or_default();
        Some(Ok((kind, value)))
    }
}

/// A request message of `total` bytes begun: its netlink header (the
/// kernel fills in our port id), with room for the rest.
pub(crate) fn request_header(total: usize, kind: u16, flags: u16, seq: u32) -> Vec<u8> {
    let mut msg = Vec::with_capacity(total);
    msg.extend(u32::try_from(total).unwrap_or(u32::MAX).to_ne_bytes());
    msg.extend(kind.to_ne_bytes());
    msg.extend(flags.to_ne_bytes());
    msg.extend(seq.to_ne_bytes());
    msg.extend(0u32.to_ne_bytes());
    msg
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
    use super::fixtures::{attr, nlmsg};
    use super::*;

    #[test]
    fn messages_split_a_datagram_and_stop_where_framing_is_lost() {
        let mut datagram = nlmsg(20, 2, 7, 9, &[1, 2, 3]);
        datagram.extend(nlmsg(3, 0, 8, 9, &[]));
        let read: Vec<_> = messages(&datagram)
            .map(|m| m.map(|(h, payload)| (h.len, h.kind, h.flags, h.seq, h.port, payload)))
            .collect();
        assert_eq!(
            read,
            [
                Ok((19, 20, 2, 7, 9, &[1, 2, 3][..])),
                Ok((16, 3, 0, 8, 9, &[][..]))
            ]
        );

        let mut tail = datagram.clone();
        tail.extend([0; 5]);
        let last = messages(&tail).last();
        assert_eq!(last.map(|m| m.err()), Some(Some(Framing::ShortHeader)));
        for bad_len in [3, 200] {
            let mut broken = datagram.clone();
            broken[0] = bad_len;
            let all: Vec<_> = messages(&broken).map(|m| m.err()).collect();
            assert_eq!(all, [Some(Framing::Length)]);
        }
    }

    #[test]
    fn attributes_strip_flags_and_check_lengths() {
        let mut list = attr(0x8000 | 5, &[1]);
        list.extend(attr(8, &[2, 3, 4, 5]));
        let read: Vec<_> = attributes(&list).collect();
        assert_eq!(read, [Ok((5, &[1][..])), Ok((8, &[2, 3, 4, 5][..]))]);
        // The last attribute may lack its padding.
        assert_eq!(attributes(&list[..5]).count(), 1);

        let cases = [
            (vec![8, 0], AttributeError::Header { left: 2 }),
            (vec![0, 0, 8, 0], AttributeError::Length { len: 0 }),
            (
                vec![40, 0, 8, 0, 1],
                AttributeError::PastEnd { len: 40, left: 5 },
            ),
        ];
        for (list, want) in cases {
            assert_eq!(attributes(&list).collect::<Vec<_>>(), [Err(want)]);
        }
    }

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
