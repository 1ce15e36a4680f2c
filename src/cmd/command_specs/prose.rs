//! The texts COMMAND DOCS gives for every Redis 7.0 command and subcommand: a summary, the
//! time complexity, what each version changed, and what replaces a deprecated command.
//! They are written for rust-keyval in our own words (the facts they describe, such as
//! the versions and the big-O bounds, are Redis's); `specs.rs` holds the rest.

/// The texts of one command or subcommand (`get`, `config|get`).
#[derive(Debug)]
pub struct Prose {
    pub name: &'static str,
    pub summary: &'static str,
    /// Empty when Redis gives none.
    pub complexity: &'static str,
    /// (version, what changed), the same versions in the same order as the spec's history.
    pub history: &'static [(&'static str, &'static str)],
    /// Empty unless the command is deprecated.
    pub replaced_by: &'static str,
}

mod part1 {
    use super::Prose;
    include!("prose_part1.rs");
}

mod part2 {
    use super::Prose;
    include!("prose_part2.rs");
}

/// The two parts, each sorted by name, the first wholly before the second.
const PARTS: [&[Prose]; 2] = [part1::PART, part2::PART];

/// The texts of a command (`get`) or subcommand (`memory|usage`), by lower-case name.
pub fn prose(name: &str) -> Option<&'static Prose> {
    PARTS.iter().find_map(|part| {
        part.binary_search_by(|p| p.name.cmp(name))
            .ok()
            .map(|i| &part[i])
    })
}

/// Every entry, in name order.
#[cfg(test)]
pub fn all() -> impl Iterator<Item = &'static Prose> {
    PARTS.iter().flat_map(|part| part.iter())
}
