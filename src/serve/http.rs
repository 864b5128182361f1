//! The HTTP side of `serve`: hyper's HTTP/1 server on a current-thread
//! tokio runtime, answering `GET /metrics` and `GET /`, and nothing else.
//!
//! Bounds, so that no client can hold the exporter: at most
//! [`MAX_CONNECTIONS`] connections at once (more wait in the kernel's
//! accept queue); request headers within [`MAX_HEADER_BYTES`] (hyper
//! answers 431 past it) and [`HEADER_TIMEOUT`] (hyper closes the
//! connection); every connection closed after [`CONNECTION_LIFETIME`],
//! idle or not. Bytes that are not HTTP get hyper's 400; a path other
//! than the two is 404 (no file is ever read, so `/../..` leads nowhere);
//! another method on them is 405. A stop signal comes from the thread
//! that watches the signalfd (see [`super::run`]).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};

use super::exposition::Format;
use super::metrics::{self, Outcome, Telemetry};
use super::scrape::Dumps;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 64;
/// Most bytes of a request's head (request line and headers) read.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Time a client has to send a request's head, once it starts one or
/// once the connection is open.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of one connection, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Kept from a scrape's timeout to send the answer in.
pub const ANSWER_MARGIN: Duration = Duration::from_millis(250);

/// What every request handler shares.
pub struct Shared {
    /// The dumps scrapes wait for.
    pub dumps: Dumps,
    /// The exporter's counters.
    pub own: Telemetry,
    /// `--max-series`.
    pub max_series: usize,
}

const INDEX: &str = "<!DOCTYPE html>\n<html><head><title>tcpstat</title></head>\n<body>\
<h1>tcpstat</h1>\n<p>TCP connection states per port, program and namespace, read from \
the kernel at each scrape.</p>\n<p><a href=\"/metrics\">Metrics</a></p>\n</body></html>\n";

/// Serves `listener` until `stop` brings a stop signal; returns its
/// number. `stop` dropped without one is an error (the signals could not
/// be read).
pub fn run(
    listener: std::net::TcpListener,
    stop: oneshot::Receiver<libc::c_int>,
    shared: Arc<Shared>,
) -> std::io::Result<libc::c_int> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    runtime.block_on(async move {
        listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(listener)?;
        let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        tokio::select! {
            signal = stop => signal.map_err(|_| std::io::Error::other("the stop signals could not be read")),
            failed = accept_loop(&listener, &slots, shared) => failed,
        }
    })
}

/// Accepts connections while a slot is free. Returns only on an error
/// that is not the client's.
async fn accept_loop(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    shared: Arc<Shared>,
) -> std::io::Result<libc::c_int> {
    loop {
        let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
            return Err(std::io::Error::other("connection slots closed"));
        };
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of descriptors or memory, or the client gave up before
            // the accept: try again after a breath.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(Arc::clone(&shared), req));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(TokioIo::new(stream), service);
            // An error here is the client's (a bad request, a reset): hyper
            // has answered what can be answered.
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
            drop(slot);
        });
    }
}

/// One request's answer.
async fn answer(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let readable = matches!(*req.method(), Method::GET | Method::HEAD);
    Ok(match (req.uri().path(), readable) {
        ("/metrics", true) => scrape(&shared, &req).await,
        ("/", true) => page(StatusCode::OK, "text/html; charset=utf-8", INDEX.into()),
        ("/metrics" | "/", false) => {
            let mut r = page(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "only GET and HEAD\n".into(),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        }
        _ => page(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found: see /metrics\n".into(),
        ),
    })
}

fn page(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// `/metrics`: waits for the shared dump, within the scrape's timeout.
async fn scrape(shared: &Shared, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(header("accept"));
    let waited = match wait_limit(header("x-prometheus-scrape-timeout-seconds")) {
        Some(limit) => tokio::time::timeout(limit, shared.dumps.next()).await.ok(),
        None => Some(shared.dumps.next().await),
    };
    let outcome = match &waited {
        None => {
            shared.own.timeouts.inc();
            Outcome::TimedOut
        }
        Some(Some(dump)) => match dump.as_ref() {
            Ok(tallies) => Outcome::Dump(tallies),
            Err(_) => Outcome::Failed,
        },
        Some(None) => Outcome::Failed,
    };
    shared.own.scrapes.inc();
    let registry = metrics::build(outcome, &shared.own, shared.max_series);
    match format.encode(&registry) {
        Ok(text) => page(StatusCode::OK, format.content_type(), text),
        Err(_) => page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain; charset=utf-8",
            "the metrics could not be encoded\n".into(),
        ),
    }
}

/// How long a scrape may wait for the dump: the timeout Prometheus sends,
/// less [`ANSWER_MARGIN`] (half of it, when it is shorter than two
/// margins); no limit without one. A value that is not a positive
/// number of seconds is ignored.
pub fn wait_limit(header: Option<&str>) -> Option<Duration> {
    let seconds: f64 = header?.trim().parse().ok()?;
    let timeout = Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|t| !t.is_zero())?;
    Some(if timeout > 2 * ANSWER_MARGIN {
        timeout - ANSWER_MARGIN
    } else {
        timeout / 2
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_leaves_a_margin_of_the_scrape_timeout() {
        assert_eq!(wait_limit(Some("10")), Some(Duration::from_millis(9750)));
        assert_eq!(wait_limit(Some(" 0.4 ")), Some(Duration::from_millis(200)));
        for ignored in [
            None,
            Some("0"),
            Some("-1"),
            Some("NaN"),
            Some("inf"),
            Some("x"),
        ] {
            assert_eq!(wait_limit(ignored), None, "{ignored:?}");
        }
    }
}
