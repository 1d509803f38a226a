//! A steady booking load beside a long writer operation (`yeyak bench-reschedule
//! --bookings-per-s`): people outside the bench's world book at a fixed rate, open loop, each
//! latency counted from the booking's intended send time (a booking stuck behind the writer
//! is counted for all the time it waited, not hidden by a slowed sender).

use domain::booking::{Appointment, Booking, PersonId};
use domain::clinic::ClinicId;
use domain::ledger::BookRequest;
use domain::product::Product;
use jiff::civil::Date;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::writer::{Book, Cancel, Writer};

/// One booking of the load.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub intended: Instant,
    pub latency: Duration,
    /// The booking, or `None` when it was refused or not written.
    pub booked: Option<Booking>,
}

/// Where the load books: one clinic per person, round robin, dose 1 on one of the days given.
#[derive(Debug, Clone)]
pub struct Places {
    pub clinics: u32,
    pub days: Vec<Date>,
    pub first_hour: u8,
    pub bands: u8,
    pub today: Date,
}

impl Places {
    fn request(&self, person: u64) -> BookRequest {
        let days = self.days.len().max(1) as u64;
        BookRequest {
            person: PersonId(person),
            booked_by: PersonId(person),
            first: Appointment {
                clinic: ClinicId((person % u64::from(self.clinics)) as u32),
                day: self.days[(person % days) as usize],
                hour: self.first_hour + ((person / days) % u64::from(self.bands)) as u8,
                product: Product::Moderna,
            },
            today: self.today,
        }
    }
}

/// A running load; [`Load::stop`] ends it and gives its samples.
pub struct Load {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<anyhow::Result<Vec<Sample>>>,
}

impl Load {
    /// Books person `first_person`, then the next, … at `per_s` a second until stopped.
    pub fn start(writer: Writer, places: Places, per_s: u32, first_person: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_time()
                .build()?;
            Ok(runtime.block_on(run(writer, places, per_s, first_person, stopping)))
        });
        Load { stop, thread }
    }

    pub fn stop(self) -> anyhow::Result<Vec<Sample>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow::anyhow!("the booking load panicked"))?
    }
}

async fn run(
    writer: Writer,
    places: Places,
    per_s: u32,
    first_person: u64,
    stop: Arc<AtomicBool>,
) -> Vec<Sample> {
    let every = Duration::from_secs(1) / per_s.max(1);
    let started = Instant::now();
    let mut sent = tokio::task::JoinSet::new();
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let intended = started + every * n;
        tokio::time::sleep_until(intended.into()).await;
        let book = Book {
            request: places.request(first_person + u64::from(n)),
            idempotency_key: None,
            notify: None,
        };
        let answer = writer.book(book, None, 0);
        sent.spawn(async move {
            let booked = answer.await.ok().and_then(Result::ok);
            Sample {
                intended,
                latency: intended.elapsed(),
                booked,
            }
        });
        n += 1;
    }
    sent.join_all().await
}

/// Cancels what the load booked, so the bench's world is as it was (waits for every answer).
pub fn cancel_all(writer: &Writer, samples: &[Sample]) -> anyhow::Result<()> {
    let pending: Vec<_> = samples
        .iter()
        .filter_map(|s| s.booked)
        .map(|booking| {
            let cancel = Cancel {
                actor: booking.person,
                booking: booking.id,
                idempotency_key: None,
                notify: None,
            };
            writer.cancel(cancel, None, 0)
        })
        .collect();
    for answer in pending {
        answer
            .wait()?
            .map_err(|refusal| anyhow::anyhow!("cancel refused: {refusal}"))?;
    }
    Ok(())
}

/// Latency percentiles of some samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: usize,
    pub booked: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    pub fn of<'a>(samples: impl Iterator<Item = &'a Sample>) -> Summary {
        let mut booked = 0;
        let mut latencies: Vec<Duration> = samples
            .inspect(|s| booked += usize::from(s.booked.is_some()))
            .map(|s| s.latency)
            .collect();
        latencies.sort_unstable();
        let at = |q: usize| {
            latencies
                .get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Summary {
            count: latencies.len(),
            booked,
            p50: at(50),
            p99: at(99),
            max: latencies.last().copied().unwrap_or_default(),
        }
    }

    pub fn line(&self, name: &str) -> String {
        format!(
            "  bookings {name:<28} {:>6} sent, {:>6} booked, p50 {:>9.1} ms, p99 {:>9.1} ms, max {:>9.1} ms",
            self.count,
            self.booked,
            self.p50.as_secs_f64() * 1e3,
            self.p99.as_secs_f64() * 1e3,
            self.max.as_secs_f64() * 1e3,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let now = Instant::now();
        let samples: Vec<Sample> = (1..=200u64)
            .map(|ms| Sample {
                intended: now,
                latency: Duration::from_millis(ms),
                booked: None,
            })
            .collect();
        let summary = Summary::of(samples.iter().rev());
        assert_eq!(summary.count, 200);
        assert_eq!(summary.p50, Duration::from_millis(101));
        assert_eq!(summary.p99, Duration::from_millis(199));
        assert_eq!(summary.max, Duration::from_millis(200));
        assert_eq!(Summary::of([].iter()).count, 0);
    }
}
