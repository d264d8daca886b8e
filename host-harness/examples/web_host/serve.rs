//! The HTTP/1.1 server loop, with what `axum::serve` leaves out against slow
//! or many clients: a deadline for a request's headers, one for the whole
//! request (its body read, the store calls, making the reply) and one for
//! sending (`send_deadline.rs`), and a cap on the connections served at
//! once; and the headers every answer carries, a 404 or a 408 too.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::page;
use crate::send_deadline::SendDeadline;
use crate::site::Failure;

/// Limits on each client.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClientLimits {
    /// How long a client may take to send a request's headers, counted from
    /// when the connection waits for one (so an idle kept-alive connection
    /// is closed after as long too); then the connection is closed.
    pub(crate) headers: Duration,
    /// How long one request may take once its headers are in (reading its
    /// body and making the reply); then it is answered 408 and the
    /// connection closed.
    pub(crate) request: Duration,
    /// How long sending may wait for the client to take any of the reply;
    /// then the connection is closed.
    pub(crate) send: Duration,
    /// Connections served at once; more wait to be accepted.
    pub(crate) connections: usize,
}

/// Serves `routes` on `listener` within `limits` until `stop` resolves, then
/// stops accepting and waits for the requests in progress.
pub(crate) async fn serve(
    listener: TcpListener,
    routes: Router,
    limits: ClientLimits,
    stop: impl Future<Output = ()>,
) {
    let routes = routes
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            within(limits.request, req, next)
        }))
        .layer(middleware::map_response(secured));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.headers);
    let open = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        // Every slot taken: wait for one (deadlines free them), or the stop.
        let slot = tokio::select! {
            slot = open.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // not closed while this loop runs
            },
            () = &mut stop => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors, say: wait a little, go on.
                Err(e) => {
                    // Not eprintln!, which panics when stderr is gone.
                    let _ = writeln!(std::io::stderr(), "accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let service = TowerToHyperService::new(routes.clone());
        let stream = TokioIo::new(SendDeadline::new(stream, limits.send));
        let connection = graceful.watch(http.serve_connection(stream, service));
        tokio::spawn(async move {
            // A client that goes away or is too slow ends only its own
            // connection.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Runs the request, answering 408 (and closing the connection) when it is
/// not done within `limit`.
async fn within(limit: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            let mut reply = page::error(&Failure::internal(
                StatusCode::REQUEST_TIMEOUT,
                format_args!("request not done within {limit:?}"),
            ))
            .into_response();
            reply.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            reply
        }
    }
}

/// `reply` with the headers every answer carries (those it set itself kept).
async fn secured(mut reply: Response) -> Response {
    let headers = reply.headers_mut();
    let mut set = |name, value| {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    };
    // A page that shows a session must not be cached for another visitor.
    set(CACHE_CONTROL, "no-store");
    // Nor shown in another site's frame (its forms clicked through a
    // disguise), nor read as anything but what it says it is; and the
    // address of a page is not sent to other sites.
    set(CONTENT_SECURITY_POLICY, "frame-ancestors 'none'");
    set(X_FRAME_OPTIONS, "DENY");
    set(X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(REFERRER_POLICY, "same-origin");
    reply
}
