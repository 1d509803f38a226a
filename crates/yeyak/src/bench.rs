//! `yeyak bench writer`: durable booking throughput through the group-commit writer, next to two
//! references measured in the same run on the same machine:
//!
//! * the **baseline**, one transaction and one fsync per booking: the same writer with batches of
//!   one request, so it runs exactly the same code and SQL (idempotency check, booking row,
//!   idempotency record, notification); only the grouping differs;
//! * the **floor** (SQLite): the rows the writer wrote, inserted again into a fresh database of
//!   the same schema with plain prepared statements in one transaction
//!   (`store::sqlite::floor`) — what storing them costs at the least.
//!
//! Every booking carries the notification a real one does, split as the server splits it: the
//! producer (a request handler in the server) unseals the person's contact and prepares the
//! masked name and the text's head (`server::routes::BookingNotice::prepare`); the writer adds
//! the doses it decided, with the clinic names, and writes the message to the outbox in the same
//! transaction (`--no-notify` leaves it out, as before). Both run with `synchronous=FULL` on a fresh SQLite file, or, with `--database URL`,
//! on PostgreSQL (each in a new schema, dropped afterwards; `synchronous_commit` as the server
//! has it, `on` by default), where the writer sends a batch as array-bound, pipelined statements.

use anyhow::{Context, bail};
use domain::booking::{Appointment, Booking, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::ledger::{BookRequest, Calendar, Ledger};
use domain::partition::Part;
use domain::product::{Product, Schedules};
use jiff::ToSpan;
use jiff::civil::{Date, date};
use server::secrets::Secrets;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use store::writer::{Book, Decision, Refusal, Writer, WriterConfig};

const TODAY: Date = date(2021, 7, 19);
const CLINICS: u32 = 2_000;
const DAILY_DOSES: u32 = 100_000;
/// People the bench may book, one booking each (person ids 1 to this).
const PEOPLE: u64 = 2_000_000;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Bookings through the group-commit writer.
    #[arg(long, default_value_t = 400_000)]
    pub bookings: u64,
    /// Requests committed together at most by the group-commit writer.
    #[arg(long, default_value_t = 8_192)]
    pub max_batch: usize,
    /// Bookings in the baseline (one fsync each, so keep it small).
    #[arg(long, default_value_t = 3_000)]
    pub baseline_bookings: u64,
    /// Threads submitting to the writer, each keeping `--window` requests in flight.
    #[arg(long, default_value_t = 4)]
    pub producers: u64,
    #[arg(long, default_value_t = 2_000)]
    pub window: usize,
    /// Where to put the database files (a fresh temporary directory by default).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Run both on PostgreSQL at this URL instead of SQLite files (no floor then).
    #[arg(long, env = "YEYAK_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Book without the confirmation message (no unsealing, no text, no outbox row).
    #[arg(long)]
    pub no_notify: bool,
    /// On PostgreSQL: cut the ledger into this many parts, one writer each (each its own
    /// connection and lease), every booking sent to its clinic's part, as several nodes would.
    #[arg(long, default_value_t = 1)]
    pub parts: u16,
}

/// What a booking's confirmation needs: the keys that seal contacts, the clinics' names, and
/// a pool of sealed contacts (a real booking reads its person's from the database first).
#[derive(Clone)]
struct Messages {
    secrets: Arc<Secrets>,
    clinics: Arc<Vec<Clinic>>,
    contacts: Arc<Vec<Vec<u8>>>,
}

impl Messages {
    fn new() -> Messages {
        let mut rng = rand::rng();
        let secrets = Secrets::generate(&mut rng);
        let contacts = (0..1_024u32)
            .map(|i| secrets.seal(format!("홍길동\n010-{i:04}-5678").as_bytes(), &mut rng))
            .collect();
        Messages {
            secrets: Arc::new(secrets),
            clinics: Arc::new(clinics()),
            contacts: Arc::new(contacts),
        }
    }

    /// The notification the server attaches to booking `n`: prepared by the producer, as a
    /// request handler does (the contact unsealed, the name masked), and finished on the writer.
    fn notify(&self, n: u64) -> store::writer::Notify {
        let recipient = self.contacts[(n % self.contacts.len() as u64) as usize].clone();
        let notice =
            server::routes::BookingNotice::prepare(&self.secrets, recipient, "booking_confirmed");
        let clinics = Arc::clone(&self.clinics);
        Box::new(move |booking| Some(notice.message(&clinics, booking)))
    }
}

fn clinics() -> Vec<Clinic> {
    (0..CLINICS)
        .map(|id| Clinic {
            id: ClinicId(id),
            name: format!("bench clinic {id}"),
            kind: ClinicKind::Centre,
            municipality: MunicipalityCode(11010),
            location: GeoPoint {
                lat: 37.5,
                lon: 127.0,
            },
            products: vec![Product::Moderna],
            hours: Hours {
                open_hour: 9,
                close_hour: 18,
                per_band: 1_000,
                saturdays: true,
            },
        })
        .collect()
}

fn ledger(part: Part) -> Ledger {
    let calendar = Calendar {
        first: TODAY,
        days: 90,
    };
    Ledger::new(calendar, &clinics(), Schedules::default(), |_, _| {
        [0, DAILY_DOSES, 0, 0]
    })
    .for_part(part)
}

/// The n-th booking request: spread over clinics, days and bands so none is refused.
fn request(n: u64) -> BookRequest {
    let clinic = (n % u64::from(CLINICS)) as u32;
    let day = TODAY
        .checked_add(((1 + (n / 7) % 30) as i64).days())
        .expect("in range");
    // Sundays are closed; move them to Monday.
    let day = if day.weekday() == jiff::civil::Weekday::Sunday {
        day.tomorrow().expect("in range")
    } else {
        day
    };
    BookRequest {
        person: PersonId(n + 1),
        booked_by: PersonId(n + 1),
        first: Appointment {
            clinic: ClinicId(clinic),
            day,
            hour: 9 + (n % 9) as u8,
            product: Product::Moderna,
        },
        today: TODAY,
    }
}

fn command(n: u64, messages: Option<&Messages>) -> Book {
    Book {
        request: request(n),
        idempotency_key: Some(format!("bench-{n}")),
        notify: messages.map(|m| m.notify(n)),
    }
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.parts != 1 && args.database.is_none() {
        bail!("--parts needs --database: a SQLite file has one writer");
    }
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let messages = (!args.no_notify).then(Messages::new);
    let baseline = measure(
        &dir,
        "baseline",
        &args,
        args.baseline_bookings,
        1,
        1,
        &messages,
    )?;
    let grouped = measure(
        &dir,
        "writer",
        &args,
        args.bookings,
        args.max_batch,
        args.parts,
        &messages,
    )?;
    let floor = match args.database {
        None => Some(floor(&dir, args.bookings, messages.is_some())?),
        Some(_) => None,
    };
    let database = match args.database {
        None => "SQLite WAL, synchronous=FULL".to_string(),
        Some(_) => format!(
            "PostgreSQL, synchronous_commit as configured, the writer's ledger in {} part(s)",
            args.parts
        ),
    };
    let rows = match messages {
        Some(_) => "dose 1 + dose 2, idempotency record, notification",
        None => "dose 1 + dose 2, idempotency record, no notification",
    };
    println!("durable bookings/s ({database}; {rows})");
    println!("  baseline, one transaction per booking: {baseline:>10.0}");
    println!("  group-commit writer:                   {grouped:>10.0}");
    println!(
        "  writer ÷ baseline:                     {:>10.1}x",
        grouped / baseline
    );
    if let Some(floor) = floor {
        println!("  floor, the same rows in one insert:    {floor:>10.0}");
        println!(
            "  writer ÷ floor:                        {:>10.2}x",
            grouped / floor
        );
    }
    Ok(())
}

/// The writer's rows inserted again, bare, into a fresh database: bookings per second.
fn floor(dir: &Path, bookings: u64, notified: bool) -> anyhow::Result<f64> {
    let fresh = dir.join("floor.db");
    {
        let (_backend, reader) = store::sqlite::open(&fresh)?;
        store::AdminStore::insert_clinics(&reader, &clinic_records())?;
    }
    let floor = store::sqlite::floor::reinsert(&dir.join("writer.db"), &fresh)?;
    // A booking row and an idempotency record each, and a message when notified.
    let expected = bookings * (2 + u64::from(notified));
    if floor.rows != expected {
        bail!("the writer wrote {} rows, {expected} expected", floor.rows);
    }
    println!(
        "floor: {} rows in one transaction in {:.3} s",
        floor.rows,
        floor.elapsed.as_secs_f64()
    );
    Ok(bookings as f64 / floor.elapsed.as_secs_f64())
}

/// Runs one measurement on a fresh SQLite file in `dir`, or a fresh PostgreSQL schema with
/// the ledger in `parts`.
fn measure(
    dir: &Path,
    name: &str,
    args: &BenchArgs,
    bookings: u64,
    max_batch: usize,
    parts: u16,
    messages: &Option<Messages>,
) -> anyhow::Result<f64> {
    let config = WriterConfig {
        queue_capacity: 100_000,
        max_batch,
        // Room for `max_batch` bookings (3 rows each): the count binds, as in production.
        max_batch_cost: 4 * max_batch as u64,
        ..WriterConfig::default()
    };
    let Some(url) = &args.database else {
        let (backend, reader) = store::sqlite::open(&dir.join(format!("{name}.db")))?;
        // The clinics go into the database too: it checks every booking against their capacity.
        store::AdminStore::insert_clinics(&reader, &clinic_records())?;
        let writer = Writer::spawn(backend, ledger(Part::WHOLE), config)?;
        return through_writers(&[writer], &reader, name, args, bookings, messages);
    };
    let schema = format!("yeyak_bench_{name}_{}", std::process::id());
    let scoped = store::postgres::create_schema(url, &schema)?;
    let result = on_postgres(&scoped, parts, bookings, config).and_then(|(writers, reader)| {
        through_writers(&writers, &reader, name, args, bookings, messages)
    });
    store::postgres::drop_schema(url, &schema)?;
    result
}

/// One writer per part on the database at `url`, with the clinics stored (the database checks
/// capacity against them) and the `people` the bench books (a writer of one part locks each
/// booked person's row, as it would a real person's; stored for one part too, alike).
fn on_postgres(
    url: &str,
    parts: u16,
    people: u64,
    config: WriterConfig,
) -> anyhow::Result<(Vec<Writer>, store::postgres::PgReader)> {
    let mut writers = Vec::new();
    let mut reader = None;
    for part in Part::all(parts)? {
        let options = store::postgres::Options {
            node: format!("bench-{}-{}", std::process::id(), part.index()),
            part,
            ..store::postgres::Options::default()
        };
        let (backend, part_reader) = store::postgres::open_with(url, options)?;
        if reader.is_none() {
            store::AdminStore::insert_clinics(&part_reader, &clinic_records())?;
            store::postgres::seed_people(url, 1, people)?;
        }
        writers.push(Writer::spawn(backend, ledger(part), config)?);
        reader.get_or_insert(part_reader);
    }
    let reader = reader.context("no part")?;
    Ok((writers, reader))
}

fn clinic_records() -> Vec<store::ClinicRecord> {
    clinics()
        .into_iter()
        .map(|clinic| store::ClinicRecord {
            clinic,
            daily_doses: vec![(Product::Moderna, DAILY_DOSES)],
        })
        .collect()
}

/// Books `bookings` people through the writers (one per part, each booking to its clinic's),
/// from `--producers` threads; returns bookings per second and checks the audit agrees.
fn through_writers(
    writers: &[Writer],
    reader: &impl store::ReadStore,
    name: &str,
    args: &BenchArgs,
    bookings: u64,
    messages: &Option<Messages>,
) -> anyhow::Result<f64> {
    if bookings > PEOPLE {
        bail!("at most {PEOPLE} bookings");
    }
    let writers: Arc<[Writer]> = writers.into();
    let parts = writers.len() as u16;
    let per_producer = bookings / args.producers;
    let started = Instant::now();
    let producers: Vec<_> = (0..args.producers)
        .map(|p| {
            let writers = Arc::clone(&writers);
            let window = args.window;
            let messages = messages.clone();
            std::thread::spawn(move || -> anyhow::Result<u64> {
                let mut in_flight = std::collections::VecDeque::with_capacity(window);
                let mut booked = 0;
                for i in 0..per_producer {
                    if in_flight.len() == window {
                        booked += settle(in_flight.pop_front())?;
                    }
                    let book = command(p * per_producer + i, messages.as_ref());
                    let part = Part::of_clinic(book.request.first.clinic, parts);
                    let writer = &writers[usize::from(part.index())];
                    in_flight.push_back(writer.book(book, None, 0));
                }
                for answer in in_flight {
                    booked += settle(Some(answer))?;
                }
                Ok(booked)
            })
        })
        .collect();
    let mut booked = 0;
    for producer in producers {
        booked += producer
            .join()
            .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    }
    let rate = booked as f64 / started.elapsed().as_secs_f64();
    let batches = writers
        .iter()
        .map(|w| w.stats().batches.load(std::sync::atomic::Ordering::Relaxed))
        .sum::<u64>()
        .max(1);
    println!(
        "{name}: {booked} bookings in {batches} batches ({:.0} per batch)",
        booked as f64 / batches as f64
    );
    let audit = reader.audit(&Schedules::default())?;
    if audit.active_bookings != booked {
        bail!(
            "audit found {} bookings, the writer acknowledged {booked}",
            audit.active_bookings
        );
    }
    Ok(rate)
}

fn settle(answer: Option<Decision<Booking, Refusal>>) -> anyhow::Result<u64> {
    match answer.context("no answer")?.wait()? {
        Ok(_) => Ok(1),
        Err(refusal) => bail!("booking refused: {refusal}"),
    }
}
