//! The in-memory copy of every repository that serves reads, its lookups by name and key, and
//! the list answer cached as bytes.

use std::collections::{BTreeMap, HashMap};

use super::Repo;
use crate::ssh_key::KeyIdentity;

#[derive(Default)]
pub(super) struct Index {
    /// Bumped on every change, so answers built from the index know when they are stale.
    pub generation: u64,
    pub by_id: BTreeMap<u64, Repo>,
    pub by_name: HashMap<String, u64>,
    pub by_key: HashMap<KeyIdentity, u64>,
}

impl Index {
    pub fn put(&mut self, repo: Repo) {
        self.generation += 1;
        if let Some(old) = self.by_id.get(&repo.id) {
            if old.ssh_public_key != repo.ssh_public_key {
                self.by_key.remove(&old.key_identity());
            }
        }
        self.by_name.insert(repo.repository_name.clone(), repo.id);
        self.by_key.insert(repo.key_identity(), repo.id);
        self.by_id.insert(repo.id, repo);
    }

    pub fn remove(&mut self, id: u64) -> Option<Repo> {
        self.generation += 1;
        let repo = self.by_id.remove(&id)?;
        self.by_name.remove(&repo.repository_name);
        self.by_key.remove(&repo.key_identity());
        Some(repo)
    }
}

/// The list answer as bytes, and for which index generation and times it holds.
pub(super) struct ListCache {
    generation: u64,
    built_at: i64,
    /// The first second at which some repository's status is no longer what the bytes say.
    valid_until: i64,
    bytes: bytes::Bytes,
    etag: String,
    /// The same answer gzipped, made at the first request that accepts it.
    gzip: std::sync::Arc<std::sync::OnceLock<bytes::Bytes>>,
}

impl ListCache {
    /// The cached answer when it still says what the index says at `now`.
    pub fn fresh(slot: &Option<ListCache>, index: &Index, now: i64) -> Option<ListAnswer> {
        let c = slot.as_ref()?;
        (c.generation == index.generation && c.built_at <= now && now < c.valid_until).then(|| c.answer())
    }

    /// `{"repoList":[...]}` with `status` computed for `now`, in the shape of the path family
    /// (`seed`: without the v1 fields). A status only turns from true to false as time passes, so
    /// the bytes hold until the first repository turns late.
    pub fn build(index: &Index, now: i64, seed: bool, etag: String) -> ListCache {
        let (out, valid_until) = write_list(index.by_id.values(), index.by_id.len(), now, seed, None);
        ListCache {
            generation: index.generation,
            built_at: now,
            valid_until,
            bytes: bytes::Bytes::from(out),
            etag,
            gzip: Default::default(),
        }
    }

    pub fn answer(&self) -> ListAnswer {
        ListAnswer { bytes: self.bytes.clone(), etag: self.etag.clone(), gzip: self.gzip.clone() }
    }
}

/// `{"repoList":[...]}` (and `"total"` when given) with `status` computed for `now`, in the
/// shape of the path family (`seed`: without the v1 fields), and the first second at which a
/// status in it turns false with the passing of time.
pub(super) fn write_list<'r>(
    repos: impl Iterator<Item = &'r Repo>,
    count: usize,
    now: i64,
    seed: bool,
    total: Option<usize>,
) -> (Vec<u8>, i64) {
    let mut out = Vec::with_capacity(64 + count * 480);
    let mut valid_until = i64::MAX;
    out.extend_from_slice(br#"{"repoList":["#);
    for (i, repo) in repos.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        // An imported status holds until a check, whatever the time.
        let computed = repo.imported_status.is_none();
        let mut repo = repo.clone().at(now);
        if seed {
            repo = repo.for_seed_paths();
        }
        if repo.status && computed {
            valid_until = valid_until.min(repo.last_save.saturating_add(repo.alert as i64).saturating_add(1));
        }
        // A Repo always serializes: plain strings and numbers.
        let _ = serde_json::to_writer(&mut out, &repo);
    }
    out.push(b']');
    if let Some(total) = total {
        out.extend_from_slice(format!(r#","total":{total}"#).as_bytes());
    }
    out.push(b'}');
    (out, valid_until)
}

/// The list answer and the entity tag that names it: equal tags, equal bytes.
#[derive(Debug, Clone)]
pub struct ListAnswer {
    pub bytes: bytes::Bytes,
    /// Quoted, as the `ETag` header carries it.
    pub etag: String,
    gzip: std::sync::Arc<std::sync::OnceLock<bytes::Bytes>>,
}

impl ListAnswer {
    /// The answer gzipped, compressed once per list build (fast level: a list compresses about
    /// tenfold, and the answer is rebuilt only after a change).
    pub fn gzipped(&self) -> bytes::Bytes {
        self.gzip
            .get_or_init(|| {
                use std::io::Write;
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(self.bytes.len() / 8),
                    flate2::Compression::fast(),
                );
                // Writing to a Vec cannot fail.
                let _ = enc.write_all(&self.bytes);
                bytes::Bytes::from(enc.finish().unwrap_or_default())
            })
            .clone()
    }
}
