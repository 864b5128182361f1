//! The socket zoo: real kernel sockets in every TCP state and timer kind
//! that the kernel lists, built in a [`Lab`], each with the [`Animal`] that
//! says what it should look like.
//!
//! Recipes that need packet loss use their own address channel and steer
//! that channel's neighbour entries (see [`Lab::blackhole`]), so they do not
//! disturb each other. Recipes only start things; [`Zoo::build`] then polls
//! `ss` until every animal has reached its expected state, instead of
//! sleeping for fixed times.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use super::animal::Animal;
use super::netns::Side::{self, A, B};
use super::netns::{Lab, Netns};
use super::oracle::{netstat_form, parse_ss, Key};
use super::sock;

mod calm;
mod loss;

/// How long the zoo may take to settle before the build gives up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

/// The uid owning the sockets of the uid recipe.
pub const OTHER_UID: u32 = 1000;

/// Well-known ports; each namespace has its own port space.
mod port {
    /// A: 0.0.0.0 and [::] (v6only).
    pub const A_MAIN: u16 = 5000;
    /// A: 127.0.0.1, owned by another uid.
    pub const A_UID: u16 = 5100;
    /// A: 127.0.0.1, with one connection never accepted.
    pub const A_BACKLOG: u16 = 5200;
    /// A: bound, never listening or connecting.
    pub const A_BOUND: u16 = 5999;
    /// A: [::], dual-stack.
    pub const A_DUAL: u16 = 6000;
    /// B: 0.0.0.0 and [::] (v6only).
    pub const B_MAIN: u16 = 7000;
    pub const B_SYN_RECV: u16 = 7006;
    pub const B_ZERO_WINDOW: u16 = 7008;
}

/// Address channels of the loss recipes (channel 0 carries the rest).
mod chan {
    pub const RETRANS: u8 = 2;
    pub const FIN_WAIT1: u8 = 3;
    pub const LAST_ACK: u8 = 4;
    pub const CLOSING: u8 = 5;
    pub const SYN_RECV: u8 = 6;
    pub const ZERO_WINDOW: u8 = 8;
}

fn sa(ip: impl Into<IpAddr>, port: u16) -> SocketAddr {
    SocketAddr::new(ip.into(), port)
}

fn v4_any(port: u16) -> SocketAddr {
    sa(Ipv4Addr::UNSPECIFIED, port)
}

fn v6_any(port: u16) -> SocketAddr {
    sa(Ipv6Addr::UNSPECIFIED, port)
}

fn lo(port: u16) -> SocketAddr {
    sa(Ipv4Addr::LOCALHOST, port)
}

/// A listener's key: its address and the unspecified address of its family.
fn listening(addr: SocketAddr) -> Key {
    match addr {
        SocketAddr::V4(_) => (addr, v4_any(0)),
        SocketAddr::V6(_) => (addr, v6_any(0)),
    }
}

/// The key of the other end of a connection.
fn rev((local, remote): Key) -> Key {
    (remote, local)
}

/// A connection made for the zoo; `key` is the client's (local, remote).
struct Conn {
    client: TcpStream,
    server: TcpStream,
    key: Key,
}

/// The built zoo. Dropping it closes the sockets, then deletes the lab.
pub struct Zoo {
    held: Vec<OwnedFd>,
    pub animals: Vec<Animal>,
    pub lab: Lab,
}

impl Zoo {
    /// Builds the lab `tcpstat-<group>-<pid>-{a,b}` and every animal in it,
    /// and waits until all have settled.
    pub fn build(group: &str) -> Zoo {
        let mut zoo = Zoo {
            held: Vec::new(),
            animals: Vec::new(),
            lab: Lab::new(group),
        };
        let listeners = zoo.listeners();
        // The slow recipes first: their timers need a second or two.
        zoo.retransmitting(&listeners);
        zoo.syn_sent();
        zoo.syn_recv();
        zoo.fin_wait1(&listeners);
        zoo.last_ack(&listeners);
        zoo.closing(&listeners);
        zoo.zero_window(&listeners);
        zoo.connected(&listeners);
        zoo.closed_on_loopback(&listeners);
        zoo.other_uid();
        zoo.bound_only();
        zoo.held.extend(listeners.into_fds());
        zoo.settle();
        zoo
    }

    /// The animals living in one namespace.
    pub fn animals_in(&self, side: Side) -> impl Iterator<Item = &Animal> {
        self.animals.iter().filter(move |a| a.side == side)
    }

    /// Records an expected socket; the result takes further expectations.
    fn expect(
        &mut self,
        side: Side,
        name: &'static str,
        key: Key,
        state: &'static str,
        timer: &'static str,
    ) -> &mut Animal {
        self.animals
            .push(Animal::new(name, side, key, state, timer));
        self.animals.last_mut().expect("just pushed")
    }

    /// Keeps a socket open until the zoo is dropped.
    fn keep(&mut self, socket: impl Into<OwnedFd>) {
        self.held.push(socket.into());
    }

    /// Keeps both ends of a connection open.
    fn keep_both(&mut self, c: Conn) {
        self.keep(c.client);
        self.keep(c.server);
    }

    /// The (A, B) addresses of a channel.
    fn channel(&self, ch: u8) -> (IpAddr, IpAddr) {
        (self.lab.v4(A, ch).into(), self.lab.v4(B, ch).into())
    }

    /// Connects from `local` in `side` to `remote` and accepts the
    /// connection from `listener`.
    fn connect(
        &self,
        side: Side,
        local: IpAddr,
        remote: SocketAddr,
        listener: &TcpListener,
    ) -> Conn {
        let client = self
            .lab
            .ns(side)
            .enter(|| sock::connect_from(local, remote));
        let addr = client.local_addr().expect("local addr");
        let server = accept_from(listener, addr);
        Conn {
            client,
            server,
            key: (addr, remote),
        }
    }

    /// Polls ss in both namespaces until every animal is listed as
    /// expected (state, timer, at least its retransmits, …).
    fn settle(&self) {
        let start = Instant::now();
        loop {
            let mut waiting = Vec::new();
            for side in [A, B] {
                let rows = parse_ss(&self.lab.ns(side).stdout("ss", &["-tanoeH"]));
                for animal in self.animals_in(side) {
                    match rows.iter().find(|r| r.key() == animal.key()) {
                        Some(row) => waiting.extend(animal.mismatches(row)),
                        None => waiting.push(format!(
                            "zoo animal `{}` ({side:?}) {:?} not listed by ss",
                            animal.name,
                            animal.key()
                        )),
                    }
                }
            }
            if waiting.is_empty() {
                return;
            }
            let elapsed = start.elapsed();
            let waiting = waiting.join("\n");
            assert!(
                elapsed < SETTLE_TIMEOUT,
                "zoo did not settle in {elapsed:?}:\n{waiting}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Waits until ss in `side` lists `key` in `state`, where a recipe must
    /// not take its next step too early.
    fn wait_state(&self, side: Side, key: Key, state: &str) {
        wait_state(self.lab.ns(side), key, state);
    }
}

/// Waits until ss in `ns` lists `key` in `state`.
pub fn wait_state(ns: &Netns, key: Key, state: &str) {
    let start = Instant::now();
    loop {
        let rows = parse_ss(&ns.stdout("ss", &["-tanoeH"]));
        if rows.iter().any(|r| r.key() == key && r.state == state) {
            return;
        }
        let elapsed = start.elapsed();
        assert!(
            elapsed < SETTLE_TIMEOUT,
            "{key:?} not {state} in {} after {elapsed:?}:\n{rows:#?}",
            ns.name()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Accepts the next connection and checks it is the one from `peer`.
fn accept_from(listener: &TcpListener, peer: SocketAddr) -> TcpStream {
    let (stream, from) = listener.accept().expect("accept");
    let same = netstat_form(from.ip()) == netstat_form(peer.ip()) && from.port() == peer.port();
    assert!(same, "accepted {from}, expected {peer}");
    stream
}

/// The zoo's listeners, open for the whole build so recipes can accept.
struct Listeners {
    a_main: TcpListener,
    a_dual: TcpListener,
    b_main: TcpListener,
    b_v6: TcpListener,
    b_zero_window: TcpListener,
    /// Listeners no recipe accepts from.
    rest: Vec<TcpListener>,
}

impl Listeners {
    fn into_fds(self) -> impl Iterator<Item = OwnedFd> {
        let used = [
            self.a_main,
            self.a_dual,
            self.b_main,
            self.b_v6,
            self.b_zero_window,
        ];
        used.into_iter().chain(self.rest).map(OwnedFd::from)
    }
}

impl Zoo {
    /// LISTEN: IPv4, IPv6-only and dual-stack wildcards, specific
    /// addresses, and one listener with a connection it never accepts (that
    /// child is ESTABLISHED without an inode, and counts in Recv-Q).
    fn listeners(&mut self) -> Listeners {
        let b_syn = sa(self.lab.v4(B, chan::SYN_RECV), port::B_SYN_RECV);
        let b_zero = sa(self.lab.v4(B, chan::ZERO_WINDOW), port::B_ZERO_WINDOW);
        let (a_main, a_v6, a_dual, a_backlog) = self.lab.a.enter(|| {
            (
                sock::listen(v4_any(port::A_MAIN), None, None),
                sock::listen(v6_any(port::A_MAIN), Some(true), None),
                sock::listen(v6_any(port::A_DUAL), Some(false), None),
                sock::listen(lo(port::A_BACKLOG), None, None),
            )
        });
        let (b_main, b_v6, b_syn_recv, b_zero_window) = self.lab.b.enter(|| {
            (
                sock::listen(v4_any(port::B_MAIN), None, None),
                sock::listen(v6_any(port::B_MAIN), Some(true), None),
                sock::listen(b_syn, None, None),
                // The smallest receive buffer the kernel allows, inherited
                // by the accepted socket: its window closes after a few KiB.
                sock::listen(b_zero, None, Some(1)),
            )
        });
        let listeners = [
            (A, "listen v4", v4_any(port::A_MAIN)),
            (A, "listen v6only", v6_any(port::A_MAIN)),
            (A, "listen dual-stack", v6_any(port::A_DUAL)),
            (B, "listen v4", v4_any(port::B_MAIN)),
            (B, "listen v6only", v6_any(port::B_MAIN)),
            (B, "listen syn-recv", b_syn),
            (B, "listen small rcvbuf", b_zero),
        ];
        for (side, name, addr) in listeners {
            self.expect(side, name, listening(addr), "LISTEN", "off");
        }

        let backlog = lo(port::A_BACKLOG);
        let client = self
            .lab
            .a
            .enter(|| sock::connect_from(Ipv4Addr::LOCALHOST.into(), backlog));
        let key = (client.local_addr().expect("local addr"), backlog);
        self.expect(
            A,
            "listen with backlog",
            listening(backlog),
            "LISTEN",
            "off",
        )
        .recv_q(1);
        self.expect(A, "unaccepted child", rev(key), "ESTABLISHED", "off")
            .no_inode();
        self.expect(A, "client of unaccepted", key, "ESTABLISHED", "off");
        self.keep(client);
        Listeners {
            a_main,
            a_dual,
            b_main,
            b_v6,
            b_zero_window,
            rest: vec![a_v6, a_backlog, b_syn_recv],
        }
    }
}
