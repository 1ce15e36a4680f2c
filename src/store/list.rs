//! The list type: a double-ended queue of byte strings (Redis's quicklist, simplified).

use std::collections::VecDeque;

/// A list value. Commands live in `cmd/lists.rs`; this holds the data.
#[derive(Debug, Clone, Default)]
pub struct List {
    /// The elements, head first.
    pub items: VecDeque<Box<[u8]>>,
}

impl List {
    /// An empty list.
    pub fn new() -> List {
        List::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the list has no element (such a key is deleted).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Approximate heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * std::mem::size_of::<Box<[u8]>>()
            + self.items.iter().map(|i| i.len()).sum::<usize>()
    }
}
