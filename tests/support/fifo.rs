//! Named pipes for tests that feed tcpstat a file that never ends or
//! blocks (`-N` on a FIFO, a /proc table fed for ever).

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Makes a FIFO at `path` (mode 0644).
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(
        rc,
        0,
        "mkfifo {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}
