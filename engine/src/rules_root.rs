//! The rules root on disk: safe resolution of update paths and the scan of the base layer.
//!
//! A path in an update is relative to the root, must name the module's own file
//! (`shop.products` ↔ `shop/products.lua`), and must not leave the root by `..`, by being
//! absolute, or through a symlink.

use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::{ModuleName, ModuleSource};

/// The largest module source the engine reads.
pub const MAX_SOURCE_BYTES: u64 = 1024 * 1024;

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path `{0}` is absolute; paths are relative to the rules root")]
    Absolute(String),
    #[error("path `{0}` escapes the rules root")]
    Escapes(String),
    #[error("path `{path}` does not name module `{module}` (expected `{expected}`)")]
    Mismatch {
        path: String,
        module: String,
        expected: String,
    },
    #[error("path `{0}` does not exist under the rules root")]
    NotFound(String),
    #[error("`{0}` is larger than {MAX_SOURCE_BYTES} bytes")]
    TooLarge(String),
    #[error("`{0}` is not UTF-8 text")]
    NotUtf8(String),
    #[error("cannot read `{0}`: {1}")]
    Io(String, String),
}

/// A canonicalised rules root directory.
#[derive(Debug, Clone)]
pub struct RulesRoot {
    root: PathBuf,
}

/// A file of the root that could not be taken into the base layer.
#[derive(Debug, Clone)]
pub struct ScanError {
    pub path: String,
    pub error: String,
}

impl RulesRoot {
    /// Opens `path`, which must be an existing directory.
    pub fn open(path: &Path) -> io::Result<RulesRoot> {
        let root = fs::canonicalize(path)?;
        if !root.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("{} is not a directory", path.display()),
            ));
        }
        Ok(RulesRoot { root })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Checks that `relative` is the file of `module` inside the root; returns its full path,
    /// which need not exist.
    pub fn check(&self, module: &ModuleName, relative: &str) -> Result<PathBuf, PathError> {
        let path = Path::new(relative);
        if path.is_absolute() || relative.starts_with('/') || relative.starts_with('\\') {
            return Err(PathError::Absolute(relative.to_owned()));
        }
        if path
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(PathError::Escapes(relative.to_owned()));
        }
        let expected = module.relative_path();
        if relative != expected {
            return Err(PathError::Mismatch {
                path: relative.to_owned(),
                module: module.to_string(),
                expected,
            });
        }
        let full = self.root.join(path);
        // The deepest part of the path that exists must still be inside the root once
        // symlinks are resolved.
        let mut existing = full.as_path();
        loop {
            if let Ok(real) = fs::canonicalize(existing) {
                if !real.starts_with(&self.root) {
                    return Err(PathError::Escapes(relative.to_owned()));
                }
                break;
            }
            match existing.parent() {
                Some(parent) => existing = parent,
                None => break,
            }
        }
        Ok(full)
    }

    /// Reads the source of `module` from `relative` under the root.
    pub fn read(&self, module: &ModuleName, relative: &str) -> Result<String, PathError> {
        let full = self.check(module, relative)?;
        let real = fs::canonicalize(&full).map_err(|_| PathError::NotFound(relative.to_owned()))?;
        if !real.starts_with(&self.root) {
            return Err(PathError::Escapes(relative.to_owned()));
        }
        read_source(&real, relative)
    }

    /// Reads every `*.lua` file under the root as a version-0 module source.
    pub fn scan(&self) -> (Vec<ModuleSource>, Vec<ScanError>) {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        let mut dirs = vec![self.root.clone()];
        while let Some(dir) = dirs.pop() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    errors.push(ScanError {
                        path: dir.display().to_string(),
                        error: e.to_string(),
                    });
                    continue;
                }
            };
            let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
            entries.sort_by_key(|e| e.file_name());
            for entry in entries {
                let path = entry.path();
                let Ok(relative) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let relative = relative.to_string_lossy().replace('\\', "/");
                if relative.split('/').any(|c| c.starts_with('.')) {
                    continue;
                }
                let real = match fs::canonicalize(&path) {
                    Ok(real) if real.starts_with(&self.root) => real,
                    _ => {
                        errors.push(ScanError {
                            path: relative,
                            error: "escapes the rules root".to_owned(),
                        });
                        continue;
                    }
                };
                if real.is_dir() {
                    dirs.push(path);
                    continue;
                }
                if !relative.ends_with(".lua") {
                    continue;
                }
                let Some(name) = ModuleName::from_relative_path(&relative) else {
                    errors.push(ScanError {
                        path: relative,
                        error: "is not a valid module name".to_owned(),
                    });
                    continue;
                };
                match read_source(&real, &relative) {
                    Ok(text) => sources.push(ModuleSource::new(name, text, 0)),
                    Err(e) => errors.push(ScanError {
                        path: relative,
                        error: e.to_string(),
                    }),
                }
            }
        }
        sources.sort_by(|a, b| a.name.cmp(&b.name));
        (sources, errors)
    }
}

fn read_source(real: &Path, relative: &str) -> Result<String, PathError> {
    let io_err = |e: io::Error| PathError::Io(relative.to_owned(), e.to_string());
    let len = fs::metadata(real).map_err(io_err)?.len();
    if len > MAX_SOURCE_BYTES {
        return Err(PathError::TooLarge(relative.to_owned()));
    }
    let bytes = fs::read(real).map_err(io_err)?;
    String::from_utf8(bytes).map_err(|_| PathError::NotUtf8(relative.to_owned()))
}
