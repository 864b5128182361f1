//! `-N NAME|PATH`: run the listing inside another network namespace, as
//! `ss -N` does, by moving this process into it before any socket is read.
//! `-N all`: every namespace on the host ([`all`]), each named as a person
//! knows it ([`label`], asking the container engine through [`docker`]).
//! `-N CONTAINER`: a namespace by its label, container name or id prefix
//! ([`select`]).

pub mod all;
pub mod docker;
pub mod label;
pub(crate) mod mountinfo;
pub mod select;

use crate::error::{os_text, Error, Result};
use crate::sys::fs::{fstat, fstatfs};
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Where `ip netns add NAME` puts its namespaces.
const NETNS_RUN_DIR: &str = "/var/run/netns";

/// The nsfs path for a `-N` argument: a bare name is looked up where
/// `ip netns` keeps them; anything with a `/` is a path (e.g. /proc/PID/ns/net).
pub fn resolve(arg: &str) -> Result<PathBuf> {
    if arg.is_empty() || arg == "." || arg == ".." {
        return Err(Error::usage(format!("-N: invalid namespace name {arg:?}")));
    }
    Ok(if arg.contains('/') {
        PathBuf::from(arg)
    } else {
        PathBuf::from(NETNS_RUN_DIR).join(arg)
    })
}

/// The nsfs path for a `-N` argument that is not `all`: a path or an `ip
/// netns` name as [`resolve`] has them when one exists by that name; else
/// the one namespace on the host whose label, container name, id prefix,
/// unit or inode the word is ([`select`]). A word that names none, or
/// several, is a usage error saying what is close.
pub fn choose(arg: &str, proc_root: &Path, verbose: bool) -> Result<PathBuf> {
    let path = resolve(arg)?;
    if arg.contains('/') || path.exists() {
        return Ok(path);
    }
    let (found, labels) = label::survey(proc_root, verbose);
    match select::matching(&labels, arg)[..] {
        [inode] => Ok(found
            .into_iter()
            .find(|f| f.inode == inode)
            .map(|f| f.path)
            .unwrap_or(path)),
        [] => Err(Error::usage(format!(
            "-N {arg}: {}",
            select::none_named(&labels, arg)
        ))),
        ref several => {
            let named: Vec<String> = several
                .iter()
                .map(|inode| format!("{} (net:[{inode}])", labels[inode].name))
                .collect();
            Err(Error::usage(format!(
                "-N {arg}: names {} namespaces: {}; give more of the name or id",
                several.len(),
                named.join(", ")
            )))
        }
    }
}

/// Moves the calling thread into the network namespace at `path`. Call it
/// on the main thread before any socket or /proc/net file is opened; threads
/// started afterwards inherit it.
///
/// A path that is not a network namespace is a usage error (exit 2); one
/// that cannot be opened or entered is a runtime error.
pub fn enter(path: &Path) -> Result<()> {
    enter_file(path, &open(path)?)
}

/// Moves the calling thread into the namespace `file` (opened by [`open`]
/// from `path`, named in errors).
pub fn enter_file(path: &Path, file: &File) -> Result<()> {
    if let Err(e) = crate::sys::ns::enter_net(file.as_fd()) {
        if e.raw_os_error() == Some(libc::EINVAL) {
            return Err(not_a_namespace(path, "another kind of namespace"));
        }
        return Err(Error::runtime(format!(
            "cannot enter network namespace {}: {}",
            path.display(),
            os_text(&e)
        )));
    }
    Ok(())
}

/// Runs `f` on a thread of its own inside the namespace at `path` (so
/// that what it opens, such as /proc/sys/net, is that namespace's), and
/// gives back what it returned; the caller's thread stays where it is.
pub fn within<T: Send>(path: &Path, f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter(path)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|_| Err(Error::runtime("a namespace's thread failed")))
    })
}

/// Opens the namespace file at `path` for setns(), having made sure it is
/// one. Opening whatever the path names could wait forever (a FIFO without
/// a writer) or do what opening a device does (a watchdog starts counting),
/// so the path is first opened `O_PATH`, which opens nothing, and must be
/// on nsfs; the file is then opened for real, non-blocking, and must be the
/// same one (the path may have been replaced in between).
pub fn open(path: &Path) -> Result<File> {
    let cannot = |e: std::io::Error| {
        Error::runtime(format!(
            "network namespace {}: {}",
            path.display(),
            os_text(&e)
        ))
    };
    let handle = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(path)
        .map_err(cannot)?;
    let found = fstat(handle.as_fd()).map_err(cannot)?;
    let on_nsfs = fstatfs(handle.as_fd()).map_err(cannot)?.f_type == libc::NSFS_MAGIC;
    if !on_nsfs {
        return Err(not_a_namespace(path, file_kind(found.st_mode)));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(cannot)?;
    let opened = fstat(file.as_fd()).map_err(cannot)?;
    if (opened.st_dev, opened.st_ino) != (found.st_dev, found.st_ino) {
        return Err(Error::runtime(format!(
            "network namespace {}: replaced while being opened",
            path.display()
        )));
    }
    Ok(file)
}

/// The usage error for a `-N` path that is `kind` instead of a namespace.
fn not_a_namespace(path: &Path, kind: &str) -> Error {
    Error::usage(format!(
        "-N {}: not a network namespace but {kind}",
        path.display()
    ))
}

/// What a file that is not a namespace is, for the error.
fn file_kind(mode: libc::mode_t) -> &'static str {
    match mode & libc::S_IFMT {
        libc::S_IFREG => "a regular file",
        libc::S_IFDIR => "a directory",
        libc::S_IFIFO => "a FIFO",
        libc::S_IFCHR => "a character device",
        libc::S_IFBLK => "a block device",
        libc::S_IFSOCK => "a socket",
        _ => "a file outside nsfs",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_resolve() {
        assert_eq!(
            resolve("blue").unwrap(),
            PathBuf::from("/var/run/netns/blue")
        );
        assert_eq!(
            resolve("/proc/1/ns/net").unwrap(),
            PathBuf::from("/proc/1/ns/net")
        );
        assert!(resolve("").is_err());
        assert!(resolve("..").is_err());
    }

    #[test]
    fn missing_namespace_is_a_clear_runtime_error() {
        let err = enter(&resolve("tcpstat-no-such-ns").unwrap()).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_RUNTIME);
        assert_eq!(
            err.to_string(),
            "network namespace /var/run/netns/tcpstat-no-such-ns: No such file or directory"
        );
    }

    #[test]
    fn a_file_that_is_no_namespace_is_a_usage_error() {
        let cases = [
            ("/etc/hostname", "a regular file"),
            ("/etc", "a directory"),
            ("/dev/null", "a character device"),
        ];
        for (path, kind) in cases {
            let err = enter(Path::new(path)).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("-N {path}: not a network namespace but {kind}")
            );
            assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
        }
    }

    #[test]
    fn a_namespace_of_another_kind_is_a_usage_error() {
        // setns checks the kind before any privilege: no root needed.
        let err = enter(Path::new("/proc/self/ns/uts")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "-N /proc/self/ns/uts: not a network namespace but another kind of namespace"
        );
        assert_eq!(err.exit_code(), crate::error::EXIT_USAGE);
    }
}
