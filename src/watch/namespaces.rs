//! `-N all` in watch mode (`-c`, `--events`) and in `top`: the namespaces are found
//! again before every pass, by the discovery the start made
//! ([`crate::netns::all::discover`]: every `/proc/PID/ns/net`, the `ip
//! netns` names, nsfs mounts), so that a namespace (a container) created
//! during the watch is read from the next pass on, labelled as those found
//! at the start were, and one that is gone is dropped, said under -v.
//!
//! The labels of a namespace gone are kept for one more pass: its last
//! sockets' `gone` events still name it.
//!
//! The kernel reuses a deleted namespace's inode for the next one made.
//! A namespace found under a known inode by another path is labelled
//! again, and when the label says it is another namespace (another
//! container, no `ip netns` name in common, another unit) it counts as
//! the old one gone and a new one appeared, so that it is never shown
//! under the old one's name. A filter's `netns NAME` was
//! resolved to inodes at the start; a namespace created later is read only
//! when it has one of those inodes (never, in practice): the filter could
//! keep none of its sockets.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::collect::each_netns::Target;
use crate::collect::Collector;
use crate::config::Config;
use crate::error::note;
use crate::netns::all::Found;
use crate::netns::label::{Label, Labels};

/// The namespaces `-N all` reads, from one pass to the next.
pub struct Namespaces {
    proc_root: PathBuf,
    verbose: bool,
    /// What the filter's `netns NAME` resolved to; `None`: every namespace.
    bound: Option<Vec<u64>>,
    /// The namespaces read by the coming pass.
    targets: Vec<Target>,
    /// Namespaces found gone by the last discovery: their labels go at the
    /// next one.
    retired: Vec<u64>,
}

/// What one discovery changed.
#[derive(Debug, Default)]
pub struct Change {
    /// Namespaces found that were not read before.
    pub appeared: Vec<Target>,
    /// Namespaces read before that are gone.
    pub gone: Vec<u64>,
    /// Namespaces found gone by the discovery before, whose labels went
    /// now.
    pub forgotten: Vec<u64>,
}

impl Change {
    /// Whether the namespaces read, or their labels, changed.
    pub fn is_empty(&self) -> bool {
        self.appeared.is_empty() && self.gone.is_empty() && self.forgotten.is_empty()
    }
}

impl Namespaces {
    /// The namespaces found at the start (`targets`, already bounded by
    /// the filter).
    pub fn new(cfg: &Config, targets: &[Target]) -> Namespaces {
        Namespaces {
            proc_root: cfg.proc_root.clone(),
            verbose: cfg.verbose > 0,
            bound: cfg.filter.netns_bound(),
            targets: targets.to_vec(),
            retired: Vec::new(),
        }
    }

    /// The namespaces to read.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Whether the path `inode` was found by no longer opens it (its
    /// process exited, its name was deleted): the inode may be another
    /// namespace's now, and a discovery will tell. False for one not read.
    pub fn moved(&self, inode: u64) -> bool {
        self.targets
            .iter()
            .find(|t| t.inode == inode)
            .is_some_and(|t| !t.still_there())
    }

    /// Finds the namespaces again: a new one is labelled into `labels`
    /// and read from now on, one gone is no longer read (said under -v).
    pub fn refresh(&mut self, labels: &mut Labels) -> Change {
        let found = crate::netns::all::discover(&self.proc_root);
        self.update(found, labels)
    }

    /// [`Namespaces::refresh`], and `collector` reads what was found from
    /// its next pass on: always, not only when the set changed, since a
    /// namespace may now be reached by another path (the process whose
    /// `/proc/PID/ns/net` opened it has exited, another holds it).
    pub fn refresh_for(&mut self, labels: &mut Labels, collector: &mut Collector<'_>) -> Change {
        let change = self.refresh(labels);
        collector.set_namespaces(self.targets());
        change
    }

    /// [`Namespaces::refresh`] with what a discovery found.
    fn update(&mut self, found: Vec<Found>, labels: &mut Labels) -> Change {
        let mut change = Change::default();
        for inode in self.retired.drain(..) {
            labels.remove(&inode);
            change.forgotten.push(inode);
        }
        let bound = &self.bound;
        let found: Vec<Found> = found
            .into_iter()
            .filter(|f| bound.as_ref().is_none_or(|b| b.contains(&f.inode)))
            .collect();
        let before: HashMap<u64, &PathBuf> =
            self.targets.iter().map(|t| (t.inode, &t.path)).collect();
        let now: HashSet<u64> = found.iter().map(|f| f.inode).collect();
        let mut fresh = Labels::new();
        let mut reused = Vec::new();
        for f in &found {
            let label = match before.get(&f.inode) {
                None => Label::of(f, &self.proc_root),
                Some(path) if **path == f.path => continue,
                Some(_) => {
                    let label = Label::of(f, &self.proc_root);
                    match labels.get(&f.inode) {
                        Some(old) if !old.is_other_than(&label) => continue,
                        _ => {}
                    }
                    reused.push(f.inode);
                    label
                }
            };
            fresh.insert(f.inode, label);
            change.appeared.push(Target::from(f));
        }
        if let Err(e) = crate::netns::label::ask_engine(&mut fresh) {
            if self.verbose {
                note(format_args!(
                    "container engine: {e}; containers are named by their short ids"
                ));
            }
        }
        for inode in &reused {
            if let Some(old) = labels.get(inode) {
                self.say("is gone (its inode is another's now)", *inode, old);
            }
            change.gone.push(*inode);
        }
        for (inode, label) in fresh {
            self.say("appeared: read from this pass on", inode, &label);
            labels.insert(inode, label);
        }
        for t in self.targets.iter().filter(|t| !now.contains(&t.inode)) {
            if let Some(label) = labels.get(&t.inode) {
                self.say("is gone: no longer read", t.inode, label);
            }
            change.gone.push(t.inode);
            self.retired.push(t.inode);
        }
        self.targets = found.iter().map(Target::from).collect();
        change
    }

    fn say(&self, what: &str, inode: u64, label: &Label) {
        if self.verbose {
            note(format_args!(
                "network namespace net:[{inode}] ({}) {what}",
                label.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    fn found(inode: u64, name: &str) -> Found {
        Found {
            inode,
            path: PathBuf::from(format!("/run/netns/{name}")),
            pid: None,
            names: vec![name.to_string()],
            host: false,
        }
    }

    fn namespaces(targets: &[Target]) -> Namespaces {
        Namespaces {
            proc_root: PathBuf::from("/nonexistent-proc"),
            verbose: false,
            bound: None,
            targets: targets.to_vec(),
            retired: Vec::new(),
        }
    }

    #[test]
    fn a_new_namespace_is_labelled_and_read_and_a_gone_one_dropped_a_pass_later() {
        let start = [Target::from(&found(1, "a")), Target::from(&found(2, "b"))];
        let mut labels = Labels::new();
        for f in [found(1, "a"), found(2, "b")] {
            labels.insert(f.inode, Label::of(&f, Path::new("/nonexistent-proc")));
        }
        let mut ns = namespaces(&start);
        let change = ns.update(vec![found(1, "a"), found(3, "c")], &mut labels);
        assert_eq!(change.appeared, vec![Target::from(&found(3, "c"))]);
        assert_eq!(change.gone, vec![2]);
        let read: Vec<u64> = ns.targets().iter().map(|t| t.inode).collect();
        assert_eq!(read, vec![1, 3]);
        assert_eq!(labels[&3].name, "c");
        // The gone one's label stays for its last events, then goes.
        assert!(labels.contains_key(&2));
        let change = ns.update(vec![found(1, "a"), found(3, "c")], &mut labels);
        assert!(change.appeared.is_empty() && change.gone.is_empty());
        assert_eq!(change.forgotten, vec![2]);
        assert!(!labels.contains_key(&2));
        let change = ns.update(vec![found(1, "a"), found(3, "c")], &mut labels);
        assert!(change.is_empty());
    }

    /// The kernel gave a deleted namespace's inode to the next one made:
    /// found by another path under another name, it is the old one gone
    /// and a new one appeared, never the old one's name. Found by another
    /// path alone (its process exited, another holds it), it is the same.
    #[test]
    fn an_inode_reused_by_another_namespace_is_relabelled() {
        let mut labels = Labels::new();
        let a = found(1, "a");
        labels.insert(1, Label::of(&a, Path::new("/nonexistent-proc")));
        let mut ns = namespaces(&[Target::from(&a)]);
        let change = ns.update(vec![found(1, "a")], &mut labels);
        assert!(change.is_empty());
        let change = ns.update(vec![found(1, "xc")], &mut labels);
        assert_eq!(change.gone, vec![1]);
        assert_eq!(change.appeared, vec![Target::from(&found(1, "xc"))]);
        assert_eq!(labels[&1].name, "xc");
        // Its label is not dropped a pass later as a gone one's would be.
        let change = ns.update(vec![found(1, "xc")], &mut labels);
        assert!(change.is_empty());
        assert_eq!(labels[&1].name, "xc");

        let by_pid = |pid: u32| Found {
            inode: 2,
            path: PathBuf::from(format!("/proc/{pid}/ns/net")),
            pid: Some(pid),
            names: Vec::new(),
            host: false,
        };
        labels.insert(2, Label::of(&by_pid(10), Path::new("/nonexistent-proc")));
        let mut ns = namespaces(&[Target::from(&by_pid(10))]);
        let change = ns.update(vec![by_pid(11)], &mut labels);
        assert!(change.is_empty(), "{change:?}");
        assert_eq!(ns.targets()[0].path, PathBuf::from("/proc/11/ns/net"));
    }

    /// A target whose path no longer opens its namespace has moved.
    #[test]
    fn a_path_that_no_longer_opens_its_namespace_has_moved() {
        let me = Path::new("/proc/self/ns/net");
        let inode = std::fs::metadata(me).unwrap().ino();
        let here = Target {
            inode,
            path: me.to_path_buf(),
        };
        let gone = Target {
            inode: inode + 1,
            path: PathBuf::from("/nonexistent-proc/1/ns/net"),
        };
        let ns = namespaces(&[here, gone]);
        assert!(!ns.moved(inode));
        assert!(ns.moved(inode + 1));
        assert!(!ns.moved(inode + 2), "not read: not moved");
    }

    #[test]
    fn a_filter_bound_keeps_new_namespaces_out() {
        let mut ns = namespaces(&[Target::from(&found(1, "a"))]);
        ns.bound = Some(vec![1]);
        let mut labels = Labels::new();
        let change = ns.update(vec![found(1, "a"), found(3, "c")], &mut labels);
        assert!(change.appeared.is_empty());
        assert_eq!(ns.targets().len(), 1);
        assert!(labels.is_empty());
    }
}
