//! `-s -N all`: one summary per network namespace, each with its own
//! limits (`tcp_max_tw_buckets` and `ip_local_port_range` are per
//! namespace), and every finding saying which container, service or
//! namespace it is in.

use super::{summarize, Finding, Summary};
use crate::diagnose::Sysctls;
use crate::model::Socket;
use crate::owners::ProcessMap;

/// A namespace to summarise.
#[derive(Debug, Clone)]
pub struct Place {
    /// Its inode (what its rows carry in `Socket::netns`).
    pub netns: u64,
    /// What it is, for a sentence: `container api-7f9c`, `service
    /// nginx.service`, `namespace blue`, `the host`.
    pub within: String,
    /// Its limits, read inside it.
    pub sys: Sysctls,
}

/// One namespace's summary.
#[derive(Debug)]
pub struct NamespaceSummary {
    /// The namespace's inode.
    pub netns: u64,
    /// What it is (see [`Place::within`]).
    pub within: String,
    /// Its summary; each finding's message starts `in <within>: `.
    pub summary: Summary,
}

/// Summarises the rows of each place, in the order of `places` (`sockets`
/// is sorted by namespace, keeping the order within each). Rows of a
/// namespace not in `places` are left out.
pub fn summarize_each(
    sockets: &mut [Socket],
    owners: Option<&ProcessMap>,
    places: &[Place],
) -> Vec<NamespaceSummary> {
    sockets.sort_by_key(|s| s.netns);
    places
        .iter()
        .map(|place| {
            let rows = crate::model::in_netns(sockets, place.netns);
            let mut summary = summarize(rows, owners, &place.sys);
            for f in &mut summary.findings {
                f.message = format!("in {}: {}", place.within, f.message);
            }
            NamespaceSummary {
                netns: place.netns,
                within: place.within.clone(),
                summary,
            }
        })
        .collect()
}

/// Every namespace's findings, most serious first (in the order of the
/// namespaces within one severity).
pub fn all_findings(each: &[NamespaceSummary]) -> Vec<(&NamespaceSummary, &Finding)> {
    let mut all: Vec<(&NamespaceSummary, &Finding)> = each
        .iter()
        .flat_map(|ns| ns.summary.findings.iter().map(move |f| (ns, f)))
        .collect();
    all.sort_by_key(|(_, f)| f.severity);
    all
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnose::summary::tests::{dump, sys};
    use crate::diagnose::summary::Severity;

    #[test]
    fn each_namespace_is_summarised_alone_and_named_in_its_findings() {
        // The fixture dump twice: once in namespace 7, once in 3, and a
        // socket in namespace 9, which is not asked for.
        let mut rows: Vec<Socket> = dump();
        let half = rows.len();
        rows.extend(dump());
        for (i, s) in rows.iter_mut().enumerate() {
            s.netns = if i < half { 7 } else { 3 };
        }
        let mut stray = dump().remove(0);
        stray.netns = 9;
        rows.insert(5, stray);
        let place = |netns, within: &str| Place {
            netns,
            within: within.into(),
            sys: sys(),
        };
        let places = [place(7, "container api-7f9c"), place(3, "the host")];
        let each = summarize_each(&mut rows, None, &places);
        let alone = summarize(&dump(), None, &sys());
        assert_eq!(each.len(), 2);
        assert_eq!(each[0].netns, 7);
        for ns in &each {
            assert_eq!(ns.summary.total, alone.total);
            assert_eq!(ns.summary.states, alone.states);
            assert_eq!(ns.summary.findings.len(), alone.findings.len());
            for (f, plain) in ns.summary.findings.iter().zip(&alone.findings) {
                assert_eq!(f.message, format!("in {}: {}", ns.within, plain.message));
            }
        }
        let all = all_findings(&each);
        assert_eq!(all.len(), 2 * alone.findings.len());
        assert!(all.windows(2).all(|w| w[0].1.severity <= w[1].1.severity));
        assert_eq!(all[0].1.severity, Severity::High);
        assert!(all[0].1.message.starts_with("in container api-7f9c: "));
    }
}
