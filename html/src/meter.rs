//! The bounds of native work on one page: a step meter that the tree builder and the
//! selector matcher tick, which checks the caller's deadline every few thousand steps, and
//! the structural caps (nodes, attributes) no page may exceed.
//!
//! Once the meter has blown, traversals see no more elements, so a match that was under way
//! ends after a few more steps, and the caller reports why it stopped.

use std::cell::Cell;
use std::fmt;

/// The most nodes (elements, texts, comments) one page's tree may hold.
pub const MAX_NODES: usize = 500_000;
/// The most attributes one page's tree may hold, over all its elements.
pub const MAX_ATTRIBUTES: usize = 1_000_000;
/// How many steps pass between two looks at the clock.
const CHECK_EVERY: u32 = 4096;

/// Why native work on a page stopped before it was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// The caller's time budget ran out.
    Deadline,
    /// The page has more nodes than [`MAX_NODES`].
    Nodes,
    /// The page has more attributes than [`MAX_ATTRIBUTES`].
    Attributes,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Deadline => f.write_str("the time budget ran out in native page work"),
            Exceeded::Nodes => write!(f, "the page has more than {MAX_NODES} nodes"),
            Exceeded::Attributes => {
                write!(f, "the page has more than {MAX_ATTRIBUTES} attributes")
            }
        }
    }
}

impl std::error::Error for Exceeded {}

/// Counts the steps of one piece of native work and says when it must stop.
pub struct Meter<'a> {
    until_check: Cell<u32>,
    expired: &'a dyn Fn() -> bool,
    blown: Cell<Option<Exceeded>>,
}

impl fmt::Debug for Meter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("blown", &self.blown.get())
            .finish_non_exhaustive()
    }
}

impl<'a> Meter<'a> {
    /// A meter that stops the work once `expired` says so (it is asked every few thousand
    /// steps, so it may read a clock).
    pub fn new(expired: &'a dyn Fn() -> bool) -> Meter<'a> {
        Meter {
            until_check: Cell::new(CHECK_EVERY),
            expired,
            blown: Cell::new(None),
        }
    }

    /// A meter with no deadline (structural caps still hold).
    pub fn unbounded() -> Meter<'static> {
        Meter::new(&|| false)
    }

    /// One step of work; `false` once the work must stop.
    #[inline]
    pub(crate) fn tick(&self) -> bool {
        // Counts down to the next look at the clock; a blown meter stays at zero.
        let left = self.until_check.get();
        if left > 1 {
            self.until_check.set(left - 1);
            return true;
        }
        self.charge(1)
    }

    /// `steps` steps of work (a scan of that many items); `false` once the work must stop.
    pub(crate) fn charge(&self, steps: u64) -> bool {
        if self.blown.get().is_some() {
            return false;
        }
        let left = u64::from(self.until_check.get());
        if steps < left {
            // Fits: `left - steps` is below `CHECK_EVERY`.
            self.until_check
                .set(u32::try_from(left - steps).unwrap_or(1));
            return true;
        }
        self.until_check.set(CHECK_EVERY);
        if (self.expired)() {
            self.blow(Exceeded::Deadline);
            return false;
        }
        true
    }

    /// Stops the work for `why`.
    pub(crate) fn blow(&self, why: Exceeded) {
        if self.blown.get().is_none() {
            self.blown.set(Some(why));
        }
        // Every later tick takes the slow path, which sees the meter has blown.
        self.until_check.set(0);
    }

    /// Whether the work has stopped.
    pub(crate) fn has_blown(&self) -> bool {
        self.blown.get().is_some()
    }

    /// `Ok(value)` unless the work stopped.
    pub(crate) fn result<T>(&self, value: T) -> Result<T, Exceeded> {
        match self.blown.get() {
            Some(why) => Err(why),
            None => Ok(value),
        }
    }
}
