//! The list answer: built from the records in one pass, held gzipped only (a large one is
//! inflated as it is sent), with its entity tag, and for which index generation and times it
//! still says what the index says.
//!
//! A large answer (12 MB gzipped at 100,000 repositories, the keys' ids and fingerprints being
//! hashes gzip cannot shrink) is held in an unlinked file of the data folder rather than in the
//! heap: the kernel's page cache serves it while memory is plentiful and may drop it when it is
//! not, and the server's own memory stays within its target.

use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use bw_store::repo_store::Repo;

/// Writes one repository of a list answer in the API's shape. The store keeps records; the
/// routes own what a client sees of one (fields of a path family, URLs), so they hand this in.
pub type WriteRepo<'a> = &'a (dyn Fn(&mut dyn Write, Repo) -> io::Result<()> + Sync);

/// The list answer gzipped, and for which index generation and times it holds.
pub(crate) struct ListCache {
    generation: u64,
    built_at: i64,
    /// The first second at which some repository's status is no longer what the answer says.
    valid_until: i64,
    answer: ListAnswer,
}

impl ListCache {
    /// The cached answer when it still says what the index says at `now`.
    pub fn fresh(slot: &Option<ListCache>, generation: u64, now: i64) -> Option<ListAnswer> {
        let c = slot.as_ref()?;
        (c.generation == generation && c.built_at <= now && now < c.valid_until).then(|| c.answer.clone())
    }

    pub fn answer(&self) -> ListAnswer {
        self.answer.clone()
    }

    /// `{"repoList":[...]}` with `status` computed for `now`, each written by `write_repo`, gzipped as it is written: the plain answer (34 MB at
    /// 100,000 repositories) is never held. A status only turns from true to false as time
    /// passes, so the answer holds until the first repository turns late.
    ///
    /// A small list (`count` repositories making at most [`PLAIN_KEPT_UP_TO`], a
    /// BorgWarehouse-sized host) is kept plain instead and gzipped at its first gzip request:
    /// inflating it at every request, or compressing it at every change, would cost more of the
    /// list rate than its few hundred KiB are worth.
    /// A large answer goes to an unlinked file made in `spill_dir` (the data folder).
    ///
    /// The entity tag is the SHA-256 of the plain answer (its first 64 bits) after `mark` (the
    /// list's kind): equal bytes, equal tags, whichever server built them and whenever, so a
    /// client behind a load balancer keeps its `If-None-Match` from one server to the next.
    pub fn build(
        repos: impl Iterator<Item = Repo>,
        count: usize,
        generation: u64,
        now: i64,
        mark: &str,
        write_repo: WriteRepo,
        spill_dir: &Path,
    ) -> io::Result<ListCache> {
        if (count as u64).saturating_mul(SMALL_RECORD) <= PLAIN_KEPT_UP_TO {
            let mut out = Vec::with_capacity(64 + count * 480);
            let valid_until = write_list(&mut out, repos, now, None, write_repo)?;
            let answer = ListAnswer {
                plain_len: out.len() as u64,
                etag: etag_of(mark, sha2::Sha256::new_with_prefix(&out)),
                held: Held::Small { plain: bytes::Bytes::from(out), gzip: Arc::default() },
            };
            return Ok(ListCache { generation, built_at: now, valid_until, answer });
        }
        let file = tempfile::tempfile_in(spill_dir)?;
        let mut gz =
            flate2::write::GzEncoder::new(io::BufWriter::with_capacity(64 * 1024, &file), flate2::Compression::fast());
        let mut counted = Counted { inner: &mut gz, written: 0, digest: sha2::Sha256::new() };
        let valid_until = write_list(&mut counted, repos, now, None, write_repo)?;
        let (plain_len, digest) = (counted.written, counted.digest);
        gz.finish()?.flush()?;
        let len = file.metadata()?.len();
        let answer =
            ListAnswer { plain_len, etag: etag_of(mark, digest), held: Held::Large(Arc::new(GzFile { file, len })) };
        Ok(ListCache { generation, built_at: now, valid_until, answer })
    }
}

use sha2::Digest;

/// `"HASH-MARK"`, quoted as the `ETag` header carries it.
fn etag_of(mark: &str, digest: sha2::Sha256) -> String {
    let hash = digest.finalize();
    format!("\"{}-{mark}\"", hash[..8].iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Counts and digests what passes through.
struct Counted<'w, W: Write> {
    inner: &'w mut W,
    written: u64,
    digest: sha2::Sha256,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        self.digest.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `{"repoList":[...]}` (and `"total"` when given) with `status` computed for `now`, each
/// repository by `write_repo`; returns the first second at which a status in it turns false with
/// the passing of time.
pub(crate) fn write_list(
    out: &mut impl Write,
    repos: impl Iterator<Item = Repo>,
    now: i64,
    total: Option<usize>,
    write_repo: WriteRepo,
) -> io::Result<i64> {
    let mut out = io::BufWriter::with_capacity(64 * 1024, out);
    let mut valid_until = i64::MAX;
    out.write_all(br#"{"repoList":["#)?;
    for (i, repo) in repos.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        // An imported status holds until a check, whatever the time.
        let computed = repo.imported_status.is_none();
        let repo = repo.at(now);
        if repo.status && computed {
            valid_until = valid_until.min(repo.last_save.saturating_add(repo.alert as i64).saturating_add(1));
        }
        write_repo(&mut out, repo)?;
    }
    out.write_all(b"]")?;
    if let Some(total) = total {
        write!(out, r#","total":{total}"#)?;
    }
    out.write_all(b"}")?;
    out.flush()?;
    Ok(valid_until)
}

/// Plain answers up to this size are kept plain (about 2,000 repositories).
const PLAIN_KEPT_UP_TO: u64 = 1024 * 1024;

/// A generous size of one repository in the plain answer, to choose the form before writing.
const SMALL_RECORD: u64 = 512;

/// The list answer and the entity tag that names it: equal tags, equal bytes. A client that
/// does not accept gzip gets it inflated as it is sent, or, for a small list, the plain bytes.
#[derive(Debug, Clone)]
pub struct ListAnswer {
    held: Held,
    plain_len: u64,
    /// Quoted, as the `ETag` header carries it.
    pub etag: String,
}

#[derive(Debug, Clone)]
enum Held {
    /// A small list: plain, gzipped at its first gzip request.
    Small { plain: bytes::Bytes, gzip: Arc<std::sync::OnceLock<bytes::Bytes>> },
    /// A large list: gzipped, in an unlinked file, shared by every request that sends it.
    Large(Arc<GzFile>),
}

/// The gzipped answer in an unlinked file; gone when the last answer holding it is dropped.
#[derive(Debug)]
struct GzFile {
    file: std::fs::File,
    len: u64,
}

impl ListAnswer {
    fn small_gzip(plain: &[u8], gzip: &std::sync::OnceLock<bytes::Bytes>) -> bytes::Bytes {
        gzip.get_or_init(|| {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = gz.write_all(plain);
            bytes::Bytes::from(gz.finish().unwrap_or_default())
        })
        .clone()
    }

    /// Length of the gzipped answer (its `Content-Length` with `Content-Encoding: gzip`).
    pub fn gzip_len(&self) -> u64 {
        match &self.held {
            Held::Small { plain, gzip } => Self::small_gzip(plain, gzip).len() as u64,
            Held::Large(f) => f.len,
        }
    }

    /// The gzipped answer, read as the client takes it.
    pub fn gzip_reader(&self) -> ListReader {
        ListReader(Reading::Gzipped(self.source()))
    }

    fn source(&self) -> Source {
        match &self.held {
            Held::Small { plain, gzip } => Source::Bytes(bytes::Buf::reader(Self::small_gzip(plain, gzip))),
            Held::Large(f) => Source::File { file: f.clone(), at: 0 },
        }
    }

    /// Length of the plain answer (its `Content-Length`).
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    /// The plain bytes, kept for a small list only.
    pub fn plain_bytes(&self) -> Option<bytes::Bytes> {
        match &self.held {
            Held::Small { plain, .. } => Some(plain.clone()),
            Held::Large(_) => None,
        }
    }

    /// The plain answer, inflated from the gzipped copy as the client reads it.
    pub fn plain_reader(&self) -> ListReader {
        ListReader(Reading::Inflated(flate2::read::GzDecoder::new(self.source())))
    }
}

/// Where the gzipped bytes are read from: memory (a small list), or the file, at this reader's
/// own offset (readers share the file, never a file position).
enum Source {
    Bytes(bytes::buf::Reader<bytes::Bytes>),
    File { file: Arc<GzFile>, at: u64 },
}

impl io::Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Source::Bytes(r) => r.read(buf),
            Source::File { file, at } => {
                let want = buf.len().min(file.len.saturating_sub(*at) as usize);
                let n = file.file.read_at(&mut buf[..want], *at)?;
                *at += n as u64;
                Ok(n)
            }
        }
    }
}

/// The list answer as a body: gzipped as held, or inflated chunk by chunk (a chunk is about a
/// millisecond of work per poll). The reads are of memory or of the page cache.
pub struct ListReader(Reading);

enum Reading {
    Gzipped(Source),
    Inflated(flate2::read::GzDecoder<Source>),
}

impl tokio::io::AsyncRead for ListReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        // Fill the chunk: the inflater stops at each of its input blocks.
        while buf.remaining() > 0 {
            let n = match &mut self.0 {
                Reading::Gzipped(r) => io::Read::read(r, buf.initialize_unfilled())?,
                Reading::Inflated(r) => io::Read::read(r, buf.initialize_unfilled())?,
            };
            if n == 0 {
                break;
            }
            buf.advance(n);
        }
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bw_store::conformance::sample_repos as repos;

    fn as_stored(out: &mut dyn Write, repo: Repo) -> io::Result<()> {
        serde_json::to_writer(out, &repo).map_err(io::Error::other)
    }

    async fn body_bytes(answer: &ListAnswer) -> Vec<u8> {
        match answer.plain_bytes() {
            Some(bytes) => bytes.to_vec(),
            None => {
                let mut out = Vec::new();
                tokio::io::AsyncReadExt::read_to_end(&mut answer.plain_reader(), &mut out).await.unwrap();
                out
            }
        }
    }

    #[tokio::test]
    async fn a_large_list_is_held_gzipped_only_and_streams_whole() {
        let dir = tempfile::tempdir().unwrap();
        let build = |n: u64| {
            ListCache::build(repos(n), n as usize, 1, 1_700_000_100, "t", &as_stored, dir.path()).unwrap().answer()
        };
        let big = build(4_000);
        assert!(big.plain_bytes().is_none(), "a large plain answer is kept in memory");
        assert!(matches!(big.held, Held::Large(_)), "a large answer is kept in the heap");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the file is unlinked: a crash leaves nothing");
        assert!(big.plain_len() > PLAIN_KEPT_UP_TO);
        let streamed = body_bytes(&big).await;
        assert_eq!(streamed.len() as u64, big.plain_len());
        let list: serde_json::Value = serde_json::from_slice(&streamed).unwrap();
        assert_eq!(list["repoList"].as_array().unwrap().len(), 4_000);

        // The gzipped large answer, read by two clients at once, is the plain one.
        let (mut a, mut b) = (big.gzip_reader(), big.gzip_reader());
        let (mut gz_a, mut gz_b) = (Vec::new(), Vec::new());
        tokio::io::AsyncReadExt::read_to_end(&mut a, &mut gz_a).await.unwrap();
        tokio::io::AsyncReadExt::read_to_end(&mut b, &mut gz_b).await.unwrap();
        assert_eq!((gz_a.len() as u64, &gz_a), (big.gzip_len(), &gz_b));
        let mut unzipped = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz_a[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, streamed);

        let small = build(10);
        assert!(small.plain_bytes().is_some());
        let plain = body_bytes(&small).await;
        assert_eq!(plain.len() as u64, small.plain_len());
        let mut gz = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut small.gzip_reader(), &mut gz).await.unwrap();
        assert_eq!(gz.len() as u64, small.gzip_len());
        let mut unzipped = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, plain, "the gzipped small list is the list");
    }
}
