//! Module names (`shop.products`) and their one-to-one mapping to paths (`shop/products.lua`).

use std::fmt;

/// A validated dotted module name: segments of `[A-Za-z0-9_-]`, separated by dots.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModuleName(String);

/// Why a string is not a module name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("module name is empty")]
    Empty,
    #[error("module name `{0}` is longer than 128 characters")]
    TooLong(String),
    #[error(
        "module name `{0}` is not dotted segments of letters, digits, `_` or `-` (like `shop.products`)"
    )]
    Invalid(String),
}

impl ModuleName {
    /// Validates `name`.
    pub fn new(name: &str) -> Result<ModuleName, NameError> {
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.len() > 128 {
            return Err(NameError::TooLong(name.chars().take(40).collect()));
        }
        let segment_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if name.split('.').all(segment_ok) {
            Ok(ModuleName(name.to_owned()))
        } else {
            Err(NameError::Invalid(name.to_owned()))
        }
    }

    /// The module a path relative to the rules root names (`shop/products.lua` → `shop.products`).
    pub fn from_relative_path(path: &str) -> Option<ModuleName> {
        let stem = path.strip_suffix(".lua")?;
        ModuleName::new(&stem.replace('/', ".")).ok()
    }

    /// The path, relative to the rules root, where this module lives.
    pub fn relative_path(&self) -> String {
        format!("{}.lua", self.0.replace('.', "/"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ModuleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_paths_and_back() {
        let n = ModuleName::new("shop.products").expect("valid");
        assert_eq!(n.relative_path(), "shop/products.lua");
        assert_eq!(ModuleName::from_relative_path("shop/products.lua"), Some(n));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a..b", ".a", "a.", "a/b", "../x", "a b", "ä"] {
            assert!(ModuleName::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(ModuleName::new(&"a".repeat(129)).is_err());
    }
}
