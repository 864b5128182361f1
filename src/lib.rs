//! tcpstat: list TCP sockets like `netstat -tanpo` and `ss`, from sock_diag
//! netlink or /proc, as a netstat-compatible table or JSON.

pub mod error;
pub mod model;
pub mod source;
