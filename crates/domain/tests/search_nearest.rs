//! The grid-backed nearest search agrees exactly with a brute-force scan over the demo world.

use domain::clinic::{Clinic, ClinicId, GeoPoint};
use domain::demo::demo_clinics;
use domain::region::{KOREA_BOUNDS, Regions};
use domain::search::{ClinicIndex, NEAREST_LIMIT_MAX, NEAREST_RADIUS_KM_MAX, SearchError};
use proptest::prelude::*;
use std::sync::OnceLock;

struct World {
    clinics: Vec<Clinic>,
    index: ClinicIndex,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let clinics = demo_clinics(&Regions::korea(), 2021);
        let index = ClinicIndex::new(&clinics);
        World { clinics, index }
    })
}

/// Every clinic, distance computed the same way, filtered, sorted by (distance, id), cut.
fn brute_force(
    clinics: &[Clinic],
    point: GeoPoint,
    radius_km: f64,
    limit: usize,
) -> Vec<(ClinicId, f64)> {
    let radius_km = radius_km.min(NEAREST_RADIUS_KM_MAX);
    let mut all: Vec<(ClinicId, f64)> = clinics
        .iter()
        .map(|c| (c.id, point.distance_km(c.location)))
        .filter(|&(_, d)| d <= radius_km)
        .collect();
    all.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    all.truncate(limit.min(NEAREST_LIMIT_MAX));
    all
}

/// Points anywhere in the box (much of it sea), and points near clinics (the dense cases).
fn point() -> impl Strategy<Value = GeoPoint> {
    let anywhere = (
        KOREA_BOUNDS.lat_min..=KOREA_BOUNDS.lat_max,
        KOREA_BOUNDS.lon_min..=KOREA_BOUNDS.lon_max,
    )
        .prop_map(|(lat, lon)| GeoPoint { lat, lon });
    let near_a_clinic =
        (0usize..13_280, -0.05f64..0.05, -0.05f64..0.05).prop_map(|(i, dlat, dlon)| {
            let c = &world().clinics[i % world().clinics.len()].location;
            GeoPoint {
                lat: (c.lat + dlat).clamp(KOREA_BOUNDS.lat_min, KOREA_BOUNDS.lat_max),
                lon: (c.lon + dlon).clamp(KOREA_BOUNDS.lon_min, KOREA_BOUNDS.lon_max),
            }
        });
    // A clinic's exact location: distance zero, and ties among clinics placed alike.
    let at_a_clinic =
        (0usize..13_280).prop_map(|i| world().clinics[i % world().clinics.len()].location);
    prop_oneof![2 => anywhere, 3 => near_a_clinic, 1 => at_a_clinic]
}

fn radius() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => 0.001f64..10.0,
        3 => 10.0f64..=NEAREST_RADIUS_KM_MAX,
        1 => NEAREST_RADIUS_KM_MAX..500.0,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn nearest_equals_brute_force(point in point(), radius_km in radius(), limit in 0usize..260) {
        let w = world();
        let fast = w.index.nearest(point, radius_km, limit).expect("a valid query");
        let slow = brute_force(&w.clinics, point, radius_km, limit);
        prop_assert_eq!(fast, slow);
    }

    #[test]
    fn nearest_refuses_points_outside_korea(
        lat in -90.0f64..90.0,
        lon in -180.0f64..180.0,
        radius_km in radius(),
    ) {
        let point = GeoPoint { lat, lon };
        let result = world().index.nearest(point, radius_km, 10);
        if KOREA_BOUNDS.contains(point) {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result, Err(SearchError::OutsideKorea { lat, lon }));
        }
    }

    #[test]
    fn province_and_municipality_lookups_equal_a_scan(i in 0usize..13_280) {
        let w = world();
        let c = &w.clinics[i % w.clinics.len()];
        let scan_m: Vec<ClinicId> = w.clinics.iter()
            .filter(|o| o.municipality == c.municipality).map(|o| o.id).collect();
        prop_assert_eq!(w.index.in_municipality(c.municipality), scan_m.as_slice());
        let scan_p: Vec<ClinicId> = w.clinics.iter()
            .filter(|o| o.province() == c.province()).map(|o| o.id).collect();
        prop_assert_eq!(w.index.in_province(c.province()), scan_p.as_slice());
    }
}

#[test]
fn the_brute_force_reference_is_not_trivially_empty() {
    // Guards the property above against agreeing on empty answers only.
    let w = world();
    let seoul = GeoPoint {
        lat: 37.5663,
        lon: 126.9779,
    };
    let slow = brute_force(&w.clinics, seoul, 5.0, 50);
    assert_eq!(slow.len(), 50);
    assert_eq!(w.index.nearest(seoul, 5.0, 50).expect("valid"), slow);
    let wide = brute_force(&w.clinics, seoul, NEAREST_RADIUS_KM_MAX, usize::MAX);
    assert_eq!(wide.len(), NEAREST_LIMIT_MAX);
    assert_eq!(w.index.nearest(seoul, 80.0, 1_000).expect("valid"), wide);
}
