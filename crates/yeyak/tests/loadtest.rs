//! `yeyak loadtest --spawn` end to end on a small scenario: the real binary starts a demo server,
//! a few hundred simulated people go through the waiting room and book over HTTP, and the audit
//! of the database comes out clean.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::process::Command;

#[test]
fn a_small_opening_replays_end_to_end_with_a_clean_audit() {
    let out = tempfile::tempdir().unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/smoke.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_yeyak"))
        .args([
            "loadtest",
            "--scenario",
            scenario,
            "--scale",
            "0.5",
            "--spawn",
            "--out",
        ])
        .arg(out.path())
        .env("YEYAK_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The server's own log, to tell a slow machine from a stalled server when this fails.
    let server_log = std::fs::read_to_string(out.path().join("server.log")).unwrap_or_default();
    let server_log = &server_log[server_log.len().saturating_sub(4_000)..];
    assert!(
        output.status.success(),
        "loadtest failed:\n{stdout}\n{stderr}\nserver log (end):\n{server_log}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(last.ends_with("PASS"), "{last}");
    assert!(last.contains("; waits shown kept "), "{last}");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["audit"]["violation_count"], 0, "{}", report["audit"]);
    assert_eq!(report["client_violations"], 0);
    let booked = report["outcomes"]["booked"].as_u64().unwrap_or(0);
    assert!(
        booked >= 50,
        "only {booked} booked: {}\n{stdout}\nserver log (end):\n{server_log}",
        report["outcomes"]
    );
    assert!(report["audit"]["acknowledged"].as_u64().unwrap() >= booked);
    assert_eq!(report["errors_5xx"], 0);
    // Arrivals not in the cohort who verified while waiting were told at once, and took no
    // place; the verifications were made before the opening too.
    let turned_away = &report["outcomes"]["ineligible_turned_away_while_waiting"];
    assert!(
        turned_away.as_u64().unwrap_or(0) > 0,
        "{}",
        report["outcomes"]
    );
    let ids = &report["identity_checks_per_s"];
    assert!(
        ids["before_opening"]["total"].as_u64().unwrap() > 0,
        "{ids}"
    );
    assert!(ids["after_opening"]["total"].as_u64().unwrap() > 0, "{ids}");
    let verified = &report["endpoints"]["POST /queue/verify"]["statuses"]["200"];
    assert!(
        verified.as_u64().unwrap_or(0) > 0,
        "{}",
        report["endpoints"]
    );
    // The waits people were shown are compared with the waits they had: everyone admitted
    // after being shown one is counted once, in one of kept, later and earlier.
    let shown = &report["waits_shown"][0];
    assert_eq!(shown["shown"], "all", "{}", report["waits_shown"]);
    let people = shown["people"].as_u64().unwrap();
    let passes = report["wait_for_pass"]["count"].as_u64().unwrap();
    assert!(
        people > 0 && people <= passes,
        "{people} of {passes}: {}",
        report["waits_shown"]
    );
    let shares: f64 = ["kept_share", "later_share", "earlier_share"]
        .iter()
        .map(|k| shown[k].as_f64().unwrap())
        .sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shown}");
    let banded: u64 = report["waits_shown"].as_array().unwrap()[1..]
        .iter()
        .map(|band| band["people"].as_u64().unwrap())
        .sum();
    assert_eq!(banded, people, "{}", report["waits_shown"]);
    // The server's CPU by thread: its sides by their names, adding up to the process's CPU.
    let threads = report["server_threads"]
        .as_array()
        .expect("the spawned server's threads");
    let names: Vec<&str> = threads
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for side in ["yeyak-writer", "yeyak-booking"] {
        assert!(names.contains(&side), "{side} in {names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("main (")), "{names:?}");
    let by_thread: f64 = threads
        .iter()
        .map(|t| t["user_s"].as_f64().unwrap() + t["system_s"].as_f64().unwrap())
        .sum();
    let server_cpu = report["server_cpu_s"].as_f64().unwrap();
    assert!(
        (by_thread - server_cpu).abs() <= 0.02 + server_cpu * 0.01,
        "threads {by_thread} s against the process's {server_cpu} s"
    );
    assert!(!report["client_threads"].as_array().unwrap().is_empty());
    // Each answer is also counted from the moment its request had a connection slot, which
    // comes at or after its intended send time: the same answers, never counted longer.
    for (name, e) in report["endpoints"].as_object().unwrap() {
        let slot = &e["after_slot"];
        assert_eq!(slot["count"], e["count"], "{name}: {e}");
        for q in ["p50_ms", "p99_ms", "max_ms"] {
            assert!(
                slot[q].as_f64().unwrap() <= e[q].as_f64().unwrap() + 0.01,
                "{name} {q}: {e}"
            );
        }
    }
    let admitted_after_slot = &report["admitted_latency_after_slot"];
    assert_eq!(
        admitted_after_slot["count"], report["admitted_latency_all"]["count"],
        "{admitted_after_slot}"
    );
    let markdown = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(markdown.contains("| server | yeyak-writer |"), "{markdown}");
    assert!(
        markdown.contains("## Latency after a connection slot"),
        "{markdown}"
    );
    for file in ["report.md", "chart.svg"] {
        assert!(
            out.path().join(file).metadata().unwrap().len() > 100,
            "{file}"
        );
    }
    let svg = std::fs::read_to_string(out.path().join("chart.svg")).unwrap();
    assert_eq!(svg.matches("<polyline").count(), 3);
}
