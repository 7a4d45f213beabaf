//! Turns mlua errors into one readable line, with the rule's line number where Lua gave one.

use mlua::Error;

/// Chunk names are `=rule:<module>`; Luau prints them as `rule:<module>:<line>: <message>`.
pub(crate) const CHUNK_PREFIX: &str = "rule:";

/// The innermost error under mlua's wrappers.
fn root(err: &Error) -> &Error {
    match err {
        Error::CallbackError { cause, .. } | Error::WithContext { cause, .. } => root(cause),
        other => other,
    }
}

/// One line describing `err` as seen from `module`: `syntax error at line 4: …`,
/// `runtime error in lib.prices at line 7: …`.
pub(crate) fn describe(err: &Error, module: &str) -> String {
    match root(err) {
        Error::SyntaxError { message, .. } => {
            format!("syntax error {}", locate(&first_line(message), module))
        }
        Error::RuntimeError(message) => {
            format!("runtime error {}", locate(&first_line(message), module))
        }
        Error::MemoryError(message) => first_line(message),
        Error::ExternalError(e) => first_line(&e.to_string()),
        other => first_line(&other.to_string()),
    }
}

/// Whether `err` (or its cause) is Lua running out of its memory limit.
pub(crate) fn is_memory_error(err: &Error) -> bool {
    match root(err) {
        Error::MemoryError(_) => true,
        Error::RuntimeError(m) => m.contains("not enough memory"),
        _ => false,
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_owned()
}

/// Rewrites `rule:shop.products:4: boom` as `at line 4: boom` when the chunk is `module`,
/// or `in lib.prices at line 4: boom` for another module's chunk; anything else as `: msg`.
pub(crate) fn locate(message: &str, module: &str) -> String {
    let plain = || format!("({message})");
    let Some(rest) = message.strip_prefix(CHUNK_PREFIX) else {
        return plain();
    };
    // rest = "<module>:<line>: <msg>"; module names contain no ':'.
    let mut parts = rest.splitn(3, ':');
    let (Some(chunk), Some(line), Some(msg)) = (parts.next(), parts.next(), parts.next()) else {
        return plain();
    };
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return plain();
    }
    let msg = msg.trim_start();
    if chunk == module {
        format!("at line {line}: {msg}")
    } else {
        format!("in {chunk} at line {line}: {msg}")
    }
}

#[cfg(test)]
mod tests {
    use super::locate;

    #[test]
    fn locates_line_numbers() {
        assert_eq!(locate("rule:shop.a:4: boom", "shop.a"), "at line 4: boom");
        assert_eq!(
            locate("rule:lib.p:7: nil value", "shop.a"),
            "in lib.p at line 7: nil value"
        );
        assert_eq!(locate("plain", "shop.a"), "(plain)");
    }
}
