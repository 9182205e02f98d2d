//! Requests under way, each under a small number: what the one answer callback of
//! `durable_object::post` looks its request up by (issue 9, delivery path: no closure per
//! request). A number is free again once its request was taken, so the table stays as small as
//! the most requests ever under way at once.

/// Values (the answers' handlers) under numbers that are reused once taken.
pub struct Waiting<T> {
    slots: Vec<Option<T>>,
    /// Numbers whose slot is empty, the last freed on top.
    free: Vec<u32>,
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> Waiting<T> {
    /// Keeps `value` and returns its number.
    pub fn insert(&mut self, value: T) -> u32 {
        if let Some(key) = self.free.pop() {
            self.slots[key as usize] = Some(value);
            return key;
        }
        self.slots.push(Some(value));
        u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
    }

    /// The value under `key`, removed; `None` for a number not in use (taken already, or
    /// never given out): a second answer for one request finds nothing.
    pub fn take(&mut self, key: u32) -> Option<T> {
        let value = self.slots.get_mut(key as usize)?.take()?;
        self.free.push(key);
        Some(value)
    }

    /// How many values are kept.
    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Whether no value is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issue_9_delivery_path_each_request_gets_its_own_answer_once() {
        let mut waiting = Waiting::default();
        let a = waiting.insert("a");
        let b = waiting.insert("b");
        assert_ne!(a, b);
        assert_eq!(waiting.take(b), Some("b"));
        assert_eq!(waiting.take(b), None, "a second answer finds nothing");
        assert_eq!(waiting.take(a), Some("a"));
        assert_eq!(waiting.take(99), None, "a number never given out");
        assert!(waiting.is_empty());
    }

    #[test]
    fn issue_9_delivery_path_numbers_are_reused_so_the_table_stays_small() {
        let mut waiting = Waiting::default();
        for round in 0..1_000 {
            let keys: Vec<u32> = (0..5).map(|i| waiting.insert(round * 10 + i)).collect();
            assert!(keys.iter().all(|k| *k < 5), "{keys:?}");
            for (i, key) in keys.into_iter().enumerate() {
                assert_eq!(waiting.take(key), Some(round * 10 + i as u32));
            }
        }
        assert_eq!(waiting.slots.len(), 5);
        // Values taken out of order free their numbers for the next ones.
        let first = waiting.insert(1);
        let second = waiting.insert(2);
        assert_eq!(waiting.take(first), Some(1));
        let third = waiting.insert(3);
        assert_eq!(third, first);
        assert_eq!(waiting.take(second), Some(2));
        assert_eq!(waiting.take(third), Some(3));
        assert_eq!(waiting.len(), 0);
    }
}
