//! Closes connections whose request head does not arrive in time (slow clients that send a
//! byte a second would otherwise hold a connection, and a task, forever). The body has its own
//! deadline in the body-limit middleware; idle keep-alive connections are closed by the server's
//! idle timeout.
//!
//! It also gives a body to the answers hyper writes by itself, below every middleware, for a
//! request head it cannot parse (400, 414 path too long, 431 headers too large): hyper sends
//! them empty, and the contract says every answer is JSON. Such an answer is recognised as it
//! is written (one of those statuses, `content-length: 0`, no `content-type`: the application's
//! answers always carry one) and replaced by the same status with the contract's body.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

pub struct HeadDeadline<A> {
    inner: A,
    limit: Duration,
}

impl<A> HeadDeadline<A> {
    pub fn new(inner: A, limit: Duration) -> Self {
        Self { inner, limit }
    }
}

impl<A: Acceptor> Acceptor for HeadDeadline<A> {
    type Io = GuardedIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        Ok((GuardedIo::new(io, self.limit), local, remote, scheme))
    }
}

const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// The answer to cleartext HTTP/2 (prior knowledge), which this server does not speak: its
/// own SETTINGS frame (the server preface HTTP/2 asks for first), then GOAWAY with
/// HTTP_1_1_REQUIRED (RFC 9113, 0xd), so that the client says why. Over HTTP/2 none of the
/// contract's answers (JSON for every error, the head deadline) held: it gave an empty 431, and
/// no answer at all for a large body or many headers.
const H2_REFUSAL: &[u8] = &[
    0, 0, 0, 4, 0, 0, 0, 0, 0, // SETTINGS, empty
    0, 0, 8, 7, 0, 0, 0, 0, 0, // GOAWAY, 8 bytes, stream 0
    0, 0, 0, 0, // last stream id 0
    0, 0, 0, 0xd, // HTTP_1_1_REQUIRED
];

pub struct GuardedIo<T> {
    inner: T,
    limit: Duration,
    deadline: Pin<Box<Sleep>>,
    /// A request head is being received (bytes came in, its blank line has not).
    in_head: bool,
    /// A head arrived and no answer was written yet: what follows is its body, timed by the
    /// body-limit middleware.
    awaiting_response: bool,
    /// The last bytes seen, to find `\r\n\r\n` across reads.
    tail: [u8; 3],
    /// First bytes of the connection, to recognise cleartext HTTP/2 and refuse it.
    prefix: Vec<u8>,
    /// The connection opened with HTTP/2's preface: hyper never sees it, the client is told.
    refused_h2: bool,
    /// A replaced automatic answer, still to be written (from `written` on).
    replacement: Vec<u8>,
    written: usize,
}

impl<T> GuardedIo<T> {
    fn new(inner: T, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: Box::pin(tokio::time::sleep(limit)),
            in_head: false,
            awaiting_response: false,
            tail: [0; 3],
            prefix: Vec::new(),
            refused_h2: false,
            replacement: Vec::new(),
            written: 0,
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        if self.prefix.len() < H2_PREFACE.len() {
            let take = (H2_PREFACE.len() - self.prefix.len()).min(bytes.len());
            self.prefix.extend_from_slice(&bytes[..take]);
            if self.prefix.len() == H2_PREFACE.len() && self.prefix == H2_PREFACE {
                self.refused_h2 = true;
            }
        }
        for &b in bytes {
            if self.awaiting_response {
                break;
            }
            if !self.in_head {
                self.in_head = true;
                self.deadline.as_mut().reset(Instant::now() + self.limit);
            }
            let end = self.tail == *b"\r\n\r" && b == b'\n';
            self.tail = [self.tail[1], self.tail[2], b];
            if end {
                self.in_head = false;
                self.awaiting_response = true;
                self.tail = [0; 3];
            }
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        if this.refused_h2 {
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                this.saw(&new);
                if this.refused_h2 {
                    // hyper sees a connection that closed before its first byte; the client
                    // gets GOAWAY (one small write on a fresh socket: its buffer has room).
                    buf.set_filled(before);
                    let _ = Pin::new(&mut this.inner).poll_write(cx, H2_REFUSAL);
                    return Poll::Ready(Ok(()));
                }
                if this.in_head && this.deadline.is_elapsed() {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow")));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.in_head => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow"))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> GuardedIo<T> {
    /// Writes what is left of a replacement answer; `Ready(Ok)` once nothing is.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.replacement.len() {
            match Pin::new(&mut self.inner).poll_write(cx, &self.replacement[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }

    /// An answer's bytes went out: what the client sends next is a new request head.
    fn answered(&mut self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.awaiting_response = false;
        }
        written
    }

    /// `buf` is consumed whole when it is an automatic answer to replace.
    fn replaced(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let json = json_answer_for(buf)?;
        self.replacement = json;
        self.written = 0;
        self.awaiting_response = false;
        Some(match self.poll_replacement(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            // What is left goes out at the next flush or shutdown.
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

/// hyper's automatic answers are a status line, `content-length`, `date` and little else.
const AUTOMATIC_ANSWER_MAX: usize = 256;

/// The JSON answer that replaces hyper's empty answer `head`, when it is one. Every write of
/// every answer passes here: anything longer than an automatic answer, or not starting with one
/// of its status lines, is let through at once, before any other look at its bytes.
fn json_answer_for(head: &[u8]) -> Option<Vec<u8>> {
    let status_line =
        [b"HTTP/1.1 400 ", b"HTTP/1.1 414 ", b"HTTP/1.1 431 ", b"HTTP/1.0 400 ", b"HTTP/1.0 414 ", b"HTTP/1.0 431 "];
    if head.len() > AUTOMATIC_ANSWER_MAX || !status_line.iter().any(|s| head.starts_with(*s)) {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let rest = text.strip_prefix("HTTP/1.1 ").or_else(|| text.strip_prefix("HTTP/1.0 "))?;
    let (reason, message) = match rest.get(..3)? {
        "400" => ("Bad Request", "Bad request: the request line or a header is malformed"),
        "414" => ("URI Too Long", "URI too long"),
        "431" => ("Request Header Fields Too Large", "Request header fields too large: too many headers, or too long"),
        _ => return None,
    };
    if !text.ends_with("\r\n\r\n") || text.matches("\r\n\r\n").count() != 1 {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    if !lower.contains("\r\ncontent-length: 0\r\n") || lower.contains("\r\ncontent-type:") {
        return None;
    }
    let date = lower.split("\r\n").find(|l| l.starts_with("date:")).map(|l| {
        let at = lower.find(l).unwrap_or(0);
        format!("{}\r\n", &text[at..at + l.len()])
    });
    let body = format!("{{\"message\":\"{message}\"}}");
    Some(
        format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\n\
             connection: close\r\n{}\r\n{body}",
            &rest[..3],
            body.len(),
            date.unwrap_or_default()
        )
        .into_bytes(),
    )
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Err(e) = std::task::ready!(self.poll_replacement(cx)) {
            return Poll::Ready(Err(e));
        }
        if let Some(answer) = self.replaced(cx, buf) {
            return answer;
        }
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.answered(written)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_flush(cx),
            other => other,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.poll_replacement(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut self.inner).poll_shutdown(cx),
            other => other,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Err(e) = std::task::ready!(self.poll_replacement(cx)) {
            return Poll::Ready(Err(e));
        }
        // An automatic answer is a head alone: one slice.
        if let [only] = bufs {
            if let Some(answer) = self.replaced(cx, only) {
                return answer;
            }
        }
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.answered(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
