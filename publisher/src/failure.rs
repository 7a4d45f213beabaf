//! How a publisher command ends, and the exit code each way gets: the one place the
//! publisher binary chooses them. 0 done; 1 the fleet did not (all) do it; 2 bad input;
//! 69 the broker is unreachable; 70 the process cannot run (no async runtime).

use std::fmt;

use crawlfleet_bus::BusError;

/// How a command that ran to its end came out; what it found is printed already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Finished {
    Done,
    /// Not every worker did it (`--wait`), or the fleet has drifted (`status --check`).
    Incomplete,
}

impl Finished {
    pub(crate) fn complete_if(complete: bool) -> Finished {
        if complete {
            Finished::Done
        } else {
            Finished::Incomplete
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            Finished::Done => 0,
            Finished::Incomplete => 1,
        }
    }
}

/// An error that ends the command with one line on stderr.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Bad input: flags, files, module names, keys.
    Usage(String),
    /// The broker took part of it and failed the rest.
    Incomplete(String),
    /// The broker cannot be reached.
    Unavailable(String),
    /// An async runtime could not start.
    Runtime(String),
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Failure {
        Failure::Usage(message.into())
    }

    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::Incomplete(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Unavailable(_) => 69,
            Failure::Runtime(_) => 70,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(message)
            | Failure::Incomplete(message)
            | Failure::Unavailable(message)
            | Failure::Runtime(message) => f.write_str(message),
        }
    }
}

impl From<BusError> for Failure {
    fn from(e: BusError) -> Failure {
        match e {
            BusError::Connect { .. } => Failure::Unavailable(e.to_string()),
            _ => Failure::Incomplete(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_way_to_end_has_its_documented_code() {
        assert_eq!(Finished::complete_if(true).code(), 0);
        assert_eq!(Finished::complete_if(false).code(), 1);
        let failures = [
            (Failure::Incomplete("x".to_owned()), 1),
            (Failure::usage("x"), 2),
            (Failure::Unavailable("x".to_owned()), 69),
            (Failure::Runtime("x".to_owned()), 70),
        ];
        for (failure, code) in failures {
            assert_eq!(failure.code(), code, "{failure}");
        }
    }
}
