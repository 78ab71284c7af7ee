//! The accept loop: HTTP/1.1 connections with a header-read timeout, an idle timeout and a cap
//! on open connections (security review #7: half-open connections used to stay open forever,
//! until the process ran out of file descriptors and `/healthz` stopped answering).
//!
//! - A client has [`Limits::header_timeout`] to send a request's headers. The same clock runs
//!   while a keep-alive connection waits for its next request, so it is also the idle timeout.
//! - At most [`Limits::max_connections`] connections are open at once. One more is answered at
//!   once with a 503 problem (`too_many_connections`, `Retry-After: 1`) and closed, so that the
//!   kernel's accept queue never fills with connections nobody serves.
//! - Handlers see the peer address as `ConnectInfo<SocketAddr>`, as with `axum::serve`.
//! - Shutdown stops accepting, lets requests in flight finish and closes idle connections.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::layers::Limits;

/// Serves `app` on `listener` until `shutdown` completes, within `limits`.
pub async fn serve_with_limits(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, "connection closed: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of `accept` that concern one connection are skipped; running out of file
/// descriptors (or memory) is waited out rather than spun on.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::*;
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    ) {
        return;
    }
    tracing::warn!("could not accept a connection: {e}; trying again in 100 ms");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Answers a connection beyond the cap with a 503 and closes it, spending at most a second.
async fn refuse(mut stream: TcpStream) {
    let code = super::Code::TooManyConnections;
    let body = serde_json::json!({
        "type": format!("urn:verbund:problem:{}", code.name()),
        "title": code.title(),
        "status": code.status().as_u16(),
        "code": code.name(),
        "detail": "the server has as many connections open as it allows; try again in a second",
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the connection before the
        // client has read the answer.
        let mut sink = [0u8; 4096];
        let mut left: usize = 64 * 1024;
        while left > 0 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}
