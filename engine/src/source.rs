//! A module's source text as the engine receives it: name, text, sha256 and push version.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::ModuleName;

/// One version of one module's source. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ModuleSource {
    pub name: ModuleName,
    pub text: Arc<str>,
    /// Lower-case hex sha256 of `text`.
    pub sha256: String,
    /// Fleet-wide push sequence number; 0 for the base layer read from the rules root.
    pub version: u64,
}

impl ModuleSource {
    /// Wraps `text`, computing its sha256.
    pub fn new(name: ModuleName, text: impl Into<Arc<str>>, version: u64) -> ModuleSource {
        let text = text.into();
        let sha256 = sha256_hex(text.as_bytes());
        ModuleSource {
            name,
            text,
            sha256,
            version,
        }
    }
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_matches_known_vector() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
