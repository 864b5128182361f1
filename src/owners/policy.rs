//! Choosing how to find owners: `/proc/*/fd` or the BPF task-file
//! iterator, as `--owner-source` asks. `auto` weighs the iterator's load
//! time against the machine's open files ([`BPF_FROM_OPEN_FILES`]), and
//! uses the iterator only where its answers mean what `/proc` would say.

use std::path::Path;

use super::bpf;

pub use crate::model::OwnerSource;

/// From this many open files on the machine (`/proc/sys/fs/file-nr`), a
/// single scan under `auto` uses the BPF iterator. Loading it costs about
/// 4.5 ms; reading `/proc` about 2.3 µs per descriptor (wall time, two
/// threads): at 1,000, 2,000, 3,000 and 5,000 extra sockets `tcpstat -tanp`
/// took 6.0/6.1/6.4/6.9 ms with the iterator and 4.5/6.6/8.0/10.4 ms with
/// `/proc`. Repeated scans (watch mode) load it once and always use it.
pub const BPF_FROM_OPEN_FILES: u64 = 2048;

/// Whether a scan may try the BPF iterator, or why not (an empty reason
/// when `source` or a fixture `proc_root` rules it out, which `-v` need
/// not explain). `loaded` says the iterator is already loaded; `repeated`,
/// that scans repeat (watch mode).
pub(super) fn may_use_bpf(
    source: OwnerSource,
    proc_root: &Path,
    loaded: bool,
    repeated: bool,
) -> Result<(), String> {
    match source {
        OwnerSource::Proc => Err(String::new()),
        // A fixture tree has no kernel behind it.
        OwnerSource::Auto if proc_root != Path::new("/proc") => Err(String::new()),
        // Once loaded, the iterator is the cheaper one.
        OwnerSource::Auto if loaded => Ok(()),
        OwnerSource::Auto => auto_wants_bpf(repeated, open_files),
        OwnerSource::Bpf => Ok(()),
    }
}

/// Whether `auto` should load the iterator, or why not: a single scan on a
/// machine with few open files reads `/proc` faster. `open_files` is read
/// only when it matters.
fn auto_wants_bpf(repeated: bool, open_files: impl FnOnce() -> Option<u64>) -> Result<(), String> {
    if repeated {
        return Ok(());
    }
    match open_files() {
        Some(n) if n < BPF_FROM_OPEN_FILES => Err(format!(
            "{n} open files, fewer than {BPF_FROM_OPEN_FILES}: faster than loading the BPF iterator"
        )),
        _ => Ok(()),
    }
}

/// The number of open files on the machine: the first field of
/// `/proc/sys/fs/file-nr` (file structures in use).
fn open_files() -> Option<u64> {
    // Three numbers; 64 bytes is room and a bound.
    let text = crate::sys::fs::read_small_text(Path::new("/proc/sys/fs/file-nr"), 64).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Loads the iterator, if its answers mean what `/proc` would say here.
pub(super) fn load_bpf() -> Result<bpf::TaskFiles, String> {
    if !in_initial_pid_namespace() {
        // The iterator gives pids as the initial namespace numbers them.
        return Err("tcpstat runs in a pid namespace, where the BPF iterator's pids are not this namespace's".into());
    }
    bpf::TaskFiles::load().map_err(|e| format!("cannot load the BPF task-file iterator: {e}"))
}

/// Whether this process is in the initial pid namespace, whose inode number
/// is fixed (PROC_PID_INIT_INO).
fn in_initial_pid_namespace() -> bool {
    use std::os::unix::fs::MetadataExt;
    const PROC_PID_INIT_INO: u64 = 0xEFFF_FFFC;
    std::fs::metadata("/proc/self/ns/pid").is_ok_and(|m| m.ino() == PROC_PID_INIT_INO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_loads_the_iterator_for_big_machines_and_for_watch_mode() {
        let files = |n: u64| move || Some(n);
        assert_eq!(
            auto_wants_bpf(false, files(300)),
            Err("300 open files, fewer than 2048: faster than loading the BPF iterator".into())
        );
        assert!(auto_wants_bpf(false, files(2047)).is_err());
        assert_eq!(auto_wants_bpf(false, files(2048)), Ok(()));
        assert_eq!(auto_wants_bpf(false, files(120_000)), Ok(()));
        // Unknown: the iterator, which does not get slower with size.
        assert_eq!(auto_wants_bpf(false, || None), Ok(()));
        // Watch mode: loaded once, cheaper every pass; file-nr is not read.
        assert_eq!(auto_wants_bpf(true, || panic!("read file-nr")), Ok(()));
        let n = open_files().expect("file-nr on Linux");
        assert!(n > 0);
    }

    #[test]
    fn only_auto_on_the_real_proc_may_choose() {
        let proc = Path::new("/proc");
        let fixture = Path::new("/tmp/fixture-proc");
        assert_eq!(
            may_use_bpf(OwnerSource::Proc, proc, true, true),
            Err(String::new())
        );
        assert_eq!(may_use_bpf(OwnerSource::Bpf, fixture, false, false), Ok(()));
        assert_eq!(
            may_use_bpf(OwnerSource::Auto, fixture, true, true),
            Err(String::new())
        );
        assert_eq!(may_use_bpf(OwnerSource::Auto, proc, true, false), Ok(()));
        assert_eq!(may_use_bpf(OwnerSource::Auto, proc, false, true), Ok(()));
    }
}
