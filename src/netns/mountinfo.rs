//! The network namespaces bind-mounted somewhere, read from
//! `/proc/self/mountinfo` (proc(5)): a line per mount,
//!
//! ```text
//! 412 29 0:4 net:[4026532288] /run/netns/blue rw,... shared:5 - nsfs nsfs rw
//! ```
//!
//! where the fourth field is the mount's root within its filesystem (for
//! nsfs, the namespace, `net:[INODE]`) and the fifth its mount point, with
//! space, tab, newline and backslash written as octal escapes (`\040`).
//! The text is the kernel's, but paths in it are whatever mount points
//! anyone chose: parsed with bounds, any line that does not fit skipped.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// `(namespace inode, mount point)` of every nsfs mount of a network
/// namespace in `text`.
pub fn net_namespaces(text: &[u8]) -> Vec<(u64, PathBuf)> {
    text.split(|&b| b == b'\n')
        .filter_map(net_namespace)
        .collect()
}

/// One mountinfo line, if it is an nsfs mount of a network namespace.
fn net_namespace(line: &[u8]) -> Option<(u64, PathBuf)> {
    let mut fields = line.split(|&b| b == b' ');
    let root = fields.nth(3)?;
    let mount_point = fields.next()?;
    // Optional fields, then "-", then the filesystem type.
    let fstype = fields.skip_while(|f| *f != b"-").nth(1)?;
    if fstype != b"nsfs" {
        return None;
    }
    let inode = root.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    let inode = std::str::from_utf8(inode).ok()?.parse().ok()?;
    Some((
        inode,
        PathBuf::from(OsString::from_vec(unescape(mount_point)?)),
    ))
}

/// Undoes mountinfo's octal escapes (`\040` for a space). A backslash not
/// followed by three octal digits makes the path unreadable: `None`.
fn unescape(field: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(field.len());
    let mut rest = field;
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'\\' {
            out.push(b);
            rest = tail;
            continue;
        }
        let digits = tail.get(..3)?;
        if !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
            return None;
        }
        let value = digits.iter().fold(0u16, |v, d| v * 8 + u16::from(d - b'0'));
        out.push(u8::try_from(value).ok()?);
        rest = &tail[3..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"\
22 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
412 29 0:4 net:[4026532288] /run/netns/blue rw shared:5 - nsfs nsfs rw
413 29 0:4 net:[4026532288] /var/run/netns/blue rw shared:5 - nsfs nsfs rw
500 30 0:4 net:[4026532999] /var/run/docker/netns/1a2b3c4d rw - nsfs nsfs rw
501 30 0:4 mnt:[4026532111] /tmp/mntns rw - nsfs nsfs rw
502 30 0:4 net:[4026533000] /tmp/with\\040space rw master:1 - nsfs nsfs rw
503 30 0:4 net:[12x] /tmp/bad rw - nsfs nsfs rw
504 30 0:4 net:[77] /tmp/bad\\9 rw - nsfs nsfs rw
505 30 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw
";

    #[test]
    fn nsfs_mounts_of_network_namespaces_are_found() {
        let found = net_namespaces(SAMPLE);
        let paths: Vec<(u64, &str)> = found
            .iter()
            .map(|(i, p)| (*i, p.to_str().unwrap()))
            .collect();
        assert_eq!(
            paths,
            [
                (4026532288, "/run/netns/blue"),
                (4026532288, "/var/run/netns/blue"),
                (4026532999, "/var/run/docker/netns/1a2b3c4d"),
                (4026533000, "/tmp/with space"),
            ]
        );
    }

    #[test]
    fn escapes_are_undone_and_bad_ones_refused() {
        assert_eq!(unescape(b"a\\040b\\011c\\134").unwrap(), b"a b\tc\\");
        assert_eq!(unescape(b"a\\04"), None);
        assert_eq!(unescape(b"a\\999"), None);
        assert_eq!(unescape(b"\\777"), None, "past a byte");
    }

    #[test]
    fn truncated_and_garbage_lines_are_skipped() {
        for line in [
            &b""[..],
            b"1 2 3",
            b"1 2 3 net:[5]",
            b"1 2 3 net:[5] /x",
            b"1 2 3 net:[5] /x rw -",
            b"1 2 3 net:[18446744073709551616] /x rw - nsfs nsfs rw",
        ] {
            assert_eq!(net_namespaces(line), [], "{line:?}");
        }
    }
}
