//! Where sockets come from: sock_diag netlink (default) or /proc/net/tcp{,6}.

pub mod netlink;
pub mod proc;
