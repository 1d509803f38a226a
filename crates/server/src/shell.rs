//! The HTTP shell's limits: how long a client may take, how many connections and requests are
//! served at once, what is shed first when there are more, and how the server stops.
//!
//! A connection's plain status polls are read and answered on the socket ([`plain_poll`], the
//! bulk of a surge, for less than hyper costs); its first other request hands it to hyper.
//! Connections are served by hyper's HTTP/1 server with a timer, so a request head that does not
//! arrive in full within [`Limits::header_timeout`] closes its connection (the same clock closes
//! a keep-alive connection that stays idle that long). Past [`Limits::max_connections`], a
//! further quarter of that number are *overflow* connections: each is served one request and
//! closed, and only the waiting room's front door (`/api/v1/queue/*`, `/wait`) and the health
//! probes are answered on them; everything else gets 503 `overloaded`. Past that, a connection is answered 503 at once,
//! without reading it, and closed. Requests in flight are capped the same way: past
//! [`Limits::max_in_flight`] only the front door is served, up to a quarter more. So when the
//! server is swamped, people already queued keep seeing their place and new arrivals keep getting
//! tickets, while everything behind the queue waits.
//!
//! On shutdown the listener closes, idle connections close, requests in flight finish (each
//! connection closes after its answer), the writer finishes what it was given, and the server
//! returns, all within [`Limits::shutdown_grace`]; what is still running then is cut.

use crate::error::ApiError;
use crate::state::AppState;
use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

mod front_door;
mod limits;
mod plain_poll;

use front_door::FrontDoor;
pub use limits::{Limits, Load, Threads, Tier, is_shed_last};
pub use plain_poll::plain_poll_length;

/// Seconds a shed client is asked to wait.
const SHED_RETRY_AFTER_S: u32 = 2;
/// Connections answered 503 at once may wait this long for the client to close, so the answer
/// is read before the socket goes; at most [`REFUSING_MAX`] of them do at a time.
const REFUSE_LINGER: Duration = Duration::from_secs(1);
const REFUSING_MAX: usize = 1_024;

/// Holds one counted unit (a connection or a request) until dropped.
struct Slot<'a>(&'a AtomicUsize);

impl<'a> Slot<'a> {
    fn take(counter: &'a AtomicUsize, limit: usize) -> Option<Slot<'a>> {
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(counter))
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The step of every routed request (`app::router::every_request`) that caps requests in
/// flight, sheds what is not the front door first, and applies the request timeout; `inner` is
/// the rest of the chain.
pub async fn admit<Answer: Future<Output = Response>>(
    state: &AppState,
    request: Request,
    inner: impl FnOnce(Request) -> Answer,
) -> Response {
    let limits = &state.config.limits;
    let load = &state.load;
    let front = is_shed_last(request.uri().path());
    let overflow = request.extensions().get::<Tier>() == Some(&Tier::Overflow);
    let limit = if front {
        limits.front_door_in_flight()
    } else if overflow {
        0
    } else {
        limits.max_in_flight
    };
    let Some(_slot) = Slot::take(&load.in_flight, limit) else {
        load.shed_requests.fetch_add(1, Ordering::Relaxed);
        return ApiError::overloaded(SHED_RETRY_AFTER_S).into_response();
    };
    let timeout = if request.uri().path().starts_with("/api/v1/admin/") {
        limits.operator_request_timeout
    } else {
        limits.request_timeout
    };
    // A request without a body (a status poll) is received with its head: nothing to watch.
    let received = Arc::new(AtomicBool::new(request.body().is_end_stream()));
    let request = if received.load(Ordering::Relaxed) {
        request
    } else {
        let done = Arc::clone(&received);
        request.map(|inner| Body::new(Received { inner, done }))
    };
    match tokio::time::timeout(timeout, inner(request)).await {
        Ok(response) => response,
        Err(_) => {
            load.timed_out.fetch_add(1, Ordering::Relaxed);
            if received.load(Ordering::Acquire) {
                tracing::warn!(?timeout, "request cut at its timeout");
                ApiError::timed_out(SHED_RETRY_AFTER_S).into_response()
            } else {
                ApiError::rejection(StatusCode::REQUEST_TIMEOUT).into_response()
            }
        }
    }
}

/// A request body that records when it has been received in full, so a timeout can tell a slow
/// client (408) from a slow answer (503).
struct Received {
    inner: Body,
    done: Arc<AtomicBool>,
}

impl HttpBody for Received {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.done.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Accepts connections until `shutdown` resolves, then drains them within the grace period.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    state: Arc<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limits = state.config.limits;
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    let front_door = Arc::new(FrontDoor::new(&state));
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection = Connection {
                        stream,
                        peer,
                        router: router.clone(),
                        front_door: Arc::clone(&front_door),
                        state: Arc::clone(&state),
                        stopping: stopping.clone(),
                    };
                    connections.spawn(connection.serve());
                }
                Err(error) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(%error, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    let deadline = Instant::now() + limits.shutdown_grace;
    drop(listener);
    let _ = stop.send(true);
    tracing::info!(
        connections = connections.len(),
        "stopped accepting; draining"
    );
    let drained = tokio::time::timeout_at(deadline.into(), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "grace period over; cutting the connections still open"
        );
        connections.abort_all();
    }
    finish_writer(&state, deadline).await;
}

/// Waits until the writer has committed everything it was given before now: it answers in
/// order, so the answer to a barrier sent last comes after every earlier batch.
async fn finish_writer(state: &AppState, deadline: Instant) {
    let barrier = async {
        loop {
            match state.writer.barrier().await {
                Err(store::writer::WriteError::Busy) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                _ => return,
            }
        }
    };
    if tokio::time::timeout_at(deadline.into(), barrier)
        .await
        .is_err()
    {
        tracing::warn!("grace period over before the writer finished");
    }
}

struct Connection {
    stream: TcpStream,
    /// The client's address, for handlers that limit per address (identity checks).
    peer: std::net::SocketAddr,
    router: Router,
    front_door: Arc<FrontDoor>,
    state: Arc<AppState>,
    stopping: watch::Receiver<bool>,
}

impl Connection {
    async fn serve(self) {
        let state = Arc::clone(&self.state);
        let (limits, load) = (state.config.limits, &state.load);
        if let Some(_slot) = Slot::take(&load.connections, limits.max_connections) {
            self.run(Tier::Normal).await;
        } else if let Some(_slot) =
            Slot::take(&load.overflow_connections, limits.overflow_connections())
        {
            self.run(Tier::Overflow).await;
        } else {
            load.shed_connections.fetch_add(1, Ordering::Relaxed);
            if let Some(_slot) = Slot::take(&load.refusing, REFUSING_MAX) {
                refuse(self.stream).await;
            }
        }
    }

    async fn run(self, tier: Tier) {
        let Connection {
            stream,
            peer,
            router,
            front_door,
            state,
            mut stopping,
        } = self;
        // A kept-alive connection's plain status polls are answered before hyper; overflow
        // connections (one request, then closed) go to hyper at once.
        let stream = if tier == Tier::Normal {
            let polls = plain_poll::answer_polls(
                stream,
                &state,
                &front_door,
                state.config.limits.header_timeout,
                stopped(&mut stopping),
            );
            match polls.await {
                plain_poll::Ended::Closed => return,
                plain_poll::Ended::HandedOff(rewound) => rewound,
            }
        } else {
            plain_poll::Rewound::new(Vec::new(), stream)
        };
        let trusted = state.config.trusted_proxies.clone();
        let answering = Arc::clone(&state);
        let service =
            hyper::service::service_fn(move |mut request: Request<_>| {
                if let Some(answer) = front_door.answer(&answering, &request) {
                    return Either::Left(std::future::ready(Ok(answer)));
                }
                request.extensions_mut().insert(tier);
                // Behind a trusted load balancer, the client it names: per-address limits count
                // people, not the load balancer.
                let client = crate::http::forwarded_client(peer.ip(), request.headers(), &trusted);
                request.extensions_mut().insert(axum::extract::ConnectInfo(
                    std::net::SocketAddr::new(client, peer.port()),
                ));
                Either::Right(router.clone().oneshot(request))
            });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(state.config.limits.header_timeout)
            .keep_alive(tier == Tier::Normal);
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let mut connection = pin!(connection);
        tokio::select! {
            served = connection.as_mut() => log_end(served),
            () = stopped(&mut stopping) => {
                connection.as_mut().graceful_shutdown();
                log_end(connection.await);
            }
        }
    }
}

/// Resolves once the server is stopping (or the server is gone).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    while !*stopping.borrow_and_update() {
        if stopping.changed().await.is_err() {
            return;
        }
    }
}

fn log_end(served: Result<(), hyper::Error>) {
    if let Err(error) = served {
        // Timeouts and clients that went away are routine; nothing to alarm anyone.
        tracing::debug!(%error, "connection ended");
    }
}

/// Answers a connection beyond every tier with 503 at once, then closes it.
async fn refuse(mut stream: TcpStream) {
    // Read what has already arrived, so closing does not reset the connection under the answer.
    let mut scratch = [0u8; 4096];
    let _ = stream.try_read(&mut scratch);
    let error = ApiError::overloaded(SHED_RETRY_AFTER_S);
    let body = error.body_json();
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         retry-after: {SHED_RETRY_AFTER_S}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    if stream.write_all(answer.as_bytes()).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(REFUSE_LINGER, async {
        while matches!(
            tokio::io::AsyncReadExt::read(&mut stream, &mut scratch).await,
            Ok(n) if n > 0
        ) {}
    })
    .await;
}
