//! `yeyak bench-reschedule`: August 2021 at full scale. Moderna's August deliveries fell short,
//! so second doses due from 08-16 moved to a six-week interval: 1.75 million appointments
//! moved and 11.56 million people were re-notified, by phone and text over days.
//!
//! The world: 13,000 clinics; `--moved` people who had dose 1 in late July with dose 2 booked
//! at four weeks (08-16 onwards: they move to exactly six weeks), and the rest of `--people`
//! booked for dose 1 from 08-26 with dose 2 already at six weeks (they are told it stays). The
//! bench stores them, starts the writer (which loads them into the ledger), previews the plan,
//! applies it (bookings, one record per moved dose and one message per person, in pieces of
//! `--piece-cost` rows, each its own transaction, bookings decided between them), and audits
//! the result.
//!
//! With `--bookings-per-s`, people outside the world book at a steady rate before the plan (a
//! quiet writer), while the plan is made (beside the writer, from a snapshot), during the apply
//! and after it (`booking_load`), and their latencies are reported per phase: what a booking
//! waits while a national-scale change is planned and written. Those booked from the preview on
//! are booked under the old interval, so the apply catches them up (moves their dose 2): the
//! report gives how many.
//!
//! The baseline, measured in the same run on the same disk: inserting the same number of
//! messages of the same size into an empty SQLite file in one transaction — the floor under
//! any apply that writes one durable message per person.

use crate::booking_load::{self, Load, Places, Sample, Summary};
use anyhow::{Context, bail, ensure};
use domain::booking::{Appointment, Booking, BookingId, Dose, DoseStatus, PersonId};
use domain::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours, MunicipalityCode};
use domain::ledger::reschedule::{Neighbours, SupplyChange};
use domain::ledger::{Calendar, Ledger};
use domain::product::{Product, Schedules};
use jiff::ToSpan;
use jiff::civil::{Date, Weekday, date};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use store::writer::{
    ApplySupply, Expect, MessageText, Notice, PlanSupply, SupplyNotify, Writer, WriterConfig,
};
use store::{
    AdminStore, Change, ClinicRecord, OutboxMessage, PersonRecord, ReadStore, WriteBackend,
};

/// 2021-08-12: the day 11.56 million people were re-notified.
const TODAY: Date = date(2021, 8, 12);
const FROM_DAY: Date = date(2021, 8, 16);
const CLINICS: u32 = 13_000;
const PER_BAND: u16 = 12;
const DAILY_DOSES: u32 = 120;
/// Rows per setup transaction.
const SETUP_BATCH: u64 = 200_000;

#[derive(Debug, clap::Args)]
pub struct RescheduleArgs {
    /// People holding a Moderna booking (all are told).
    #[arg(long, default_value_t = 11_560_000)]
    pub people: u64,
    /// Of them, people whose dose 2 moves to six weeks.
    #[arg(long, default_value_t = 1_750_000)]
    pub moved: u64,
    /// Where to put the database files (a fresh temporary directory by default).
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// A steady booking load beside the bench (0: none): people outside the world book at this
    /// rate for `--load-window-s` before the plan (then cancelled), and during and after the
    /// apply; their latency percentiles are reported per phase.
    #[arg(long, default_value_t = 0)]
    pub bookings_per_s: u32,
    /// How long the load runs before the plan and after the apply.
    #[arg(long, default_value_t = 5)]
    pub load_window_s: u64,
    /// Cost (about rows) of one piece of the apply; the writer's default when not given.
    #[arg(long)]
    pub piece_cost: Option<u64>,
    /// A stored world to start from: copied in place of the setup when it exists (and was
    /// stored for the same `--people` and `--moved`), stored there after the setup otherwise.
    /// Saves the setup's ten minutes when the apply is measured again.
    #[arg(long)]
    pub world: Option<std::path::PathBuf>,
    /// Writes every booking from the preview on (when it was meant to be sent and how long it
    /// took, ms from the apply's start: negative while the plan was made) and the log's size
    /// every 50 ms to this file, as CSV.
    #[arg(long)]
    pub trace: Option<std::path::PathBuf>,
}

fn clinics() -> Vec<Clinic> {
    (0..CLINICS)
        .map(|id| Clinic {
            id: ClinicId(id),
            name: format!("bench clinic {id}"),
            kind: ClinicKind::Consigned,
            municipality: MunicipalityCode(11010),
            location: GeoPoint {
                lat: 37.5,
                lon: 127.0,
            },
            products: vec![Product::Moderna],
            hours: Hours {
                open_hour: 9,
                close_hour: 18,
                per_band: PER_BAND,
                saturdays: true,
            },
        })
        .collect()
}

fn ledger() -> Ledger {
    let calendar = Calendar {
        first: TODAY,
        days: 120,
    };
    Ledger::new(calendar, &clinics(), Schedules::default(), |_, day| {
        if day.weekday() == Weekday::Sunday {
            [0; 4]
        } else {
            [0, DAILY_DOSES, 0, 0]
        }
    })
}

/// `first + offset` days, moved off Sundays (no clinic opens on Sundays).
fn weekday(first: Date, offset: u64) -> Date {
    let day = first
        .checked_add((offset as i64).days())
        .expect("within the calendar");
    if day.weekday() == Weekday::Sunday {
        day.tomorrow().expect("within the calendar")
    } else {
        day
    }
}

fn appointment(n: u64, day: Date) -> Appointment {
    Appointment {
        clinic: ClinicId((n % u64::from(CLINICS)) as u32),
        day,
        hour: 9 + ((n / u64::from(CLINICS)) % 9) as u8,
        product: Product::Moderna,
    }
}

/// The n-th person's booking. The first `moved` had dose 1 from 07-19 and dose 2 at four weeks
/// (08-16 onwards); the others book dose 1 from 08-26 with dose 2 at six weeks.
fn booking(n: u64, moved: u64) -> Booking {
    let dose = |appointment, status| Dose {
        appointment,
        status,
    };
    let (first, second) = if n < moved {
        // Spread over 11 days so dose 2 (at 28 days) lands 08-16 … 08-26.
        let d1 = weekday(date(2021, 7, 19), n * 11 / moved);
        let d2 = d1.checked_add(28.days()).expect("in range");
        (
            dose(appointment(n, d1), DoseStatus::Given),
            dose(appointment(n, d2), DoseStatus::Booked),
        )
    } else {
        let rest = n - moved;
        let d1 = weekday(date(2021, 8, 26), rest % 38);
        let d2 = d1.checked_add(42.days()).expect("in range");
        (
            dose(appointment(n, d1), DoseStatus::Booked),
            dose(appointment(n, d2), DoseStatus::Booked),
        )
    };
    Booking {
        id: BookingId(n + 1),
        person: PersonId(n + 1),
        booked_by: PersonId(n + 1),
        first,
        second: Some(second),
    }
}

fn person(n: u64) -> PersonRecord {
    let mut rrn_hash = [0u8; 32];
    rrn_hash[..8].copy_from_slice(&n.to_le_bytes());
    PersonRecord {
        id: PersonId(n + 1),
        rrn_hash,
        birth_date: date(1985, 1, 1),
        // The size of a sealed name and phone (nonce, ciphertext, tag).
        sealed: vec![0x5a; 64],
    }
}

/// A message of the size the server writes.
fn notify() -> SupplyNotify {
    Box::new(|notice: &Notice| {
        let booked: Vec<String> = notice
            .booking
            .booked_appointments()
            .map(|a| format!("{} {:02}:00 clinic {}", a.day, a.hour, a.clinic.0))
            .collect();
        if let Some(m) = notice.moves.first() {
            MessageText {
                template: "supply_moved".into(),
                ko: format!(
                    "[예약] 2차 접종 간격이 바뀌어 접종 일정이 변경되었습니다: {}차 {} → {}. \
                     다른 날짜나 의료기관을 원하시면 예약 조회에서 바꿀 수 있습니다.",
                    m.dose, m.from.day, m.to.day
                ),
                en: format!(
                    "[yeyak] Because the interval between doses changed, your appointment \
                     moved: dose {} {} -> {}. To pick another day or clinic, open My bookings.",
                    m.dose, m.from.day, m.to.day
                ),
            }
        } else {
            MessageText {
                template: "supply_informed".into(),
                ko: format!(
                    "[예약] 2차 접종 간격이 바뀌어 안내드립니다. 예약하신 일정은 그대로입니다: {}",
                    booked.join(", ")
                ),
                en: format!(
                    "[yeyak] Because the interval between doses changed, we let you know: your \
                     appointments stay as booked: {}",
                    booked.join(", ")
                ),
            }
        }
    })
}

/// Samples the write-ahead log's size every 50 ms on a thread of its own.
struct WalWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Vec<(Instant, u64)>>,
}

impl WalWatch {
    fn start(database: &Path) -> WalWatch {
        let mut wal = database.as_os_str().to_owned();
        wal.push("-wal");
        let wal = std::path::PathBuf::from(wal);
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut sizes = Vec::new();
            while !stopping.load(Ordering::Relaxed) {
                let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
                sizes.push((Instant::now(), size));
                std::thread::sleep(Duration::from_millis(50));
            }
            sizes
        });
        WalWatch { stop, thread }
    }

    /// The sizes seen, with when.
    fn stop(self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or_default()
    }
}

/// Writes the trace of `--trace`: `booking,<intended ms>,<latency ms>` and `log,<ms>,<bytes>`,
/// ms from `start`, which the first line gives as a Unix time (to match the writer's log).
fn write_trace(
    path: &Path,
    start: (Instant, jiff::Timestamp),
    bookings: &[Sample],
    log: &[(Instant, u64)],
) -> anyhow::Result<()> {
    use std::io::Write;
    // Bookings sent while the plan was made come before the apply: negative times.
    let ms = |at: Instant| match at.checked_duration_since(start.0) {
        Some(after) => after.as_secs_f64() * 1e3,
        None => -(start.0 - at).as_secs_f64() * 1e3,
    };
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "# apply queued at {} (0 ms)", start.1)?;
    writeln!(out, "kind,at_ms,value")?;
    for sample in bookings {
        let latency = sample.latency.as_secs_f64() * 1e3;
        writeln!(out, "booking,{:.3},{latency:.3}", ms(sample.intended))?;
    }
    for (at, bytes) in log {
        writeln!(out, "log,{:.3},{bytes}", ms(*at))?;
    }
    out.flush()?;
    Ok(())
}

/// The setup, or a copy of the world `--world` stored from an earlier one. Whether it was
/// copied.
fn store_or_copy_world(path: &Path, args: &RescheduleArgs) -> anyhow::Result<bool> {
    let Some(world) = &args.world else {
        setup(path, args)?;
        return Ok(false);
    };
    let mut stamp = world.as_os_str().to_owned();
    stamp.push(".size");
    let stamp = std::path::PathBuf::from(stamp);
    let size = format!("people={} moved={}", args.people, args.moved);
    if world.exists() {
        let stored = std::fs::read_to_string(&stamp).unwrap_or_default();
        ensure!(
            stored.trim() == size,
            "{} holds a world of {stored:?}, not {size:?}: give another --world",
            world.display()
        );
        std::fs::copy(world, path).context("copying the stored world")?;
        // On the disk before anything is measured: gigabytes still being written back would
        // slow every commit's sync after it.
        std::fs::File::open(path)?.sync_all()?;
        return Ok(true);
    }
    setup(path, args)?;
    store::sqlite::copy_database(path, world).context("storing the world")?;
    std::fs::write(&stamp, size)?;
    Ok(false)
}

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn setup(path: &Path, args: &RescheduleArgs) -> anyhow::Result<()> {
    let (mut backend, reader) = store::sqlite::open(path)?;
    // The clinics go into the database too: it checks every booking against their capacity.
    let records: Vec<ClinicRecord> = clinics()
        .into_iter()
        .map(|clinic| ClinicRecord {
            clinic,
            daily_doses: vec![(Product::Moderna, DAILY_DOSES)],
        })
        .collect();
    reader.insert_clinics(&records)?;
    let mut n = 0;
    while n < args.people {
        let end = (n + SETUP_BATCH).min(args.people);
        backend.begin()?;
        for i in n..end {
            backend.apply(&Change::InsertPerson {
                person: person(i),
                now_ms: 0,
            })?;
            backend.apply(&Change::PutBooking {
                booking: booking(i, args.moved),
                now_ms: 0,
            })?;
        }
        backend.commit()?;
        backend.checkpoint_truncate()?;
        n = end;
    }
    Ok(())
}

/// The floor: the same number of same-sized messages into a fresh file, one transaction.
fn baseline(path: &Path, messages: u64) -> anyhow::Result<f64> {
    let (mut backend, _reader) = store::sqlite::open(path)?;
    let body_ko = "[예약] 2차 접종 간격이 바뀌어 안내드립니다. 예약하신 일정은 그대로입니다: \
                   2021-08-30 10:00 clinic 1234, 2021-10-11 10:00 clinic 1234";
    let body_en = "[yeyak] Because the interval between doses changed, we let you know: your \
                   appointments stay as booked: 2021-08-30 10:00 clinic 1234, 2021-10-11 10:00 \
                   clinic 1234";
    let started = Instant::now();
    backend.begin()?;
    for n in 0..messages {
        backend.apply(&Change::Enqueue {
            message: OutboxMessage {
                person: Some(PersonId(n + 1)),
                recipient: vec![0x5a; 64],
                template: "supply_informed".into(),
                body_ko: body_ko.into(),
                body_en: body_en.into(),
            },
            now_ms: 0,
        })?;
    }
    backend.commit()?;
    Ok(started.elapsed().as_secs_f64())
}

pub fn run(args: RescheduleArgs) -> anyhow::Result<()> {
    ensure!(args.moved <= args.people, "--moved cannot exceed --people");
    let temp = tempfile::tempdir()?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("reschedule.db");
    let started = Instant::now();
    let copied = store_or_copy_world(&path, &args).context("storing the bookings")?;
    let setup_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let (backend, reader) = store::sqlite::open(&path)?;
    let defaults = WriterConfig::default();
    let config = WriterConfig {
        supply_piece_cost: args.piece_cost.unwrap_or(defaults.supply_piece_cost),
        ..defaults
    };
    let writer = Writer::spawn(backend, ledger(), config)?;
    let load_s = started.elapsed().as_secs_f64();
    let places = Places {
        clinics: CLINICS,
        days: (1..=6).map(|d| weekday(TODAY, d)).collect(),
        first_hour: 9,
        bands: 9,
        today: TODAY,
    };
    let window = Duration::from_secs(args.load_window_s);
    // Outside the world: person ids after its people.
    let mut next_person = args.people + 1;
    let quiet = match args.bookings_per_s {
        0 => None,
        rate => {
            let load = Load::start(writer.clone(), places.clone(), rate, next_person);
            std::thread::sleep(window);
            let samples = load.stop()?;
            next_person += samples.len() as u64;
            // Gone before the plan, so the plan is the world's alone.
            booking_load::cancel_all(&writer, &samples)?;
            Some(Summary::of(samples.iter()))
        }
    };

    let change = SupplyChange::Interval {
        product: Product::Moderna,
        interval_days: 42,
        from_day: FROM_DAY,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let started = Instant::now();
    let planning = PlanSupply {
        change: change.clone(),
        today: TODAY,
        neighbours: Neighbours::new(),
    };
    let previewing = writer.plan_supply(planning, 0);
    // Queued after the preview, so the plan is the world's alone; what they book while it is
    // made, and until the apply, the apply catches up.
    let load = (args.bookings_per_s > 0)
        .then(|| Load::start(writer.clone(), places, args.bookings_per_s, next_person));
    let preview = runtime.block_on(previewing)?;
    let plan_s = started.elapsed().as_secs_f64();
    let planned_at = Instant::now();
    let preview = match preview {
        Ok(preview) => preview,
        Err(refusal) => bail!("the plan was refused: {refusal:?}"),
    };
    let plan = &preview.plan;
    ensure!(
        plan.moves.len() as u64 == args.moved && plan.unplaced.is_empty(),
        "expected {} moves and none unplaced, planned {} and {}",
        args.moved,
        plan.moves.len(),
        plan.unplaced.len()
    );

    let started = Instant::now();
    let wall_started = jiff::Timestamp::now();
    let apply = ApplySupply {
        change,
        today: TODAY,
        neighbours: Neighbours::new(),
        expect: Expect::Plan(plan.id()),
        detail: "{\"kind\":\"interval\",\"bench\":true}".into(),
        notify: notify(),
    };
    let applying = writer.apply_supply(apply, None, 0);
    let wal = WalWatch::start(&path);
    let applied = runtime.block_on(applying)?;
    let apply_s = started.elapsed().as_secs_f64();
    let applied_at = Instant::now();
    let wal_sizes = wal.stop();
    let wal_peak = wal_sizes.iter().map(|(_, size)| *size).max().unwrap_or(0);
    let piece_holds = writer.stats().piece_holds.load(Ordering::Relaxed);
    let beside = match load {
        None => None,
        Some(load) => {
            std::thread::sleep(window);
            let samples = load.stop()?;
            if let Some(trace) = &args.trace {
                write_trace(trace, (started, wall_started), &samples, &wal_sizes)?;
            }
            let (planning, rest): (Vec<Sample>, Vec<Sample>) =
                samples.into_iter().partition(|s| s.intended < planned_at);
            let (during, after): (Vec<Sample>, Vec<Sample>) =
                rest.into_iter().partition(|s| s.intended < applied_at);
            Some((
                Summary::of(planning.iter()),
                Summary::of(during.iter()),
                Summary::of(after.iter()),
            ))
        }
    };
    let applied = match applied {
        Ok(applied) => applied,
        Err(refusal) => bail!("the apply was refused: {refusal:?}"),
    };
    let peak = peak_mib();
    let caught_up = applied
        .caught_up
        .as_ref()
        .map_or(0, |plan| plan.people_moved());
    ensure!(
        applied.messages == args.people,
        "{} messages for {} people",
        applied.messages,
        args.people
    );

    let record = reader
        .supply_changes(1)?
        .into_iter()
        .next()
        .context("no supply change recorded")?;
    ensure!(!record.partial(), "the apply stopped: {record:?}");
    let audit = reader.audit(&Schedules::default())?;
    let over_band = audit
        .per_band
        .iter()
        .filter(|(_, _, _, n)| *n > u32::from(PER_BAND))
        .count();
    let over_supply = audit
        .per_supply
        .iter()
        .filter(|(_, _, _, n)| *n > DAILY_DOSES)
        .count();
    ensure!(
        over_band == 0
            && over_supply == 0
            && audit.inconsistent_second_doses.is_empty()
            && audit.people_with_two_active.is_empty(),
        "audit failed: {over_band} bands and {over_supply} supply cells over, {} bad second doses",
        audit.inconsistent_second_doses.len()
    );
    let at_six_weeks = plan
        .moves
        .iter()
        .filter(|m| m.to.day == m.from.day.checked_add(14.days()).unwrap_or(m.to.day))
        .count();
    drop(writer);
    let baseline_s = baseline(&dir.join("baseline.db"), args.people)?;

    println!(
        "August 2021 interval change: {} people booked, {} second doses moved, {} messages",
        args.people, args.moved, applied.messages
    );
    let setup_name = if copied {
        "setup (copy the stored world):        "
    } else {
        "setup (store people and bookings):    "
    };
    println!("  {setup_name} {setup_s:>9.1} s");
    println!("  start-up (load the ledger):            {load_s:>9.1} s");
    println!("  plan (preview, nothing written):       {plan_s:>9.1} s");
    println!(
        "  apply ({:>6} pieces, one transaction each): {apply_s:>9.1} s",
        record.pieces
    );
    println!("  baseline (insert the messages only):   {baseline_s:>9.1} s");
    println!(
        "  apply / baseline:                      {:>9.2}x",
        apply_s / baseline_s
    );
    println!(
        "  moved to exactly six weeks:            {at_six_weeks:>9} of {}",
        plan.moves.len()
    );
    println!("  peak resident memory:                  {peak:>9.0} MiB");
    println!(
        "  write-ahead log, largest during apply: {:>9.0} MiB (the next piece waited for it {piece_holds} times)",
        wal_peak as f64 / (1024.0 * 1024.0)
    );
    if let (Some(quiet), Some((planning, during, after))) = (quiet, beside) {
        println!(
            "  steady bookings beside it, {} a second (latency from intended send time):",
            args.bookings_per_s
        );
        println!("{}", quiet.line("before the plan"));
        println!("{}", planning.line("while it is planned"));
        println!("{}", during.line("during the apply"));
        println!("{}", after.line("after the apply"));
    }
    println!("  booked while it was planned, caught up by the apply: {caught_up} people moved");
    println!("  audit: clean (no band or supply over, dose 2s consistent)");
    Ok(())
}
