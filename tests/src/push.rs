//! `publisher push-rule --wait` as the tests run it: a rule version pushed to the fleet
//! through the operator's CLI, the fleet's outcome checked.

use std::path::Path;

use crate::{CliOutput, run_publisher};

/// Pushes the rule in `file` as `module` with `publisher push-rule --wait` and `extra`
/// flags; asserts that the fleet applied it (exit 0) and returns what the publisher printed.
pub async fn push_and_wait(prefix: &str, module: &str, file: &Path, extra: &[&str]) -> CliOutput {
    let file = file.to_str().expect("a UTF-8 path");
    let mut args = vec!["push-rule", module, file, "--wait"];
    args.extend_from_slice(extra);
    let out = run_publisher(prefix, &args).await;
    assert_eq!(out.code, 0, "push-rule {module} --wait: {out:?}");
    out
}
