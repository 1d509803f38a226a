//! Where a process's CPU went, thread by thread, from /proc: the server's front door, booking
//! side, writer and checkpointer, and the generator, each split into user and kernel time.
//!
//! Why: on one machine the server and the generator share the cores, and issue 12 asks which
//! part of a night's cost is the server's own work and which is the shared machine's. The
//! process totals (`server::proc_usage`) cannot say whether the front door's thread, the
//! booking side or the writer ran out of room, nor how much of it was the kernel's loopback
//! TCP; a profiler can, but not on every run, and never without perturbing it. Two reads of
//! /proc per run cost nothing the run can see.

use serde::Serialize;

/// The kernel's clock ticks per second in /proc (USER_HZ), 100 on every Linux this runs on.
const TICKS_PER_S: f64 = 100.0;

/// One thread's CPU so far: its id, name and clock ticks in user and kernel mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadTicks {
    pub tid: u32,
    pub name: String,
    pub user: u64,
    pub system: u64,
}

/// A process's CPU at one moment: its totals (which keep the time of threads that have
/// ended) and each live thread's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sample {
    pub pid: u32,
    pub user: u64,
    pub system: u64,
    pub threads: Vec<ThreadTicks>,
}

/// CPU spent between two samples by the threads of one name (a pool's threads share one).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadCpu {
    /// The thread's name as the kernel keeps it (15 bytes at most); the main thread is
    /// `main (<name>)`, and time of threads that ended between the samples is `ended threads`.
    pub name: String,
    /// Threads of this name seen in the second sample (0 for `ended threads`).
    pub threads: u32,
    pub user_s: f64,
    pub system_s: f64,
}

impl ThreadCpu {
    pub fn cpu_s(&self) -> f64 {
        self.user_s + self.system_s
    }
}

/// The name of the row that holds the time of threads that ended between two samples.
pub const ENDED: &str = "ended threads";

/// Reads a `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat` line: the name and the ticks
/// in user and kernel mode. The name is between the first `(` and the last `)`: it may hold
/// spaces and parentheses of its own.
pub fn parse_stat(line: &str) -> Option<(String, u64, u64)> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let name = line.get(open + 1..close)?.to_string();
    let mut fields = line.get(close + 1..)?.split_whitespace();
    // utime and stime are fields 14 and 15 of the line: the 12th and 13th after the name.
    let user = fields.nth(11)?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some((name, user, system))
}

/// The process's CPU now, thread by thread. `None` when the process is gone or /proc is not
/// there (not Linux); a thread that ends while it is read is left out.
pub fn sample(pid: u32) -> Option<Sample> {
    let (_, user, system) =
        parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    let mut threads = Vec::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(line) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((name, user, system)) = parse_stat(&line) {
            threads.push(ThreadTicks {
                tid,
                name,
                user,
                system,
            });
        }
    }
    Some(Sample {
        pid,
        user,
        system,
        threads,
    })
}

/// What each name of thread spent from `before` to `after`, most first, and the time of the
/// threads that ended in between (the process's totals keep it; the threads are gone): the rows
/// add up to the process's CPU between the two samples. A thread born after `before` counts from
/// zero.
pub fn between(before: &Sample, after: &Sample) -> Vec<ThreadCpu> {
    let mut rows: Vec<ThreadCpu> = Vec::new();
    let (mut user_seen, mut system_seen) = (0u64, 0u64);
    for thread in &after.threads {
        let earlier = before.threads.iter().find(|t| t.tid == thread.tid);
        let user = thread.user - earlier.map_or(0, |t| t.user.min(thread.user));
        let system = thread.system - earlier.map_or(0, |t| t.system.min(thread.system));
        user_seen += user;
        system_seen += system;
        let name = match thread.tid == after.pid {
            true => format!("main ({})", thread.name),
            false => thread.name.clone(),
        };
        match rows.iter_mut().find(|r| r.name == name) {
            Some(row) => {
                row.threads += 1;
                row.user_s += seconds(user);
                row.system_s += seconds(system);
            }
            None => rows.push(ThreadCpu {
                name,
                threads: 1,
                user_s: seconds(user),
                system_s: seconds(system),
            }),
        }
    }
    // Threads alive in `before` and gone by `after` took their time from `before` on with them:
    // the process's totals still hold it.
    let user_gone = after
        .user
        .saturating_sub(before.user)
        .saturating_sub(user_seen);
    let system_gone = after
        .system
        .saturating_sub(before.system)
        .saturating_sub(system_seen);
    if user_gone + system_gone > 0 {
        rows.push(ThreadCpu {
            name: ENDED.to_string(),
            threads: 0,
            user_s: seconds(user_gone),
            system_s: seconds(system_gone),
        });
    }
    rows.sort_by(|a, b| b.cpu_s().total_cmp(&a.cpu_s()));
    rows
}

/// Clock ticks of /proc in seconds.
pub fn seconds(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_S
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread(tid: u32, name: &str, user: u64, system: u64) -> ThreadTicks {
        ThreadTicks {
            tid,
            name: name.to_string(),
            user,
            system,
        }
    }

    /// A process's sample: its totals in ticks, user and system, and its live threads.
    fn process(pid: u32, (user, system): (u64, u64), threads: Vec<ThreadTicks>) -> Sample {
        Sample {
            pid,
            user,
            system,
            threads,
        }
    }

    #[test]
    fn a_stat_line_gives_its_name_and_ticks_even_with_parentheses_in_the_name() {
        let line = "4242 (odd) name (x)) S 1 4242 4242 0 -1 4194560 1200 0 3 0 1234 567 0 0 20 0 9 0 100 1 2";
        assert_eq!(
            parse_stat(line),
            Some(("odd) name (x)".to_string(), 1234, 567))
        );
        let plain = "7 (yeyak-writer) S 1 7 7 0 -1 4194560 10 0 0 0 88 9 0 0 20 0 1 0 5 6 7";
        assert_eq!(parse_stat(plain), Some(("yeyak-writer".to_string(), 88, 9)));
        assert_eq!(parse_stat("7 (cut short) S 1 2 3"), None);
        assert_eq!(parse_stat("no name at all"), None);
    }

    #[test]
    fn threads_of_one_name_add_up_and_the_ended_ones_keep_their_time() {
        let before = process(
            10,
            (100, 50),
            vec![
                thread(10, "yeyak", 60, 30),
                thread(11, "yeyak-writer", 20, 10),
                thread(12, "tokio-rt-worker", 20, 10),
            ],
        );
        // The front door +300/+200, the writer +100/+20, a new pool thread 40/10, and the pool
        // thread that ended took 5/5 with it after `before`.
        let after = process(
            10,
            (100 + 300 + 100 + 40 + 5, 50 + 200 + 20 + 10 + 5),
            vec![
                thread(10, "yeyak", 360, 230),
                thread(11, "yeyak-writer", 120, 30),
                thread(13, "tokio-rt-worker", 40, 10),
            ],
        );
        let rows = between(&before, &after);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            ["main (yeyak)", "yeyak-writer", "tokio-rt-worker", ENDED]
        );
        assert_eq!((rows[0].user_s, rows[0].system_s), (3.0, 2.0));
        assert_eq!((rows[1].user_s, rows[1].system_s), (1.0, 0.2));
        assert_eq!(
            (rows[2].user_s, rows[2].system_s, rows[2].threads),
            (0.4, 0.1, 1)
        );
        assert_eq!(
            (rows[3].user_s, rows[3].system_s, rows[3].threads),
            (0.05, 0.05, 0)
        );
        let total: f64 = rows.iter().map(ThreadCpu::cpu_s).sum();
        let process = seconds(after.user + after.system - before.user - before.system);
        assert!((total - process).abs() < 1e-9, "{total} against {process}");
    }

    #[test]
    fn a_pool_of_threads_is_one_row_and_nothing_ended_means_no_ended_row() {
        let before = process(1, (0, 0), vec![]);
        let after = process(
            1,
            (30, 6),
            vec![
                thread(1, "yeyak", 10, 2),
                thread(2, "yeyak-booking", 10, 2),
                thread(3, "yeyak-booking", 10, 2),
            ],
        );
        let rows = between(&before, &after);
        assert_eq!(rows.len(), 2, "{rows:?}");
        let booking = rows.iter().find(|r| r.name == "yeyak-booking").unwrap();
        assert_eq!(
            (booking.threads, booking.user_s, booking.system_s),
            (2, 0.2, 0.04)
        );
        assert!(rows.iter().all(|r| r.name != ENDED));
    }

    #[test]
    fn this_process_reads_as_itself_with_its_main_thread() {
        let spin = std::thread::Builder::new()
            .name("cpu-test-spin".into())
            .spawn(|| {
                let start = std::time::Instant::now();
                let mut x = 0u64;
                while start.elapsed() < std::time::Duration::from_millis(120) {
                    x = x.wrapping_mul(31).wrapping_add(7);
                }
                std::hint::black_box(x)
            })
            .unwrap();
        let pid = std::process::id();
        let before = sample(pid).expect("this process's /proc");
        std::thread::sleep(std::time::Duration::from_millis(60));
        let after = sample(pid).expect("this process's /proc");
        spin.join().unwrap();
        assert!(after.threads.iter().any(|t| t.tid == pid));
        assert!(after.threads.iter().any(|t| t.name == "cpu-test-spin"));
        let rows = between(&before, &after);
        assert!(rows.iter().any(|r| r.name.starts_with("main (")));
    }
}
