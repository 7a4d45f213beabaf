//! A temporary rules root, removed when dropped.

use std::path::{Path, PathBuf};

pub struct RulesDir {
    path: PathBuf,
}

impl RulesDir {
    /// An empty rules root named after `tag`.
    pub fn new(tag: &str) -> RulesDir {
        let path = std::env::temp_dir().join(format!("crawlfleet-{tag}"));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create rules dir");
        RulesDir { path }
    }

    /// Writes module `name` (`shop.a` → `shop/a.lua`) with `source`; returns its path.
    pub fn write(&self, name: &str, source: &str) -> PathBuf {
        let file = self.path.join(format!("{}.lua", name.replace('.', "/")));
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).expect("create module dir");
        }
        std::fs::write(&file, source).expect("write module");
        file
    }

    /// Writes a file outside the module layout (for the publisher to read), returns its path.
    pub fn scratch(&self, file: &str, source: &str) -> PathBuf {
        let dir = self.path.with_extension("scratch");
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        let path = dir.join(file);
        std::fs::write(&path, source).expect("write scratch file");
        path
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for RulesDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir_all(self.path.with_extension("scratch"));
    }
}
