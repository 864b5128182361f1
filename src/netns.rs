//! `-N NAME|PATH`: run the listing inside another network namespace, as
//! `ss -N` does, by moving this process into it before any socket is read.

use crate::error::{os_text, Error, Result};
use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

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

/// Moves the calling thread into the network namespace at `path`. Call it
/// on the main thread before any socket or /proc/net file is opened; threads
/// started afterwards inherit it.
pub fn enter(path: &std::path::Path) -> Result<()> {
    let file = File::open(path).map_err(|e| {
        Error::runtime(format!(
            "network namespace {}: {}",
            path.display(),
            os_text(&e)
        ))
    })?;
    if let Err(e) = crate::sys::ns::enter_net(file.as_fd()) {
        let why = if e.raw_os_error() == Some(libc::EINVAL) {
            "not a network namespace".to_string()
        } else {
            os_text(&e)
        };
        return Err(Error::runtime(format!(
            "cannot enter network namespace {}: {why}",
            path.display()
        )));
    }
    Ok(())
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
    fn a_file_that_is_no_namespace_is_refused() {
        let err = enter(std::path::Path::new("/etc/hostname")).unwrap_err();
        assert!(err.to_string().contains("not a network namespace"), "{err}");
    }
}
