//! The list answer: built from the records in one pass, held gzipped only (a large one is
//! inflated as it is sent), with its entity tag, and for which index generation and times it
//! still says what the index says.

use std::io::{self, Write};

use super::{PathFamily, Repo};

/// The list answer gzipped, and for which index generation and times it holds.
pub(super) struct ListCache {
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

    /// `{"repoList":[...]}` with `status` computed for `now`, in the shape of the path family
    /// (`seed`: without the v1 fields), gzipped as it is written: the plain answer (34 MB at
    /// 100,000 repositories) is never held. A status only turns from true to false as time
    /// passes, so the answer holds until the first repository turns late.
    ///
    /// A small list (`count` repositories making at most [`PLAIN_KEPT_UP_TO`], a
    /// BorgWarehouse-sized host) is kept plain instead and gzipped at its first gzip request:
    /// inflating it at every request, or compressing it at every change, would cost more of the
    /// list rate than its few hundred KiB are worth.
    pub fn build(
        repos: impl Iterator<Item = Repo>,
        count: usize,
        generation: u64,
        now: i64,
        family: PathFamily,
        etag: String,
    ) -> io::Result<ListCache> {
        let answer_of = |plain: Option<bytes::Bytes>, gzip: Option<bytes::Bytes>, plain_len: u64| ListAnswer {
            gzip: std::sync::Arc::new(gzip.map(std::sync::OnceLock::from).unwrap_or_default()),
            plain_len,
            etag: etag.clone(),
            plain,
        };
        if (count as u64).saturating_mul(SMALL_RECORD) <= PLAIN_KEPT_UP_TO {
            let mut out = Vec::with_capacity(64 + count * 480);
            let valid_until = write_list(&mut out, repos, now, family, None)?;
            let plain_len = out.len() as u64;
            let answer = answer_of(Some(bytes::Bytes::from(out)), None, plain_len);
            return Ok(ListCache { generation, built_at: now, valid_until, answer });
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut counted = Counted { inner: &mut gz, written: 0 };
        let valid_until = write_list(&mut counted, repos, now, family, None)?;
        let plain_len = counted.written;
        let answer = answer_of(None, Some(bytes::Bytes::from(gz.finish()?)), plain_len);
        Ok(ListCache { generation, built_at: now, valid_until, answer })
    }
}

/// Counts what passes through.
struct Counted<'w, W: Write> {
    inner: &'w mut W,
    written: u64,
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes `{"repoList":[...]}` (and `"total"` when given) with `status` computed for `now`, in
/// the shape of the path family (`seed`: without the v1 fields); returns the first second at
/// which a status in it turns false with the passing of time.
pub(super) fn write_list(
    out: &mut impl Write,
    repos: impl Iterator<Item = Repo>,
    now: i64,
    family: PathFamily,
    total: Option<usize>,
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
        let repo = repo.at(now).shown_on(family);
        if repo.status && computed {
            valid_until = valid_until.min(repo.last_save.saturating_add(repo.alert as i64).saturating_add(1));
        }
        serde_json::to_writer(&mut out, &repo).map_err(io::Error::other)?;
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

/// The list answer and the entity tag that names it: equal tags, equal bytes. Held gzipped;
/// a client that does not accept gzip gets it inflated as it is sent, or, for a small list,
/// the plain bytes kept beside it.
#[derive(Debug, Clone)]
pub struct ListAnswer {
    /// Set at the build (large lists) or at the first gzip request (small ones).
    gzip: std::sync::Arc<std::sync::OnceLock<bytes::Bytes>>,
    plain_len: u64,
    /// Quoted, as the `ETag` header carries it.
    pub etag: String,
    plain: Option<bytes::Bytes>,
}

impl ListAnswer {
    pub fn gzipped(&self) -> bytes::Bytes {
        self.gzip
            .get_or_init(|| {
                let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                // Writing to a Vec cannot fail; a small list always has its plain bytes.
                let _ = gz.write_all(self.plain.as_deref().unwrap_or_default());
                bytes::Bytes::from(gz.finish().unwrap_or_default())
            })
            .clone()
    }

    /// Length of the plain answer (its `Content-Length`).
    pub fn plain_len(&self) -> u64 {
        self.plain_len
    }

    /// The plain answer as a body: the kept bytes of a small list, else inflated from the
    /// gzipped copy as the client reads it, in chunks of [`crate::memory::LIST_CHUNK`], each its
    /// own mapping, handed back to the system when sent.
    pub fn plain_body(&self) -> poem::Body {
        match &self.plain {
            Some(bytes) => poem::Body::from_bytes(bytes.clone()),
            None => poem::Body::from_bytes_stream(tokio_util::io::ReaderStream::with_capacity(
                self.plain_reader(),
                crate::memory::LIST_CHUNK,
            )),
        }
    }

    /// The plain answer, inflated from the gzipped copy as the client reads it.
    pub fn plain_reader(&self) -> Inflating {
        Inflating(flate2::read::GzDecoder::new(bytes::Buf::reader(self.gzipped())))
    }
}

/// The plain list answer, inflated chunk by chunk (a chunk is about a millisecond of work per
/// poll).
pub struct Inflating(flate2::read::GzDecoder<bytes::buf::Reader<bytes::Bytes>>);

impl tokio::io::AsyncRead for Inflating {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        // Fill the chunk: the inflater stops at each of its input blocks.
        while buf.remaining() > 0 {
            let n = io::Read::read(&mut self.0, buf.initialize_unfilled())?;
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
    use crate::repo_store::index::tests::repos;

    async fn body_bytes(answer: &ListAnswer) -> Vec<u8> {
        answer.plain_body().into_vec().await.unwrap()
    }

    #[tokio::test]
    async fn a_large_list_is_held_gzipped_only_and_streams_whole() {
        let big =
            ListCache::build(repos(4_000), 4_000, 1, 1_700_000_100, PathFamily::V1, "\"t\"".into()).unwrap().answer();
        assert!(big.plain.is_none(), "a large plain answer is kept in memory");
        assert!(big.plain_len() > PLAIN_KEPT_UP_TO);
        let streamed = body_bytes(&big).await;
        assert_eq!(streamed.len() as u64, big.plain_len());
        let list: serde_json::Value = serde_json::from_slice(&streamed).unwrap();
        assert_eq!(list["repoList"].as_array().unwrap().len(), 4_000);

        let small = ListCache::build(repos(10), 10, 1, 1_700_000_100, PathFamily::V1, "\"t\"".into()).unwrap().answer();
        assert!(small.plain.is_some());
        let plain = body_bytes(&small).await;
        assert_eq!(plain.len() as u64, small.plain_len());
        let mut unzipped = Vec::new();
        io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&small.gzipped()[..]), &mut unzipped).unwrap();
        assert_eq!(unzipped, plain, "the gzipped small list is the list");
    }
}
