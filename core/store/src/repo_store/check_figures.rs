//! The checks' figures of every repository (last backup, disk used, status, last alert), in
//! [`PAGES`] pages by repository id: files of `DATA_DIR/checks/` beside the embedded store, or
//! entries of the table `repo_checks` in a database several servers share ([`crate::bulk`]).
//! About 30 bytes per repository, where rewriting each changed record in sled would keep every
//! written page in memory (measured: 3.7 MB per 10,000 rewritten records).
//!
//! A save writes only the pages of the repositories it changed: a session taken in (one
//! repository, every few seconds on a busy host) rewrote all the figures when they were one
//! value, 3 MB at 100,000 repositories (on PostgreSQL, 3 MB of WAL each time, and each other
//! server read the 3 MB again); it now writes one page, 1/64 of that. A check run changes most
//! repositories and writes every page.
//!
//! Records carry the figures too, as of their last write (create, edit, import). Each side
//! carries a number from the store's monotonic counter ([`crate::backend::Backend::generate_id`]),
//! here one per page, so at start-up the newer of the two wins for each repository; the other
//! servers on a shared database read a page again each time the server that saved it tells
//! them (the notification names the page). A crash during a save leaves each page old or new,
//! whole; the next check run reads the folders again.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::record::Scan;
use crate::backend::SharedBackend;
use crate::bulk::Bulk;
use crate::store_error::{StoreError, StoreResult};

const MAGIC: &[u8; 8] = b"BWCHK\x00\x00\x01";

/// Pages of figures: a repository's is its id modulo this.
pub(super) const PAGES: usize = 64;

/// The table with a shared database, and the folder (in the data folder) beside sled.
pub(super) const TABLE: &str = "repo_checks";
const FOLDER: &str = "checks";

/// The one value of earlier releases (`DATA_DIR/checks.bin`; with a database, its entry in the
/// table): read once, when there are no pages yet, written as pages and removed.
const ONE_VALUE: &str = "checks.bin";

/// Pages to save, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pages(u64);

impl Pages {
    pub const ALL: Pages = Pages(u64::MAX);

    /// The page of repository `id`.
    pub fn of(id: u64) -> Pages {
        Pages(1 << (id % PAGES as u64))
    }

    pub fn add(&mut self, other: Pages) {
        self.0 |= other.0;
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn contains(self, page: usize) -> bool {
        self.0 & (1 << page) != 0
    }

    /// Whether repository `id`'s page is one of these.
    pub fn has(self, id: u64) -> bool {
        self.contains(id as usize % PAGES)
    }

    /// The pages named by keys of the table (others are not pages: ignored).
    pub fn named<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> Pages {
        let mut pages = Pages::default();
        for key in keys {
            if let Some(page) = std::str::from_utf8(key).ok().and_then(page_of_name) {
                pages.0 |= 1 << page;
            }
        }
        pages
    }
}

fn page_name(page: usize) -> String {
    format!("page-{page:02x}")
}

fn page_of_name(name: &str) -> Option<usize> {
    let page = usize::from_str_radix(name.strip_prefix("page-")?, 16).ok()?;
    (page < PAGES && name.len() == 7).then_some(page)
}

#[derive(Serialize, Deserialize)]
struct Page {
    /// Written after every record with a smaller `seq`.
    seq: u64,
    scans: Vec<(u64, Scan)>,
}

fn encode(seq: u64, scans: Vec<(u64, Scan)>) -> StoreResult<Vec<u8>> {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(postcard::to_allocvec(&Page { seq, scans }).map_err(|e| StoreError::corrupt(TABLE, e))?);
    Ok(bytes)
}

/// Figures that do not read are an error: they would silently go back in time.
fn decode(bulk: &Bulk, name: &str, bytes: &[u8]) -> StoreResult<Page> {
    let place = || format!("{name} in {}", bulk.place());
    let body = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| StoreError::corrupt(place(), "not checks' figures of this version"))?;
    postcard::from_bytes(body).map_err(|e| StoreError::corrupt(place(), e))
}

/// Saved figures as read: each page's `seq` with its repositories' figures.
pub(super) type Saved = Vec<(u64, Vec<(u64, Scan)>)>;

/// Which pages a read returns: every one saved (at start-up), or those newer than seen here.
#[derive(PartialEq)]
enum Taken {
    Every,
    Newer,
}

pub(super) struct CheckFigures {
    bulk: Bulk,
    /// Each page's `seq` as last read or written here: a page read again is taken in only
    /// when it is newer.
    seqs: [AtomicU64; PAGES],
}

impl CheckFigures {
    /// The figures of the store `db` with the data folder `data_dir`, and what they hold.
    /// Figures kept as one value by an earlier release are written as pages first.
    pub fn open(db: &SharedBackend, data_dir: &std::path::Path) -> StoreResult<(CheckFigures, Saved)> {
        let figures = CheckFigures {
            bulk: Bulk::beside(db, &data_dir.join(FOLDER), TABLE)?,
            seqs: std::array::from_fn(|_| AtomicU64::new(0)),
        };
        // With a database both are the table; beside sled, the value was a file of the data
        // folder itself.
        let one_value_place = Bulk::beside(db, data_dir, TABLE)?;
        let mut saved = figures.read(Pages::ALL, Taken::Every)?;
        if saved.is_empty() {
            if let Some(bytes) = one_value_place.get(ONE_VALUE)? {
                let Page { seq, scans } = decode(&one_value_place, ONE_VALUE, &bytes)?;
                figures.save(seq, &scans, Pages::ALL)?;
                tracing::info!(repositories = scans.len(), "store: the checks' figures are kept in pages now");
                saved = vec![(seq, scans)];
            }
        }
        one_value_place.remove(ONE_VALUE)?;
        // What a crash during a save left under a temporary name (in a folder only).
        for name in figures.bulk.names()?.iter().filter(|n| n.starts_with('.') && n.ends_with(".tmp")) {
            figures.bulk.remove(name)?;
        }
        Ok((figures, saved))
    }

    /// Saves, written at `seq`, the pages `pages` with `scans` (the figures of every repository
    /// of those pages; others are ignored).
    pub fn save(&self, seq: u64, scans: &[(u64, Scan)], pages: Pages) -> StoreResult<()> {
        let mut by_page: Vec<Vec<(u64, Scan)>> = vec![Vec::new(); PAGES];
        for (id, scan) in scans {
            by_page[*id as usize % PAGES].push((*id, *scan));
        }
        let mut values = Vec::new();
        for (page, scans) in by_page.into_iter().enumerate().filter(|(page, _)| pages.contains(*page)) {
            values.push((page_name(page), encode(seq, scans)?));
        }
        let values: Vec<(&str, &[u8])> = values.iter().map(|(name, bytes)| (name.as_str(), bytes.as_slice())).collect();
        self.bulk.put_all(&values)?;
        for page in (0..PAGES).filter(|p| pages.contains(*p)) {
            self.seqs[page].fetch_max(seq, Ordering::AcqRel);
        }
        Ok(())
    }

    /// The pages `pages` saved later than this server last read or wrote them (each page
    /// with its `seq`), now taken as read.
    pub fn read_newer(&self, pages: Pages) -> StoreResult<Saved> {
        self.read(pages, Taken::Newer)
    }

    fn read(&self, pages: Pages, taken: Taken) -> StoreResult<Saved> {
        let mut saved = Vec::new();
        for page in (0..PAGES).filter(|p| pages.contains(*p)) {
            let name = page_name(page);
            let Some(bytes) = self.bulk.get(&name)? else { continue };
            let Page { seq, scans } = decode(&self.bulk, &name, &bytes)?;
            if self.seqs[page].fetch_max(seq, Ordering::AcqRel) < seq || taken == Taken::Every {
                saved.push((seq, scans));
            }
        }
        Ok(saved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn scan(storage_used: u64) -> Scan {
        Scan {
            last_save: 1_700_000_000,
            storage_used,
            status: true,
            imported_status: None,
            last_status_alert_send: Some(5),
        }
    }

    #[test]
    fn a_save_writes_only_the_pages_it_names_and_a_damaged_page_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let db: SharedBackend = Arc::new(crate::backend::InMemoryBackend::default());
        let (figures, saved) = CheckFigures::open(&db, dir.path()).unwrap();
        assert!(saved.is_empty());
        let scans: Vec<(u64, Scan)> = (1..=200).map(|id| (id, scan(id))).collect();
        figures.save(10, &scans, Pages::ALL).unwrap();
        let pages_dir = dir.path().join(FOLDER);
        assert_eq!(std::fs::read_dir(&pages_dir).unwrap().count(), PAGES);
        // One repository changed: its page alone is written.
        let before: Vec<_> = (0..PAGES).map(|p| std::fs::read(pages_dir.join(page_name(p))).unwrap()).collect();
        let mut changed = scans.clone();
        changed[69].1.storage_used = 9_999; // id 70, page 6
        figures.save(11, &changed, Pages::of(70)).unwrap();
        for (p, old) in before.iter().enumerate() {
            let now = std::fs::read(pages_dir.join(page_name(p))).unwrap();
            assert_eq!(&now == old, p != 70 % PAGES, "page {p}");
        }
        // Another server (here: a second opening) reads everything; read again, only what is newer.
        let (other, saved) = CheckFigures::open(&db, dir.path()).unwrap();
        let all: std::collections::BTreeMap<u64, (u64, Scan)> =
            saved.iter().flat_map(|(seq, scans)| scans.iter().map(move |(id, s)| (*id, (*seq, *s)))).collect();
        assert_eq!(all.len(), 200);
        assert_eq!(all[&70], (11, changed[69].1));
        assert_eq!(all[&71], (10, scans[70].1));
        assert!(other.read_newer(Pages::ALL).unwrap().is_empty(), "nothing newer");
        figures.save(12, &changed, Pages::of(3)).unwrap();
        let newer = other.read_newer(Pages::ALL).unwrap();
        assert_eq!(newer.len(), 1);
        assert_eq!(
            newer[0].1.iter().map(|(id, _)| id % PAGES as u64).collect::<std::collections::BTreeSet<_>>(),
            [3].into()
        );
        // A save cut off by a crash leaves a temporary file: the next opening removes it.
        std::fs::write(pages_dir.join(".page-05.1.2.tmp"), b"half").unwrap();
        CheckFigures::open(&db, dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(&pages_dir).unwrap().count(), PAGES, "the temporary file is gone");
        // A damaged page is an error, not figures gone back in time.
        let page = pages_dir.join(page_name(3));
        let mut bytes = std::fs::read(&page).unwrap();
        bytes.truncate(bytes.len() - 3);
        std::fs::write(&page, bytes).unwrap();
        assert!(CheckFigures::open(&db, dir.path()).is_err());
    }

    #[test]
    fn figures_kept_as_one_value_become_pages() {
        let dir = tempfile::tempdir().unwrap();
        let db: SharedBackend = Arc::new(crate::backend::InMemoryBackend::default());
        let one = Bulk::Folder(dir.path().to_path_buf());
        one.put(ONE_VALUE, &encode(99, vec![(3, scan(42)), (64 + 5, scan(7))]).unwrap()).unwrap();
        let (_, saved) = CheckFigures::open(&db, dir.path()).unwrap();
        let mut all: Vec<(u64, u64, u64)> = saved
            .iter()
            .flat_map(|(seq, scans)| scans.iter().map(move |(id, s)| (*seq, *id, s.storage_used)))
            .collect();
        all.sort();
        assert_eq!(all, [(99, 3, 42), (99, 69, 7)]);
        assert!(!dir.path().join(ONE_VALUE).exists(), "the one value is removed once it is pages");
        // And opened again: the pages, the same.
        let (_, again) = CheckFigures::open(&db, dir.path()).unwrap();
        assert_eq!(again.iter().map(|(_, s)| s.len()).sum::<usize>(), 2);
    }

    #[test]
    fn page_names_read_back() {
        assert_eq!(Pages::named([b"page-3f".as_slice(), b"page-40", b"checks.bin", b"page-3"]), Pages(1 << 63));
        assert_eq!(page_of_name(&page_name(0)), Some(0));
    }
}
