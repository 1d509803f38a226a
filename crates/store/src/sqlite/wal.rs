//! The write-ahead log: copied back into the database by a thread of its own, started over by
//! the writer once it is long, and kept from outgrowing the disk by making long writes wait for it.
//!
//! A background thread copies the log back, PASSIVE, every 200 ms (20 ms while busy). That keeps
//! the copying off the writer, but on its own it cannot make the log *start over*: SQLite starts
//! the log from its beginning only at a write that finds every frame already copied back, and
//! under a steady stream of commits the next commit always lands before the checkpointer has
//! caught up with the last. On the full-scale replay of the 2021 opening the log grew to 5.5 GB
//! (334,000 frames) between restarts; every reader searched a wal-index that long, and cutting
//! the file back to its kept size (`journal_size_limit`) stopped the writer for up to two seconds
//! with nobody booked (`bench/wal-restart.md`). So once the log is [`LogLimits::restart_frames`]
//! long, the writer, between batches and after their answers went out, copies back what the
//! checkpointer has not yet on its own connection and waits a moment for readers still on the
//! log; its next commit then starts the log over ([`writer_copies`], [`start_over`]). That costs
//! the writer a few milliseconds a time, a few times a second at the replay's peak.
//!
//! A long write done in back-to-back transactions (a national supply change in pieces wrote
//! 41 GB of log in four minutes, `bench/reschedule.md`) must not outrun the copying either: before
//! each piece the writer asks [`room`]: under [`LogLimits::max_frames`] it goes; once the
//! checkpointer has copied the whole log back it goes too, and its write starts the log over
//! (`journal_size_limit` gives the disk back); otherwise it waits while bookings go on, and the
//! checkpointer comes back every 20 ms until the log is short again. The writer does not copy a
//! long write's log itself: the whole log's copy and sync (750 ms seen at national scale) would
//! hold up every booking behind it.

use crate::{CheckpointStats, Result, StoreError};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Past this much log a long write waits for it, and the checkpointer comes back soon (one
/// length, so the write that waits is the one the checkpointer hurries for). The limits are
/// lengths in bytes, turned into frames by the file's own page size
/// ([`LogLimits::for_page_size`]): a frame holds one page, and files made before 4 KiB pages
/// (2026-12-06) keep their 16 KiB ones.
const LONG_LOG_BYTES: u64 = 64 << 20;

/// The writer starts the log over around this length. Measured against four times as much on
/// the full replay (with 16 KiB pages, 2,048 frames against 8,192): four times as many
/// start-overs, but each took half as long (30 ms against 58 ms) and the night cost 7% less
/// server CPU (`bench/wal-restart.md`).
const RESTART_LOG_BYTES: u64 = 32 << 20;

/// After a try of its own that could not start the log over (the checkpointer was copying, or a
/// reader stayed on an old snapshot past the wait), the writer tries again only once the log has
/// grown this much more: each try syncs the database file and may wait for readers.
const RETRY_LOG_BYTES: u64 = 16 << 20;

/// How long the log may grow, in frames (one page each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// Above this many frames, a long write waits until the log is copied back.
    pub max_frames: u64,
    /// From this many frames on, the writer copies back what the checkpointer has not, between
    /// batches, and starts the log over.
    pub restart_frames: u64,
    /// After a try that could not, the writer tries again this many frames later.
    pub retry_frames: u64,
}

impl LogLimits {
    /// The limits for a file of `page_size`-byte pages: the same lengths in bytes whatever the
    /// page size, so a file of small pages does not start its log over four times as often (as
    /// 4 KiB pages with limits in frames did: +13% server CPU per booked person in the 40%
    /// replay, `bench/loadtest-53-54-2026-12-05-crowd/`).
    ///
    /// `max_frames` is 64 MiB: a few hundred pieces of people told, or about thirty of moves. The
    /// checkpointer copies it back in small steps, so a booking's commit never waits long behind
    /// its writes to the disk (256 MiB gave bookings a p99 of 544 ms beside a national apply).
    pub fn for_page_size(page_size: u64) -> LogLimits {
        LogLimits {
            max_frames: frames_holding(LONG_LOG_BYTES, page_size),
            restart_frames: frames_holding(RESTART_LOG_BYTES, page_size),
            retry_frames: frames_holding(RETRY_LOG_BYTES, page_size),
        }
    }
}

/// How many frames of a log of `page_size`-byte pages hold `bytes` (at least one; SQLite's
/// smallest page is 512 bytes).
fn frames_holding(bytes: u64, page_size: u64) -> u64 {
    (bytes / page_size.max(512)).max(1)
}

/// The log's size in bytes that SQLite truncates the file back to once it starts over, so a
/// long write's log gives its disk back.
pub(super) const KEPT_LOG_BYTES: i64 = 64 * 1024 * 1024;

/// What the checkpointer last found: the log's length and how much of it was copied back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub log: u64,
    pub copied: u64,
}

/// The rule, whether a long write may go now: `frames` is the log's length after the writer's
/// last commit, `seen` what the checkpointer found at its last run (which may be longer:
/// another connection wrote since). A long log goes only when the checkpointer has seen all of
/// it and copied it back: the write then begins on a log whose every frame is in the database,
/// and SQLite starts the log over.
///
/// `seen` may come from before the log last started over; the log can then outgrow the limit
/// by what is written between two runs of the checkpointer (20 ms apart under a long write),
/// once, until its next run.
pub fn room(frames: u64, seen: Copied, limits: LogLimits) -> bool {
    frames <= limits.max_frames || (seen.log >= frames && seen.copied >= seen.log)
}

/// The rule, whether the writer copies the log back and starts it over now, between batches: the
/// log is `frames` long after its last commit, and the writer last tried and could not when it
/// was `copied_at` long (0: no such try since the log last started over). Once the log is
/// `restart_frames` long; after a try that could not, only `retry_frames` later.
pub fn writer_copies(frames: u64, copied_at: u64, limits: LogLimits) -> bool {
    let started_over = frames < copied_at;
    frames >= limits.restart_frames
        && (started_over || copied_at == 0 || frames >= copied_at + limits.retry_frames)
}

/// The log's length after each of the writer's commits, told by SQLite's WAL hook.
#[derive(Debug, Clone, Default)]
pub(super) struct LogLength(Arc<AtomicU64>);

impl LogLength {
    /// Installs the hook on the writer's connection. After `wal_autocheckpoint`, which would
    /// replace it.
    pub(super) fn watch(conn: &mut Connection) -> Result<LogLength> {
        let length = LogLength::default();
        let frames = Arc::clone(&length.0);
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages| {
            frames.store(u64::try_from(pages).unwrap_or(0), Ordering::Relaxed);
            Ok(())
        }))?;
        Ok(length)
    }

    /// A checkpoint of the writer's own emptied the log (`TRUNCATE`), or copied it all so that the
    /// writer's next commit starts it over (`RESTART`): no commit tells the hook until then, and
    /// that commit's length says whether it did.
    pub(super) fn emptied(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    pub(super) fn frames(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs a PASSIVE checkpoint on `conn`: what it found and copied. `None` when it could not run
/// (another checkpoint was running, or the database is not in WAL mode).
pub(super) fn checkpoint_passive(conn: &Connection) -> Result<Option<Copied>> {
    let (busy, log, copied): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    if busy != 0 || log < 0 || copied < 0 {
        return Ok(None);
    }
    Ok(Some(Copied {
        log: log as u64,
        copied: copied as u64,
    }))
}

/// How long the writer's own copy waits for readers still on an older snapshot of the log: a
/// booking-side read takes microseconds, and a longer one (an export, a supply plan's snapshot)
/// must not hold up the bookings behind the writer; the copy is tried again later instead.
const READERS_WAIT: Duration = Duration::from_millis(20);

/// The writer's own copy, between batches: copies back what the checkpointer has not and waits
/// (at most [`READERS_WAIT`]) until no reader is still on the log (`RESTART`), so that the
/// writer's next commit starts the log over from its beginning, reusing the file. False when
/// busy: the checkpointer was copying, or a reader stayed on the log past the wait.
/// `busy_timeout` is the connection's usual wait, set back afterwards.
///
/// Not `TRUNCATE`, which also cuts the file to nothing: on a 2-core VM whose disk takes 565 µs
/// for a 16 KiB synchronous write (ext4 mounted with `discard`), a `TRUNCATE` start-over took
/// 174 ms at the median, a `RESTART` 4.8 ms, the log started over at the next commit 16 times
/// in 17 (the 17th was busy) — a Python model of the writer, its checkpointer and two readers,
/// `bench/wal-restart.md`; in the full-scale replay there the writer stood still 60–110 ms twice
/// a second for it, and every such stop put the booking side's p99 over the admission target.
/// Should a reader slip onto the log before the next commit (it would have to find it not yet
/// copied), that commit goes on at the end of the log, the log's length tells the writer so, and
/// it copies again at once ([`writer_copies`]).
pub(super) fn start_over(conn: &Connection, busy_timeout: Duration) -> Result<bool> {
    conn.busy_timeout(READERS_WAIT)?;
    let busy = conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get::<_, i64>(0));
    conn.busy_timeout(busy_timeout)?;
    Ok(busy? == 0)
}

/// How often the checkpointer runs, and how far it backs off after failures.
#[derive(Debug, Clone, Copy)]
struct CheckpointPace {
    interval: Duration,
    /// After a run that copied at least `busy_frames`, or found a log of at least `long_log`
    /// frames, the next comes after `busy_interval`: under a long write the log is copied back
    /// in many small steps, not a few large ones whose writes to the disk would hold up the
    /// bookings' commits, and a long log is seen all copied soon after it is, so the write
    /// waiting for that goes.
    busy_interval: Duration,
    busy_frames: u64,
    long_log: u64,
    max_backoff: Duration,
}

/// After a run that copied this much, the checkpointer comes back after `busy_interval`.
const BUSY_COPY_BYTES: u64 = 4 << 20;

impl CheckpointPace {
    /// The pace for a file of `page_size`-byte pages: the busy marks are lengths in bytes, as the
    /// writer's limits are ([`LogLimits::for_page_size`]).
    fn for_page_size(page_size: u64) -> CheckpointPace {
        CheckpointPace {
            interval: Duration::from_millis(200),
            busy_interval: Duration::from_millis(20),
            busy_frames: frames_holding(BUSY_COPY_BYTES, page_size),
            long_log: LogLimits::for_page_size(page_size).max_frames,
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl CheckpointPace {
    /// The wait after a run that found and copied `now`, the run before having found `before`.
    fn after(&self, before: Option<Copied>, now: Option<Copied>) -> Duration {
        match now {
            Some(now) if now.log >= self.long_log => self.busy_interval,
            Some(now) if newly_copied(before, now) >= self.busy_frames => self.busy_interval,
            _ => self.interval,
        }
    }
}

/// Checkpoints the WAL of the database at `path` every 200 ms on `conn`, a connection of its
/// own, while the writer is open. PASSIVE never blocks the writer.
pub(super) fn spawn_checkpointer(
    conn: Connection,
    path: &Path,
    page_size: u64,
    open: Arc<AtomicBool>,
    stats: Arc<CheckpointStats>,
) -> Result<()> {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    std::thread::Builder::new()
        .name("yeyak-checkpoint".into())
        .spawn(move || {
            let checkpointer = Checkpointer {
                open: &open,
                stats: &stats,
                pace: CheckpointPace::for_page_size(page_size),
            };
            checkpointer.run(
                || checkpoint_passive(&conn),
                || std::fs::metadata(&wal).map(|m| m.len()).ok(),
                |wait| sleep_while_open(&open, wait),
            );
        })
        .map_err(|e| StoreError::Database(format!("cannot start the checkpoint thread: {e}")))?;
    Ok(())
}

struct Checkpointer<'a> {
    open: &'a AtomicBool,
    stats: &'a CheckpointStats,
    pace: CheckpointPace,
}

impl Checkpointer<'_> {
    /// Checkpoints until the writer closes. A failure (a full disk, an I/O error) is logged and
    /// counted, and the next try waits twice as long, up to `max_backoff`: the checkpointer
    /// never gives up, since a WAL that is never copied back grows until the disk is full.
    fn run(
        &self,
        mut checkpoint: impl FnMut() -> Result<Option<Copied>>,
        mut wal_size: impl FnMut() -> Option<u64>,
        mut sleep: impl FnMut(Duration),
    ) {
        let mut wait = self.pace.interval;
        let mut last: Option<Copied> = None;
        while self.open.load(Ordering::Relaxed) {
            sleep(wait);
            if !self.open.load(Ordering::Relaxed) {
                return;
            }
            let started = Instant::now();
            let result = checkpoint();
            tracing::trace!(
                us = started.elapsed().as_micros() as u64,
                copied = ?result.as_ref().ok(),
                "checkpoint"
            );
            match result {
                Ok(copied) => {
                    self.stats.done.fetch_add(1, Ordering::Relaxed);
                    if let Some(copied) = copied {
                        self.stats.record(copied);
                    }
                    let failures = self.stats.failing.swap(0, Ordering::Relaxed);
                    if failures > 0 {
                        tracing::info!(failures, "WAL checkpoints work again");
                    }
                    wait = self.pace.after(last, copied);
                    last = copied.or(last);
                }
                Err(error) => {
                    self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    let failing = self.stats.failing.fetch_add(1, Ordering::Relaxed) + 1;
                    wait = (wait * 2).min(self.pace.max_backoff);
                    tracing::error!(
                        %error,
                        failing,
                        retry_in_ms = wait.as_millis() as u64,
                        "ALARM: WAL checkpoint failed; the WAL grows until one works, retrying"
                    );
                }
            }
            if let Some(bytes) = wal_size() {
                self.stats.wal_bytes.store(bytes, Ordering::Relaxed);
            }
        }
    }
}

/// Frames a checkpoint copied since the one before (all it copied if the log started over).
fn newly_copied(before: Option<Copied>, now: Copied) -> u64 {
    match before {
        Some(before) if before.log <= now.log => now.copied.saturating_sub(before.copied),
        _ => now.copied,
    }
}

impl CheckpointStats {
    /// Records what a checkpoint found and copied (the copied count first: a reader of the two
    /// may pair an old length with a new count, never the other way round).
    pub(super) fn record(&self, copied: Copied) {
        self.copied_frames.store(copied.copied, Ordering::Relaxed);
        self.log_frames.store(copied.log, Ordering::Relaxed);
    }

    /// What the checkpointer last found.
    pub(super) fn seen(&self) -> Copied {
        Copied {
            log: self.log_frames.load(Ordering::Relaxed),
            copied: self.copied_frames.load(Ordering::Relaxed),
        }
    }
}

/// Sleeps `wait`, waking early when the writer closes.
fn sleep_while_open(open: &AtomicBool, wait: Duration) {
    let slice = Duration::from_millis(200);
    let mut left = wait;
    while !left.is_zero() && open.load(Ordering::Relaxed) {
        let step = left.min(slice);
        std::thread::sleep(step);
        left -= step;
    }
}

#[cfg(test)]
mod tests {
    use super::super::connect;
    use super::*;

    const LIMITS: LogLimits = LogLimits {
        max_frames: 1_000,
        restart_frames: 600,
        retry_frames: 300,
    };

    /// A checkpointer at a test pace: every 200 ms, 20 ms after a run that copied 100 frames
    /// or found 1,000, backing off to 1 s.
    fn checkpointer<'a>(open: &'a AtomicBool, stats: &'a CheckpointStats) -> Checkpointer<'a> {
        let pace = CheckpointPace {
            interval: Duration::from_millis(200),
            busy_interval: Duration::from_millis(20),
            busy_frames: 100,
            long_log: 1_000,
            max_backoff: Duration::from_millis(1_000),
        };
        Checkpointer { open, stats, pace }
    }

    fn seen(log: u64, copied: u64) -> Copied {
        Copied { log, copied }
    }

    #[test]
    fn the_log_limits_are_the_same_bytes_whatever_the_page_size() {
        // A file of 16 KiB pages (made before 4 KiB became the size of new files) keeps the
        // frame counts it always had; 4 KiB pages get four times as many frames.
        let large = LogLimits::for_page_size(16_384);
        assert_eq!(
            (large.max_frames, large.restart_frames, large.retry_frames),
            (4_096, 2_048, 1_024)
        );
        let small = LogLimits::for_page_size(4_096);
        assert_eq!(
            (small.max_frames, small.restart_frames, small.retry_frames),
            (16_384, 8_192, 4_096)
        );
        let (large, small) = (
            CheckpointPace::for_page_size(16_384),
            CheckpointPace::for_page_size(4_096),
        );
        assert_eq!((large.busy_frames, large.long_log), (256, 4_096));
        assert_eq!((small.busy_frames, small.long_log), (1_024, 16_384));
    }

    #[test]
    fn the_writer_copies_once_the_log_is_long_and_then_only_every_retry_step() {
        assert!(!writer_copies(599, 0, LIMITS));
        assert!(writer_copies(600, 0, LIMITS));
        // It tried at 700 and could not (a reader held an old snapshot).
        assert!(!writer_copies(700, 700, LIMITS));
        assert!(!writer_copies(999, 700, LIMITS));
        assert!(writer_copies(1_000, 700, LIMITS));
        // The log started over since: at the limit again, it copies at once.
        assert!(!writer_copies(10, 700, LIMITS));
        assert!(writer_copies(650, 700, LIMITS));
    }

    #[test]
    fn a_short_log_lets_a_long_write_go_whatever_the_checkpointer_saw() {
        assert!(room(0, seen(0, 0), LIMITS));
        assert!(room(1_000, seen(900, 0), LIMITS));
        assert!(room(10, seen(5_000, 0), LIMITS));
    }

    #[test]
    fn a_long_log_holds_the_long_write_until_all_of_it_is_copied() {
        assert!(!room(1_001, seen(1_001, 0), LIMITS));
        assert!(!room(5_000, seen(5_000, 4_999), LIMITS));
        assert!(room(5_000, seen(5_000, 5_000), LIMITS));
        // The checkpointer copied what it saw, but the writer wrote more since (bookings).
        assert!(!room(5_000, seen(4_990, 4_990), LIMITS));
        assert!(!room(5_000, seen(2_000, 2_000), LIMITS));
    }

    #[test]
    fn a_log_longer_than_the_writer_wrote_counts_what_the_checkpointer_saw() {
        // Another connection wrote after the writer: the checkpointer saw 9,000 frames.
        assert!(room(2_000, seen(9_000, 9_000), LIMITS));
        assert!(!room(2_000, seen(9_000, 8_990), LIMITS));
    }

    #[test]
    fn the_checkpointer_records_what_it_found_and_copied() {
        let open = AtomicBool::new(true);
        let stats = CheckpointStats::default();
        let checkpointer = checkpointer(&open, &stats);
        let tries = std::cell::Cell::new(0u64);
        checkpointer.run(
            || {
                tries.set(tries.get() + 1);
                if tries.get() == 3 {
                    open.store(false, Ordering::Relaxed);
                }
                // The second try could not run (another checkpoint): nothing recorded.
                Ok((tries.get() != 2).then(|| seen(100 * tries.get(), 90 * tries.get())))
            },
            || None,
            |_| {},
        );
        assert_eq!(stats.seen(), seen(300, 270));
        assert_eq!(stats.done.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn after_copying_much_the_checkpointer_comes_back_sooner() {
        let open = AtomicBool::new(true);
        let stats = CheckpointStats::default();
        let checkpointer = checkpointer(&open, &stats);
        // What each run finds (log, copied): a long write, then quiet, then the log started
        // over with much written, then a run that could not go; then a long log found copied
        // (waiting for a write to start it over), and found so again.
        let runs = [
            (500, 500),
            (520, 520),
            (700, 700),
            (150, 150),
            (150, 150),
            (1_200, 1_200),
            (1_200, 1_200),
            (30, 30),
        ];
        let tries = std::cell::Cell::new(0usize);
        let mut waits = Vec::new();
        checkpointer.run(
            || {
                let n = tries.get();
                tries.set(n + 1);
                if n + 1 == runs.len() + 1 {
                    open.store(false, Ordering::Relaxed);
                }
                Ok(runs.get(n).map(|&(log, copied)| seen(log, copied)))
            },
            || None,
            |wait| waits.push(wait.as_millis()),
        );
        // The first wait is the plain interval; then 500 copied (busy), 20 (quiet), 180
        // (busy), 150 of a new log (busy), nothing new (quiet), 1,050 (busy), nothing new but
        // a long log (busy), 30 of a new log (quiet). The next try finds the writer closed.
        assert_eq!(waits, vec![200, 20, 200, 20, 20, 200, 20, 20, 200]);
    }

    #[test]
    fn a_real_log_is_watched_copied_and_started_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let mut writer = connect(&path).unwrap();
        writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        let length = LogLength::watch(&mut writer).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x BLOB); INSERT INTO t VALUES (zeroblob(100000));")
            .unwrap();
        let long = length.frames();
        assert!(long >= 7, "a 100 KB row takes several frames: {long}");
        let checkpointer = connect(&path).unwrap();
        assert_eq!(
            checkpoint_passive(&checkpointer).unwrap(),
            Some(seen(long, long))
        );
        // Everything copied: the next write starts the log over.
        writer.execute_batch("INSERT INTO t VALUES (1)").unwrap();
        assert!(length.frames() < long, "{} < {long}", length.frames());
    }

    #[test]
    fn the_checkpointer_backs_off_and_keeps_trying_after_failures() {
        let open = AtomicBool::new(true);
        let stats = CheckpointStats::default();
        let checkpointer = checkpointer(&open, &stats);
        // Fails four times (a full disk), then works twice; the writer closes after six tries.
        let tries = std::cell::Cell::new(0);
        let mut waits = Vec::new();
        checkpointer.run(
            || {
                tries.set(tries.get() + 1);
                if tries.get() == 6 {
                    open.store(false, Ordering::Relaxed);
                }
                if (1..=4).contains(&tries.get()) {
                    Err(StoreError::Full("database or disk is full".into()))
                } else {
                    Ok(None)
                }
            },
            || Some(4096 * tries.get()),
            |wait| waits.push(wait.as_millis()),
        );
        assert_eq!(tries.get(), 6, "it never stops for an error");
        assert_eq!(waits, vec![200, 400, 800, 1000, 1000, 200]);
        assert_eq!(stats.failed.load(Ordering::Relaxed), 4);
        assert_eq!(stats.done.load(Ordering::Relaxed), 2);
        assert_eq!(stats.failing.load(Ordering::Relaxed), 0, "healthy again");
        assert_eq!(stats.wal_bytes.load(Ordering::Relaxed), 4096 * 6);
    }
}
