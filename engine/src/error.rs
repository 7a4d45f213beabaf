//! Typed errors of loads and calls; their variants decide how callers settle messages and jobs.

use std::fmt;

/// Where a load (or reload) failed. Reported as the `stage` field of `rule reload failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The update message could not be decoded (bad JSON, missing fields, bad name).
    Decode,
    /// Signed pushes are required and this one is unsigned, signed by an unknown key, or
    /// its signature does not cover exactly what it carries.
    Signature,
    /// The path is absolute, escapes the rules root, does not name the module, or is missing.
    Path,
    /// The source does not match the sha256 the update carries.
    Checksum,
    /// The version is not newer than the live one.
    Version,
    /// The source does not compile (syntax error, or a binary chunk).
    Compile,
    /// The module's top level raised an error.
    Evaluate,
    /// The module's top level ran past its time budget.
    Budget,
    /// The module's top level ran past its memory limit.
    Memory,
    /// The module returned something that is not a rule module.
    Shape,
    /// A rule that requires this module failed to load with the new version.
    Dependent,
    /// The module's `migrate(old_state)` failed.
    Migrate,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Signature => "signature",
            Stage::Path => "path",
            Stage::Checksum => "checksum",
            Stage::Version => "version",
            Stage::Compile => "compile",
            Stage::Evaluate => "evaluate",
            Stage::Budget => "budget",
            Stage::Memory => "memory",
            Stage::Shape => "shape",
            Stage::Dependent => "dependent",
            Stage::Migrate => "migrate",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A module version that was refused. The live version keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LoadError {
    pub stage: Stage,
    /// One line, with the Lua line number where there is one.
    pub message: String,
}

impl LoadError {
    pub fn new(stage: Stage, message: impl Into<String>) -> LoadError {
        LoadError {
            stage,
            message: message.into(),
        }
    }
}

/// A call into a rule that did not produce a result. Every variant is permanent for the job
/// that made the call: retrying the same page on the same rule version gives the same outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("rule raised an error: {0}")]
    Runtime(String),
    #[error("rule ran past its time budget of {0} ms")]
    Budget(u128),
    #[error("rule ran past its memory limit of {0} MiB")]
    Memory(usize),
    #[error("rule returned a bad result: {0}")]
    BadOutput(String),
    #[error("module `{0}` is not a rule (it has no `parse` function)")]
    NotARule(String),
    /// The page is past the HTML model's bounds (nodes, attributes).
    #[error("the page is too complex: {0}")]
    PageTooComplex(String),
    /// What the rule returned (or logged, or kept as state) is past its size bound.
    #[error("rule output too large: {0}")]
    OutputTooLarge(String),
}

impl CallError {
    /// A short machine-readable reason, used in dead-letter headers and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            CallError::Runtime(_) => "rule_error",
            CallError::Budget(_) => "rule_budget",
            CallError::Memory(_) => "rule_memory",
            CallError::BadOutput(_) => "rule_output",
            CallError::NotARule(_) => "not_a_rule",
            CallError::PageTooComplex(_) => "page_too_complex",
            CallError::OutputTooLarge(_) => "rule_output_too_large",
        }
    }
}
