//! Prometheus metrics at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering;
use store::writer::Writer;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteOnly, Histogram>,
    pub bookings: Family<OutcomeLabels, Counter>,
    writer_batches: Gauge,
    writer_commands: Gauge,
    writer_queued: Gauge,
    writer_busy: Gauge,
    writer: Writer,
}

impl Metrics {
    pub fn new(writer: Writer) -> Metrics {
        let mut registry = Registry::with_prefix("yeyak");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register("http_request_duration_seconds", "Time to answer, by route", latency.clone());
        let bookings = Family::<OutcomeLabels, Counter>::default();
        registry.register("bookings", "Booking commands by outcome", bookings.clone());
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        Metrics {
            writer_batches: gauge(&mut registry, "writer_batches", "Transactions the writer committed"),
            writer_commands: gauge(&mut registry, "writer_commands", "Commands the writer executed"),
            writer_queued: gauge(&mut registry, "writer_queue_depth", "Commands waiting for the writer"),
            writer_busy: gauge(&mut registry, "writer_busy_refusals", "Commands refused because the writer queue was full"),
            registry,
            requests,
            latency,
            bookings,
            writer,
        }
    }

    pub fn count_booking(&self, outcome: &str) {
        self.bookings
            .get_or_create(&OutcomeLabels { outcome: outcome.to_string() })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let stats = self.writer.stats();
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as i64;
        self.writer_batches.set(load(&stats.batches));
        self.writer_commands.set(load(&stats.commands));
        self.writer_queued.set(load(&stats.queued));
        self.writer_busy.set(load(&stats.busy_refusals));
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "cannot encode metrics");
        }
        text
    }
}
