//! Names for addresses and ports when `-n` is not given, bounded in time.
//!
//! Ports come from `/etc/services`, parsed here once per protocol (the
//! `tcp` entries for TCP, the `udp` ones for UDP and UDP-Lite, as
//! netstat names them), and a raw socket's port, its IP protocol, from
//! `/etc/protocols`.
//! Hosts come from `getnameinfo`, which reads `/etc/hosts` and may ask DNS:
//! a lookup can take seconds and cannot be cancelled, so lookups run on a
//! few detached threads and the listing waits for them only up to a budget.
//! What is not answered by then is printed numerically; a late answer is
//! kept for the next pass of a continuous listing.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::model::{Protocol, Socket};

/// Where a raw socket's port (its IP protocol) is named.
const PROTOCOLS_FILE: &str = "/etc/protocols";

/// How long host lookups may hold up a listing (or a pass of one), at
/// most.
pub const LOOKUP_BUDGET: Duration = Duration::from_millis(1500);

/// Most lookup threads started by one [`Resolver::prefetch`].
const MAX_LOOKUP_THREADS: usize = 8;

/// A host lookup: the name of an address, `None` if it has none.
type Lookup = dyn Fn(IpAddr) -> Option<String> + Send + Sync;

/// An answer from a lookup thread.
type Answer = (IpAddr, Option<String>);

/// Turns addresses and ports into names, or leaves them numeric.
pub struct Resolver {
    resolve_hosts: bool,
    resolve_ports: bool,
    services_file: PathBuf,
    protocols_file: PathBuf,
    /// TCP port → first service name, read on first use.
    services: OnceLock<HashMap<u16, String>>,
    /// UDP port → first service name, read on first use.
    udp_services: OnceLock<HashMap<u16, String>>,
    /// IP protocol number → name, read on first use.
    protocols: OnceLock<HashMap<u16, String>>,
    /// Answered lookups; `None` when the address has no name.
    hosts: HashMap<IpAddr, Option<String>>,
    /// Lookups started and not answered yet.
    pending: HashSet<IpAddr>,
    lookup: Arc<Lookup>,
    answers_tx: Sender<Answer>,
    /// Behind a mutex only to keep `Resolver` `Sync`; reached through
    /// `&mut self`, so never locked.
    answers_rx: Mutex<Receiver<Answer>>,
}

impl Resolver {
    /// A resolver that names hosts and/or ports; with both false (`-n`)
    /// everything stays numeric and nothing is read or looked up.
    pub fn new(resolve_hosts: bool, resolve_ports: bool) -> Resolver {
        let (answers_tx, answers_rx) = mpsc::channel();
        Resolver {
            resolve_hosts,
            resolve_ports,
            services_file: PathBuf::from("/etc/services"),
            protocols_file: PathBuf::from(PROTOCOLS_FILE),
            services: OnceLock::new(),
            udp_services: OnceLock::new(),
            protocols: OnceLock::new(),
            hosts: HashMap::new(),
            pending: HashSet::new(),
            lookup: Arc::new(getnameinfo),
            answers_tx,
            answers_rx: Mutex::new(answers_rx),
        }
    }

    /// Reads port names from `path` instead of `/etc/services`.
    pub fn with_services_file(mut self, path: impl Into<PathBuf>) -> Resolver {
        self.services_file = path.into();
        self.services = OnceLock::new();
        self.udp_services = OnceLock::new();
        self
    }

    /// Reads IP protocol names from `path` instead of `/etc/protocols`.
    pub fn with_protocols_file(mut self, path: impl Into<PathBuf>) -> Resolver {
        self.protocols_file = path.into();
        self.protocols = OnceLock::new();
        self
    }

    /// Looks up the hosts at both ends of `sockets`, as [`Self::prefetch`].
    pub fn prefetch_sockets<'s>(
        &mut self,
        sockets: impl IntoIterator<Item = &'s Socket>,
        budget: Duration,
    ) {
        let addrs = sockets
            .into_iter()
            .flat_map(|s| [s.local.display_addr(), s.remote.display_addr()]);
        self.prefetch(addrs, budget);
    }

    /// Looks up the names of `addrs` concurrently, waiting at most `budget`
    /// in total; what is not answered by then stays numeric.
    ///
    /// Each distinct address is looked up once over the resolver's life
    /// (answers are cached, and a lookup still running from an earlier call
    /// is not started again). Wildcard addresses are never looked up, and
    /// an IPv4-mapped IPv6 address is looked up in its IPv4 form. A budget
    /// of zero starts nothing.
    pub fn prefetch(&mut self, addrs: impl IntoIterator<Item = IpAddr>, budget: Duration) {
        if !self.resolve_hosts {
            return;
        }
        let deadline = Instant::now().checked_add(budget);
        self.collect_ready();
        let mut batch: Vec<IpAddr> = Vec::new();
        let mut seen = HashSet::new();
        // Looked up and cached in the form displayed: IPv4-mapped as IPv4.
        for addr in addrs.into_iter().map(|a| a.to_canonical()) {
            if !addr.is_unspecified()
                && !self.hosts.contains_key(&addr)
                && !self.pending.contains(&addr)
                && seen.insert(addr)
            {
                batch.push(addr);
            }
        }
        if batch.is_empty() || budget.is_zero() {
            return;
        }
        if !self.start_lookups(&batch) {
            return;
        }
        self.pending.extend(batch);
        let mut waiting = seen;
        while !waiting.is_empty() {
            let answer = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    self.receiver().recv_timeout(left)
                }
                None => self
                    .receiver()
                    .recv()
                    .map_err(|_| RecvTimeoutError::Disconnected),
            };
            let Ok((addr, name)) = answer else {
                return;
            };
            waiting.remove(&addr);
            self.store(addr, name);
        }
    }

    /// True when host names are looked up (not `--numeric-hosts`).
    pub fn names_hosts(&self) -> bool {
        self.resolve_hosts
    }

    /// The name of `addr`, if looked up and answered; `None` means print it
    /// numerically. The name comes from the network: it is untrusted text.
    pub fn host(&self, addr: IpAddr) -> Option<&str> {
        if !self.resolve_hosts {
            return None;
        }
        self.hosts.get(&addr.to_canonical())?.as_deref()
    }

    /// The TCP service name of `port` from the services file, if any;
    /// `None` means print it numerically.
    pub fn service(&self, port: u16) -> Option<&str> {
        self.service_of(Protocol::Tcp, port)
    }

    /// The name netstat gives `port` of a `protocol` socket: its TCP or
    /// UDP service (UDP's for UDP-Lite, as netstat), or for a raw socket
    /// the name of its IP protocol; `None` means print it numerically.
    pub fn service_of(&self, protocol: Protocol, port: u16) -> Option<&str> {
        if !self.resolve_ports {
            return None;
        }
        // A missing or unreadable file means numeric ports, not an error.
        let read = |path: &PathBuf, parse: fn(&str) -> HashMap<u16, String>| {
            std::fs::read(path)
                .map(|text| parse(&String::from_utf8_lossy(&text)))
                .unwrap_or_default()
        };
        let names = match protocol {
            Protocol::Tcp => self
                .services
                .get_or_init(|| read(&self.services_file, parse_services)),
            Protocol::Udp | Protocol::UdpLite => self
                .udp_services
                .get_or_init(|| read(&self.services_file, parse_udp_services)),
            Protocol::Raw => self
                .protocols
                .get_or_init(|| read(&self.protocols_file, parse_protocols)),
        };
        names.get(&port).map(String::as_str)
    }

    /// Starts detached threads that look up `batch` and send the answers;
    /// false if none could be started (names then stay numeric).
    fn start_lookups(&self, batch: &[IpAddr]) -> bool {
        let threads = batch.len().min(MAX_LOOKUP_THREADS);
        let batch: Arc<[IpAddr]> = batch.into();
        let mut started = 0;
        let next = Arc::new(AtomicUsize::new(0));
        for _ in 0..threads {
            let (batch, next) = (Arc::clone(&batch), Arc::clone(&next));
            let (lookup, answers) = (Arc::clone(&self.lookup), self.answers_tx.clone());
            let worker = move || {
                while let Some(&addr) = batch.get(next.fetch_add(1, Ordering::Relaxed)) {
                    if answers.send((addr, lookup(addr))).is_err() {
                        return; // The resolver is gone.
                    }
                }
            };
            let spawned = std::thread::Builder::new()
                .name("tcpstat-resolve".into())
                .spawn(worker);
            started += usize::from(spawned.is_ok());
        }
        started > 0
    }

    /// Takes in answers that arrived since the last call.
    fn collect_ready(&mut self) {
        while let Ok((addr, name)) = self.receiver().try_recv() {
            self.store(addr, name);
        }
    }

    fn store(&mut self, addr: IpAddr, name: Option<String>) {
        self.pending.remove(&addr);
        self.hosts.insert(addr, name);
    }

    fn receiver(&mut self) -> &mut Receiver<Answer> {
        self.answers_rx
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Replaces `getnameinfo`, to test the waiting without a network (and
    /// printers with names no real resolver gives).
    #[cfg(test)]
    pub(crate) fn with_lookup(
        mut self,
        lookup: impl Fn(IpAddr) -> Option<String> + Send + Sync + 'static,
    ) -> Resolver {
        self.lookup = Arc::new(lookup);
        self
    }
}

/// Parses services(5) text into TCP port → name. Lines are
/// `name port/protocol [aliases…] [# comment]`; the first name given for a
/// port wins, and lines that do not fit are skipped.
fn parse_services(text: &str) -> HashMap<u16, String> {
    let mut services = HashMap::new();
    for (port, name, _aliases) in crate::names::services::tcp_entries(text) {
        services.entry(port).or_insert_with(|| name.to_string());
    }
    services
}

/// [`parse_services`] for the `udp` entries.
fn parse_udp_services(text: &str) -> HashMap<u16, String> {
    let mut services = HashMap::new();
    for (port, name, _aliases) in crate::names::services::entries(text, "udp") {
        services.entry(port).or_insert_with(|| name.to_string());
    }
    services
}

/// Parses protocols(5) text into IP protocol number → name, the first
/// name given for a number winning.
fn parse_protocols(text: &str) -> HashMap<u16, String> {
    let mut protocols = HashMap::new();
    for (number, name) in crate::names::services::protocol_entries(text) {
        protocols.entry(number).or_insert_with(|| name.to_string());
    }
    protocols
}

/// Reverse lookup by the C library (`/etc/hosts`, DNS, … as nsswitch.conf
/// says); `None` if the address has no name or the lookup fails.
fn getnameinfo(addr: IpAddr) -> Option<String> {
    crate::sys::name::getnameinfo(addr).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::path::Path;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The first name /etc/hosts gives 127.0.0.1, which getnameinfo returns
    /// when nsswitch.conf consults files (as it does by default).
    fn hosts_file_name_of_loopback() -> Option<String> {
        let hosts = std::fs::read_to_string("/etc/hosts").ok()?;
        hosts.lines().find_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["127.0.0.1", name, ..] => Some(name.to_string()),
                _ => None,
            }
        })
    }

    #[test]
    fn loopback_is_named_from_etc_hosts() {
        let Some(expected) = hosts_file_name_of_loopback() else {
            eprintln!("skipped: /etc/hosts names no 127.0.0.1");
            return;
        };
        let mut resolver = Resolver::new(true, false);
        resolver.prefetch(
            [ip("127.0.0.1"), ip("::ffff:127.0.0.1")],
            Duration::from_secs(5),
        );
        assert_eq!(resolver.host(ip("127.0.0.1")), Some(expected.as_str()));
        // The mapped form is the same address.
        assert_eq!(
            resolver.host(ip("::ffff:127.0.0.1")),
            Some(expected.as_str())
        );
        // Not asked for: numeric.
        assert_eq!(resolver.host(ip("127.0.0.2")), None);
    }

    #[test]
    fn zero_budget_leaves_everything_numeric() {
        let mut resolver = Resolver::new(true, false);
        resolver.prefetch([ip("127.0.0.1")], Duration::ZERO);
        assert_eq!(resolver.host(ip("127.0.0.1")), None);
    }

    #[test]
    fn unreachable_network_is_bounded_by_the_budget() {
        let mut resolver = Resolver::new(true, false);
        let budget = Duration::from_millis(300);
        let started = Instant::now();
        resolver.prefetch([ip("192.0.2.1"), ip("2001:db8::1")], budget);
        let took = started.elapsed();
        assert!(took < budget + Duration::from_millis(200), "took {took:?}");
    }

    #[test]
    fn slow_lookups_stay_numeric_and_are_not_repeated() {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&calls);
        let mut resolver = Resolver::new(true, false).with_lookup(move |addr| {
            recorded.lock().unwrap().push(addr);
            if addr == ip("10.0.0.2") {
                std::thread::sleep(Duration::from_secs(30));
            }
            Some(format!("host-{addr}"))
        });
        let addrs = [
            ip("10.0.0.1"),
            ip("10.0.0.2"),
            ip("::ffff:10.0.0.1"),
            ip("10.0.0.1"),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ];
        let started = Instant::now();
        resolver.prefetch(addrs, Duration::from_millis(200));
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(resolver.host(ip("10.0.0.1")), Some("host-10.0.0.1"));
        assert_eq!(resolver.host(ip("::ffff:10.0.0.1")), Some("host-10.0.0.1"));
        assert_eq!(resolver.host(ip("10.0.0.2")), None);
        assert_eq!(resolver.host(ip("0.0.0.0")), None);

        // The next pass neither repeats answered nor still-running lookups.
        resolver.prefetch(addrs, Duration::from_millis(50));
        let mut calls = calls.lock().unwrap().clone();
        calls.sort();
        assert_eq!(calls, [ip("10.0.0.1"), ip("10.0.0.2")]);
    }

    #[test]
    fn no_host_names_without_host_resolution() {
        let mut resolver = Resolver::new(false, true).with_lookup(|_| Some("x".into()));
        resolver.prefetch([ip("10.0.0.1")], Duration::from_secs(1));
        assert_eq!(resolver.host(ip("10.0.0.1")), None);
    }

    #[test]
    fn services_file_parsing() {
        let text = "\
# comment line
ssh\t\t22/tcp\t\t\t\t# SSH Remote Login Protocol
http 80/tcp www # WorldWideWeb HTTP
www-alt 80/tcp
domain 53/udp
domain 53/tcp
bootps 67/udp
bad-port 99999/tcp
no-proto 81
81/tcp
noport /tcp
negative -1/tcp
garbage\u{0}\u{1b} 82/tcp extra
tcpmux 1/TCP
   indented 83/tcp
ssh-again 22/tcp
";
        let services = parse_services(text);
        assert_eq!(services.get(&22).map(String::as_str), Some("ssh"));
        assert_eq!(services.get(&80).map(String::as_str), Some("http"));
        assert_eq!(services.get(&53).map(String::as_str), Some("domain"));
        assert_eq!(services.get(&83).map(String::as_str), Some("indented"));
        assert_eq!(
            services.get(&82).map(String::as_str),
            Some("garbage\u{0}\u{1b}")
        );
        for absent in [67, 81, 1] {
            assert_eq!(services.get(&absent), None, "port {absent}");
        }
        assert_eq!(services.len(), 5);
    }

    #[test]
    fn services_from_a_file_and_switches() {
        let path = std::env::temp_dir().join(format!("tcpstat-services-{}", std::process::id()));
        std::fs::write(&path, b"ssh 22/tcp\n\xff\xfe 23/tcp\nhttp 80/tcp\n").unwrap();
        let resolver = Resolver::new(false, true).with_services_file(&path);
        assert_eq!(resolver.service(22), Some("ssh"));
        assert_eq!(resolver.service(80), Some("http"));
        assert_eq!(resolver.service(8080), None);
        let numeric = Resolver::new(true, false).with_services_file(&path);
        assert_eq!(numeric.service(22), None);
        std::fs::remove_file(&path).unwrap();

        let missing = Resolver::new(false, true).with_services_file(path.join("gone"));
        assert_eq!(missing.service(22), None);
    }

    #[test]
    fn system_services_name_ssh() {
        // Debian ships netbase's /etc/services; ssh is 22/tcp in every copy.
        if !Path::new("/etc/services").exists() {
            eprintln!("skipped: no /etc/services");
            return;
        }
        assert_eq!(Resolver::new(false, true).service(22), Some("ssh"));
    }
}
