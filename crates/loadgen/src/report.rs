//! The report: report.json for machines, report.md for people, chart.svg (queue length,
//! admission rate and bookings per second over time, hand-written SVG polylines).

use crate::audit::Audit;
use crate::cpu::ThreadCpu;
use crate::sampler::Sample;
use crate::scenario::Reference;
use crate::stats::{Endpoint, Outcome, Stats};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

/// Percentiles of one latency or wait distribution, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// Percentiles of a histogram recorded in `unit`s, converted to milliseconds.
pub fn percentiles(h: &Histogram<u64>, unit_ms: f64) -> Percentiles {
    let q = |p: f64| {
        if h.is_empty() {
            0.0
        } else {
            h.value_at_quantile(p) as f64 * unit_ms
        }
    };
    Percentiles {
        count: h.len(),
        p50_ms: q(0.5),
        p90_ms: q(0.9),
        p99_ms: q(0.99),
        p999_ms: q(0.999),
        max_ms: if h.is_empty() {
            0.0
        } else {
            h.max() as f64 * unit_ms
        },
    }
}

/// One endpoint's latencies and the statuses it answered with.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointReport {
    #[serde(flatten)]
    pub latency: Percentiles,
    /// From the moment each request had one of the client's connection slots: without the
    /// generator's own queue (`stats::Latency`).
    pub after_slot: Percentiles,
    pub statuses: BTreeMap<String, u64>,
    /// 4xx answers by status and code (`"429 too_many_tickets"`).
    pub refusals: BTreeMap<String, u64>,
    pub admitted_side: bool,
}

/// Identity checks started over one span of the run.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckRate {
    pub total: u64,
    pub seconds: usize,
    pub mean_per_s: f64,
    pub peak_per_s: u64,
    /// The compressed pre-queue's mean as it would be in real time (before the opening only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_per_s_real_time: Option<f64>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct IdentityCheckRates {
    pub before_opening: CheckRate,
    pub after_opening: CheckRate,
}

/// Everything a run found, as written to report.json (field names are the file's keys).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    pub scale: f64,
    pub mode: String,
    pub people: u64,
    pub finished: u64,
    pub outcomes: BTreeMap<String, u64>,
    pub everyone_who_wanted_a_booking_got_one: bool,
    pub people_who_wanted_a_booking: u64,
    pub last_booking_after_opening_s: f64,
    pub time_until_everyone_booked_s: Option<f64>,
    pub wait_for_pass: Percentiles,
    pub arrival_to_confirmed_booking: Percentiles,
    pub share_booked_within_10_min: f64,
    /// The first wait each admitted person was shown after the opening against the wait they
    /// had: everyone, then by band of the wait shown (`eta::honesty`).
    pub waits_shown: Vec<crate::eta::Honesty>,
    pub admitted_latency_all: Percentiles,
    /// The same from the moment each request had a connection slot.
    pub admitted_latency_after_slot: Percentiles,
    pub endpoints: BTreeMap<String, EndpointReport>,
    pub requests_total: u64,
    pub requests_peak_per_s: u64,
    pub identity_checks_per_s: IdentityCheckRates,
    pub bookings_peak_per_s: u64,
    pub queue_peak_waiting: f64,
    pub admission_rate_peak_per_s: f64,
    pub responses_by_status: BTreeMap<String, u64>,
    pub errors_5xx: u64,
    pub client_violations: u64,
    pub client_violation_examples: Vec<String>,
    pub audit: Option<Audit>,
    pub audit_note: Option<String>,
    pub run_seconds: f64,
    pub server_cpu_s: Option<f64>,
    pub server_cpu_cores_avg: Option<f64>,
    pub server_peak_rss_mb: Option<f64>,
    pub client_cpu_s: f64,
    pub client_cpu_us_per_request: f64,
    /// Connections the generator opened (each a TCP handshake the server also paid for).
    pub client_connections: u64,
    pub server_cpu_us_per_request: Option<f64>,
    pub server_cpu_ms_per_booked_person: Option<f64>,
    /// The server's CPU over the run by thread, user and kernel apart (`cpu::between`): `None`
    /// when it was not spawned by this run (its /proc is not ours to read).
    pub server_threads: Option<Vec<ThreadCpu>>,
    /// The generator's own, the same way.
    pub client_threads: Vec<ThreadCpu>,
    pub client_waits: u64,
    pub client_wait_max_ms: f64,
    pub reference_2021: Vec<Reference>,
    pub samples: Vec<Sample>,
    /// What the run itself noticed (set after the report is built).
    pub notes: Vec<String>,
}

impl Report {
    fn outcome(&self, name: &str) -> u64 {
        self.outcomes.get(name).copied().unwrap_or(0)
    }

    fn failed(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(k, _)| k.starts_with("failed"))
            .map(|(_, n)| *n)
            .sum()
    }

    fn booked(&self) -> u64 {
        self.outcome("booked")
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
    pub client_connections: u64,
    pub server_threads: Option<Vec<ThreadCpu>>,
    pub client_threads: Vec<ThreadCpu>,
}

fn outcome_name(o: &Outcome) -> String {
    match o {
        Outcome::Booked => "booked".into(),
        Outcome::GaveUp => "gave_up".into(),
        Outcome::Ineligible {
            while_waiting: true,
        } => "ineligible_turned_away_while_waiting".into(),
        Outcome::Ineligible {
            while_waiting: false,
        } => "ineligible_told_after_the_queue".into(),
        Outcome::Failed(why) => format!("failed_{why}"),
    }
}

fn status_name(code: u16) -> String {
    match code {
        0 => "transport_error".to_string(),
        u16::MAX => "other".to_string(),
        c => c.to_string(),
    }
}

/// Each endpoint's latencies and statuses, and the statuses of all of them together.
fn endpoint_reports(s: &Stats) -> (BTreeMap<String, EndpointReport>, BTreeMap<String, u64>) {
    let mut endpoints = BTreeMap::new();
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for e in Endpoint::ALL {
        let statuses: BTreeMap<String, u64> = s
            .statuses(e)
            .into_iter()
            .map(|(code, n)| (status_name(code), n))
            .collect();
        for (name, n) in &statuses {
            *by_status.entry(name.clone()).or_default() += n;
        }
        let entry = EndpointReport {
            latency: percentiles(&s.latency(e), 0.001),
            after_slot: percentiles(&s.latency_after_slot(e), 0.001),
            statuses,
            refusals: s.refusals(e),
            admitted_side: e.admitted(),
        };
        endpoints.insert(e.name().to_string(), entry);
    }
    (endpoints, by_status)
}

/// Which rules refused people (4xx by code), if any did.
fn refusals_section(m: &mut String, r: &Report) {
    let rows: Vec<String> = r
        .endpoints
        .iter()
        .flat_map(|(name, e)| {
            e.refusals
                .iter()
                .map(move |(code, n)| format!("| {name} | {code} | {n} |"))
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(
        m,
        "Refusals (4xx) by code:\n\n| endpoint | status and code | count |\n| --- | --- | ---: |"
    );
    for row in rows {
        let _ = writeln!(m, "{row}");
    }
    let _ = writeln!(m);
}

fn busiest(series: &[std::sync::atomic::AtomicU64]) -> u64 {
    series
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0)
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
    let ineligible = outcomes
        .iter()
        .filter(|(k, _)| k.starts_with("ineligible"))
        .map(|(_, n)| *n)
        .sum::<u64>();
    // Those not in the cohort cannot want a booking tonight; neither can those who gave up.
    let wanted = i.people.saturating_sub(gave_up).saturating_sub(ineligible);
    let everyone = booked == wanted;
    let (endpoints, by_status) = endpoint_reports(s);
    let requests_total: u64 = endpoints.values().map(|e| e.latency.count).sum();
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
    let last_booking_s = s.last_booking_ms.load(Ordering::Relaxed) as f64 / 1000.0;
    let per_request = |cpu_s: f64| cpu_s * 1e6 / (requests_total as f64).max(1.0);
    Report {
        scenario: i.scenario.name.clone(),
        scale: i.scale,
        mode: i.mode.clone(),
        people: i.people,
        finished: s.finished.load(Ordering::Relaxed),
        outcomes,
        everyone_who_wanted_a_booking_got_one: everyone,
        people_who_wanted_a_booking: wanted,
        last_booking_after_opening_s: last_booking_s,
        time_until_everyone_booked_s: everyone.then_some(last_booking_s),
        wait_for_pass: percentiles(&waits, 1.0),
        arrival_to_confirmed_booking: percentiles(&to_booking, 1.0),
        share_booked_within_10_min: within_10_min,
        waits_shown: crate::eta::honesty(&s.waits_shown.lock().unwrap_or_else(|p| p.into_inner())),
        admitted_latency_all: percentiles(&s.admitted_latency(), 0.001),
        admitted_latency_after_slot: percentiles(&s.admitted_latency_after_slot(), 0.001),
        endpoints,
        requests_total,
        requests_peak_per_s: busiest(&s.timeline.requests),
        identity_checks_per_s: identity_check_rates(i),
        bookings_peak_per_s: busiest(&s.timeline.bookings),
        queue_peak_waiting: i.samples.iter().map(|x| x.waiting).fold(0.0, f64::max),
        admission_rate_peak_per_s: i
            .samples
            .iter()
            .map(|x| x.admission_rate)
            .fold(0.0, f64::max),
        responses_by_status: by_status,
        errors_5xx,
        client_violations: s.client_violation_count.load(Ordering::Relaxed),
        client_violation_examples: s
            .client_violations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
        audit: i.audit.cloned(),
        audit_note: i.audit_note.clone(),
        run_seconds: i.run_seconds,
        server_cpu_s: i.server_cpu_s,
        server_cpu_cores_avg: i.server_cpu_s.map(|c| c / i.run_seconds.max(1e-9)),
        server_peak_rss_mb: i.server_peak_kb.map(|k| k as f64 / 1024.0),
        client_cpu_s: i.client_cpu_s,
        client_cpu_us_per_request: per_request(i.client_cpu_s),
        client_connections: i.client_connections,
        server_cpu_us_per_request: i.server_cpu_s.map(per_request),
        server_cpu_ms_per_booked_person: i.server_cpu_s.map(|c| c * 1e3 / (booked as f64).max(1.0)),
        server_threads: i.server_threads.clone(),
        client_threads: i.client_threads.clone(),
        client_waits: s.client_waits.load(Ordering::Relaxed),
        client_wait_max_ms: s.client_wait_max_us.load(Ordering::Relaxed) as f64 / 1000.0,
        reference_2021: i.scenario.reference_2021.clone(),
        samples: i.samples.to_vec(),
        notes: Vec::new(),
    }
}

/// Identity checks started per second (codes the identity service sends), before the opening
/// and after it: mean over each span of the run and the busiest second. The pre-queue is
/// replayed compressed, so its rate is also given as it would be in real time.
fn identity_check_rates(i: &Inputs) -> IdentityCheckRates {
    let series: Vec<u64> = i
        .stats
        .timeline
        .identity_checks
        .iter()
        .map(|c| c.load(Ordering::Relaxed))
        .collect();
    let zero = (i.stats.zero_before_opening_s.max(0.0).round() as usize).min(series.len());
    let (before, after) = series.split_at(zero);
    let after = &after[..after.len().min(i.run_seconds.max(0.0) as usize)];
    let rate = |span: &[u64]| {
        let total: u64 = span.iter().sum();
        CheckRate {
            total,
            seconds: span.len(),
            mean_per_s: total as f64 / (span.len() as f64).max(1.0),
            peak_per_s: span.iter().copied().max().unwrap_or(0),
            mean_per_s_real_time: None,
        }
    };
    let a = &i.scenario.arrivals;
    let compression = a.prequeue_compressed_seconds / (a.prequeue_minutes * 60.0).max(1e-9);
    let mut before = rate(before);
    before.mean_per_s_real_time = Some(before.mean_per_s * compression);
    IdentityCheckRates {
        before_opening: before,
        after_opening: rate(after),
    }
}

pub fn summary_line(r: &Report, ok: bool) -> String {
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
    let waits_shown = match r.waits_shown.first() {
        Some(all) if all.people > 0 => format!("waits shown kept {:.1}%", all.kept_share * 100.0),
        _ => "no waits shown".into(),
    };
    format!(
        "{}: {} people, {} booked, {} gave up, {} failed; {everyone}; arrival→booking p99 {:.0}s max {:.0}s; {waits_shown}; admitted p99 {:.1} ms ({:.1} ms after a connection slot); {} requests, {} 5xx; {audit}; client violations {}; server {:.0} CPU-s, peak {:.0} MiB => {}",
        r.scenario,
        r.people,
        r.booked(),
        r.outcome("gave_up"),
        r.failed(),
        r.arrival_to_confirmed_booking.p99_ms / 1000.0,
        r.arrival_to_confirmed_booking.max_ms / 1000.0,
        r.admitted_latency_all.p99_ms,
        r.admitted_latency_after_slot.p99_ms,
        r.requests_total,
        r.errors_5xx,
        r.client_violations,
        r.server_cpu_s.unwrap_or(0.0),
        r.server_peak_rss_mb.unwrap_or(0.0),
        if ok { "PASS" } else { "FAIL" },
    )
}

fn waits_row(label: &str, v: &Percentiles) -> String {
    format!(
        "| {label} | {} | {:.1} s | {:.1} s | {:.1} s | {:.1} s | {:.1} s |",
        v.count,
        v.p50_ms / 1e3,
        v.p90_ms / 1e3,
        v.p99_ms / 1e3,
        v.p999_ms / 1e3,
        v.max_ms / 1e3
    )
}

fn latency_row(name: &str, v: &Percentiles, statuses: Option<&BTreeMap<String, u64>>) -> String {
    let statuses = statuses
        .map(|s| {
            s.iter()
                .map(|(k, n)| format!("{k}: {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {statuses} |",
        v.count, v.p50_ms, v.p90_ms, v.p99_ms, v.p999_ms, v.max_ms
    )
}

/// The same answers from the moment each request had a connection slot: what the server, the
/// kernel and the wait for a core took, without the generator's own queue for a slot.
fn after_slot_section(m: &mut String, r: &Report) {
    let _ = writeln!(
        m,
        "\n## Latency after a connection slot\n\nThe same answers counted from the moment each request had one of the generator's connection slots: the server, the kernel and the wait for a core, without the wait for a slot. Where this is far below the table above, the generator's own queue made the difference.\n\n| endpoint | p50 ms | p90 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: |"
    );
    let rows = r
        .endpoints
        .iter()
        .map(|(name, e)| (name.as_str(), &e.after_slot))
        .chain([(
            "**all admitted-side pages**",
            &r.admitted_latency_after_slot,
        )]);
    for (name, v) in rows {
        let _ = writeln!(
            m,
            "| {name} | {:.1} | {:.1} | {:.1} | {:.1} |",
            v.p50_ms, v.p90_ms, v.p99_ms, v.max_ms
        );
    }
}

fn waits_shown_section(m: &mut String, r: &Report) {
    let _ = writeln!(
        m,
        "\n## Waits shown and waits had (W5)\n\nThe first wait each person was shown once the opening had passed, against the time from then until an answer told them it was their turn. Kept: within {:.0}% of the wait shown or {} s, whichever is more.\n\n| wait shown | people | kept | later | earlier | had ÷ shown p10 | p50 | p90 | longest shown |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        crate::eta::TOLERANCE_SHARE * 100.0,
        crate::eta::TOLERANCE_FLOOR_S
    );
    for g in &r.waits_shown {
        let _ = writeln!(
            m,
            "| {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.2} | {:.2} | {:.2} | {:.0} min |",
            g.shown,
            g.people,
            g.kept_share * 100.0,
            g.later_share * 100.0,
            g.earlier_share * 100.0,
            g.ratio_p10,
            g.ratio_p50,
            g.ratio_p90,
            (g.longest_shown_s as f64 / 60.0).ceil()
        );
    }
}

fn audit_section(m: &mut String, r: &Report) {
    let _ = writeln!(m, "## Audit (from the database)\n");
    match &r.audit {
        None => {
            let _ = writeln!(
                m,
                "Skipped: {}.",
                r.audit_note.as_deref().unwrap_or("no database")
            );
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
}

pub fn markdown(r: &Report, ok: bool) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Load test: {}\n", r.scenario);
    let _ = writeln!(m, "{}\n", summary_line(r, ok));
    let _ = writeln!(
        m,
        "- mode: {}; scale {}; {} simulated people (the first-evening crowd at this scale, and arrivals not in the cohort)",
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
        "- server: {:.1} CPU-seconds ({:.2} cores on average, {:.1} µs per request, {:.2} ms per booked person), peak memory {:.0} MiB; generator {:.1} CPU-seconds ({:.1} µs per request, {} connections opened)",
        r.server_cpu_s.unwrap_or(0.0),
        r.server_cpu_cores_avg.unwrap_or(0.0),
        r.server_cpu_us_per_request.unwrap_or(0.0),
        r.server_cpu_ms_per_booked_person.unwrap_or(0.0),
        r.server_peak_rss_mb.unwrap_or(0.0),
        r.client_cpu_s,
        r.client_cpu_us_per_request,
        r.client_connections
    );
    let _ = writeln!(
        m,
        "- generator's own queueing: {} requests waited for one of its connection slots (longest {:.1} ms){}\n",
        r.client_waits,
        r.client_wait_max_ms,
        if r.client_waits > 0 {
            ": they queued as behind a load balancer's pool of upstream connections (`client.max_in_flight`; 0 for none, bench/generator.md), and these waits are in every latency of this report (\"Latency after a connection slot\" leaves them out)"
        } else {
            ""
        }
    );
    let ids = &r.identity_checks_per_s;
    let _ = writeln!(
        m,
        "- identity checks started: before the opening {} ({:.1}/s in the compressed replay, {:.1}/s in real time; peak {}/s), after it {} ({:.1}/s on average, peak {}/s)\n",
        ids.before_opening.total,
        ids.before_opening.mean_per_s,
        ids.before_opening.mean_per_s_real_time.unwrap_or(0.0),
        ids.before_opening.peak_per_s,
        ids.after_opening.total,
        ids.after_opening.mean_per_s,
        ids.after_opening.peak_per_s,
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
    let _ = writeln!(
        m,
        "{}",
        waits_row("queue wait until the pass", &r.wait_for_pass)
    );
    let _ = writeln!(
        m,
        "{}",
        waits_row(
            "arrival → confirmed booking",
            &r.arrival_to_confirmed_booking
        )
    );
    waits_shown_section(&mut m, r);
    let _ = writeln!(
        m,
        "\n## Latency by endpoint (from each request's intended send time)\n\n| endpoint | requests | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | statuses |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for (name, e) in &r.endpoints {
        let _ = writeln!(m, "{}", latency_row(name, &e.latency, Some(&e.statuses)));
    }
    let _ = writeln!(
        m,
        "{}",
        latency_row("**all admitted-side pages**", &r.admitted_latency_all, None)
    );
    after_slot_section(&mut m, r);
    let by_status = serde_json::to_string(&r.responses_by_status).unwrap_or_default();
    let _ = writeln!(m, "\nResponses by status: {by_status}\n");
    threads_section(&mut m, r);
    refusals_section(&mut m, r);
    audit_section(&mut m, r);
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

/// Where the two processes' CPU went over the run, thread by thread, user and kernel apart: which
/// of the server's sides used its share of the machine, and how much of each was the kernel's
/// (on one machine, the loopback TCP both ends pay for).
fn threads_section(m: &mut String, r: &Report) {
    let _ = writeln!(
        m,
        "## CPU by thread\n\nFrom /proc at the run's start and end (`loadgen::cpu`); kernel time is system calls and the network stack run on the thread's behalf.\n\n| process | thread | threads | user CPU-s | kernel CPU-s | share of the process | ms per booked person |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |"
    );
    let booked = (r.booked() as f64).max(1.0);
    let processes = [
        ("server", r.server_threads.as_deref().unwrap_or_default()),
        ("generator", r.client_threads.as_slice()),
    ];
    for (process, rows) in processes {
        let total: f64 = rows.iter().map(ThreadCpu::cpu_s).sum();
        for row in rows {
            let _ = writeln!(
                m,
                "| {process} | {} | {} | {:.1} | {:.1} | {:.1}% | {:.3} |",
                row.name,
                row.threads,
                row.user_s,
                row.system_s,
                row.cpu_s() * 100.0 / total.max(1e-9),
                row.cpu_s() * 1e3 / booked,
            );
        }
    }
    if r.server_threads.is_none() {
        let _ = writeln!(
            m,
            "\nThe server was not spawned by this run: its threads were not read."
        );
    }
    let _ = writeln!(m);
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
