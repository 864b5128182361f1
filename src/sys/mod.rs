//! The unsafe FFI edge: every libc call tcpstat makes, behind small safe
//! functions. Nothing else in the crate writes `unsafe`.
//!
//! The functions here are thin: they make one call (or a short fixed
//! sequence), turn its return value into an `io::Result` or an `Option`,
//! and leave policy, such as which errors are expected and what to tell the
//! user, to the caller. This module imports nothing else of tcpstat's.
//!
//! One file per area: [`fs`] (descriptors, directories, links), [`sock`]
//! (socket options, addresses, bind), [`name`] (reverse DNS and
//! `inet_ntop`), [`ns`] (namespaces), [`user`] (the user database and our
//! own uid), [`signal`] (blocked signals read from a signalfd), [`poll`],
//! [`bpf`] (the bpf(2) call, program loading, maps, ring-buffer memory),
//! and [`process`] (limits and constants of this process).

pub mod bpf;
pub mod fs;
pub mod name;
pub mod ns;
pub mod poll;
pub mod process;
pub mod signal;
pub mod sock;
pub mod sysctl;
pub mod user;
