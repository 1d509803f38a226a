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
    for phase in ["before the plan", "during the apply", "after the apply"] {
        let line = stdout
            .lines()
            .find(|l| l.contains(phase))
            .unwrap_or_else(|| panic!("no {phase} line in {stdout}"));
        // Every booking sent is booked (the apply may end before any is sent during it).
        let words: Vec<&str> = line.split_whitespace().collect();
        let (sent, booked): (u64, u64) = (words[4].parse().unwrap(), words[6].parse().unwrap());
        assert!(
            booked == sent && (sent > 0 || phase == "during the apply"),
            "{line}"
        );
    }
}
