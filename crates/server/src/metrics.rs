//! Prometheus metrics at `/metrics`.

use axum::extract::MatchedPath;
use axum::http::Method;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::hash::{Hash, Hasher};
use std::sync::atomic::Ordering;
use store::CheckpointStats;
use store::writer::{Health, Writer, WriterStats};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: &'static str,
    pub route: Route,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: Route,
}

/// A route pattern as a label value. It shares the router's own string, so counting a request
/// allocates nothing.
#[derive(Clone, Debug)]
pub enum Route {
    /// The pattern the router matched.
    Matched(MatchedPath),
    /// A route answered before the router (the shell's front door), by its pattern.
    Direct(&'static str),
    /// A request no route matched.
    Unmatched,
}

impl Route {
    pub fn of(matched: Option<&MatchedPath>) -> Route {
        matched.map_or(Route::Unmatched, |path| Route::Matched(path.clone()))
    }

    pub fn as_str(&self) -> &str {
        match self {
            Route::Matched(path) => path.as_str(),
            Route::Direct(pattern) => pattern,
            Route::Unmatched => "unmatched",
        }
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Route) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Route {}

impl Hash for Route {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl EncodeLabelValue for Route {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        EncodeLabelValue::encode(&self.as_str(), encoder)
    }
}

/// A method as a label value, without allocating. Any method outside HTTP's standard nine is
/// `other`: a client inventing methods must not invent label values (each one a new series
/// that `/metrics` would carry for ever).
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// A route the shell answers before the router (a `GET`): its 200 counter and latency
/// histogram, shared with the families `/metrics` reads. See [`Metrics::direct_route`].
pub struct DirectRoute {
    pattern: &'static str,
    ok: Counter,
    latency: Histogram,
}

/// The labels of a `GET` of a direct route answered with `status`.
fn direct_labels(pattern: &'static str, status: u16) -> RouteLabels {
    RouteLabels {
        method: "GET",
        route: Route::Direct(pattern),
        status,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

/// A part of the ledger (`domain::partition`; part 0 alone when it is not cut).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartLabels {
    pub part: u16,
}

/// Each part's writer on this node, labelled by part.
struct PartGauges {
    writing: Family<PartLabels, Gauge>,
    epoch: Family<PartLabels, Gauge>,
    queued: Family<PartLabels, Gauge>,
    batches: Family<PartLabels, Gauge>,
}

impl PartGauges {
    fn register(registry: &mut Registry) -> PartGauges {
        let mut family = |name: &str, help: &str| {
            let family = Family::<PartLabels, Gauge>::default();
            registry.register(name, help, family.clone());
            family
        };
        PartGauges {
            writing: family(
                "ledger_part_writing",
                "1 while this node writes the part (it holds its lease and its writer takes requests)",
            ),
            epoch: family(
                "ledger_part_holder_epoch",
                "The epoch of the part's lease as this node last saw it (a new holder takes a higher one)",
            ),
            queued: family(
                "ledger_part_queue_depth",
                "Commands waiting for the part's writer",
            ),
            batches: family(
                "ledger_part_batches",
                "Transactions the part's writer committed",
            ),
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteOnly, Histogram>,
    pub bookings: Family<OutcomeLabels, Counter>,
    /// Refused sign-ins and failed identity checks, by kind (`operator`, `clinic`, `agent`,
    /// `wrong_code`, `rate_limited`): a rising line is someone guessing.
    pub failed_signins: Family<OutcomeLabels, Counter>,
    /// Identity codes' texts by outcome (`handed`, `sent`, `rejected`, `expired`, `refused`).
    code_texts: Family<OutcomeLabels, Gauge>,
    writer_batches: Gauge,
    writer_commands: Gauge,
    writer_queued: Gauge,
    writer_busy: Gauge,
    writer: Writer,
    parts: PartGauges,
    queue: QueueGauges,
    storage: StorageGauges,
    lease: Option<LeaseGauges>,
    shell: ShellGauges,
}

/// What the HTTP shell carries and turns away.
#[derive(Default)]
struct ShellGauges {
    connections: Gauge,
    overflow_connections: Gauge,
    in_flight: Gauge,
    shed_connections: Gauge,
    shed_requests: Gauge,
    timed_out: Gauge,
}

/// Storage faults as operators alarm on them.
#[derive(Default)]
struct StorageGauges {
    writer_ready: Gauge,
    failed_batches: Gauge,
    refused_batches: Gauge,
    failed_rebuilds: Gauge,
    fault_refusals: Gauge,
    checkpoints_failed: Gauge,
    checkpoints_failing: Gauge,
    wal_bytes: Gauge,
    wal_frames: Gauge,
    wal_writer_copies: Gauge,
    wal_writer_copy_ms: Gauge,
    piece_holds: Gauge,
    pieces_waiting: Gauge,
    views_whole: Gauge,
    views_kept_up: Gauge,
}

impl StorageGauges {
    fn register(registry: &mut Registry) -> StorageGauges {
        let gauges = StorageGauges::default();
        let metrics: [(&str, &str, &Gauge); 15] = [
            (
                "writer_ready",
                "1 while the writer takes requests; 0 while it recovers from a storage fault",
                &gauges.writer_ready,
            ),
            (
                "writer_failed_batches",
                "Write batches that failed and were rolled back (nothing of them acknowledged)",
                &gauges.failed_batches,
            ),
            (
                "writer_refused_batches",
                "Batches the database refused by its own rules (over capacity): a bug above storage",
                &gauges.refused_batches,
            ),
            (
                "writer_failed_rebuilds",
                "Failed attempts to rebuild the ledger from the database",
                &gauges.failed_rebuilds,
            ),
            (
                "writer_fault_refusals",
                "Requests refused at once while the writer recovered from a fault",
                &gauges.fault_refusals,
            ),
            (
                "checkpoint_failures",
                "WAL checkpoints that failed",
                &gauges.checkpoints_failed,
            ),
            (
                "checkpoint_failing",
                "WAL checkpoints failed in a row (0 when healthy; the WAL grows meanwhile)",
                &gauges.checkpoints_failing,
            ),
            (
                "wal_bytes",
                "Size of the database's write-ahead log",
                &gauges.wal_bytes,
            ),
            (
                "wal_frames",
                "Pages in the write-ahead log at the last checkpoint (a supply change waits above 4,096 until it is copied back)",
                &gauges.wal_frames,
            ),
            (
                "wal_writer_copies",
                "Times the writer copied the rest of a long write-ahead log back itself, between batches, and started the log over",
                &gauges.wal_writer_copies,
            ),
            (
                "wal_writer_copy_ms",
                "Milliseconds the writer spent copying long write-ahead logs back and starting them over (bookings wait meanwhile)",
                &gauges.wal_writer_copy_ms,
            ),
            (
                "writer_piece_holds",
                "Times the next piece of a supply change waited for the write-ahead log to be copied back",
                &gauges.piece_holds,
            ),
            (
                "writer_pieces_waiting",
                "1 while a supply change waits for the write-ahead log to be copied back (bookings go on)",
                &gauges.pieces_waiting,
            ),
            (
                "writer_standby_views_whole",
                "Times a part written by another node had its view of what is left read whole (at start, after a supply change or a fault)",
                &gauges.views_whole,
            ),
            (
                "writer_standby_views_kept_up",
                "Times a part written by another node had its view of what is left kept up with only the bookings written since",
                &gauges.views_kept_up,
            ),
        ];
        for (name, help, gauge) in metrics {
            registry.register(name, help, gauge.clone());
        }
        gauges
    }
}

/// On PostgreSQL: this node's part in writing (see `store::postgres::lease`).
struct LeaseGauges {
    view: store::postgres::LeaseView,
    held: Gauge,
    epoch: Gauge,
    holder_epoch: Gauge,
    forwarding: Gauge,
    forwarded: Family<OutcomeLabels, Gauge>,
}

/// The waiting room as operators chart it.
#[derive(Default)]
struct QueueGauges {
    arrivals: Gauge,
    queued: Gauge,
    admitted: Gauge,
    active: Gauge,
    limit: Gauge,
    in_flight: Gauge,
    admission_rate: Gauge<f64, std::sync::atomic::AtomicU64>,
    admission_pace: Gauge<f64, std::sync::atomic::AtomicU64>,
    latency_p99_ms: Gauge,
    drain_seconds: Gauge,
    verified_people: Gauge,
    verifications: Gauge,
    unverified_tickets: Gauge,
    ineligible: Gauge,
    tickets_refused: Gauge,
    second_passes_refused: Gauge,
    texted_away: Gauge,
    controls: Gauge,
    revision: Gauge,
}

impl Metrics {
    /// `lease`: on PostgreSQL, what this node holds of the ledger's lease.
    pub fn new(writer: Writer, lease: Option<store::postgres::LeaseView>) -> Metrics {
        let mut registry = Registry::with_prefix("yeyak");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route",
            latency.clone(),
        );
        let bookings = Family::<OutcomeLabels, Counter>::default();
        registry.register("bookings", "Booking commands by outcome", bookings.clone());
        let failed_signins = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "failed_signins",
            "Refused sign-ins and identity checks, by kind",
            failed_signins.clone(),
        );
        let code_texts = Family::<OutcomeLabels, Gauge>::default();
        registry.register(
            "identity_code_texts_total",
            "Identity codes' texts: handed to the sender, sent, rejected by the gateway, expired while retried, refused on a full queue",
            code_texts.clone(),
        );
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let queue = QueueGauges::default();
        for (name, help, g) in [
            (
                "queue_arrivals",
                "Tickets issued in the current queue",
                &queue.arrivals,
            ),
            (
                "queue_waiting",
                "People waiting in the current queue",
                &queue.queued,
            ),
            (
                "queue_admitted",
                "People admitted from the current queue",
                &queue.admitted,
            ),
            (
                "queue_active",
                "Admitted people using the booking side",
                &queue.active,
            ),
            (
                "queue_limit",
                "The admission controller's concurrency limit (leader only; 0 elsewhere)",
                &queue.limit,
            ),
            (
                "queue_in_flight",
                "People admitted who have not shown up yet, for whom room is held (leader only)",
                &queue.in_flight,
            ),
            (
                "queue_latency_p99_ms",
                "The booking side's p99 latency at the controller's last tick, what admission steers by (leader only; 0 elsewhere or without traffic)",
                &queue.latency_p99_ms,
            ),
        ] {
            registry.register(name, help, g.clone());
        }
        registry.register(
            "queue_admission_rate",
            "Measured admissions per second",
            queue.admission_rate.clone(),
        );
        registry.register(
            "queue_admission_pace",
            "The most admissions per second the controller allows now (its adaptive pace; leader only, 0 elsewhere or unpaced)",
            queue.admission_pace.clone(),
        );
        registry.register(
            "queue_drain_seconds",
            "Estimated time to admit everyone waiting",
            queue.drain_seconds.clone(),
        );
        for (name, help, g) in [
            (
                "queue_verified_people",
                "People placed in the current queue's draw of verified people",
                &queue.verified_people,
            ),
            (
                "queue_verifications_total",
                "Waiting tickets verified on this node",
                &queue.verifications,
            ),
            (
                "queue_unverified_tickets",
                "Tickets this node issued that were never verified, at most",
                &queue.unverified_tickets,
            ),
            (
                "queue_ineligible_turned_away_total",
                "Verified people told their cohort does not open now, given no place",
                &queue.ineligible,
            ),
            (
                "queue_tickets_refused_total",
                "New tickets refused by the per-address limit",
                &queue.tickets_refused,
            ),
            (
                "queue_second_passes_refused_total",
                "Second passes refused for a person whose first was in use",
                &queue.second_passes_refused,
            ),
            (
                "queue_texted_away_total",
                "People who left the waiting page and were texted when their turn came",
                &queue.texted_away,
            ),
            (
                "queue_controller",
                "1 when this node runs the waiting room's admission controller (the only node, or \
                 the ledger's holder of several)",
                &queue.controls,
            ),
            (
                "queue_record_revision",
                "The revision of this node's copy of the waiting room's record (nodes of one \
                 database lagging behind the others show a smaller one)",
                &queue.revision,
            ),
        ] {
            registry.register(name, help, g.clone());
        }
        let lease = lease.map(|view| LeaseGauges {
            held: gauge(
                &mut registry,
                "ledger_lease_held",
                "1 when this node holds the ledger's lease and writes bookings, 0 standing by",
            ),
            epoch: gauge(
                &mut registry,
                "ledger_lease_epoch",
                "The epoch of the ledger lease this node holds (0 when it holds none)",
            ),
            holder_epoch: gauge(
                &mut registry,
                "ledger_holder_epoch",
                "The epoch of the ledger's holder as this node last saw it (itself or another)",
            ),
            forwarding: gauge(
                &mut registry,
                "ledger_forwarding",
                "1 when this node forwards writes for some part of the ledger to its live holder",
            ),
            forwarded: {
                let family = Family::<OutcomeLabels, Gauge>::default();
                registry.register(
                    "ledger_forwarded_writes",
                    "Writes forwarded to the ledger's holder, by outcome (answered; unreachable: \
                     answered 503 here; lost: sent, no answer, 503 timeout)",
                    family.clone(),
                );
                family
            },
            view,
        });
        let shell = ShellGauges::default();
        for (name, help, gauge) in [
            (
                "http_connections",
                "Connections served normally",
                &shell.connections,
            ),
            (
                "http_overflow_connections",
                "Connections beyond the cap, served one front-door request each",
                &shell.overflow_connections,
            ),
            ("http_in_flight", "Requests being handled", &shell.in_flight),
            (
                "http_shed_connections",
                "Connections answered 503 at once (beyond every tier)",
                &shell.shed_connections,
            ),
            (
                "http_shed_requests",
                "Requests answered 503 overloaded (in-flight or connection cap)",
                &shell.shed_requests,
            ),
            (
                "http_timed_out",
                "Requests cut by their timeout (408 or 503)",
                &shell.timed_out,
            ),
        ] {
            registry.register(name, help, gauge.clone());
        }
        Metrics {
            lease,
            queue,
            shell,
            storage: StorageGauges::register(&mut registry),
            parts: PartGauges::register(&mut registry),
            writer_batches: gauge(
                &mut registry,
                "writer_batches",
                "Transactions the writer committed",
            ),
            writer_commands: gauge(
                &mut registry,
                "writer_commands",
                "Commands the writer executed",
            ),
            writer_queued: gauge(
                &mut registry,
                "writer_queue_depth",
                "Commands waiting for the writer",
            ),
            writer_busy: gauge(
                &mut registry,
                "writer_busy_refusals",
                "Commands refused because the writer queue was full",
            ),
            registry,
            requests,
            latency,
            bookings,
            failed_signins,
            code_texts,
            writer,
        }
    }

    /// The series of a route answered before the router, made now so that counting one of its
    /// requests takes neither the families' lock nor a hash.
    pub fn direct_route(&self, pattern: &'static str) -> DirectRoute {
        DirectRoute {
            pattern,
            ok: self
                .requests
                .get_or_create(&direct_labels(pattern, 200))
                .clone(),
            latency: self
                .latency
                .get_or_create(&RouteOnly {
                    route: Route::Direct(pattern),
                })
                .clone(),
        }
    }

    /// Counts a `GET` of a direct route and its latency, in the same series as the router's.
    pub fn count_direct(&self, route: &DirectRoute, status: u16, seconds: f64) {
        route.latency.observe(seconds);
        if status == 200 {
            route.ok.inc();
        } else {
            self.requests
                .get_or_create(&direct_labels(route.pattern, status))
                .inc();
        }
    }

    pub fn count_booking(&self, outcome: &str) {
        self.bookings
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts and logs a refused sign-in or identity check (never who: no personal data).
    pub fn count_failed_signin(&self, kind: &str) {
        tracing::warn!(kind, "sign-in refused");
        self.failed_signins
            .get_or_create(&OutcomeLabels {
                outcome: kind.to_string(),
            })
            .inc();
    }

    /// Takes the checkpointer's figures for the next [`Metrics::render`].
    /// What this node forwarded to the ledger's holder (PostgreSQL, several nodes).
    pub fn observe_forwarding(&self, forwarding: &crate::forward::Forwarding) {
        for (index, lease) in forwarding.leases().iter().enumerate() {
            let labels = PartLabels { part: index as u16 };
            let epoch = lease.holder().map_or(0, |h| h.epoch);
            self.parts.epoch.get_or_create(&labels).set(epoch);
        }
        let Some(lease) = &self.lease else { return };
        lease
            .forwarding
            .set(i64::from(forwarding.forwards_some_part(&self.writer)));
        for (outcome, counter) in [
            ("answered", &forwarding.answered),
            ("unreachable", &forwarding.unreachable),
            ("lost", &forwarding.lost),
        ] {
            let labels = OutcomeLabels {
                outcome: outcome.into(),
            };
            let value = counter.load(Ordering::Relaxed);
            lease
                .forwarded
                .get_or_create(&labels)
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    /// What became of the identity codes' texts (`notify::codes`).
    pub fn observe_code_texts(&self, counts: &crate::notify::codes::CodeCounts) {
        for (outcome, value) in counts.by_outcome() {
            let labels = OutcomeLabels {
                outcome: outcome.into(),
            };
            self.code_texts
                .get_or_create(&labels)
                .set(i64::try_from(value).unwrap_or(i64::MAX));
        }
    }

    pub fn observe_checkpoints(&self, checkpoints: &CheckpointStats) {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as i64;
        let storage = &self.storage;
        storage.checkpoints_failed.set(load(&checkpoints.failed));
        storage.checkpoints_failing.set(load(&checkpoints.failing));
        storage.wal_bytes.set(load(&checkpoints.wal_bytes));
        storage.wal_frames.set(load(&checkpoints.log_frames));
        storage.wal_writer_copies.set(load(&checkpoints.by_writer));
        storage
            .wal_writer_copy_ms
            .set(load(&checkpoints.by_writer_us) / 1_000);
    }

    /// The text exposition format, with the waiting room as of `snapshot` and the HTTP shell's
    /// `http` load.
    pub fn render(
        &self,
        snapshot: &queue::Snapshot,
        people: &crate::waiting::People,
        replica: crate::waiting::Replica,
        http: &crate::shell::Load,
    ) -> String {
        let count = |g: &Gauge, v: usize| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        count(
            &self.shell.connections,
            http.connections.load(Ordering::Relaxed),
        );
        count(
            &self.shell.overflow_connections,
            http.overflow_connections.load(Ordering::Relaxed),
        );
        count(
            &self.shell.in_flight,
            http.in_flight.load(Ordering::Relaxed),
        );
        let total = |g: &Gauge, a: &std::sync::atomic::AtomicU64| {
            g.set(i64::try_from(a.load(Ordering::Relaxed)).unwrap_or(i64::MAX))
        };
        total(&self.shell.shed_connections, &http.shed_connections);
        total(&self.shell.shed_requests, &http.shed_requests);
        total(&self.shell.timed_out, &http.timed_out);
        let gauge = |g: &Gauge, v: u64| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        gauge(&self.queue.arrivals, snapshot.arrivals);
        gauge(&self.queue.queued, snapshot.queued);
        gauge(&self.queue.admitted, snapshot.admitted);
        gauge(&self.queue.active, snapshot.active.unwrap_or(0));
        gauge(&self.queue.limit, snapshot.limit.unwrap_or(0));
        gauge(&self.queue.in_flight, snapshot.in_flight.unwrap_or(0));
        gauge(
            &self.queue.latency_p99_ms,
            snapshot.latency_p99_ms.map_or(0, u64::from),
        );
        self.queue.admission_rate.set(snapshot.admission_rate_per_s);
        self.queue
            .admission_pace
            .set(snapshot.admission_pace_per_s.unwrap_or(0.0));
        gauge(
            &self.queue.drain_seconds,
            snapshot.drain_ms.unwrap_or(0) / 1000,
        );
        gauge(&self.queue.verified_people, people.verified_people);
        gauge(&self.queue.verifications, people.verifications);
        gauge(&self.queue.unverified_tickets, people.unverified_tickets);
        gauge(&self.queue.ineligible, people.ineligible_turned_away);
        gauge(&self.queue.tickets_refused, people.tickets_refused);
        gauge(
            &self.queue.second_passes_refused,
            people.second_passes_refused,
        );
        gauge(&self.queue.texted_away, people.texted_away);
        gauge(&self.queue.controls, u64::from(replica.controls));
        gauge(&self.queue.revision, replica.revision);
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as i64;
        let total = |each: fn(&WriterStats) -> &std::sync::atomic::AtomicU64| {
            self.writer
                .parts()
                .map(|(_, stats)| load(each(stats)))
                .sum()
        };
        self.writer_batches.set(total(|s| &s.batches));
        self.writer_commands.set(total(|s| &s.commands));
        self.writer_queued.set(total(|s| &s.queued));
        self.writer_busy.set(total(|s| &s.busy_refusals));
        for (part, stats) in self.writer.parts() {
            let labels = PartLabels { part: part.index() };
            let writing = stats.health() == Health::Ready;
            self.parts
                .writing
                .get_or_create(&labels)
                .set(i64::from(writing));
            self.parts
                .queued
                .get_or_create(&labels)
                .set(load(&stats.queued));
            self.parts
                .batches
                .get_or_create(&labels)
                .set(load(&stats.batches));
        }
        let storage = &self.storage;
        storage
            .writer_ready
            .set(i64::from(self.writer.health() == Health::Ready));
        // Every part's writer alike (one for the whole ledger).
        storage.failed_batches.set(total(|s| &s.failed_batches));
        storage.refused_batches.set(total(|s| &s.refused_batches));
        storage.failed_rebuilds.set(total(|s| &s.failed_rebuilds));
        storage.fault_refusals.set(total(|s| &s.fault_refusals));
        storage.piece_holds.set(total(|s| &s.piece_holds));
        storage.pieces_waiting.set(total(|s| &s.pieces_waiting));
        storage.views_whole.set(total(|s| &s.views_whole));
        storage.views_kept_up.set(total(|s| &s.views_kept_up));
        if let Some(lease) = &self.lease {
            let held = lease.view.held().map(|l| l.epoch);
            lease.held.set(i64::from(held.is_some()));
            lease.epoch.set(held.unwrap_or(0));
            let holder = lease.view.holder();
            lease
                .holder_epoch
                .set(holder.as_ref().map_or(0, |h| h.epoch));
        }
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }
}
