//! Who holds a socket open: [`Owner`], and [`Owners`], the lookup by socket
//! inode that filters and renderers ask without knowing how owners were
//! found (the `owners` module scans `/proc` or runs a BPF iterator).

/// A process holding a socket open through one of its descriptors; in
/// JSON, `{"pid", "name", "fd"}`. A process holding a socket through
/// several descriptors is one owner per descriptor, as ss lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    /// The descriptor (`/proc/PID/fd/FD`) through which it holds it.
    pub fd: u32,
    /// `/proc/PID/comm` without its newline. Untrusted text, kept as read
    /// (bytes that are not UTF-8 are replaced); renderers escape it. Shared
    /// by every owner of one process: a process holding 100k sockets has
    /// one copy of its name, not 100k.
    pub name: std::sync::Arc<str>,
}

/// Where a filter (`--pid`, `--program`) finds the processes owning a
/// socket.
pub trait Owners {
    /// The owners of socket `inode` (none for inode 0).
    fn owners_of(&self, inode: u64) -> &[Owner];
}
