//! Which namespaces a word a person typed stands for: `-N NAME` and the
//! filter's `netns NAME`. A word names a namespace when it is
//!
//! - its label (`host`, a container's name or short id, a service, an
//!   `ip netns` name, `pid:comm`, `net:[INODE]`), or one of its `ip netns`
//!   names, its systemd unit, or its pod's `namespace/name` or name;
//! - the name the engine gives its container;
//! - a prefix of its container's id (as `docker` takes them);
//! - its inode, as a number or `net:[INODE]`.
//!
//! A word that names none gets the close matches among these names, for a
//! one-line error.

use super::label::{Label, Labels};

/// Most close matches an error lists.
const CLOSE_MAX: usize = 5;

pub use crate::filter::netns_inode as inode_of;

/// True when `word` names the namespace `inode` labelled `label`.
pub fn names(inode: u64, label: &Label, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    inode_of(word) == Some(inode)
        || label.name == word
        || label.names.iter().any(|n| n == word)
        || label.unit.as_deref() == Some(word)
        || label.container.as_ref().is_some_and(|c| {
            c.name.as_deref() == Some(word) || is_id_prefix(word) && c.id.starts_with(word)
        })
        || label.pod.as_ref().is_some_and(|p| {
            p.name.as_deref().is_some_and(|full| {
                full == word || full.split_once('/').is_some_and(|(_, n)| n == word)
            })
        })
}

/// A word that can be the start of a container id: lowercase hex.
fn is_id_prefix(word: &str) -> bool {
    word.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The namespaces `word` names, by inode, in order.
pub fn matching(labels: &Labels, word: &str) -> Vec<u64> {
    let mut inodes: Vec<u64> = labels
        .iter()
        .filter(|(inode, label)| names(**inode, label, word))
        .map(|(inode, _)| *inode)
        .collect();
    inodes.sort_unstable();
    inodes
}

/// Up to five names among `labels` close to `word` (a few edits
/// away, or one containing the other), closest first.
pub fn close_matches(labels: &Labels, word: &str) -> Vec<String> {
    let mut scored: Vec<(usize, String)> = labels
        .values()
        .flat_map(candidates)
        .filter_map(|name| {
            let distance = edit_distance(word, &name);
            let near = distance <= (word.chars().count() / 3).max(2)
                || (word.len() >= 3 && (name.contains(word) || word.contains(name.as_str())));
            near.then_some((distance, name))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().take(CLOSE_MAX).map(|(_, n)| n).collect()
}

/// The names a person may type for a namespace.
fn candidates(label: &Label) -> Vec<String> {
    let mut all = vec![label.name.clone()];
    all.extend(label.names.iter().cloned());
    all.extend(label.unit.iter().cloned());
    all.extend(label.container.as_ref().and_then(|c| c.name.clone()));
    all.extend(label.pod.as_ref().and_then(|p| p.name.clone()));
    all
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The one-line text of a word that names no namespace: what is close.
pub fn none_named(labels: &Labels, word: &str) -> String {
    let close = close_matches(labels, word);
    if close.is_empty() {
        format!(
            "no network namespace, container or ip netns name is called {word:?} \
             ({} namespaces found; `tcpstat -N all -tan` lists them)",
            labels.len()
        )
    } else {
        format!(
            "no network namespace, container or ip netns name is called {word:?}; \
             close matches: {}",
            close.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netns::label::{Container, Pod};

    const ID: &str = "7f9c2b1a0c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f";

    fn labels() -> Labels {
        let container = Label {
            name: "api-7f9c".into(),
            container: Some(Container {
                runtime: "docker",
                id: ID.into(),
                name: Some("api-7f9c".into()),
            }),
            pod: Some(Pod {
                uid: "0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d".into(),
                name: Some("shop/api".into()),
            }),
            ..Label::default()
        };
        let named = Label {
            name: "blue".into(),
            names: vec!["blue".into(), "cni-1234".into()],
            ..Label::default()
        };
        let service = Label {
            name: "nginx.service".into(),
            unit: Some("nginx.service".into()),
            ..Label::default()
        };
        let host = Label {
            name: "host".into(),
            ..Label::default()
        };
        [(1, host), (2, container), (3, named), (4, service)]
            .into_iter()
            .collect()
    }

    #[test]
    fn each_kind_of_name_selects_its_namespace() {
        let labels = labels();
        for (word, inode) in [
            ("host", 1),
            ("api-7f9c", 2),
            ("7f9c", 2),
            (&ID[..12], 2),
            (ID, 2),
            ("shop/api", 2),
            ("api", 2),
            ("blue", 3),
            ("cni-1234", 3),
            ("nginx.service", 4),
            ("4", 4),
            ("net:[3]", 3),
        ] {
            assert_eq!(matching(&labels, word), [inode], "{word}");
        }
        for word in ["", "7F9C", "nginx", "net:[9]", "7f9cx", "green"] {
            assert!(matching(&labels, word).is_empty(), "{word}");
        }
    }

    #[test]
    fn inodes_are_numbers_or_net_brackets() {
        assert_eq!(inode_of("4026531840"), Some(4026531840));
        assert_eq!(inode_of("net:[4026531840]"), Some(4026531840));
        assert_eq!(inode_of("net:[x]"), None);
        assert_eq!(inode_of("api"), None);
        assert_eq!(inode_of("-1"), None);
    }

    #[test]
    fn an_unknown_word_lists_what_is_close() {
        let labels = labels();
        assert_eq!(close_matches(&labels, "api-7f9d"), ["api-7f9c"]);
        assert_eq!(close_matches(&labels, "nginx"), ["nginx.service"]);
        assert_eq!(close_matches(&labels, "bleu"), ["blue"]);
        assert!(close_matches(&labels, "zzzzzzzzzz").is_empty());
        assert_eq!(
            none_named(&labels, "api-7f9d"),
            "no network namespace, container or ip netns name is called \"api-7f9d\"; \
             close matches: api-7f9c"
        );
        assert!(none_named(&labels, "zzzzzzzzzz").contains("(4 namespaces found;"));
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("api", "api"), 0);
    }
}
