//! Scenarios: what a cohort opening looked like, as a TOML file under `scenarios/`.
//!
//! A scenario says how many people were eligible, how many tried on the first evening, when they
//! arrived (a build-up in the 30 minutes before the opening, a spike at the opening second, a long
//! tail), where they live (province weights from KOSTAT population), and how they behave (reloads,
//! several tabs, giving up, retrying after errors, cancelling and re-booking, booking for a parent).

use crate::rng::Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub cohort: Cohort,
    pub arrivals: Arrivals,
    pub behaviour: Behaviour,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub client: ClientSettings,
    /// What happened in 2021, for the report's comparison table (free-form label → value).
    #[serde(default)]
    pub reference_2021: Vec<Reference>,
}

fn default_seed() -> u64 {
    20_210_719
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reference {
    pub what: String,
    pub figure: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cohort {
    /// Eligible people in the cohort.
    pub size: u64,
    /// Share of the cohort who try on the first evening.
    pub first_evening_share: f64,
    /// Birth years of the cohort, inclusive (the demo world's open cohort is 1967–1968).
    pub born: [i16; 2],
    /// Products people search for, with weights.
    pub products: Vec<ProductWeight>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductWeight {
    pub product: String,
    pub weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrivals {
    /// Real length of the pre-opening build-up (documentation; the replay compresses it).
    pub prequeue_minutes: f64,
    /// Share of the first-evening crowd who arrive before the opening.
    pub prequeue_share: f64,
    /// The build-up is replayed in this many seconds (those arrivals only take tickets, so
    /// compressing them changes nothing but the ticket rate).
    pub prequeue_compressed_seconds: f64,
    /// Share who arrive in the spike at the opening second.
    pub spike_share: f64,
    /// Time constant of the spike's exponential decay.
    pub spike_time_constant_seconds: f64,
    /// The rest arrive in a tail with this time constant …
    pub tail_time_constant_minutes: f64,
    /// … cut off this long after the opening.
    pub tail_minutes: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Mean number of page reloads (a new `arrive` with the ticket held) while waiting …
    pub reloads_mean: f64,
    /// … made within this many seconds after the opening (heavy in the first minutes).
    pub reload_window_seconds: f64,
    /// Share who open several tabs, and how many tabs at most (each polls on its own).
    pub tabs_share: f64,
    pub tabs_max: u32,
    /// Share who give up if their wait exceeds a patience drawn with this mean.
    pub give_up_share: f64,
    pub patience_mean_seconds: f64,
    /// Attempts after an error (503 + Retry-After, connection errors), same Idempotency-Key.
    pub retry_max: u32,
    /// Share who send the booking twice (double click, lost answer): same key, same booking.
    pub double_submit_share: f64,
    /// Share who cancel their booking and book again.
    pub cancel_rebook_share: f64,
    /// Share of the cohort booked by a grown child, for their parent (`family` field).
    pub family_share: f64,
    /// Search radius around home, widened twice (×4, then 50 km) when nothing has room.
    pub search_radius_km: f64,
    /// Mean think time between pages once admitted.
    pub think_ms_mean: f64,
    /// Share of arrivals who are not in the opening's cohort (born in the three years after
    /// it: the next cohort, whose window opens later). They are arrivals on top of the
    /// cohort's first-evening crowd, so the eligible crowd stays what `cohort` says.
    #[serde(default)]
    pub ineligible_share: f64,
    /// Share of people who verify their identity on the waiting page while they wait (before
    /// the opening and in the line after it), a delay after arriving drawn with this mean.
    /// Grown children booking for a parent do not: verifying would place the child, who is
    /// not in the cohort.
    #[serde(default)]
    pub verify_waiting_share: f64,
    #[serde(default = "default_verify_delay")]
    pub verify_delay_mean_seconds: f64,
}

fn default_verify_delay() -> f64 {
    20.0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// People on the booking side at once (the opening's `max_active`).
    pub max_active: u32,
    /// Status polls per second the whole queue may cause (`--poll-budget`).
    pub poll_budget: Option<f64>,
    /// Admissions per second the booking side takes (`--admission-rate`).
    pub admission_rate: Option<f64>,
    /// The longest queue the poll budget is guaranteed for (`--max-queue`).
    pub max_queue: Option<u64>,
    /// Booking requests that may wait for the writer (`--writer-queue`).
    pub writer_queue: Option<usize>,
    /// HTTP worker threads of a spawned server.
    pub worker_threads: Option<usize>,
    /// Seconds between the spawned server being healthy and the pre-queue starting.
    pub lead_seconds: f64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_active: 5_000,
            poll_budget: None,
            admission_rate: None,
            max_queue: None,
            writer_queue: None,
            worker_threads: None,
            lead_seconds: 2.0,
        }
    }
}

/// The smallest poll budget a scaled run gives the server.
const MIN_POLL_BUDGET: f64 = 500.0;
/// The server's shortest `--max-queue` (`server::waiting::MIN_MAX_QUEUE`).
const MIN_MAX_QUEUE: u64 = 100_000;

/// What the server is told for a run at some scale ([`ServerSettings::at_scale`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaledServer {
    pub max_active: u32,
    pub poll_budget: Option<f64>,
    pub admission_rate: Option<f64>,
    pub max_queue: Option<u64>,
}

impl ServerSettings {
    /// The settings for a run at `scale`: a miniature of the full night. The scenario states
    /// them for the full crowd; every count of people and every rate is multiplied by `scale`
    /// (people on the booking side, polls per second, admissions per second, the longest queue)
    /// and every time stays as it is. The waiting room's poll schedule is then the full night's
    /// with places scaled (`queue::PollPolicy`: the interval at place `s·p` of the scaled
    /// schedule is the interval at `p` of the full one), so each simulated person waits, polls
    /// and learns of their turn as they would among the full crowd. Scaling only the budget, as
    /// runs did until 2026-12-04, left the front zone at the full night's size (clamped to half
    /// of a budget five times smaller at 20%) and `Λ` at ten million places: a scaled run was
    /// harder on the back of the queue than the full night. Floors keep a tiny run valid.
    pub fn at_scale(&self, scale: f64) -> ScaledServer {
        ScaledServer {
            max_active: ((self.max_active as f64 * scale).round() as u32).max(1),
            poll_budget: self
                .poll_budget
                .map(|budget| (budget * scale).max(MIN_POLL_BUDGET)),
            admission_rate: self.admission_rate.map(|rate| rate * scale),
            max_queue: self
                .max_queue
                .map(|q| ((q as f64 * scale).round() as u64).max(MIN_MAX_QUEUE)),
        }
    }
}

impl ScaledServer {
    /// The `yeyak serve` flags for these settings (`max_active` goes in the opening).
    pub fn serve_flags(&self) -> Vec<String> {
        let mut flags = Vec::new();
        if let Some(budget) = self.poll_budget {
            flags.extend(["--poll-budget".into(), budget.to_string()]);
        }
        if let Some(rate) = self.admission_rate {
            flags.extend(["--admission-rate".into(), rate.to_string()]);
        }
        if let Some(places) = self.max_queue {
            flags.extend(["--max-queue".into(), places.to_string()]);
        }
        flags
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// HTTP requests in flight at most (browsers' connections); waiting for one counts as latency
    /// and is reported (`client_waits`). 0: no bound (a browser population; mind `ulimit -n`).
    pub max_in_flight: usize,
    /// Give up the run (and report what was done) after this long.
    pub max_run_minutes: f64,
    /// Worker threads of the generator's runtime (default 1: a current-thread runtime, the
    /// cheapest per request; more for a crowd one core cannot carry).
    pub threads: Option<usize>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            max_in_flight: 2_048,
            max_run_minutes: 20.0,
            threads: None,
        }
    }
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Scenario> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read scenario {}: {e}", path.display()))?;
        let scenario: Scenario = toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("scenario {} is not valid: {e}", path.display()))?;
        scenario.validate()?;
        Ok(scenario)
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        let share = |name: &str, x: f64| {
            if (0.0..=1.0).contains(&x) {
                Ok(())
            } else {
                Err(anyhow::anyhow!("{name} must be between 0 and 1, not {x}"))
            }
        };
        share(
            "cohort.first_evening_share",
            self.cohort.first_evening_share,
        )?;
        share("arrivals.prequeue_share", self.arrivals.prequeue_share)?;
        share("arrivals.spike_share", self.arrivals.spike_share)?;
        share(
            "arrivals.prequeue_share + spike_share",
            self.arrivals.prequeue_share + self.arrivals.spike_share,
        )?;
        let b = &self.behaviour;
        for (name, x) in [
            ("behaviour.tabs_share", b.tabs_share),
            ("behaviour.give_up_share", b.give_up_share),
            ("behaviour.double_submit_share", b.double_submit_share),
            ("behaviour.cancel_rebook_share", b.cancel_rebook_share),
            ("behaviour.family_share", b.family_share),
            ("behaviour.verify_waiting_share", b.verify_waiting_share),
        ] {
            share(name, x)?;
        }
        anyhow::ensure!(
            self.cohort.born[0] <= self.cohort.born[1],
            "cohort.born must be [first, last]"
        );
        anyhow::ensure!(
            !self.cohort.products.is_empty(),
            "cohort.products must name at least one product"
        );
        anyhow::ensure!(
            self.arrivals.prequeue_compressed_seconds >= 0.0,
            "prequeue_compressed_seconds >= 0"
        );
        anyhow::ensure!(
            self.arrivals.spike_time_constant_seconds > 0.0,
            "spike_time_constant_seconds > 0"
        );
        anyhow::ensure!(self.arrivals.tail_minutes > 0.0, "tail_minutes > 0");
        anyhow::ensure!(
            self.arrivals.tail_time_constant_minutes > 0.0,
            "tail_time_constant_minutes > 0"
        );
        anyhow::ensure!(self.server.max_active >= 1, "server.max_active >= 1");
        anyhow::ensure!(
            self.server
                .admission_rate
                .is_none_or(|r| r.is_finite() && r >= 0.0),
            "server.admission_rate >= 0"
        );
        anyhow::ensure!(
            self.server.max_queue.is_none_or(|q| q >= MIN_MAX_QUEUE),
            "server.max_queue >= {MIN_MAX_QUEUE}"
        );
        anyhow::ensure!(self.behaviour.tabs_max >= 1, "behaviour.tabs_max >= 1");
        anyhow::ensure!(
            (0.0..0.95).contains(&self.behaviour.ineligible_share),
            "behaviour.ineligible_share must be at least 0 and below 0.95"
        );
        anyhow::ensure!(
            self.behaviour.verify_delay_mean_seconds >= 0.0,
            "behaviour.verify_delay_mean_seconds >= 0"
        );
        Ok(())
    }

    /// People who try on the first evening at this scale.
    /// Everyone who arrives: the cohort's first-evening crowd at `scale`, plus the ineligible
    /// arrivals (`behaviour.ineligible_share` of the total).
    pub fn people(&self, scale: f64) -> u64 {
        let eligible = (self.cohort.size as f64) * self.cohort.first_evening_share * scale;
        (eligible / (1.0 - self.behaviour.ineligible_share))
            .round()
            .max(1.0) as u64
    }

    /// Every arrival, in seconds from the opening (negative: the compressed build-up), sorted.
    pub fn arrival_offsets(&self, people: u64) -> Vec<f64> {
        let a = &self.arrivals;
        let mut rng = Rng::for_item(self.seed, u64::MAX);
        let tail_end = a.tail_minutes * 60.0;
        let pre = (people as f64 * a.prequeue_share).round() as u64;
        let spike = ((people as f64 * a.spike_share).round() as u64).min(people - pre.min(people));
        let mut offsets: Vec<f64> = Vec::with_capacity(people as usize);
        for i in 0..people {
            let t = if i < pre {
                // Density rising linearly towards the opening: F(t) = ((t + C) / C)².
                a.prequeue_compressed_seconds * (rng.f64().sqrt() - 1.0)
            } else {
                let mean = if i < pre + spike {
                    a.spike_time_constant_seconds
                } else {
                    a.tail_time_constant_minutes * 60.0
                };
                let mut t = rng.exp(mean);
                for _ in 0..16 {
                    if t < tail_end {
                        break;
                    }
                    t = rng.exp(mean);
                }
                t.min(tail_end)
            };
            offsets.push(t);
        }
        offsets.sort_by(f64::total_cmp);
        offsets
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_scenario_in_the_repo_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                Scenario::load(&path).unwrap();
                seen += 1;
            }
        }
        assert!(seen >= 2);
    }

    #[test]
    fn a_scaled_run_gives_the_server_a_miniature_of_the_full_night() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/2021-07-19-born-53-54.toml");
        let s = Scenario::load(&path).unwrap();
        let full = s.server.at_scale(1.0);
        let fifth = s.server.at_scale(0.2);
        assert_eq!(fifth.max_active, full.max_active / 5);
        assert_eq!(fifth.poll_budget, full.poll_budget.map(|b| b / 5.0));
        assert_eq!(fifth.admission_rate, full.admission_rate.map(|r| r / 5.0));
        assert_eq!(fifth.max_queue, full.max_queue.map(|q| q / 5));
        assert!(full.admission_rate.is_some() && full.max_queue.is_some());
        assert_eq!(
            fifth.serve_flags().join(" "),
            "--poll-budget 4000 --admission-rate 300 --max-queue 2000000"
        );
        // A tiny run keeps the server's floors; what the scenario leaves out stays out.
        let tiny = ServerSettings {
            max_queue: None,
            ..s.server.clone()
        }
        .at_scale(0.000_01);
        assert_eq!(tiny.max_active, 1);
        assert_eq!(tiny.poll_budget, Some(MIN_POLL_BUDGET));
        assert_eq!(tiny.max_queue, None);
        assert_eq!(s.server.at_scale(0.001).max_queue, Some(MIN_MAX_QUEUE));
    }

    #[test]
    fn arrivals_follow_the_curve() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/2021-07-19-born-53-54.toml");
        let s = Scenario::load(&dir).unwrap();
        let n = s.people(0.01);
        let offsets = s.arrival_offsets(n);
        assert_eq!(offsets.len() as u64, n);
        assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
        let before = offsets.iter().filter(|t| **t < 0.0).count() as f64 / n as f64;
        assert!(
            (before - s.arrivals.prequeue_share).abs() < 0.02,
            "{before}"
        );
        let first_minute =
            offsets.iter().filter(|t| (0.0..60.0).contains(*t)).count() as f64 / n as f64;
        assert!(first_minute > 0.3, "{first_minute}");
        assert!(offsets.iter().all(|t| *t <= s.arrivals.tail_minutes * 60.0));
    }
}
