//! A guest's stderr, kept as a short tail so a trap can be reported with the
//! panic message that preceded it. Writes never fail and never block; only the
//! last [`GUEST_LOG_BYTES`] bytes are kept.

use bytes::Bytes;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Bytes of guest stderr kept per instance.
pub const GUEST_LOG_BYTES: usize = 2048;

/// The tail of one instance's stderr. Clones share the buffer.
#[derive(Clone, Default)]
pub(crate) struct GuestLog {
    tail: Arc<Mutex<VecDeque<u8>>>,
    /// Set by every write, so [`GuestLog::begin_call`] locks only when
    /// there is something to clear.
    written: Arc<AtomicBool>,
}

impl GuestLog {
    fn push(&self, bytes: &[u8]) {
        self.written.store(true, Ordering::Relaxed);
        if let Ok(mut tail) = self.tail.lock() {
            let keep = &bytes[bytes.len().saturating_sub(GUEST_LOG_BYTES)..];
            let overflow = (tail.len() + keep.len()).saturating_sub(GUEST_LOG_BYTES);
            let drop = overflow.min(tail.len());
            tail.drain(..drop);
            tail.extend(keep);
        }
    }

    /// Forgets what earlier calls wrote, so a failure is reported with the
    /// guest's last words in this call, not a pooled instance's old ones.
    pub(crate) fn begin_call(&self) {
        // A load, not a swap: most calls write nothing, and then nothing is
        // written here either.
        if self.written.load(Ordering::Relaxed) {
            self.written.store(false, Ordering::Relaxed);
            if let Ok(mut tail) = self.tail.lock() {
                tail.clear();
            }
        }
    }

    /// The last two meaningful lines written, joined (a Rust panic prints
    /// "thread ... panicked at file:line:col:" then the message, then a
    /// "note: run with RUST_BACKTRACE" hint that is dropped here), at most
    /// 400 bytes, control characters escaped.
    pub(crate) fn last_line(&self) -> Option<String> {
        let tail = self.tail.lock().ok()?;
        let bytes: Vec<u8> = tail.iter().copied().collect();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with `RUST_BACKTRACE"))
            .collect();
        let last = lines[lines.len().saturating_sub(2)..].join(" ");
        let (shown, _) = crate::text::escape_controls_within(&last, 400);
        (!shown.is_empty()).then(|| shown.into_owned())
    }
}

impl IsTerminal for GuestLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for GuestLog {
    async fn ready(&mut self) {}
}

impl OutputStream for GuestLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl AsyncWrite for GuestLog {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_tail_and_reports_the_last_line() {
        let log = GuestLog::default();
        assert_eq!(log.last_line(), None);
        log.push(&vec![b'x'; 10 * GUEST_LOG_BYTES]);
        log.push(b"\nthread '<unnamed>' panicked at src/lib.rs:1:1:\nboom\n");
        log.push(
            b"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n\n",
        );
        assert_eq!(
            log.last_line().as_deref(),
            Some("thread '<unnamed>' panicked at src/lib.rs:1:1: boom")
        );
        assert!(log.tail.lock().unwrap().len() <= GUEST_LOG_BYTES);
    }

    #[test]
    fn a_new_call_starts_with_an_empty_tail() {
        let log = GuestLog::default();
        log.push(b"warning from an earlier call\n");
        log.begin_call();
        assert_eq!(log.last_line(), None, "nothing written in this call yet");
        log.push(b"this call's words\n");
        assert_eq!(log.last_line().as_deref(), Some("this call's words"));
        log.begin_call();
        log.begin_call();
        assert_eq!(log.last_line(), None);
    }
}
