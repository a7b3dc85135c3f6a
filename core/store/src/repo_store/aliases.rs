//! Every repository's alias in one buffer, for the metrics scrape's info series.
//!
//! One buffer rather than a string per repository: 100,000 small strings made while start-up
//! reads the store would be scattered among the read's freed pages and keep them resident
//! (measured: 15 MiB more after the checks at 100,000 repositories). Here they are one
//! allocation, about 1 MiB at 100,000 repositories.

/// Where an alias sits in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AliasSpan {
    start: u32,
    len: u32,
}

/// The buffer. Edits and deletes leave dead text behind; [`AliasArena::needs_compaction`] says
/// when it is worth writing the live aliases into a new buffer.
#[derive(Debug, Default)]
pub(super) struct AliasArena {
    text: String,
    dead: usize,
}

/// Dead text below this is left alone: compaction copies every live alias.
const COMPACT_AFTER: usize = 64 * 1024;

impl AliasArena {
    pub fn with_capacity(bytes: usize) -> AliasArena {
        AliasArena { text: String::with_capacity(bytes), dead: 0 }
    }

    pub fn add(&mut self, alias: &str) -> AliasSpan {
        // Aliases are validated short (at most a few hundred bytes), and u32 offsets reach 4 GiB.
        let start = self.text.len() as u32;
        self.text.push_str(alias);
        AliasSpan { start, len: alias.len() as u32 }
    }

    pub fn get(&self, span: AliasSpan) -> &str {
        &self.text[span.start as usize..(span.start + span.len) as usize]
    }

    /// The alias at `span` is no longer used.
    pub fn release(&mut self, span: AliasSpan) {
        self.dead += span.len as usize;
    }

    /// More dead text than live, and enough of it to be worth a copy.
    pub fn needs_compaction(&self) -> bool {
        self.dead >= COMPACT_AFTER && self.dead * 2 >= self.text.len()
    }

    /// The live aliases (whose spans `spans` yields, each updated in place) in a new buffer.
    pub fn compact<'a>(&mut self, spans: impl Iterator<Item = &'a mut AliasSpan>) {
        let mut fresh = AliasArena::with_capacity(self.text.len() - self.dead);
        for span in spans {
            *span = fresh.add(self.get(*span));
        }
        *self = fresh;
    }

    #[cfg(test)]
    pub fn buffer_len(&self) -> usize {
        self.text.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compaction_keeps_every_live_alias_and_drops_the_dead_text() {
        let mut arena = AliasArena::default();
        let mut live: Vec<(AliasSpan, String)> = Vec::new();
        for i in 0..20_000 {
            let alias = format!("host-{i}");
            let span = arena.add(&alias);
            if i % 4 == 0 {
                live.push((span, alias));
            } else {
                arena.release(span);
            }
        }
        assert!(arena.needs_compaction(), "three quarters dead");
        let before = arena.buffer_len();
        arena.compact(live.iter_mut().map(|(span, _)| span));
        assert!(!arena.needs_compaction());
        assert_eq!(arena.buffer_len(), live.iter().map(|(_, a)| a.len()).sum::<usize>());
        assert!(arena.buffer_len() * 3 < before);
        for (span, alias) in &live {
            assert_eq!(arena.get(*span), alias);
        }
    }

    #[test]
    fn little_dead_text_is_left_alone() {
        let mut arena = AliasArena::default();
        let span = arena.add("web");
        arena.release(span);
        assert!(!arena.needs_compaction(), "3 dead bytes are not worth a copy");
    }
}
