//! Unix domain sockets (`-x`): their type, state, flags and address as
//! netstat reads them from `/proc/net/unix` and ss from unix_diag.
//!
//! A unix socket has no ports or IP addresses, so it is a model of its own
//! rather than a [`super::Socket`]; both sources (`source::netlink::unix_diag`
//! and `source::proc_unix`) fill it. The address is kept as the kernel's
//! bytes: a path is any bytes but NUL (spaces, newlines, bytes that are
//! not UTF-8), an abstract name begins with NUL and may hold more NULs.

use std::borrow::Cow;
use std::fmt;

/// `__SO_ACCEPTCON`, the one flag `/proc/net/unix` sets: on listeners.
pub const SO_ACCEPTCON: u32 = 1 << 16;
/// `SO_WAITDATA`: netstat shows `W`; no kernel since 2.6 sets it.
pub const SO_WAITDATA: u32 = 1 << 17;
/// `SO_NOSPACE`: netstat shows `N`; no kernel since 2.6 sets it.
pub const SO_NOSPACE: u32 = 1 << 18;

/// A socket's type (`SOCK_STREAM`, …), as `socket(2)` numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnixType {
    Stream,
    Dgram,
    Seqpacket,
    /// Any other number (the kernel has no other unix types today).
    Other(u16),
}

impl UnixType {
    /// The type numbered `n` (`SOCK_STREAM` = 1, `SOCK_DGRAM` = 2,
    /// `SOCK_SEQPACKET` = 5).
    pub fn from_kernel(n: u16) -> UnixType {
        match n {
            1 => UnixType::Stream,
            2 => UnixType::Dgram,
            5 => UnixType::Seqpacket,
            n => UnixType::Other(n),
        }
    }

    /// netstat's word for the type (`Type` column); `RAW` and `RDM` as
    /// netstat names them, anything else `UNKNOWN`.
    pub fn name(self) -> &'static str {
        match self {
            UnixType::Stream => "STREAM",
            UnixType::Dgram => "DGRAM",
            UnixType::Seqpacket => "SEQPACKET",
            UnixType::Other(3) => "RAW",
            UnixType::Other(4) => "RDM",
            UnixType::Other(_) => "UNKNOWN",
        }
    }
}

/// The `socket_state` `/proc/net/unix` shows (`SS_*` in `linux/net.h`).
/// unix_diag gives the `sk_state` instead; [`UnixState::from_diag`] maps it
/// as the kernel's `/proc` code does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UnixState {
    Free,
    Unconnected,
    Connecting,
    Connected,
    Disconnecting,
    /// A number no kernel writes today.
    Other(u8),
}

impl UnixState {
    /// The `St` field of `/proc/net/unix`.
    pub fn from_kernel(n: u8) -> UnixState {
        match n {
            0 => UnixState::Free,
            1 => UnixState::Unconnected,
            2 => UnixState::Connecting,
            3 => UnixState::Connected,
            4 => UnixState::Disconnecting,
            n => UnixState::Other(n),
        }
    }

    /// The state `/proc/net/unix` shows for a socket with this `sk_state`
    /// (`udiag_state`), with (`has_inode`) or without a `struct socket`:
    /// `unix_seq_show` writes CONNECTED/UNCONNECTED for the former and
    /// CONNECTING/DISCONNECTING for the latter (an accepted connection not
    /// yet taken by `accept`).
    pub fn from_diag(sk_state: u8, has_inode: bool) -> UnixState {
        const TCP_ESTABLISHED: u8 = 1;
        match (has_inode, sk_state == TCP_ESTABLISHED) {
            (true, true) => UnixState::Connected,
            (true, false) => UnixState::Unconnected,
            (false, true) => UnixState::Connecting,
            (false, false) => UnixState::Disconnecting,
        }
    }
}

/// A socket's address: absent (unbound), a path, or an abstract name.
/// The bytes are the kernel's `sun_path` up to the address length: a
/// path without its terminating NUL, an abstract name with its leading
/// NUL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnixName(pub Box<[u8]>);

impl UnixName {
    /// True for an abstract name (leading NUL).
    pub fn is_abstract(&self) -> bool {
        self.0.first() == Some(&0)
    }

    /// The bytes as `/proc/net/unix`, netstat and ss write them: an
    /// abstract name with `@` for its leading NUL and for every NUL in it.
    pub fn shown_bytes(&self) -> Cow<'_, [u8]> {
        if self.is_abstract() {
            let shown = self.0.iter().map(|&b| if b == 0 { b'@' } else { b });
            Cow::Owned(shown.collect())
        } else {
            Cow::Borrowed(&self.0)
        }
    }
}

/// One unix domain socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixSocket {
    pub kind: UnixType,
    pub state: UnixState,
    /// `/proc/net/unix`'s Flags ([`SO_ACCEPTCON`] on listeners; from
    /// netlink, set as the kernel sets it: on sockets in LISTEN).
    pub flags: u32,
    /// The socket's reference count (`RefCnt`), which only
    /// `/proc/net/unix` shows; `None` where it was not read.
    pub refcnt: Option<u32>,
    /// The socket inode; 0 for a connection not yet accepted.
    pub inode: u64,
    /// The inode of the peer socket (netlink only; 0: none).
    pub peer: Option<u64>,
    /// The address it is bound to; `None` when unbound.
    pub name: Option<UnixName>,
    /// Receive and send queues as ss shows them (netlink only): bytes, or
    /// for a listener the pending connections and the backlog.
    pub queues: Option<(u32, u32)>,
    /// For a listener, the peer inodes of connections waiting to be
    /// accepted (netlink `UNIX_DIAG_ICONS`); empty otherwise.
    pub pending: Vec<u64>,
}

impl UnixSocket {
    /// A listening socket, as netstat decides it: unconnected, accepting.
    pub fn is_listening(&self) -> bool {
        self.state == UnixState::Unconnected && self.flags & SO_ACCEPTCON != 0
    }

    /// netstat's State column: LISTENING for a listener, nothing for
    /// another unconnected socket.
    pub fn state_name(&self) -> &'static str {
        match self.state {
            UnixState::Free => "FREE",
            UnixState::Unconnected if self.flags & SO_ACCEPTCON != 0 => "LISTENING",
            UnixState::Unconnected => "",
            UnixState::Connecting => "CONNECTING",
            UnixState::Connected => "CONNECTED",
            UnixState::Disconnecting => "DISCONNECTING",
            UnixState::Other(_) => "UNKNOWN",
        }
    }

    /// The state for JSON and filters: [`UnixSocket::state_name`], with
    /// `UNCONNECTED` for the empty one.
    pub fn state_word(&self) -> &'static str {
        match self.state_name() {
            "" => "UNCONNECTED",
            name => name,
        }
    }
}

impl fmt::Display for UnixType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(state: UnixState, flags: u32) -> UnixSocket {
        UnixSocket {
            kind: UnixType::Stream,
            state,
            flags,
            refcnt: Some(2),
            inode: 1,
            peer: None,
            name: None,
            queues: None,
            pending: Vec::new(),
        }
    }

    #[test]
    fn states_are_named_as_netstat_names_them() {
        let listener = socket(UnixState::Unconnected, SO_ACCEPTCON);
        assert!(listener.is_listening());
        assert_eq!(listener.state_name(), "LISTENING");
        let unbound = socket(UnixState::Unconnected, 0);
        assert_eq!(
            (unbound.state_name(), unbound.state_word()),
            ("", "UNCONNECTED")
        );
        // Only unconnected sockets listen, whatever the flags say.
        assert!(!socket(UnixState::Connected, SO_ACCEPTCON).is_listening());
        assert_eq!(socket(UnixState::Other(9), 0).state_name(), "UNKNOWN");
    }

    #[test]
    fn diag_states_map_as_the_kernels_proc_code() {
        assert_eq!(UnixState::from_diag(1, true), UnixState::Connected);
        assert_eq!(UnixState::from_diag(10, true), UnixState::Unconnected);
        assert_eq!(UnixState::from_diag(7, true), UnixState::Unconnected);
        assert_eq!(UnixState::from_diag(1, false), UnixState::Connecting);
        assert_eq!(UnixState::from_diag(7, false), UnixState::Disconnecting);
    }

    #[test]
    fn abstract_names_show_their_nuls_as_at_signs() {
        let name = UnixName(b"\0abs\0tract".to_vec().into());
        assert!(name.is_abstract());
        assert_eq!(&name.shown_bytes()[..], b"@abs@tract");
        let path = UnixName(b"/run/a b".to_vec().into());
        assert!(!path.is_abstract());
        assert_eq!(&path.shown_bytes()[..], b"/run/a b");
        assert_eq!(UnixType::from_kernel(4).name(), "RDM");
        assert_eq!(UnixType::from_kernel(9).name(), "UNKNOWN");
    }
}
