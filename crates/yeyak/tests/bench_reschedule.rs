//! `yeyak bench-reschedule` at a small scale: it plans, applies and audits, so the full-scale
//! figures in bench/reschedule.md stay reproducible.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

#[test]
fn the_august_2021_replay_moves_everyone_due_and_audits_clean() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_yeyak"))
        .args(["bench-reschedule", "--people", "5000", "--moved", "800"])
        // A steady booking load beside it, which must neither change the plan nor overbook.
        .args(["--bookings-per-s", "100", "--load-window-s", "1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("5000 people booked, 800 second doses moved, 5000 messages"));
    assert!(
        stdout.contains("moved to exactly six weeks:                  800 of 800"),
        "{stdout}"
    );
    assert!(stdout.contains("audit: clean"));
    assert!(
        stdout.contains("booked while it was planned, caught up by the apply:"),
        "{stdout}"
    );
    let phases = [
        "before the plan",
        "while it is planned",
        "during the apply",
        "after the apply",
    ];
    for phase in phases {
        let line = stdout
            .lines()
            .find(|l| l.contains(phase))
            .unwrap_or_else(|| panic!("no {phase} line in {stdout}"));
        // Every booking sent is booked (the plan and the apply may end before any is sent).
        let words: Vec<&str> = line.split_whitespace().collect();
        let sent_at = words.iter().position(|w| *w == "sent,").unwrap() - 1;
        let (sent, booked): (u64, u64) = (
            words[sent_at].parse().unwrap(),
            words[sent_at + 2].parse().unwrap(),
        );
        let may_be_empty = phase == "during the apply" || phase == "while it is planned";
        assert!(booked == sent && (sent > 0 || may_be_empty), "{line}");
    }
}

fn bench(args: &[&str]) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_yeyak"))
        .arg("bench-reschedule")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// `--world` stores the world once and copies it after; a world of another size is refused,
/// not measured. `--trace` writes every booking beside the apply.
#[test]
fn a_stored_world_is_reused_only_for_the_same_size_and_the_trace_has_every_booking() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world.db");
    let world = world.to_str().unwrap();
    let trace = dir.path().join("trace.csv");
    let small = ["--people", "2000", "--moved", "300", "--world", world];

    let (ok, first) = bench(&small);
    assert!(ok, "{first}");
    assert!(
        first.contains("setup (store people and bookings)"),
        "{first}"
    );
    assert!(std::path::Path::new(world).exists());

    let load = ["--bookings-per-s", "100", "--load-window-s", "1"];
    let traced = ["--trace", trace.to_str().unwrap()];
    let args: Vec<&str> = small.iter().chain(&load).chain(&traced).copied().collect();
    let (ok, second) = bench(&args);
    assert!(ok, "{second}");
    assert!(second.contains("setup (copy the stored world)"), "{second}");
    assert!(second.contains("moved to exactly six weeks:                  300 of 300"));
    assert!(second.contains("audit: clean"), "{second}");
    let during_and_after: u64 = second
        .lines()
        .filter(|l| {
            ["while it is planned", "during the apply", "after the apply"]
                .iter()
                .any(|phase| l.contains(phase))
        })
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let sent_at = words.iter().position(|w| *w == "sent,").unwrap() - 1;
            words[sent_at].parse::<u64>().unwrap()
        })
        .sum();
    let csv = std::fs::read_to_string(&trace).unwrap();
    let bookings = csv.lines().filter(|l| l.starts_with("booking,")).count() as u64;
    assert_eq!(bookings, during_and_after, "{csv}");

    let (ok, other) = bench(&["--people", "2100", "--moved", "300", "--world", world]);
    assert!(!ok, "a world of another size was used: {other}");
    assert!(other.contains("give another --world"), "{other}");
}
