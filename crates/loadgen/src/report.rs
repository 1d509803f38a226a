//! The report: report.json for machines, report.md for people, chart.svg (queue length,
//! admission rate and bookings per second over time, hand-written SVG polylines).

use crate::audit::Audit;
use crate::sampler::Sample;
use crate::stats::{Endpoint, Outcome, Stats};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Percentiles of a histogram, in milliseconds. Fields in alphabetical order: report.json's
/// keys have always been sorted.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub max_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p999_ms: f64,
    pub p99_ms: f64,
}

/// Percentiles of a histogram recorded in `unit`s, converted to milliseconds.
pub fn percentiles(h: &Histogram<u64>, unit_ms: f64) -> Latency {
    let q = |p: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(p) as f64 * unit_ms
        }
    };
    Latency {
        count: h.len(),
        max_ms: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 * unit_ms
        },
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p999_ms: q(0.999),
        p99_ms: q(0.99),
    }
}

/// One endpoint's latency and answers by status.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    pub admitted_side: bool,
    #[serde(flatten)]
    pub latency: Latency,
    pub statuses: BTreeMap<String, u64>,
}

/// What 2021 did, for comparison.
#[derive(Debug, Clone, Serialize)]
pub struct ReferenceRow {
    pub figure: String,
    pub what: String,
}

/// The whole report, as report.json holds it (fields in alphabetical order, as its keys have
/// always been) and as report.md and the summary line read it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub admission_rate_peak_per_s: f64,
    pub admitted_latency_all: Latency,
    pub arrival_to_confirmed_booking: Latency,
    pub audit: Option<Audit>,
    pub audit_note: Option<String>,
    pub bookings_peak_per_s: u64,
    pub client_cpu_s: f64,
    pub client_cpu_us_per_request: f64,
    pub client_violation_examples: Vec<String>,
    pub client_violations: u64,
    pub client_wait_max_ms: f64,
    pub client_waits: u64,
    pub endpoints: BTreeMap<String, EndpointReport>,
    pub errors_5xx: u64,
    pub everyone_who_wanted_a_booking_got_one: bool,
    pub finished: u64,
    pub last_booking_after_opening_s: f64,
    pub mode: String,
    /// What the run noticed about itself (a scenario scaled down, an audit skipped, …).
    pub notes: Vec<String>,
    pub outcomes: BTreeMap<String, u64>,
    pub people: u64,
    pub people_who_wanted_a_booking: u64,
    pub queue_peak_waiting: f64,
    pub reference_2021: Vec<ReferenceRow>,
    pub requests_peak_per_s: u64,
    pub requests_total: u64,
    pub responses_by_status: BTreeMap<String, u64>,
    pub run_seconds: f64,
    pub samples: Vec<Sample>,
    pub scale: f64,
    pub scenario: String,
    pub server_cpu_cores_avg: Option<f64>,
    pub server_cpu_ms_per_booked_person: Option<f64>,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_us_per_request: Option<f64>,
    pub server_peak_rss_mb: Option<f64>,
    pub share_booked_within_10_min: f64,
    pub time_until_everyone_booked_s: Option<f64>,
    pub wait_for_pass: Latency,
}

impl Report {
    fn outcome(&self, name: &str) -> u64 {
        self.outcomes.get(name).copied().unwrap_or(0)
    }
}

pub struct Inputs<'a> {
    pub scenario: &'a crate::scenario::Scenario,
    pub scale: f64,
    pub people: u64,
    pub mode: String,
    pub stats: &'a Stats,
    pub samples: &'a [Sample],
    pub audit: Option<&'a Audit>,
    pub audit_note: Option<String>,
    pub run_seconds: f64,
    pub server_peak_kb: Option<u64>,
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: f64,
}

fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Booked => "booked".into(),
        Outcome::GaveUp => "gave_up".into(),
        Outcome::Failed(why) => format!("failed_{why}"),
    }
}

pub fn build(i: &Inputs) -> Report {
    let s = i.stats;
    let outcomes: BTreeMap<String, u64> = s
        .outcomes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(o, n)| (outcome_name(o), *n))
        .collect();
    let booked = outcomes.get("booked").copied().unwrap_or(0);
    let gave_up = outcomes.get("gave_up").copied().unwrap_or(0);
    let finished = s.finished.load(Ordering::Relaxed);
    let wanted = i.people.saturating_sub(gave_up);
    let everyone = booked == wanted;
    let mut endpoints = BTreeMap::new();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    let mut total_requests = 0;
    for e in Endpoint::ALL {
        let h = s.latency(e);
        total_requests += h.len();
        let statuses: BTreeMap<String, u64> = s
            .statuses(e)
            .into_iter()
            .map(|(code, n)| {
                let name = match code {
                    0 => "transport_error".to_string(),
                    u16::MAX => "other".to_string(),
                    c => c.to_string(),
                };
                *by_status.entry(name.clone()).or_default() += n;
                (name, n)
            })
            .collect();
        let entry = EndpointReport {
            admitted_side: e.admitted(),
            latency: percentiles(&h, 0.001),
            statuses,
        };
        endpoints.insert(e.name().to_string(), entry);
    }
    let errors_5xx: u64 = by_status
        .iter()
        .filter(|(k, _)| k.starts_with('5'))
        .map(|(_, v)| *v)
        .sum();
    let to_booking = s
        .to_booking_ms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    // Of everyone who wanted a booking (not those who gave up), the share booked within 10 minutes.
    let within_10_min = to_booking.count_between(0, 600_000) as f64 / wanted.max(1) as f64;
    let waits = s.wait_ms.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let peak_rps = s
        .timeline
        .requests
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let peak_bookings = s
        .timeline
        .bookings
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let peak_waiting = i.samples.iter().map(|x| x.waiting).fold(0.0, f64::max);
    let peak_rate = i
        .samples
        .iter()
        .map(|x| x.admission_rate)
        .fold(0.0, f64::max);
    let last_booking_s = s.last_booking_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let per_request = |cpu_s: f64| cpu_s * 1e6 / (total_requests as f64).max(1.0);
    Report {
        admission_rate_peak_per_s: peak_rate,
        admitted_latency_all: percentiles(&s.admitted_latency(), 0.001),
        arrival_to_confirmed_booking: percentiles(&to_booking, 1.0),
        audit: i.audit.cloned(),
        audit_note: i.audit_note.clone(),
        bookings_peak_per_s: peak_bookings,
        client_cpu_s: i.client_cpu_s,
        client_cpu_us_per_request: per_request(i.client_cpu_s),
        client_violation_examples: s
            .client_violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        client_violations: s.client_violation_count.load(Ordering::Relaxed),
        client_wait_max_ms: s.client_wait_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        client_waits: s.client_waits.load(Ordering::Relaxed),
        endpoints,
        errors_5xx,
        everyone_who_wanted_a_booking_got_one: everyone,
        finished,
        last_booking_after_opening_s: last_booking_s,
        mode: i.mode.clone(),
        notes: Vec::new(),
        outcomes,
        people: i.people,
        people_who_wanted_a_booking: wanted,
        queue_peak_waiting: peak_waiting,
        reference_2021: i
            .scenario
            .reference_2021
            .iter()
            .map(|r| ReferenceRow {
                figure: r.figure.clone(),
                what: r.what.clone(),
            })
            .collect(),
        requests_peak_per_s: peak_rps,
        requests_total: total_requests,
        responses_by_status: by_status,
        run_seconds: i.run_seconds,
        samples: i.samples.to_vec(),
        scale: i.scale,
        scenario: i.scenario.name.clone(),
        server_cpu_cores_avg: i.server_cpu_s.map(|c| c / i.run_seconds.max(1e-9)),
        server_cpu_ms_per_booked_person: i.server_cpu_s.map(|c| c * 1e3 / (booked as f64).max(1.0)),
        server_cpu_s: i.server_cpu_s,
        server_cpu_us_per_request: i.server_cpu_s.map(per_request),
        server_peak_rss_mb: i.server_peak_kb.map(|k| k as f64 / 1024.0),
        share_booked_within_10_min: within_10_min,
        time_until_everyone_booked_s: everyone.then_some(last_booking_s),
        wait_for_pass: percentiles(&waits, 1.0),
    }
}

/// The one-line verdict: outcomes, the slowest waits, errors, the audit.
pub fn summary_line(r: &Report, ok: bool) -> String {
    let failed: u64 = r
        .outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("failed"))
        .map(|(_, v)| *v)
        .sum();
    let everyone = match r.time_until_everyone_booked_s {
        Some(t) => format!("everyone booked {t:.0}s after opening"),
        None => format!(
            "NOT everyone booked (last booking {:.0}s after opening)",
            r.last_booking_after_opening_s
        ),
    };
    let audit = match (&r.audit, &r.audit_note) {
        (None, Some(note)) => format!("audit skipped ({note})"),
        (None, None) => "audit missing".into(),
        (Some(a), _) if a.violation_count == 0 => "audit clean".into(),
        (Some(a), _) => format!("audit FAILED: {} violations", a.violation_count),
    };
    format!(
        "{}: {} people, {} booked, {} gave up, {} failed; {everyone}; arrival→booking p99 {:.0}s max {:.0}s; admitted p99 {:.1} ms; {} requests, {} 5xx; {audit}; client violations {}; server {:.0} CPU-s, peak {:.0} MiB => {}",
        r.scenario,
        r.people,
        r.outcome("booked"),
        r.outcome("gave_up"),
        failed,
        r.arrival_to_confirmed_booking.p99_ms / 1000.0,
        r.arrival_to_confirmed_booking.max_ms / 1000.0,
        r.admitted_latency_all.p99_ms,
        r.requests_total,
        r.errors_5xx,
        r.client_violations,
        r.server_cpu_s.unwrap_or(0.0),
        r.server_peak_rss_mb.unwrap_or(0.0),
        if ok { "PASS" } else { "FAIL" },
    )
}

/// A latency row of the tables: count, then each percentile divided by `per`, with `unit`.
fn latency_cells(v: &Latency, per: f64, unit: &str) -> String {
    format!(
        "{} | {:.1}{unit} | {:.1}{unit} | {:.1}{unit} | {:.1}{unit} | {:.1}{unit}",
        v.count,
        v.p50_ms / per,
        v.p90_ms / per,
        v.p99_ms / per,
        v.p999_ms / per,
        v.max_ms / per
    )
}

pub fn markdown(r: &Report, ok: bool) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Load test: {}\n", r.scenario);
    let _ = writeln!(m, "{}\n", summary_line(r, ok));
    let _ = writeln!(
        m,
        "- mode: {}; scale {:?}; {} simulated people (the first-evening crowd at this scale)",
        r.mode, r.scale, r.people
    );
    let _ = writeln!(
        m,
        "- run: {:.0} s; {} requests (peak {} per second); peak {} bookings per second",
        r.run_seconds, r.requests_total, r.requests_peak_per_s, r.bookings_peak_per_s
    );
    let _ = writeln!(
        m,
        "- queue: peak {:.0} waiting; admission peak {:.0} per second",
        r.queue_peak_waiting, r.admission_rate_peak_per_s
    );
    let _ = writeln!(
        m,
        "- server: {:.1} CPU-seconds ({:.2} cores on average, {:.1} µs per request, {:.2} ms per booked person), peak memory {:.0} MiB; generator {:.1} CPU-seconds ({:.1} µs per request)",
        r.server_cpu_s.unwrap_or(0.0),
        r.server_cpu_cores_avg.unwrap_or(0.0),
        r.server_cpu_us_per_request.unwrap_or(0.0),
        r.server_cpu_ms_per_booked_person.unwrap_or(0.0),
        r.server_peak_rss_mb.unwrap_or(0.0),
        r.client_cpu_s,
        r.client_cpu_us_per_request
    );
    let _ = writeln!(
        m,
        "- generator's own queueing: {} requests waited for one of its connection slots (longest {:.1} ms){}\n",
        r.client_waits,
        r.client_wait_max_ms,
        if r.client_waits > 0 {
            ": the generator shaped part of the load; raise `client.max_in_flight` or set it to 0"
        } else {
            ""
        }
    );
    let _ = writeln!(m, "## Outcomes\n\n| outcome | people |\n| --- | ---: |");
    for (k, v) in &r.outcomes {
        let _ = writeln!(m, "| {k} | {v} |");
    }
    let _ = writeln!(
        m,
        "\nEveryone who wanted a booking got one: **{}**; time until then: {}; last booking {:.1} s after the opening. Booked within 10 minutes of arriving (of the opening, for earlier arrivals): **{:.2}%**.\n",
        r.everyone_who_wanted_a_booking_got_one,
        r.time_until_everyone_booked_s
            .map_or("n/a".to_string(), |t| format!("{t:.1} s")),
        r.last_booking_after_opening_s,
        r.share_booked_within_10_min * 100.0
    );
    let _ = writeln!(
        m,
        "## Waits\n\n| | count | p50 | p90 | p99 | p99.9 | max |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for (label, v) in [
        ("queue wait until the pass", &r.wait_for_pass),
        (
            "arrival → confirmed booking",
            &r.arrival_to_confirmed_booking,
        ),
    ] {
        let _ = writeln!(m, "| {label} | {} |", latency_cells(v, 1e3, " s"));
    }
    let _ = writeln!(
        m,
        "\n## Latency by endpoint (from each request's intended send time)\n\n| endpoint | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | statuses |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let none = BTreeMap::new();
    let mut rows: Vec<(&str, &Latency, &BTreeMap<String, u64>)> = r
        .endpoints
        .iter()
        .map(|(k, e)| (k.as_str(), &e.latency, &e.statuses))
        .collect();
    rows.push((
        "**all admitted-side pages**",
        &r.admitted_latency_all,
        &none,
    ));
    for (name, v, statuses) in rows {
        let statuses = statuses
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(m, "| {name} | {} | {statuses} |", latency_cells(v, 1.0, ""));
    }
    let _ = writeln!(
        m,
        "\nResponses by status: {}\n",
        serde_json::to_string(&r.responses_by_status).unwrap_or_default()
    );
    let _ = writeln!(m, "## Audit (from the database)\n");
    match &r.audit {
        None => {
            let note = r.audit_note.as_deref().unwrap_or("no database");
            let _ = writeln!(m, "Skipped: {note}.");
        }
        Some(a) => {
            let _ = writeln!(
                m,
                "{} violations. {} active bookings in the database; {} bookings acknowledged to clients ({} later cancelled by them), each checked; {} (clinic, day, band) and {} (clinic, day, product) counts checked against capacity and supply.",
                a.violation_count,
                a.active_bookings_in_db,
                a.acknowledged,
                a.acknowledged_then_cancelled,
                a.bands_checked,
                a.supplies_checked
            );
            for x in &a.violations {
                let _ = writeln!(m, "- {x}");
            }
        }
    }
    let _ = writeln!(
        m,
        "\nClient-side checks (same place on reload, same booking on a retried key, acknowledged booking readable): {} violations.",
        r.client_violations
    );
    for x in &r.client_violation_examples {
        let _ = writeln!(m, "- {x}");
    }
    if !r.reference_2021.is_empty() {
        let _ = writeln!(m, "\n## 2021, for comparison\n\n| | 2021 |\n| --- | --- |");
        for x in &r.reference_2021 {
            let _ = writeln!(m, "| {} | {} |", x.what, x.figure);
        }
    }
    let _ = writeln!(
        m,
        "\n![queue length, admission rate and bookings per second](chart.svg)"
    );
    m
}

/// Three stacked panels over time from the opening: people waiting, admissions per second,
/// bookings per second.
pub fn chart(samples: &[Sample], bookings_per_s: &[(f64, f64)]) -> String {
    let waiting: Vec<(f64, f64)> = samples.iter().map(|s| (s.t_s, s.waiting)).collect();
    let rate: Vec<(f64, f64)> = samples.iter().map(|s| (s.t_s, s.admission_rate)).collect();
    let panels = [
        ("people waiting in the queue", &waiting, "#1f77b4"),
        ("admission rate (people/s)", &rate, "#2ca02c"),
        (
            "bookings per second (201s)",
            &bookings_per_s.to_vec(),
            "#d62728",
        ),
    ];
    let (w, ph, left, top) = (960.0, 200.0, 70.0, 30.0);
    let t_min = panels
        .iter()
        .flat_map(|p| p.1.iter().map(|x| x.0))
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let t_max = panels
        .iter()
        .flat_map(|p| p.1.iter().map(|x| x.0))
        .fold(1.0, f64::max);
    let height = top + panels.len() as f64 * (ph + 50.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" viewBox=\"0 0 {w} {height}\" font-family=\"sans-serif\" font-size=\"12\">"
    );
    let _ = writeln!(svg, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let plot_w = w - left - 20.0;
    let x = |t: f64| left + (t - t_min) / (t_max - t_min).max(1e-9) * plot_w;
    for (k, (title, series, colour)) in panels.iter().enumerate() {
        let y0 = top + k as f64 * (ph + 50.0);
        let vmax = series.iter().map(|p| p.1).fold(0.0, f64::max).max(1.0);
        let _ = writeln!(
            svg,
            "<text x=\"{left}\" y=\"{:.1}\" font-weight=\"bold\">{title}</text>",
            y0 - 8.0
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{left}\" y=\"{y0:.1}\" width=\"{plot_w:.1}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>"
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{vmax:.0}</text>",
            left - 4.0,
            y0 + 10.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">0</text>",
            left - 4.0,
            y0 + ph
        );
        if t_min < 0.0 {
            let xo = x(0.0);
            let _ = writeln!(
                svg,
                "<line x1=\"{xo:.1}\" y1=\"{y0:.1}\" x2=\"{xo:.1}\" y2=\"{:.1}\" stroke=\"#aaa\" stroke-dasharray=\"4 3\"/>",
                y0 + ph
            );
        }
        let mut points = String::new();
        for (t, v) in series.iter() {
            let _ = write!(points, "{:.1},{:.1} ", x(*t), y0 + ph - v / vmax * ph);
        }
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>",
            points.trim_end()
        );
        let _ = writeln!(
            svg,
            "<text x=\"{left}\" y=\"{:.1}\">{t_min:.0} s</text>",
            y0 + ph + 15.0
        );
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{t_max:.0} s after the opening</text>",
            left + plot_w,
            y0 + ph + 15.0
        );
    }
    let _ = writeln!(svg, "</svg>");
    svg
}
