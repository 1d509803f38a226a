//! Once a second: the waiting room and booking counters from `/metrics`, and the server's CPU
//! and memory from /proc when we spawned it.

use crate::server::{ProcUsage, proc_usage};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Sample {
    /// Seconds from the opening (negative before it).
    pub t_s: f64,
    pub arrivals: f64,
    pub waiting: f64,
    pub admitted: f64,
    pub active: f64,
    /// The controller's concurrency limit and the admitted people it still holds room for.
    pub limit: f64,
    pub in_flight: f64,
    /// The booking side's p99 latency the controller last steered by.
    pub latency_p99_ms: f64,
    pub admission_rate: f64,
    pub bookings_total: f64,
    pub writer_queue_depth: f64,
    pub server: Option<ProcUsage>,
    pub client_cpu_s: f64,
    pub client_in_flight: u64,
}

/// The value of a metric line `name{…} value` or `name value`, summed over label sets that
/// contain `labels` (empty: all).
pub fn metric(text: &str, name: &str, labels: &str) -> f64 {
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_part, value) = if let Some(r) = rest.strip_prefix('{') {
            match r.split_once('}') {
                Some((l, v)) => (l, v),
                None => continue,
            }
        } else if rest.starts_with(' ') {
            ("", rest)
        } else {
            continue;
        };
        if !labels.is_empty() && !label_part.contains(labels) {
            continue;
        }
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            sum += v;
        }
    }
    sum
}

pub struct Sampler {
    pub samples: Arc<Mutex<Vec<Sample>>>,
    pub stop: Arc<AtomicBool>,
    pub handle: tokio::task::JoinHandle<()>,
}

pub fn start(
    http: reqwest::Client,
    base: String,
    server_pid: Option<u32>,
    opening: Instant,
    stats: Arc<crate::stats::Stats>,
) -> Sampler {
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        tokio::spawn(async move {
            let url = format!("{base}/metrics");
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            // Bounded: a day of samples at most.
            for _ in 0..86_400 {
                tick.tick().await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let now = Instant::now();
                let t_s = if now >= opening {
                    now.duration_since(opening).as_secs_f64()
                } else {
                    -opening.duration_since(now).as_secs_f64()
                };
                let text = match tokio::time::timeout(Duration::from_secs(2), http.get(&url).send())
                    .await
                {
                    Ok(Ok(r)) => r.text().await.unwrap_or_default(),
                    _ => String::new(),
                };
                let sample = Sample {
                    t_s,
                    arrivals: metric(&text, "yeyak_queue_arrivals", ""),
                    waiting: metric(&text, "yeyak_queue_waiting", ""),
                    admitted: metric(&text, "yeyak_queue_admitted", ""),
                    active: metric(&text, "yeyak_queue_active", ""),
                    limit: metric(&text, "yeyak_queue_limit", ""),
                    in_flight: metric(&text, "yeyak_queue_in_flight", ""),
                    latency_p99_ms: metric(&text, "yeyak_queue_latency_p99_ms", ""),
                    admission_rate: metric(&text, "yeyak_queue_admission_rate", ""),
                    bookings_total: metric(&text, "yeyak_bookings_total", "outcome=\"booked\""),
                    writer_queue_depth: metric(&text, "yeyak_writer_queue_depth", ""),
                    server: server_pid.and_then(proc_usage),
                    client_cpu_s: proc_usage(std::process::id())
                        .map(|u| u.cpu_s)
                        .unwrap_or(0.0),
                    client_in_flight: stats.in_flight.load(Ordering::Relaxed),
                };
                samples.lock().await.push(sample);
            }
        })
    };
    Sampler {
        samples,
        stop,
        handle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_prometheus_lines() {
        let text = "# HELP x\nyeyak_queue_waiting 12\nyeyak_queue_waiting_more 5\nyeyak_bookings_total{outcome=\"booked\"} 7\nyeyak_bookings_total{outcome=\"refused\"} 3\n";
        assert_eq!(metric(text, "yeyak_queue_waiting", ""), 12.0);
        assert_eq!(
            metric(text, "yeyak_bookings_total", "outcome=\"booked\""),
            7.0
        );
        assert_eq!(metric(text, "yeyak_bookings_total", ""), 10.0);
    }
}
