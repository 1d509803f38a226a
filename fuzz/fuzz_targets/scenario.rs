//! Load-test scenario files (`scenarios/*.toml`, `yeyak loadtest --scenario FILE`).
//!
//! Checks beyond "no panic": a scenario that passes validation writes back to TOML that parses
//! and validates to the same scenario, and its arrival times are sorted, finite, no earlier than
//! the compressed build-up and no later than the end of the tail.
#![no_main]

use libfuzzer_sys::fuzz_target;
use loadgen::scenario::Scenario;

/// Arrivals drawn per input: enough to cover the build-up, the spike and the tail.
const PEOPLE: u64 = 64;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(scenario) = toml::from_str::<Scenario>(text) else {
        return;
    };
    if scenario.validate().is_err() {
        return;
    }
    let written = toml::to_string(&scenario).expect("a scenario serializes");
    let again: Scenario = toml::from_str(&written)
        .unwrap_or_else(|e| panic!("written back, refused: {e}\n{written}"));
    again.validate().expect("written back, it still validates");
    assert_eq!(
        toml::to_string(&again).ok().as_deref(),
        Some(written.as_str())
    );

    let offsets = scenario.arrival_offsets(PEOPLE);
    assert_eq!(offsets.len() as u64, PEOPLE);
    let a = &scenario.arrivals;
    for t in &offsets {
        assert!(t.is_finite(), "arrival at {t} s");
        assert!(*t >= -a.prequeue_compressed_seconds, "arrival at {t} s");
        assert!(*t <= a.tail_minutes * 60.0, "arrival at {t} s");
    }
    assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
});
