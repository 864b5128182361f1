//! Matching the destroy notifications of aborts. An abort
//! (`tcp_disconnect`: `SO_LINGER` 0, or a reset while unread data waited)
//! clears the remote port, and the local address unless bound, before the
//! kernel notifies, so such a notification is matched on what is left of
//! its connection's key (in the namespace it was heard in).

use std::collections::HashMap;

use super::key::Key;
use crate::model::{Family, Socket};

/// What a notification of an abort keeps of a connection's addresses:
/// its family, local port and remote address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Remains {
    netns: u64,
    family: Family,
    local_port: u16,
    remote: std::net::IpAddr,
}

/// Keys of connections by their [`Remains`], so that matching a burst of
/// aborts costs one pass over the keys, not one per abort. Each bucket is
/// in the order of the keys' entry numbers, with a cursor past the entries
/// found taken.
pub(super) struct ByRemains(HashMap<Remains, (Vec<(u64, Key)>, usize)>);

impl ByRemains {
    /// Indexes `(entry number, key)` pairs (the number orders a bucket).
    pub(super) fn new(entries: impl Iterator<Item = (u64, Key)>) -> ByRemains {
        let mut map: HashMap<Remains, (Vec<(u64, Key)>, usize)> = HashMap::new();
        for (n, k) in entries.filter(|(_, k)| k.listener == 0 && k.remote.port != 0) {
            let remains = Remains {
                netns: k.netns,
                family: k.family,
                local_port: k.local.port,
                remote: k.remote.addr,
            };
            map.entry(remains).or_default().0.push((n, k));
        }
        for (bucket, _) in map.values_mut() {
            bucket.sort_unstable_by_key(|&(n, _)| n);
        }
        ByRemains(map)
    }

    fn remains(dead: &Socket) -> Remains {
        Remains {
            netns: dead.netns,
            family: dead.family,
            local_port: dead.local.port,
            remote: dead.remote.addr,
        }
    }

    /// The keys that the aborted `dead` may have had: what its
    /// notification kept, and the local address when that was kept too.
    pub(super) fn matching<'a>(&'a self, dead: &'a Socket) -> impl Iterator<Item = &'a Key> + 'a {
        self.0
            .get(&Self::remains(dead))
            .into_iter()
            .flat_map(|(bucket, from)| &bucket[*from..])
            .map(|(_, k)| k)
            .filter(|k| kept_local(dead, k))
    }

    /// The oldest key `dead` may have had among the entries `live` says
    /// are still remembered (by key and entry number). Entries found taken
    /// at the front of the bucket are skipped for good.
    pub(super) fn take_oldest(
        &mut self,
        dead: &Socket,
        live: impl Fn(&Key, u64) -> bool,
    ) -> Option<Key> {
        let (bucket, from) = self.0.get_mut(&Self::remains(dead))?;
        while bucket.get(*from).is_some_and(|(n, k)| !live(k, *n)) {
            *from += 1;
        }
        let at = bucket[*from..]
            .iter()
            .position(|(n, k)| live(k, *n) && kept_local(dead, k))?;
        let (_, key) = bucket[*from + at];
        if at == 0 {
            *from += 1;
        }
        Some(key)
    }
}

/// True unless the aborted `dead` kept a local address that `k` does not
/// have.
fn kept_local(dead: &Socket, k: &Key) -> bool {
    dead.local.addr.is_unspecified() || k.local.addr == dead.local.addr
}
