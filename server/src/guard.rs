//! Closes connections whose request head does not arrive in time (slow clients that send a
//! byte a second would otherwise hold a connection, and a task, forever). The body has its own
//! deadline in the body-limit middleware; idle keep-alive connections are closed by the server's
//! idle timeout.

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
    /// First bytes of the connection, to recognise HTTP/2 (which has no text head to time).
    prefix: Vec<u8>,
    off: bool,
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
            off: false,
        }
    }

    fn saw(&mut self, bytes: &[u8]) {
        if self.prefix.len() < H2_PREFACE.len() {
            let take = (H2_PREFACE.len() - self.prefix.len()).min(bytes.len());
            self.prefix.extend_from_slice(&bytes[..take]);
            if self.prefix.len() == H2_PREFACE.len() && self.prefix == H2_PREFACE {
                self.off = true;
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

impl<T: AsyncRead + Unpin> AsyncRead for GuardedIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let new = buf.filled()[before..].to_vec();
                this.saw(&new);
                if this.in_head && !this.off && this.deadline.is_elapsed() {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow")));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending if this.in_head && !this.off => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "request head too slow"))),
                Poll::Pending => Poll::Pending,
            },
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GuardedIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.awaiting_response = false;
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.awaiting_response = false;
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
