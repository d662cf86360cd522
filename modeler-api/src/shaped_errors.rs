//! The uniform error body for the answers hyper writes itself.
//!
//! hyper's HTTP/1 server answers a request it cannot parse before the router ever sees it: 400
//! (not HTTP/1.1), 414 (URI too long) and 431 (request line and headers beyond its read buffer, or
//! too many header fields), each with an empty body and no way to hook in. So the connection's
//! stream is wrapped: an answer that begins while no request of the connection is being answered
//! (every request handed to the router has had its response body finished and flushed) can only
//! be one of hyper's own. Its head is held back and replaced by the same status with the API's
//! `{"error": {"code", "message"}}` body and `Connection: close` (hyper closes the connection
//! after these answers anyway). Answers of the router pass through untouched.
//!
//! hyper only writes such an answer once everything written before it was flushed (its
//! connection state returns to "idle" only after a flush), so the held-back head is never mixed
//! with the tail of an earlier response.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes};
use axum::http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::api::ApiError;

/// At most this many bytes of request line and headers (hyper's `max_header_size`); more is
/// answered 431.
pub const HEADER_LIMIT: usize = 64 * 1024;
/// At most this many header fields; more is answered 431.
pub const MAX_HEADERS: usize = 100;
/// The longest head of one of hyper's own answers that is held back (they are about 100 bytes).
const MAX_HELD: usize = 4096;

/// What the service and the stream of one connection share: requests handed to the router and
/// responses whose bodies are done (both only change on the connection's own task).
#[derive(Debug, Default)]
pub struct Exchanges {
    started: AtomicU64,
    finished: AtomicU64,
}

impl Exchanges {
    /// Whether every request handed to the router has its response body done.
    fn idle(&self) -> Option<u64> {
        let started = self.started.load(Ordering::Acquire);
        (self.finished.load(Ordering::Acquire) == started).then_some(started)
    }
}

/// Counts the requests of a connection and when their response bodies are done.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    exchanges: Arc<Exchanges>,
    /// The connection's client, given to every request (`ClientAddr`).
    peer: Option<crate::api::ClientAddr>,
}

impl<S> Counted<S> {
    pub fn new(inner: S, exchanges: Arc<Exchanges>, peer: Option<std::net::SocketAddr>) -> Self {
        Counted { inner, exchanges, peer: peer.map(crate::api::ClientAddr) }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> hyper::service::Service<Request<Incoming>> for Counted<S>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<Body>>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            req.extensions_mut().insert(peer);
        }
        self.exchanges.started.fetch_add(1, Ordering::AcqRel);
        let done = Done(self.exchanges.clone());
        let answer = self.inner.call(req);
        Box::pin(async move {
            let resp = answer.await?;
            Ok(resp.map(|body| Body::new(Tracked { inner: body, _done: done })))
        })
    }
}

/// Counts a response as finished when dropped (hyper drops a body once it is written, or when
/// the request is abandoned).
struct Done(Arc<Exchanges>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::AcqRel);
    }
}

struct Tracked {
    inner: Body,
    _done: Done,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// A connection's stream, replacing hyper's own bodyless answers (see the module).
pub struct Shaped<T> {
    inner: T,
    exchanges: Arc<Exchanges>,
    /// The requests started when the stream was last flushed with every response done.
    flushed_idle_at: u64,
    out: Out,
}

enum Out {
    /// Bytes go straight through.
    Pass,
    /// The start of one of hyper's own answers, held until its head is complete.
    Holding(Vec<u8>),
    /// What is written instead, from `.1` on; anything hyper writes after the replacement of its
    /// answer is dropped (it closes the connection next).
    Replacing(Vec<u8>, usize),
    /// Bytes held that turned out not to be one of hyper's answers, from `.1` on; then `Pass`.
    Releasing(Vec<u8>, usize),
}

impl<T> Shaped<T> {
    pub fn new(inner: T, exchanges: Arc<Exchanges>) -> Self {
        Shaped { inner, exchanges, flushed_idle_at: 0, out: Out::Pass }
    }
}

impl<T: AsyncWrite + Unpin> Shaped<T> {
    /// Takes `buf` in place of the stream when it is (part of) one of hyper's own answers.
    fn hold(&mut self, buf: &[u8]) -> bool {
        match &mut self.out {
            Out::Pass => {
                let own = self.exchanges.idle() == Some(self.flushed_idle_at) && buf.starts_with(b"HTTP/1.1 4");
                if !own {
                    return false;
                }
                self.out = Out::Holding(Vec::new());
                self.hold(buf)
            }
            Out::Holding(held) => {
                held.extend_from_slice(buf);
                if let Some(end) = held.windows(4).position(|w| w == b"\r\n\r\n") {
                    let replacement = replacement(&held[..end + 4]);
                    self.out = Out::Replacing(replacement, 0);
                } else if held.len() > MAX_HELD {
                    // Not an answer of the expected form: let it through as it is.
                    self.out = Out::Releasing(std::mem::take(held), 0);
                }
                true
            }
            Out::Replacing(..) => true,
            Out::Releasing(held, _) => {
                held.extend_from_slice(buf);
                true
            }
        }
    }

    /// Writes out what replaces hyper's answer (or a head held when hyper flushes).
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Out::Holding(held) = &mut self.out {
            // Flushed before its head was complete: not of the expected form, let it through.
            self.out = Out::Releasing(std::mem::take(held), 0);
        }
        if let Out::Replacing(bytes, at) | Out::Releasing(bytes, at) = &mut self.out {
            while *at < bytes.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*at..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *at += n;
            }
        }
        if matches!(self.out, Out::Releasing(..)) {
            self.out = Out::Pass;
        }
        Poll::Ready(Ok(()))
    }
}

/// The status line of hyper's answer `head`, with the uniform error body.
fn replacement(head: &[u8]) -> Vec<u8> {
    let status = head
        .get(9..12)
        .and_then(|code| std::str::from_utf8(code).ok())
        .and_then(|code| code.parse::<u16>().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::BAD_REQUEST);
    let message = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => format!(
            "the request's header fields are too large: at most {HEADER_LIMIT} bytes of request line and headers, \
             and at most {MAX_HEADERS} header fields"
        ),
        StatusCode::URI_TOO_LONG => "the request's URI is too long".to_string(),
        StatusCode::BAD_REQUEST => "the request is not valid HTTP/1.1".to_string(),
        other => other.canonical_reason().unwrap_or("the request cannot be read").to_string(),
    };
    let body = ApiError::new(status, ApiError::code_for(status), message).body_json();
    let reason = status.canonical_reason().unwrap_or("Error");
    let date = head
        .split(|&b| b == b'\n')
        .find(|line| line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:"))
        .map(|line| String::from_utf8_lossy(line).trim().to_string());
    let mut out = format!(
        "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        status.as_u16(),
        body.len()
    );
    if let Some(date) = date {
        out.push_str(&date);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

impl<T: AsyncRead + Unpin> AsyncRead for Shaped<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Shaped<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if self.hold(buf) {
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let first = bufs.iter().find(|b| !b.is_empty()).map(|b| &**b).unwrap_or_default();
        if !matches!(self.out, Out::Pass) || self.hold_probe(first) {
            let mut n = 0;
            for b in bufs {
                self.hold(b);
                n += b.len();
            }
            return Poll::Ready(Ok(n));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        if matches!(self.out, Out::Pass)
            && let Some(started) = self.exchanges.idle()
        {
            self.flushed_idle_at = started;
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T> Shaped<T> {
    /// Whether a write starting with `first` would begin one of hyper's own answers.
    fn hold_probe(&self, first: &[u8]) -> bool {
        self.exchanges.idle() == Some(self.flushed_idle_at) && first.starts_with(b"HTTP/1.1 4")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hypers_answers_get_the_error_body() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Fri, 04 Dec 2026 16:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(head)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"), "{head}");
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert!(head.contains("date: Fri, 04 Dec 2026 16:00:00 GMT"), "{head}");
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"]["code"], "headers_too_large", "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("header fields are too large"), "{body}");
        let out = String::from_utf8(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")).unwrap();
        assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n") && out.contains(r#""code":"bad_request""#), "{out}");
    }
}
