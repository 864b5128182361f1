//! tcpstat: list TCP sockets like `netstat -tanpo` and `ss`, from sock_diag
//! netlink or /proc, as a netstat-compatible table or JSON.
//!
//! Data flows one way: [`cli`] → [`config`] → [`source`] (+ [`owners`]) →
//! [`render`].

pub mod app;
pub mod cli;
pub mod collect;
pub mod config;
pub mod diagnose;
pub mod error;
pub mod escape;
pub mod filter;
#[doc(hidden)]
pub mod fuzzing;
pub mod kill;
pub mod list_unix;
pub mod model;
pub mod names;
pub mod netns;
pub mod owners;
pub mod plan;
pub mod render;
pub mod serve;
pub mod source;
pub mod sys;
#[cfg(test)]
pub(crate) mod test_support;
pub mod top;
pub mod watch;
