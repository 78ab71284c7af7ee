//! The empty WASI world that plugins written in languages with a runtime (Python through
//! componentize-py) need: such components import `wasi:cli`, `wasi:filesystem`,
//! `wasi:sockets` … because their runtime's libc does. They get a context with nothing in
//! it, so the sandbox promise holds for every language:
//!
//! - no files (no preopened directory), no environment variables, no arguments, an empty
//!   stdin;
//! - no network (every socket address is refused, no name lookup);
//! - no clock of their own: the wall clock stands still at the moment the call began (the
//!   host's `now`), the monotonic clock stands still at zero;
//! - no waiting: `poll` and `pollable.block` trap ("a plugin cannot wait"), so a `sleep`
//!   cannot hold a thread beyond the call's wall-time limit (epoch interruption only stops
//!   Wasm code, not a host function that blocks);
//! - stdout and stderr are captured (at most [`OUTPUT_CAP`] bytes each, the rest dropped)
//!   and written to the server log under the plugin's name after the call; a fault's
//!   message carries the last lines of stderr (a Python traceback).
//!
//! Random numbers come from the operating system: they reveal nothing.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// Bytes of stdout and of stderr kept per call.
pub const OUTPUT_CAP: usize = 16 * 1024;

/// What a call's instance gets of WASI.
pub struct Wasi {
    pub ctx: WasiCtx,
    pub table: ResourceTable,
    pub stdout: Captured,
    pub stderr: Captured,
}

impl Wasi {
    /// An empty context whose wall clock shows `now`.
    pub fn empty(now: SystemTime) -> Wasi {
        let stdout = Captured::default();
        let stderr = Captured::default();
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let ctx = WasiCtxBuilder::new()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .wall_clock(StillWall(since_epoch))
            .monotonic_clock(StillMonotonic)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Wasi {
            ctx,
            table: ResourceTable::new(),
            stdout,
            stderr,
        }
    }
}

/// Adds WASI 0.2 to `linker`, with waiting replaced by a trap.
pub fn add_to_linker<T: wasmtime_wasi::WasiView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut poll = linker.instance("wasi:io/poll@0.2.12")?;
    poll.func_wrap(
        "poll",
        |_, (_list,): (Vec<Resource<DynPollable>>,)| -> wasmtime::Result<(Vec<u32>,)> {
            Err(wasmtime::format_err!("{NO_WAITING}"))
        },
    )?;
    poll.func_wrap(
        "[method]pollable.block",
        |_, (_p,): (Resource<DynPollable>,)| -> wasmtime::Result<()> {
            Err(wasmtime::format_err!("{NO_WAITING}"))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The trap message of a plugin that tried to wait (sleep, select).
pub const NO_WAITING: &str =
    "a plugin cannot wait (sleep, poll): it has no clock of its own and must return promptly";

struct StillWall(Duration);

impl HostWallClock for StillWall {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        self.0
    }
}

struct StillMonotonic;

impl HostMonotonicClock for StillMonotonic {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// An output stream kept in memory, at most [`OUTPUT_CAP`] bytes; more is dropped silently
/// (a chatty plugin is not a faulty one).
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// What was written, as text.
    pub fn text(&self) -> String {
        let b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&b).into_owned()
    }

    fn push(&self, bytes: &[u8]) {
        let mut b = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let room = OUTPUT_CAP.saturating_sub(b.len());
        b.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }
}

impl IsTerminal for Captured {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Captured {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Captured {
    async fn ready(&mut self) {}
}

impl OutputStream for Captured {
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

impl tokio::io::AsyncWrite for Captured {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// The last `n` lines of `text`, trimmed, without the lines componentize-py's runtime adds
/// when it turns an uncaught exception into a trap (the traceback above them says it all).
pub fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .trim_end()
        .lines()
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("thread '")
                && !l.starts_with("note: run with `RUST_BACKTRACE")
                && l.trim() != "Python function threw an unexpected exception"
        })
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
