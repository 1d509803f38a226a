//! A demo world shaped like Korea in August 2021: about 13,000 consigned clinics (위탁의료기관) and about
//! 280 vaccination centres (예방접종센터), with names, places, hours, products and daily supply.
//!
//! Everything here is a pure function of the regions and a seed: the same seed gives the same clinics,
//! byte for byte, on every machine. Sampling is done on top of xoshiro256++'s raw output (a fixed, published
//! algorithm) rather than on `rand`'s distributions, so the world does not change when `rand` does.
//!
//! How the world is laid out:
//! - Clinics are split over provinces in proportion to their 2021 population (largest-remainder method,
//!   so the totals are exact), then over each province's municipalities by a rough stand-in for the
//!   population we do not have per municipality: a city or district (시, 구) weighs three, a county (군) one.
//! - Every municipality gets a vaccination centre (as in 2021, one per 시군구); the remaining centres go to
//!   the most populous provinces, and within a province to the municipalities with the most clinics.
//! - A clinic stands within 5 km of its municipality's centroid (less where municipalities are close
//!   together, and 2 km on island counties, to stay on land-ish); centres within 1 km.
//! - Ids are dense, in municipality-code order, centres before consigned clinics.

use crate::clinic::{Clinic, ClinicId, ClinicKind, GeoPoint, Hours};
use crate::product::Product;
use crate::region::{Municipality, Regions};
use jiff::civil::{Date, Weekday};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;

/// How many clinics of each kind a demo world has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSize {
    pub consigned: u32,
    pub centres: u32,
}

impl DemoSize {
    /// August 2021: about 13,000 consigned clinics and about 280 vaccination centres.
    pub const KOREA_2021: DemoSize = DemoSize {
        consigned: 13_000,
        centres: 280,
    };
}

/// Upper bound on each of [`DemoSize`]'s counts; larger requests are clamped to it.
pub const DEMO_CLINICS_MAX: u32 = 100_000;

/// Farthest a clinic stands from its municipality's centroid.
pub const JITTER_KM_MAX: f64 = 5.0;
/// Farthest a vaccination centre stands from its municipality's centroid.
pub const CENTRE_JITTER_KM_MAX: f64 = 1.0;
/// Farthest a clinic stands from the centroid on an island county, whose centroid is on a small island.
pub const ISLAND_JITTER_KM_MAX: f64 = 2.0;
/// Island counties: 옹진군 (Incheon), 신안군 (Jeollanam-do), 울릉군 (Gyeongsangbuk-do).
const ISLAND_COUNTIES: [u32; 3] = [23320, 36480, 37430];

/// Weight of a city or district against a county's one when spreading clinics over a province.
const URBAN_WEIGHT: u64 = 3;

/// The 2021-like demo world for `regions`: [`DemoSize::KOREA_2021`] clinics.
pub fn demo_clinics(regions: &Regions, seed: u64) -> Vec<Clinic> {
    demo_clinics_sized(regions, seed, DemoSize::KOREA_2021)
}

/// A demo world with the given number of clinics of each kind (each clamped to [`DEMO_CLINICS_MAX`]).
pub fn demo_clinics_sized(regions: &Regions, seed: u64, size: DemoSize) -> Vec<Clinic> {
    let consigned_total = size.consigned.min(DEMO_CLINICS_MAX);
    let centres_total = size.centres.min(DEMO_CLINICS_MAX);
    let municipalities = regions.municipalities();

    // Consigned clinics: provinces by population, then municipalities by urban/county weight.
    let province_weights: Vec<u64> = regions
        .provinces()
        .iter()
        .map(|p| u64::from(p.population))
        .collect();
    let consigned_by_province = apportion(consigned_total, &province_weights);
    let mut consigned = Vec::with_capacity(municipalities.len());
    for (province, &count) in regions.provinces().iter().zip(&consigned_by_province) {
        let weights: Vec<u64> = regions
            .municipalities_of(province.code)
            .iter()
            .map(municipality_weight)
            .collect();
        consigned.extend(apportion(count, &weights));
    }

    // Centres: one per municipality when there are enough, the rest where the people are.
    let every_municipality =
        usize::try_from(centres_total).is_ok_and(|c| c >= municipalities.len());
    let base = u32::from(every_municipality);
    let extra_total = if every_municipality {
        // Fewer than u32::MAX municipalities, since there are no more than centres_total.
        centres_total - municipalities.len() as u32
    } else {
        centres_total
    };
    let extra_by_province = apportion(extra_total, &province_weights);
    let mut centres = Vec::with_capacity(municipalities.len());
    let mut offset = 0;
    for (province, &extra) in regions.provinces().iter().zip(&extra_by_province) {
        let own = regions.municipalities_of(province.code);
        let weights: Vec<u64> = if every_municipality {
            // Second centres go where the clinics (the people) are.
            consigned
                .get(offset..offset + own.len())
                .unwrap_or(&[])
                .iter()
                .map(|&c| u64::from(c))
                .collect()
        } else {
            own.iter().map(municipality_weight).collect()
        };
        centres.extend(apportion(extra, &weights).into_iter().map(|c| c + base));
        offset += own.len();
    }

    let shared_names = shared_display_names(municipalities);
    let jitter_km = jitter_radii(municipalities);
    let mut clinics = Vec::with_capacity((consigned_total + centres_total) as usize);
    for (((m, &n_consigned), &n_centres), &radius_km) in municipalities
        .iter()
        .zip(&consigned)
        .zip(&centres)
        .zip(&jitter_km)
    {
        let mut draw = Draw::new(seed, u64::from(m.code.0));
        let place = match regions.province(m.province) {
            Some(p) if shared_names.contains(&m.display_name_ko()) => {
                format!("{} {}", p.short_name_ko(), m.display_name_ko())
            }
            _ => m.display_name_ko(),
        };
        for k in 0..n_centres {
            let name = if k == 0 {
                format!("{place} 예방접종센터")
            } else {
                format!("{place} 제{}예방접종센터", k + 1)
            };
            let location = draw.near(m.center, radius_km.min(CENTRE_JITTER_KM_MAX));
            let hours = Hours {
                open_hour: 9,
                close_hour: 18,
                per_band: 40 + draw.below(41) as u16,
                saturdays: true,
            };
            push(
                &mut clinics,
                m,
                name,
                ClinicKind::Centre,
                location,
                hours,
                vec![Product::Pfizer],
            );
        }
        let stem = clinic_stem(m);
        for body in draw.clinic_names(n_consigned) {
            let location = draw.near(m.center, radius_km);
            let hours = Hours {
                open_hour: 9,
                close_hour: 18,
                per_band: 4 + draw.below(5) as u16,
                saturdays: draw.chance(0.8),
            };
            let products = draw.weighted(CONSIGNED_PRODUCTS).to_vec();
            let name = format!("{stem} {body}");
            push(
                &mut clinics,
                m,
                name,
                ClinicKind::Consigned,
                location,
                hours,
                products,
            );
        }
    }
    clinics
}

/// The doses planned for `clinic` on `day`, per product it offers, in the order of `clinic.products`.
///
/// On a day the clinic vaccinates, its daily capacity (people per band × bands) is split evenly over its
/// products (the first products take the remainder), and each share is rounded up to whole vials, as
/// deliveries were: the round-up is where 2021's leftover doses came from. Sundays, and Saturdays for a
/// clinic closed on Saturdays, plan zero doses.
pub fn demo_supply(clinic: &Clinic, day: Date) -> impl Iterator<Item = (Product, u32)> + '_ {
    let hours = clinic.hours;
    let open = match day.weekday() {
        Weekday::Sunday => false,
        Weekday::Saturday => hours.saturdays,
        _ => true,
    };
    let bands = u32::from(hours.close_hour.saturating_sub(hours.open_hour));
    let capacity = if open {
        u32::from(hours.per_band) * bands
    } else {
        0
    };
    // At most four products, so the count fits a u32; max(1) avoids dividing by zero.
    let n = (clinic.products.len() as u32).max(1);
    clinic
        .products
        .iter()
        .enumerate()
        .map(move |(i, &product)| {
            let share = capacity / n + u32::from((i as u32) < capacity % n);
            let vial = doses_per_vial(product);
            (product, share.div_ceil(vial) * vial)
        })
}

/// Doses drawn from one vial, as counted in Korea's 2021 programme (before low-dead-space syringes).
fn doses_per_vial(product: Product) -> u32 {
    match product {
        Product::Pfizer => 6,
        Product::Moderna => 10,
        Product::AstraZeneca => 10,
        Product::Janssen => 5,
    }
}

/// What consigned clinics offered in summer 2021: mostly Moderna, Pfizer alongside in the capital
/// region's switch, AstraZeneca from the spring programme for the over-60s, a little Janssen.
/// Weights in per mille.
const CONSIGNED_PRODUCTS: &[(&[Product], u32)] = &[
    (&[Product::Moderna], 550),
    (&[Product::Pfizer, Product::Moderna], 200),
    (&[Product::Moderna, Product::AstraZeneca], 120),
    (&[Product::AstraZeneca], 80),
    (&[Product::Moderna, Product::Janssen], 30),
    (&[Product::Janssen], 20),
];

/// Common first parts of clinic names ("서울내과의원", "365열린의원", "튼튼소아청소년과의원").
const NAME_PARTS: [&str; 30] = [
    "서울",
    "연세",
    "고려",
    "성모",
    "365",
    "열린",
    "우리",
    "하나",
    "튼튼",
    "새봄",
    "참",
    "바른",
    "미래",
    "행복한",
    "좋은",
    "밝은",
    "제일",
    "중앙",
    "푸른",
    "한빛",
    "희망",
    "사랑",
    "온누리",
    "늘푸른",
    "건강한",
    "삼성",
    "한마음",
    "새솔",
    "으뜸",
    "다정",
];

/// Specialty and kind of clinic, weighted like the GPs and small hospitals that vaccinated in 2021.
const NAME_FORMS: [(&str, u32); 14] = [
    ("내과의원", 30),
    ("가정의학과의원", 12),
    ("이비인후과의원", 12),
    ("소아청소년과의원", 10),
    ("정형외과의원", 7),
    ("의원", 6),
    ("외과의원", 4),
    ("병원", 4),
    ("산부인과의원", 3),
    ("재활의학과의원", 3),
    ("신경과의원", 2),
    ("비뇨의학과의원", 2),
    ("정형외과병원", 2),
    ("내과병원", 2),
];

fn push(
    clinics: &mut Vec<Clinic>,
    municipality: &Municipality,
    name: String,
    kind: ClinicKind,
    location: GeoPoint,
    hours: Hours,
    products: Vec<Product>,
) {
    // Bounded by 2 × DEMO_CLINICS_MAX, far below u32::MAX.
    let id = ClinicId(clinics.len() as u32);
    clinics.push(Clinic {
        id,
        name,
        kind,
        municipality: municipality.code,
        location,
        products,
        hours,
    });
}

fn municipality_weight(m: &Municipality) -> u64 {
    if m.is_county() { 1 } else { URBAN_WEIGHT }
}

/// "종로구" → "종로", "수원시장안구" → "장안", but "중구" stays "중구" (one syllable is not a name).
fn clinic_stem(m: &Municipality) -> &str {
    let local = m.local_name_ko();
    match local.strip_suffix(['구', '시', '군']) {
        Some(stem) if stem.chars().count() >= 2 => stem,
        _ => local,
    }
}

/// Display names used by more than one municipality ("중구" is in six cities): these get the province's
/// short name in front ("서울 중구 예방접종센터").
fn shared_display_names(municipalities: &[Municipality]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut shared = BTreeSet::new();
    for m in municipalities {
        let name = m.display_name_ko();
        if !seen.insert(name.clone()) {
            shared.insert(name);
        }
    }
    shared
}

/// Per municipality, how far from its centroid clinics may stand: half the distance to the nearest
/// other centroid, at most [`JITTER_KM_MAX`], and [`ISLAND_JITTER_KM_MAX`] on island counties.
fn jitter_radii(municipalities: &[Municipality]) -> Vec<f64> {
    municipalities
        .iter()
        .map(|m| {
            let nearest_km = municipalities
                .iter()
                .filter(|o| o.code != m.code)
                .map(|o| m.center.distance_km(o.center))
                .fold(f64::INFINITY, f64::min);
            let cap = if ISLAND_COUNTIES.contains(&m.code.0) {
                ISLAND_JITTER_KM_MAX
            } else {
                JITTER_KM_MAX
            };
            (nearest_km / 2.0).min(cap)
        })
        .collect()
}

/// Splits `total` in proportion to `weights` by the largest-remainder (Hamilton) method: the parts sum to
/// exactly `total`; ties go to the lower index. All-zero weights count as equal.
fn apportion(total: u32, weights: &[u64]) -> Vec<u32> {
    if weights.is_empty() {
        return Vec::new();
    }
    let equal = vec![1; weights.len()];
    let weights = if weights.iter().all(|&w| w == 0) {
        &equal
    } else {
        weights
    };
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    let mut parts = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, &w) in weights.iter().enumerate() {
        let exact = u128::from(total) * u128::from(w);
        // Each quotient is at most `total`, so it fits a u32.
        parts.push((exact / sum) as u32);
        remainders.push((exact % sum, i));
    }
    let given: u32 = parts.iter().sum();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take((total - given) as usize) {
        if let Some(part) = parts.get_mut(i) {
            *part += 1;
        }
    }
    parts
}

/// Seeded draws, built on xoshiro256++'s raw 64-bit output only.
struct Draw(Xoshiro256PlusPlus);

impl Draw {
    /// An independent stream per (seed, stream): each municipality's clinics depend only on the seed and
    /// that municipality, not on how many clinics came before it.
    fn new(seed: u64, stream: u64) -> Draw {
        let mixed = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17);
        Draw(Xoshiro256PlusPlus::seed_from_u64(mixed))
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0), by multiply-shift (bias below 2^-32 for the small n used here).
    fn below(&mut self, n: u32) -> u32 {
        ((u64::from(self.0.next_u32()) * u64::from(n)) >> 32) as u32
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn weighted<T: Copy>(&mut self, table: &[(T, u32)]) -> T {
        let total: u32 = table.iter().map(|&(_, w)| w).sum();
        let mut pick = self.below(total.max(1));
        for &(item, w) in table {
            if pick < w {
                return item;
            }
            pick -= w;
        }
        // Only reached for all-zero weights: the tables are constants with positive weights.
        table
            .first()
            .map(|&(item, _)| item)
            .expect("weighted tables are not empty")
    }

    /// A point uniformly spread over a disc of `radius_km` around `center`.
    fn near(&mut self, center: GeoPoint, radius_km: f64) -> GeoPoint {
        const KM_PER_DEGREE: f64 = 6371.0088 * std::f64::consts::PI / 180.0;
        // 1% short of the radius: the flat-earth step below is off by far less than that at 5 km.
        let r = 0.99 * radius_km * self.unit().sqrt();
        let bearing = std::f64::consts::TAU * self.unit();
        let lat = center.lat + r * bearing.cos() / KM_PER_DEGREE;
        let lon = center.lon + r * bearing.sin() / (KM_PER_DEGREE * center.lat.to_radians().cos());
        GeoPoint { lat, lon }
    }

    /// `n` distinct clinic names ("서울내과의원"), drawn by weight without replacement (Efraimidis–Spirakis);
    /// past the 420 combinations, names repeat with a branch number ("서울내과의원 2호점").
    fn clinic_names(&mut self, n: u32) -> Vec<String> {
        let mut keyed: Vec<(f64, String)> = Vec::with_capacity(NAME_PARTS.len() * NAME_FORMS.len());
        for part in NAME_PARTS {
            for (form, weight) in NAME_FORMS {
                // Largest ln(u)/w first is a weighted sample without replacement; 1 - unit() is in (0, 1].
                let key = (1.0 - self.unit()).ln() / f64::from(weight);
                keyed.push((key, format!("{part}{form}")));
            }
        }
        keyed.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let pool = keyed.len().max(1);
        (0..n as usize)
            .filter_map(|i| {
                let (_, name) = keyed.get(i % pool)?;
                Some(match i / pool {
                    0 => name.clone(),
                    branch => format!("{name} {}호점", branch + 1),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn apportion_is_exact_and_proportional() {
        assert_eq!(apportion(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(apportion(10, &[0, 0]), [5, 5]);
        assert_eq!(apportion(7, &[3, 0, 1]), [5, 0, 2]);
        assert_eq!(apportion(0, &[3, 1]), [0, 0]);
        assert!(apportion(5, &[]).is_empty());
        let parts = apportion(13_000, &[9_509_458, 3_350_380, 676_759]);
        assert_eq!(parts.iter().sum::<u32>(), 13_000);
        assert_eq!(parts, [9_132, 3_218, 650]);
    }

    #[test]
    fn draws_stay_in_range() {
        let mut draw = Draw::new(7, 11010);
        for _ in 0..10_000 {
            let u = draw.unit();
            assert!((0.0..1.0).contains(&u));
            assert!(draw.below(5) < 5);
        }
        let mut counts = [0u32; 3];
        for _ in 0..30_000 {
            counts[draw.weighted(&[(0usize, 1), (1, 0), (2, 2)])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((9_000..11_000).contains(&counts[0]), "{counts:?}");
    }

    #[test]
    fn near_stays_within_the_radius() {
        let mut draw = Draw::new(1, 2);
        let center = GeoPoint {
            lat: 37.5,
            lon: 127.0,
        };
        let mut farthest: f64 = 0.0;
        for _ in 0..5_000 {
            let d = center.distance_km(draw.near(center, 5.0));
            farthest = farthest.max(d);
        }
        assert!(farthest <= 5.0, "{farthest}");
        assert!(farthest > 4.5, "{farthest}");
    }

    #[test]
    fn clinic_names_are_distinct_then_numbered() {
        let mut draw = Draw::new(3, 4);
        let names = draw.clinic_names(420);
        let distinct: BTreeSet<&String> = names.iter().collect();
        assert_eq!(distinct.len(), 420);
        let more = draw.clinic_names(425);
        assert_eq!(more.iter().collect::<BTreeSet<_>>().len(), 425);
        assert!(more[420].ends_with(" 2호점"), "{}", more[420]);
    }

    #[test]
    fn stems_drop_the_suffix_unless_one_syllable_remains() {
        let regions = Regions::korea();
        let stem = |code| {
            let m = regions
                .municipality(crate::clinic::MunicipalityCode(code))
                .expect("known code");
            clinic_stem(m).to_owned()
        };
        assert_eq!(stem(11010), "종로");
        assert_eq!(stem(11020), "중구");
        assert_eq!(stem(31011), "장안");
        assert_eq!(stem(29010), "세종");
        assert_eq!(stem(31350), "연천");
    }

    fn clinic(products: Vec<Product>, per_band: u16, saturdays: bool) -> Clinic {
        Clinic {
            id: ClinicId(0),
            name: "종로 서울내과의원".into(),
            kind: ClinicKind::Consigned,
            municipality: crate::clinic::MunicipalityCode(11010),
            location: GeoPoint {
                lat: 37.59,
                lon: 126.97,
            },
            products,
            hours: Hours {
                open_hour: 9,
                close_hour: 18,
                per_band,
                saturdays,
            },
        }
    }

    #[test]
    fn supply_covers_capacity_in_whole_vials() {
        // 2021-07-26 was a Monday.
        let monday = date(2021, 7, 26);
        let c = clinic(vec![Product::Moderna], 6, true);
        assert_eq!(
            demo_supply(&c, monday).collect::<Vec<_>>(),
            [(Product::Moderna, 60)]
        );
        let c = clinic(vec![Product::Pfizer, Product::Moderna], 7, true);
        // 63 a day: 32 Pfizer → 36 (six vials of 6), 31 Moderna → 40 (four vials of 10).
        assert_eq!(
            demo_supply(&c, monday).collect::<Vec<_>>(),
            [(Product::Pfizer, 36), (Product::Moderna, 40)]
        );
        let c = clinic(vec![Product::Janssen], 5, true);
        assert_eq!(
            demo_supply(&c, monday).collect::<Vec<_>>(),
            [(Product::Janssen, 45)]
        );
    }

    #[test]
    fn no_supply_on_sundays_nor_on_closed_saturdays() {
        let saturday = date(2021, 7, 31);
        let sunday = date(2021, 8, 1);
        let open_saturdays = clinic(vec![Product::Moderna, Product::AstraZeneca], 6, true);
        let closed_saturdays = clinic(vec![Product::Moderna], 6, false);
        assert_eq!(
            demo_supply(&open_saturdays, sunday).collect::<Vec<_>>(),
            [(Product::Moderna, 0), (Product::AstraZeneca, 0)]
        );
        assert_eq!(
            demo_supply(&open_saturdays, saturday).collect::<Vec<_>>(),
            [(Product::Moderna, 30), (Product::AstraZeneca, 30)]
        );
        assert_eq!(
            demo_supply(&closed_saturdays, saturday).collect::<Vec<_>>(),
            [(Product::Moderna, 0)]
        );
    }
}

/// A person the demo's stand-in carriers know: with `--demo`, these (and only these, unless
/// `--subscribers FILE` adds more) pass the identity check, as with a real carrier only a
/// phone's own subscriber can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoPerson {
    pub name: &'static str,
    pub rrn: &'static str,
    pub phone: &'static str,
}

const fn demo_person(name: &'static str, rrn: &'static str, phone: &'static str) -> DemoPerson {
    DemoPerson { name, rrn, phone }
}

/// The demo's people: born 1967–1968 (the cohort open now in the demo), 1970 (not yet), and a
/// few more for the operator's and clinic's walk-throughs. Listed in the README.
pub const DEMO_PEOPLE: &[DemoPerson] = &[
    demo_person("홍길동", "680229-1234567", "010-1234-5678"),
    demo_person("김민수", "670315-1000001", "010-2000-0001"),
    demo_person("이영희", "670412-2000003", "010-2000-0002"),
    demo_person("김자녀", "700505-2000001", "010-2000-0003"),
    demo_person("김부모", "680301-2000002", "010-2000-0004"),
    demo_person("이잔여", "700707-1000007", "010-2000-0005"),
    demo_person("박철수", "671120-1000011", "010-2000-0006"),
    demo_person("최수진", "681010-2000012", "010-2000-0007"),
    demo_person("김모더", "670315-1000201", "010-3000-0201"),
    demo_person("김모더", "670315-1000301", "010-3000-0301"),
    demo_person("김모더", "670315-1000302", "010-3000-0302"),
    demo_person("김모더", "670315-1000303", "010-3000-0303"),
    demo_person("김모더", "670315-1000304", "010-3000-0304"),
    demo_person("김모더", "670315-1000305", "010-3000-0305"),
    demo_person("김모더", "670316-1000400", "010-3000-0400"),
    demo_person("김모더", "670316-1000401", "010-3000-0401"),
    demo_person("김모더", "670316-1000402", "010-3000-0402"),
    demo_person("김모더", "670316-1000403", "010-3000-0403"),
    demo_person("김모더", "670316-1000404", "010-3000-0404"),
    demo_person("김모더", "670316-1000405", "010-3000-0405"),
    demo_person("김모더", "670316-1000406", "010-3000-0406"),
    demo_person("김모더", "670316-1000407", "010-3000-0407"),
    demo_person("김모더", "670316-1000408", "010-3000-0408"),
    demo_person("김모더", "670316-1000409", "010-3000-0409"),
    demo_person("김모더", "670316-1000410", "010-3000-0410"),
    demo_person("김모더", "670316-1000411", "010-3000-0411"),
];
