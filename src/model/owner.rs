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
    pub name: ProcessName,
}

/// A process's name, shared by all its owners through one pointer: an
/// [`Owner`] is 16 bytes, not the 24 a shared `str` (a pointer and a
/// length) would make it; a million sockets' owners take 8 MB less.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcessName(std::sync::Arc<Box<str>>);

impl ProcessName {
    pub fn new(name: &str) -> ProcessName {
        ProcessName(std::sync::Arc::new(name.into()))
    }
}

impl std::ops::Deref for ProcessName {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ProcessName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for ProcessName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

impl From<&str> for ProcessName {
    fn from(name: &str) -> ProcessName {
        ProcessName::new(name)
    }
}

impl From<String> for ProcessName {
    fn from(name: String) -> ProcessName {
        ProcessName(std::sync::Arc::new(name.into_boxed_str()))
    }
}

/// Where a filter (`--pid`, `--program`) finds the processes owning a
/// socket.
pub trait Owners {
    /// The owners of socket `inode` (none for inode 0).
    fn owners_of(&self, inode: u64) -> &[Owner];
}
