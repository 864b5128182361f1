//! A fresh directory for one test under the system temp dir, named after
//! the test crate, a tag and the process, and removed on drop.

use std::path::PathBuf;

/// `tcpstat-<group>-<tag>-<pid>`, emptied first (a killed earlier run with
/// the same pid may have left it), removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(group: &str, tag: &str) -> TempDir {
        let name = format!("tcpstat-{group}-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    /// Writes `text` to `name` inside, making the directories it needs.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.0.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
