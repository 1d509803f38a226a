//! E1: eligibility is decided in Asia/Seoul whatever the host's own time zone.
//!
//! The outer test re-runs this test binary three times, each running only the inner test, with
//! `TZ=UTC`, `TZ=America/New_York` and `TZ=Asia/Seoul` (changing the environment of the running
//! process would need `unsafe`, which this workspace forbids). Each run prints every decision of
//! a fixed grid of people and instants between markers; the outer test checks that each child
//! really ran under the zone it was given and that the three transcripts are identical.

use std::process::Command;

use domain::eligibility::{Decision, PersonFacts, cohorts_2021, decide, demo_rules};
use jiff::civil::date;
use jiff::tz::{TimeZone, offset};
use jiff::{SignedDuration, Timestamp};

/// Set in the children, so the inner test does its work only when the outer one asked for it.
const CHILD_ENV: &str = "YEYAK_HOST_TZ_CHILD";
const INNER_TEST: &str = "inner_print_decisions_under_host_tz";
const BEGIN: &str = "=== decisions begin ===";
const END: &str = "=== decisions end ===";
const ZONES: [&str; 3] = ["UTC", "America/New_York", "Asia/Seoul"];

/// The grid of instants: every 30 minutes from 2021-07-11 12:00 UTC to 2021-07-25 00:00 UTC and
/// from 2021-08-08 to 2021-08-23, plus the seconds on either side of 15:00 UTC (Seoul midnight)
/// and 00:00 UTC on the days where a host-local reading would flip.
fn instants() -> Vec<Timestamp> {
    let utc = |y, m, d, h| {
        offset(0)
            .to_timestamp(date(y, m, d).at(h, 0, 0, 0))
            .expect("valid")
    };
    let half_hour = SignedDuration::from_mins(30);
    let mut out = vec![];
    for (start, end) in [
        (utc(2021, 7, 11, 12), utc(2021, 7, 25, 0)),
        (utc(2021, 8, 8, 0), utc(2021, 8, 23, 0)),
    ] {
        let mut t = start;
        while t < end {
            out.push(t);
            out.push(t - SignedDuration::from_secs(1));
            t += half_hour;
        }
    }
    out
}

fn people() -> Vec<PersonFacts> {
    [
        date(1962, 1, 1),
        date(1966, 12, 31),
        date(1967, 3, 9),
        date(1968, 2, 29),
        date(1970, 7, 20),
        date(1975, 1, 10),
        date(1990, 8, 31),
        date(2000, 2, 29),
        date(2003, 12, 30),
        date(2004, 1, 1),
    ]
    .into_iter()
    .map(|birth_date| PersonFacts {
        birth_date,
        priority_lists: vec![],
        already_booked: false,
        already_vaccinated: false,
    })
    .collect()
}

fn describe(d: &Decision) -> String {
    let detail = match d {
        Decision::Eligible { via, closes_at } => format!("{via:?} until {closes_at}"),
        Decision::NotYet { opens_at, via } => format!("{via:?} from {opens_at}"),
        Decision::Closed { closed_at } => format!("at {closed_at}"),
        _ => String::new(),
    };
    format!(
        "{} {detail} | {} | {}",
        d.code(),
        d.message_en(),
        d.message_ko()
    )
}

/// Runs in the children only. Prints the host zone jiff sees, then every decision.
#[test]
fn inner_print_decisions_under_host_tz() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let host = TimeZone::system();
    println!("host zone: {}", host.iana_name().unwrap_or("?"));
    println!("{BEGIN}");
    let july = cohorts_2021();
    let demo_now = offset(0)
        .to_timestamp(date(2024, 3, 1).at(10, 30, 0, 0))
        .expect("valid");
    let demo = demo_rules(demo_now);
    for p in people() {
        for t in instants() {
            println!("{} {t} {}", p.birth_date, describe(&decide(&p, &july, t)));
        }
        for hours in -48..=240 {
            let t = demo_now + SignedDuration::from_hours(hours);
            println!(
                "demo {} {t} {}",
                p.birth_date,
                describe(&decide(&p, &demo, t))
            );
        }
    }
    println!("{END}");
}

/// What a child printed between the markers, after checking it ran exactly the inner test
/// under the zone it was given.
fn run_child(zone: &str) -> String {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args([INNER_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .env("TZ", zone)
        .output()
        .expect("re-run the test binary");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "child under TZ={zone} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("1 passed"),
        "child under TZ={zone} did not run the inner test:\n{stdout}"
    );
    assert!(
        stdout.contains(&format!("host zone: {zone}")),
        "child did not see TZ={zone}: {}",
        stdout
            .lines()
            .find(|l| l.starts_with("host zone"))
            .unwrap_or("no zone line")
    );
    let begin = stdout.find(BEGIN).expect("begin marker");
    let end = stdout.find(END).expect("end marker");
    stdout[begin..end].to_owned()
}

#[test]
fn decisions_do_not_depend_on_the_host_time_zone() {
    let transcripts: Vec<(&str, String)> = ZONES.iter().map(|z| (*z, run_child(z))).collect();
    let (first_zone, first) = &transcripts[0];
    let lines = first.lines().count();
    assert!(lines > 10_000, "too few decisions printed: {lines}");
    // The transcript must be informative: the grid covers every kind of answer.
    for code in ["eligible ", "not_yet ", "closed ", "not_in_any_cohort "] {
        assert!(first.contains(code), "no {code} decision in the grid");
    }
    // The 07-20 morning bug: at 2021-07-20 03:00 KST (18:00 UTC on 07-19) born 1967 is eligible.
    assert!(
        first.contains(
            "1967-03-09 2021-07-19T18:00:00Z eligible Cohort(CohortId(3)) \
             until 2021-07-20T09:00:00Z"
        ),
        "07-20 03:00 KST decision missing or wrong"
    );
    for (zone, other) in &transcripts[1..] {
        if other != first {
            let diff = first
                .lines()
                .zip(other.lines())
                .find(|(a, b)| a != b)
                .map(|(a, b)| format!("{first_zone}: {a}\n{zone}: {b}"))
                .unwrap_or_else(|| "transcripts differ in length".to_owned());
            panic!("decisions differ between TZ={first_zone} and TZ={zone}:\n{diff}");
        }
    }
}
