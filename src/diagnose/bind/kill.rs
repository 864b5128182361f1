//! What `-K` could do for a port `why` finds held: the filter that closes
//! exactly the live connections in the way, or why closing sockets is not
//! the answer (a listener holds the port; only teardown remnants do, which
//! SO_REUSEADDR binds past and which go by themselves).

use std::net::IpAddr;
use std::path::Path;

use super::HeldBy;
use crate::model::addr::Ntop;

/// Whether closing sockets with `-K` would free the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillAdvice {
    /// Nothing holds the port: nothing to close.
    Free,
    /// Live connections hold it, no listener: `tcpstat -K` with these
    /// filter words closes them. With `remnants_left`, teardown remnants
    /// still stand in the way of a plain bind afterwards.
    Close {
        filter: Vec<String>,
        connections: usize,
        remnants_left: usize,
    },
    /// A listener holds the port: closing its connections would not free
    /// it; its program must stop (or close it).
    Listener,
    /// Only teardown remnants hold it: nothing to close; SO_REUSEADDR
    /// binds past them, and they go by themselves.
    RemnantsOnly,
}

impl KillAdvice {
    /// The exact command line that closes what holds the port, run in
    /// `netns` (`-N`) when given; `None` when closing would not help.
    pub fn command(&self, netns: Option<&Path>) -> Option<String> {
        let KillAdvice::Close { filter, .. } = self else {
            return None;
        };
        let mut words = vec!["tcpstat".to_string()];
        if let Some(path) = netns {
            words.extend(["-N".to_string(), shell_word(&path.to_string_lossy())]);
        }
        words.push("-K".into());
        words.extend(filter.iter().cloned());
        Some(words.join(" "))
    }

    /// The name of the advice in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            KillAdvice::Free => "free",
            KillAdvice::Close { .. } => "close",
            KillAdvice::Listener => "listener",
            KillAdvice::RemnantsOnly => "remnants_only",
        }
    }
}

/// `word` as one shell word: as is when it holds only characters no shell
/// treats specially, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%=,".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The advice for a port held as `held` says, for a bind on `address`.
pub(super) fn advice(port: u16, address: IpAddr, held: HeldBy) -> KillAdvice {
    if held.listeners > 0 {
        return KillAdvice::Listener;
    }
    if held.connections == 0 {
        return match held.remnants {
            0 => KillAdvice::Free,
            _ => KillAdvice::RemnantsOnly,
        };
    }
    // The connections in the way of a bind on one address are those on
    // that address; on the wildcard, all of them.
    let mut filter = Vec::new();
    if !address.is_unspecified() {
        filter.extend(["src".to_string(), Ntop(address).to_string()]);
    }
    filter.extend(["sport".to_string(), "=".to_string(), format!(":{port}")]);
    KillAdvice::Close {
        filter,
        connections: held.connections,
        remnants_left: held.remnants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(listeners: usize, connections: usize, remnants: usize) -> HeldBy {
        HeldBy {
            listeners,
            connections,
            remnants,
        }
    }

    #[test]
    fn closing_helps_only_against_connections_without_a_listener() {
        let any: IpAddr = "::".parse().unwrap();
        assert_eq!(advice(80, any, held(0, 0, 0)), KillAdvice::Free);
        assert_eq!(advice(80, any, held(1, 3, 0)), KillAdvice::Listener);
        assert_eq!(advice(80, any, held(0, 0, 2)), KillAdvice::RemnantsOnly);
        let KillAdvice::Close {
            filter,
            remnants_left,
            ..
        } = advice(80, any, held(0, 2, 1))
        else {
            panic!("connections alone: closing helps");
        };
        assert_eq!((filter.join(" "), remnants_left), ("sport = :80".into(), 1));
        let one = advice(80, "10.0.0.1".parse().unwrap(), held(0, 1, 0));
        assert!(matches!(&one, KillAdvice::Close { filter, .. }
            if filter.join(" ") == "src 10.0.0.1 sport = :80"));
        assert_eq!(
            one.command(Some(Path::new("/run/netns/a b"))).unwrap(),
            "tcpstat -N '/run/netns/a b' -K src 10.0.0.1 sport = :80"
        );
        assert_eq!(KillAdvice::Listener.command(None), None);
    }
}
