//! The demo world: deterministic, shaped like Korea in August 2021, and internally consistent.

use domain::clinic::{Clinic, ClinicKind, ProvinceCode};
use domain::demo::{
    CENTRE_JITTER_KM_MAX, DemoSize, JITTER_KM_MAX, demo_clinics, demo_clinics_sized, demo_supply,
};
use domain::product::Product;
use domain::region::{KOREA_BOUNDS, Regions};
use jiff::civil::{Date, date};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const SEED: u64 = 20210726;

fn korea() -> &'static Regions {
    static KOREA: OnceLock<Regions> = OnceLock::new();
    KOREA.get_or_init(Regions::korea)
}

fn world() -> &'static [Clinic] {
    static WORLD: OnceLock<Vec<Clinic>> = OnceLock::new();
    WORLD.get_or_init(|| demo_clinics(korea(), SEED))
}

fn count(clinics: &[Clinic], kind: ClinicKind) -> usize {
    clinics.iter().filter(|c| c.kind == kind).count()
}

#[test]
fn same_seed_same_world_other_seed_other_world() {
    assert_eq!(demo_clinics(korea(), SEED), world());
    let other = demo_clinics(korea(), SEED + 1);
    assert_eq!(other.len(), world().len());
    let moved = world()
        .iter()
        .zip(&other)
        .filter(|(a, b)| a.location != b.location)
        .count();
    assert!(moved > world().len() * 9 / 10, "only {moved} clinics moved");
}

#[test]
fn has_the_2021_numbers_of_clinics_and_centres() {
    assert_eq!(count(world(), ClinicKind::Consigned), 13_000);
    assert_eq!(count(world(), ClinicKind::Centre), 280);
}

#[test]
fn ids_are_dense_in_municipality_order_centres_first() {
    for (i, c) in world().iter().enumerate() {
        assert_eq!(c.id.index(), i);
    }
    for pair in world().windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            a.municipality <= b.municipality,
            "{} then {}",
            a.name,
            b.name
        );
        if a.municipality == b.municipality {
            assert!(
                !(a.kind == ClinicKind::Consigned && b.kind == ClinicKind::Centre),
                "{} before {}",
                a.name,
                b.name
            );
        }
    }
}

#[test]
fn every_municipality_has_a_centre_and_consigned_clinics() {
    for m in korea().municipalities() {
        let here: Vec<&Clinic> = world()
            .iter()
            .filter(|c| c.municipality == m.code)
            .collect();
        let centres = here.iter().filter(|c| c.kind == ClinicKind::Centre).count();
        assert!(centres >= 1, "{}", m.name_ko);
        assert!(
            here.len() > centres,
            "{} has no consigned clinic",
            m.name_ko
        );
    }
}

#[test]
fn consigned_clinics_follow_population() {
    let total = korea().total_population() as f64;
    for p in korea().provinces() {
        let n = world()
            .iter()
            .filter(|c| c.province() == p.code && c.kind == ClinicKind::Consigned)
            .count() as f64;
        let share = 13_000.0 * f64::from(p.population) / total;
        assert!((n - share).abs() < 1.0, "{}: {n} for {share:.1}", p.name_ko);
    }
}

/// How many consigned clinics and centres each province gets. The split depends on the regions only,
/// not on the seed.
#[test]
fn per_province_counts_are_stable() {
    let expected: [(u8, usize, usize); 17] = [
        (11, 2394, 30),
        (21, 844, 18),
        (22, 601, 9),
        (23, 742, 12),
        (24, 363, 6),
        (25, 366, 6),
        (26, 282, 6),
        (29, 94, 1),
        (31, 3415, 50),
        (32, 387, 19),
        (33, 402, 15),
        (34, 534, 17),
        (35, 450, 16),
        (36, 461, 23),
        (37, 661, 26),
        (38, 834, 24),
        (39, 170, 2),
    ];
    for seed in [SEED, 1] {
        let clinics = demo_clinics(korea(), seed);
        let mut actual = Vec::new();
        for p in korea().provinces() {
            let here = |kind| {
                clinics
                    .iter()
                    .filter(|c| c.province() == p.code && c.kind == kind)
                    .count()
            };
            actual.push((
                p.code.0,
                here(ClinicKind::Consigned),
                here(ClinicKind::Centre),
            ));
        }
        assert_eq!(actual, expected, "seed {seed}");
    }
}

#[test]
fn clinics_stand_near_their_municipality() {
    for c in world() {
        let m = korea()
            .municipality(c.municipality)
            .expect("known municipality");
        let d = m.center.distance_km(c.location);
        let max = match c.kind {
            ClinicKind::Centre => CENTRE_JITTER_KM_MAX,
            ClinicKind::Consigned => JITTER_KM_MAX,
        };
        assert!(d <= max, "{} is {d:.2} km from {}", c.name, m.name_ko);
        assert!(KOREA_BOUNDS.contains(c.location), "{}", c.name);
    }
    // Not all piled on the centroid.
    let spread = world()
        .iter()
        .filter(|c| {
            let m = korea().municipality(c.municipality).expect("known");
            m.center.distance_km(c.location) > 1.0
        })
        .count();
    assert!(spread > world().len() / 2, "{spread}");
}

#[test]
fn names_read_like_korean_clinics_and_are_unique_per_municipality() {
    let mut per_municipality: BTreeMap<_, BTreeSet<&str>> = BTreeMap::new();
    for c in world() {
        assert!(
            per_municipality
                .entry(c.municipality)
                .or_default()
                .insert(&c.name),
            "duplicate name {}",
            c.name
        );
        match c.kind {
            ClinicKind::Centre => assert!(c.name.ends_with("예방접종센터"), "{}", c.name),
            ClinicKind::Consigned => {
                assert!(
                    c.name.ends_with("의원") || c.name.ends_with("병원"),
                    "{}",
                    c.name
                )
            }
        }
    }
    let names: BTreeSet<&str> = world().iter().map(|c| c.name.as_str()).collect();
    assert!(names.contains("종로구 예방접종센터"));
    assert!(names.contains("서울 중구 예방접종센터"));
    assert!(names.contains("부산 중구 예방접종센터"));
    assert!(names.contains("수원시 장안구 예방접종센터"));
    assert!(names.contains("세종시 예방접종센터"));
    // Centre names are unique across the country.
    let centres: BTreeSet<&str> = world()
        .iter()
        .filter(|c| c.kind == ClinicKind::Centre)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(centres.len(), 280);
    let jongno = world()
        .iter()
        .find(|c| c.kind == ClinicKind::Consigned && c.municipality.0 == 11010)
        .expect("a clinic in Jongno");
    assert!(jongno.name.starts_with("종로 "), "{}", jongno.name);
    let internists = world()
        .iter()
        .filter(|c| c.name.ends_with("내과의원"))
        .count();
    assert!(internists > 13_000 / 5, "{internists}");
}

#[test]
fn products_are_like_2021() {
    let mut offered = [0usize; 4];
    let mut two = 0;
    for c in world() {
        assert!(!c.products.is_empty(), "{}", c.name);
        assert!(
            c.products.windows(2).all(|w| w[0] < w[1]),
            "{:?}",
            c.products
        );
        match c.kind {
            ClinicKind::Centre => assert_eq!(c.products, [Product::Pfizer], "{}", c.name),
            ClinicKind::Consigned => {
                for p in &c.products {
                    offered[p.index()] += 1;
                }
                two += usize::from(c.products.len() == 2);
            }
        }
    }
    let share = |p: Product| offered[p.index()] as f64 / 13_000.0;
    assert!(
        (0.85..0.95).contains(&share(Product::Moderna)),
        "{offered:?}"
    );
    assert!(
        (0.15..0.25).contains(&share(Product::Pfizer)),
        "{offered:?}"
    );
    assert!(
        (0.15..0.25).contains(&share(Product::AstraZeneca)),
        "{offered:?}"
    );
    assert!(
        (0.03..0.07).contains(&share(Product::Janssen)),
        "{offered:?}"
    );
    assert!((4_300..4_800).contains(&two), "{two}");
}

#[test]
fn hours_are_like_2021() {
    let consigned: Vec<&Clinic> = world()
        .iter()
        .filter(|c| c.kind == ClinicKind::Consigned)
        .collect();
    for c in world() {
        assert_eq!(
            (c.hours.open_hour, c.hours.close_hour),
            (9, 18),
            "{}",
            c.name
        );
        match c.kind {
            ClinicKind::Centre => {
                assert!((40..=80).contains(&c.hours.per_band), "{}", c.name);
                assert!(c.hours.saturdays);
            }
            ClinicKind::Consigned => assert!((4..=8).contains(&c.hours.per_band), "{}", c.name),
        }
    }
    let per_band: f64 = consigned
        .iter()
        .map(|c| f64::from(c.hours.per_band))
        .sum::<f64>()
        / consigned.len() as f64;
    assert!((5.8..6.2).contains(&per_band), "{per_band}");
    let saturdays = consigned.iter().filter(|c| c.hours.saturdays).count();
    assert!((10_000..10_800).contains(&saturdays), "{saturdays}");
    let centre_band: f64 = world()
        .iter()
        .filter(|c| c.kind == ClinicKind::Centre)
        .map(|c| f64::from(c.hours.per_band))
        .sum::<f64>()
        / 280.0;
    assert!((55.0..65.0).contains(&centre_band), "{centre_band}");
}

fn capacity(c: &Clinic) -> u32 {
    u32::from(c.hours.per_band) * u32::from(c.hours.close_hour - c.hours.open_hour)
}

#[test]
fn supply_backs_capacity_on_open_days_only() {
    let week: Vec<Date> = (26..=31)
        .map(|d| date(2021, 7, d))
        .chain([date(2021, 8, 1)])
        .collect();
    for c in world() {
        for &day in &week {
            let plan: Vec<(Product, u32)> = demo_supply(c, day).collect();
            let products: Vec<Product> = plan.iter().map(|&(p, _)| p).collect();
            assert_eq!(products, c.products, "{}", c.name);
            let total: u32 = plan.iter().map(|&(_, n)| n).sum();
            let open = match day.weekday() {
                jiff::civil::Weekday::Sunday => false,
                jiff::civil::Weekday::Saturday => c.hours.saturdays,
                _ => true,
            };
            if open {
                // At least the capacity, and less than one extra vial (≤ 10 doses) per product.
                assert!(total >= capacity(c), "{} on {day}", c.name);
                assert!(
                    total < capacity(c) + 10 * plan.len() as u32,
                    "{} on {day}",
                    c.name
                );
            } else {
                assert_eq!(total, 0, "{} on {day}", c.name);
            }
        }
    }
}

#[test]
fn supply_is_deterministic() {
    let c = &world()[1234];
    let day = date(2021, 8, 16);
    let a: Vec<_> = demo_supply(c, day).collect();
    let b: Vec<_> = demo_supply(c, day).collect();
    assert_eq!(a, b);
    assert!(a.iter().all(|&(_, n)| n > 0));
}

#[test]
fn a_small_world_puts_its_few_centres_where_the_people_are() {
    let size = DemoSize {
        consigned: 100,
        centres: 10,
    };
    let small = demo_clinics_sized(korea(), 7, size);
    assert_eq!(count(&small, ClinicKind::Consigned), 100);
    assert_eq!(count(&small, ClinicKind::Centre), 10);
    let centres_in = |code| {
        small
            .iter()
            .filter(|c| c.kind == ClinicKind::Centre && c.province() == ProvinceCode(code))
            .count()
    };
    // Gyeonggi (26%) and Seoul (18%) get the most; Jeju (1.3%) none.
    assert_eq!(centres_in(31), 3);
    assert_eq!(centres_in(11), 2);
    assert_eq!(centres_in(39), 0);
    for (i, c) in small.iter().enumerate() {
        assert_eq!(c.id.index(), i);
    }
    assert_eq!(small, demo_clinics_sized(korea(), 7, size));
}

#[test]
fn sizes_are_clamped() {
    let empty = demo_clinics_sized(
        korea(),
        1,
        DemoSize {
            consigned: 0,
            centres: 0,
        },
    );
    assert!(empty.is_empty());
    let huge = demo_clinics_sized(
        korea(),
        1,
        DemoSize {
            consigned: u32::MAX,
            centres: 0,
        },
    );
    assert_eq!(huge.len(), domain::demo::DEMO_CLINICS_MAX as usize);
}

#[test]
fn the_demo_people_are_valid_and_each_has_their_own_phone() {
    use domain::demo::DEMO_PEOPLE;
    use std::collections::HashSet;
    let mut phones = HashSet::new();
    let mut numbers = HashSet::new();
    for person in DEMO_PEOPLE {
        assert!(
            domain::name::PersonName::parse(person.name).is_ok(),
            "{person:?}"
        );
        assert!(domain::rrn::Rrn::parse(person.rrn).is_ok(), "{person:?}");
        assert!(
            phones.insert(person.phone),
            "one subscriber per phone: {person:?}"
        );
        assert!(numbers.insert(person.rrn), "{person:?}");
    }
    // The README's example person is among them.
    assert!(
        DEMO_PEOPLE
            .iter()
            .any(|p| (p.name, p.rrn, p.phone) == ("홍길동", "680229-1234567", "010-1234-5678"))
    );
}
