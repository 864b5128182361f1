//! Diagnosing connection teardown from one socket dump: a state summary with
//! plain-language findings (`-s`), whether a port can be bound now and what
//! holds it (`why PORT`), and a one-line note per socket in a teardown or
//! unusual state (`--explain`).
//!
//! Everything here reads the same `&[Socket]` (and optional
//! [`ProcessMap`](crate::owners::ProcessMap)) every renderer reads; the few
//! system values it needs come through [`Sysctls`], which tests fake. What
//! comes out are plain values: `render`, further down the pipeline and
//! never imported here, prints them as text or through its JSON wire
//! types. Sentences here (findings, reasons) name programs as /proc does;
//! the printers escape them.
//!
//! - [`summary`]: [`summary::summarize`] → [`summary::Summary`], printed by
//!   `render::summary`.
//! - [`bind`]: [`bind::why`] → [`bind::Verdict`], printed by `render::why`;
//!   [`bind::probe`] asks the kernel itself.
//! - [`explain()`]: a short note for one socket.

pub mod bind;
mod explain;
pub mod kill;
pub mod summary;
pub(crate) mod sysctl;

pub use explain::{explain, secs};
pub use sysctl::Sysctls;

use crate::model::{Socket, TcpState};

/// A socket no process holds any more that the kernel keeps to finish the
/// close: inode 0 in a state only a closed socket can be in without a
/// program. TIME_WAIT is left out (it is counted on its own), and so are
/// inode-0 sockets that belong to a listener (request sockets in SYN_RECV,
/// connections not yet accepted in ESTABLISHED or CLOSE_WAIT).
pub(crate) fn is_orphan(s: &Socket) -> bool {
    s.inode == 0
        && matches!(
            s.state,
            TcpState::FinWait1 | TcpState::FinWait2 | TcpState::Closing | TcpState::LastAck
        )
}

/// A process as the diagnoses name it: "pid 42 (nginx)". The name stays as
/// read (untrusted): whoever prints the sentence escapes it.
pub(crate) fn owner_label(pid: u32, name: &str) -> String {
    format!("pid {pid} ({name})")
}

/// "1 connection", "2 connections".
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
