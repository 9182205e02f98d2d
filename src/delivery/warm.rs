//! Events kept in memory while they wait, so delivering one does not read it back from storage.
//!
//! Every event is stored in the outbox before anything else happens to it; a copy also waits
//! here, by row id, until a delivery takes it (a retry puts it back). The copies are bounded by a
//! byte budget: what does not fit (a backlog, or everything after a restart) is read from
//! storage as before, so memory stays small whatever `delivery.maxPending` allows. Only the
//! delivery that took a row changes it in storage, so a copy here is never stale.

use std::collections::HashMap;

/// The bytes of memory the copies may take by default: 4 MiB, about 2,000 typical messages.
pub const DEFAULT_BUDGET_BYTES: usize = 4 * 1024 * 1024;

/// Copies of waiting events by row id, within a byte budget.
#[derive(Debug)]
pub struct Warm<T> {
    entries: HashMap<i64, (T, usize)>,
    bytes: usize,
    budget: usize,
}

impl<T> Default for Warm<T> {
    fn default() -> Self {
        Self::with_budget(DEFAULT_BUDGET_BYTES)
    }
}

impl<T> Warm<T> {
    /// An empty set that holds at most `budget` bytes.
    pub fn with_budget(budget: usize) -> Self {
        Self {
            entries: HashMap::new(),
            bytes: 0,
            budget,
        }
    }

    /// Keeps `value` (weighing `bytes`) for row `id` if it fits; answers whether it was kept.
    pub fn keep(&mut self, id: i64, value: T, bytes: usize) -> bool {
        drop(self.take(id));
        let Some(total) = self.bytes.checked_add(bytes).filter(|t| *t <= self.budget) else {
            return false;
        };
        self.bytes = total;
        self.entries.insert(id, (value, bytes));
        true
    }

    /// Takes the copy of row `id` out, if it is kept.
    pub fn take(&mut self, id: i64) -> Option<T> {
        let (value, bytes) = self.entries.remove(&id)?;
        self.bytes -= bytes;
        Some(value)
    }

    /// Bytes the kept copies weigh.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many copies are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no copy is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 9 (keep the body in memory while it waits): an event kept at enqueue is taken by its
    /// id, once.
    #[test]
    fn issue9_warm_events_are_taken_once() {
        let mut warm = Warm::with_budget(100);
        assert!(warm.keep(1, "one", 10));
        assert!(warm.keep(2, "two", 10));
        assert_eq!(warm.take(1), Some("one"));
        assert_eq!(warm.take(1), None);
        assert_eq!((warm.len(), warm.bytes()), (1, 10));
        assert_eq!(warm.take(2), Some("two"));
        assert!(warm.is_empty());
    }

    /// Issue 9: memory stays within the budget; what does not fit is left to storage, and room
    /// freed by a delivery is used again.
    #[test]
    fn issue9_warm_events_stay_within_the_budget() {
        let mut warm = Warm::with_budget(25);
        assert!(warm.keep(1, (), 10));
        assert!(warm.keep(2, (), 10));
        assert!(!warm.keep(3, (), 10), "over the budget: read from storage");
        assert_eq!(warm.take(3), None);
        assert_eq!(warm.bytes(), 20);
        assert_eq!(warm.take(1), Some(()));
        assert!(warm.keep(3, (), 10));
        assert!(!warm.keep(4, (), usize::MAX), "no overflow");
        assert_eq!((warm.len(), warm.bytes()), (2, 20));
    }

    /// Issue 9: keeping a row again (a retry) replaces its copy and its weight.
    #[test]
    fn issue9_keeping_a_row_again_replaces_it() {
        let mut warm = Warm::with_budget(25);
        assert!(warm.keep(1, "old", 20));
        assert!(warm.keep(1, "new", 5));
        assert_eq!(warm.bytes(), 5);
        assert_eq!(warm.take(1), Some("new"));
    }
}
