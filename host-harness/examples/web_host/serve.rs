//! The HTTP/1.1 server loop, with what `axum::serve` leaves out against slow
//! or many clients: a deadline for a request's headers, one for the rest of
//! the request until its store calls begin (its body read, its turn at the
//! store) and one for sending (`send_deadline.rs`), and a cap on the
//! connections served at once; and the headers every answer carries, a 404
//! or a 408 too.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// How long one request may take once its headers are in until its
    /// store calls begin (reading its body, waiting for its turn at the
    /// store); then it is answered 408 and the connection closed. Store
    /// calls once begun run to their end and are answered (each within the
    /// store's own limits: its CPU deadline, the kv backend's timeouts).
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

/// Marks a request whose store calls have begun (a handler finds it among
/// the request's extensions). From then on the request deadline no longer
/// answers 408: the calls run to their end and their outcome is what the
/// visitor gets. A 408 sent while they ran would hide writes that still
/// land: a sign-in would move the session to a new id the browser never
/// gets, signing the visitor out, while a retry of a note would look like
/// it had not been kept.
#[derive(Clone, Debug, Default)]
pub(crate) struct StoreWorkBegun(Arc<AtomicBool>);

impl StoreWorkBegun {
    /// Says the request's store calls begin now. Call it on the request's
    /// own task, before handing the calls to another thread: the deadline
    /// then sees it whenever it runs out, never half set.
    pub(crate) fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`StoreWorkBegun::mark`] was called.
    fn is_marked(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Runs the request (with a [`StoreWorkBegun`] among its extensions) within
/// `limit`, see [`within_limit`].
async fn within(limit: Duration, mut req: Request, next: Next) -> Response {
    let begun = StoreWorkBegun::default();
    req.extensions_mut().insert(begun.clone());
    within_limit(limit, &begun, next.run(req)).await
}

/// Awaits `run`, answering 408 (and closing the connection) when it is not
/// done within `limit` and `begun` has not been marked; once it has, `run`
/// is awaited to its end.
async fn within_limit(
    limit: Duration,
    begun: &StoreWorkBegun,
    run: impl Future<Output = Response>,
) -> Response {
    let mut run = std::pin::pin!(run);
    match tokio::time::timeout(limit, run.as_mut()).await {
        Ok(response) => response,
        // `run` is not polled while the deadline is looked at, so what it
        // marks meanwhile is seen here: no store call starts after a 408.
        Err(_) if begun.is_marked() => run.await,
        Err(_) => {
            let mut reply = page::error(&Failure::internal(
                StatusCode::REQUEST_TIMEOUT,
                format_args!("request not read, or not at the store, within {limit:?}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer no deadline made.
    fn handled() -> Response {
        (StatusCode::OK, "handled").into_response()
    }

    #[tokio::test]
    async fn a_request_whose_store_calls_began_is_answered_by_them() {
        let begun = StoreWorkBegun::default();
        let run = async {
            begun.mark();
            // Longer than the deadline, as a slow kv backend would take.
            tokio::time::sleep(Duration::from_millis(300)).await;
            handled()
        };
        let reply = within_limit(Duration::from_millis(20), &begun, run).await;
        assert_eq!(reply.status(), StatusCode::OK);
        assert!(
            reply
                .headers()
                .get(axum::http::header::CONNECTION)
                .is_none()
        );
    }

    #[tokio::test]
    async fn a_request_not_at_the_store_by_the_deadline_is_answered_408_and_never_gets_there() {
        let begun = StoreWorkBegun::default();
        let run = async {
            // A body that never comes, or a turn at the store that does not.
            std::future::pending::<()>().await;
            begun.mark();
            handled()
        };
        let reply = within_limit(Duration::from_millis(20), &begun, run).await;
        assert_eq!(reply.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(reply.headers()[axum::http::header::CONNECTION], "close");
        assert!(!begun.is_marked());
    }

    #[tokio::test]
    async fn a_request_done_in_time_is_answered_by_its_handler() {
        let begun = StoreWorkBegun::default();
        let reply = within_limit(Duration::from_secs(60), &begun, async { handled() }).await;
        assert_eq!(reply.status(), StatusCode::OK);
    }
}
