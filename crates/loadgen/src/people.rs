//! Who the simulated people are: a resident registration number with a valid birth date in the
//! cohort's years, a home drawn by province population (KOSTAT), a product preference and the
//! behaviours the scenario gives a share of them. Everything is drawn from the person's own
//! seeded stream, so people are made lazily, one at a time, at their arrival.

use crate::rng::Rng;
use crate::scenario::Scenario;
use domain::clinic::GeoPoint;
use domain::region::Regions;

/// Days per month in a common year; births are drawn from the 365 days every year has.
const MONTH_DAYS: [u8; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

fn month_day(day_of_year: u64) -> (u8, u8) {
    let mut d = day_of_year % 365;
    for (m, len) in MONTH_DAYS.iter().enumerate() {
        if d < u64::from(*len) {
            return (m as u8 + 1, d as u8 + 1);
        }
        d -= u64::from(*len);
    }
    (12, 31)
}

/// An RRN `YYMMDD-GNNNNNN` for a person born in `year` (1900–2099), distinct for distinct
/// `(year, n)` with `n` below 365 million.
pub fn rrn(year: i16, n: u64) -> String {
    let (month, day) = month_day(n % 365);
    let serial = (n / 365) % 1_000_000;
    let male = n.is_multiple_of(2);
    let g = match (year >= 2000, male) {
        (false, true) => 1,
        (false, false) => 2,
        (true, true) => 3,
        (true, false) => 4,
    };
    format!(
        "{:02}{month:02}{day:02}-{g}{serial:06}",
        year.rem_euclid(100)
    )
}

/// Homes: provinces weighted by population, a municipality of the province, a point near its centre.
pub struct Homes {
    cumulative: Vec<f64>,
    municipalities: Vec<Vec<GeoPoint>>,
    pub provinces: Vec<(String, f64)>,
}

impl Homes {
    pub fn korea() -> Homes {
        let regions = Regions::korea();
        let mut cumulative = Vec::new();
        let mut municipalities = Vec::new();
        let mut provinces = Vec::new();
        let total = regions.total_population().max(1) as f64;
        let mut sum = 0.0;
        for p in regions.provinces() {
            let centres: Vec<GeoPoint> = regions
                .municipalities_of(p.code)
                .iter()
                .map(|m| m.center)
                .collect();
            if centres.is_empty() {
                continue;
            }
            sum += f64::from(p.population);
            cumulative.push(sum);
            municipalities.push(centres);
            provinces.push((p.name_en.clone(), f64::from(p.population) / total));
        }
        Homes {
            cumulative,
            municipalities,
            provinces,
        }
    }

    pub fn draw(&self, rng: &mut Rng) -> GeoPoint {
        let p = rng.weighted(&self.cumulative);
        let list = &self.municipalities[p.min(self.municipalities.len() - 1)];
        let c = list[rng.below(list.len() as u64) as usize];
        // Within a few kilometres of the municipality's centre.
        GeoPoint {
            lat: c.lat + (rng.f64() - 0.5) * 0.04,
            lon: c.lon + (rng.f64() - 0.5) * 0.05,
        }
    }
}

/// One person of the first-evening crowd and what they will do.
#[derive(Debug, Clone)]
pub struct Person {
    pub index: u64,
    /// Their own RRN (born in the cohort's years).
    pub rrn: String,
    /// When a grown child books for them: the child's RRN (who goes through the queue and the
    /// identity check) — the person is then the `family` member of the booking.
    pub booker_rrn: Option<String>,
    pub home: GeoPoint,
    pub product: &'static str,
    pub reloads: u32,
    pub tabs: u32,
    /// Seconds of waiting after which they give up (None: they wait as long as it takes).
    pub patience_s: Option<f64>,
    pub double_submit: bool,
    pub cancel_rebook: bool,
    /// Born in the opening's cohort: may book tonight.
    pub eligible: bool,
    /// Verifies on the waiting page this long after arriving (if still waiting then).
    pub verify_waiting_after_s: Option<f64>,
    pub rng: Rng,
}

pub fn product_code(name: &str) -> &'static str {
    match name {
        "pfizer" => "pfizer",
        "moderna" => "moderna",
        "astrazeneca" => "astrazeneca",
        _ => "janssen",
    }
}

impl Person {
    /// Person `index` of the scenario, `salt` keeping numbers apart across runs on one database.
    pub fn draw(scenario: &Scenario, homes: &Homes, index: u64, salt: u64) -> Person {
        let mut rng = Rng::for_item(scenario.seed, index);
        let b = &scenario.behaviour;
        let years = (scenario.cohort.born[1] - scenario.cohort.born[0]) as u64 + 1;
        // A draw only when the scenario has ineligible arrivals, so scenarios without them
        // keep drawing exactly the people they always did.
        let eligible = !(b.ineligible_share > 0.0 && rng.chance(b.ineligible_share));
        let year = if eligible {
            scenario.cohort.born[0] + (index % years) as i16
        } else {
            // The next cohort (born in the three years after), whose window opens later.
            scenario.cohort.born[1] + 1 + (index % 3) as i16
        };
        let n = index / years + salt;
        let own = rrn(year, n);
        let booker_rrn =
            (eligible && rng.chance(b.family_share)).then(|| rrn(1995 + (index % 5) as i16, n));
        let verify_waiting_after_s = (b.verify_waiting_share > 0.0
            && booker_rrn.is_none()
            && rng.chance(b.verify_waiting_share))
        .then(|| rng.exp(b.verify_delay_mean_seconds.max(0.001)));
        let home = homes.draw(&mut rng);
        let weights: Vec<f64> = scenario
            .cohort
            .products
            .iter()
            .scan(0.0, |s, p| {
                *s += p.weight.max(0.0);
                Some(*s)
            })
            .collect();
        let product = product_code(&scenario.cohort.products[rng.weighted(&weights)].product);
        let reloads = rng.geometric(b.reloads_mean);
        let tabs = if rng.chance(b.tabs_share) {
            2 + rng.below(u64::from(b.tabs_max.max(2) - 1)) as u32
        } else {
            1
        };
        let patience_s = rng
            .chance(b.give_up_share)
            .then(|| rng.exp(b.patience_mean_seconds));
        Person {
            index,
            rrn: own,
            booker_rrn,
            home,
            product,
            reloads,
            tabs: tabs.min(b.tabs_max.max(1)),
            patience_s,
            double_submit: rng.chance(b.double_submit_share),
            cancel_rebook: rng.chance(b.cancel_rebook_share),
            eligible,
            verify_waiting_after_s,
            rng,
        }
    }
}

/// Names the simulated people go by at their carriers.
pub const SELF_NAME: &str = "부하시험";
pub const MEMBER_NAME: &str = "부하부모";
pub const BOOKER_NAME: &str = "부하자녀";

impl Person {
    /// The person's own phone (`010-AAAA-BBBB` from their index): theirs at the carrier.
    pub fn phone(&self) -> String {
        format!(
            "010-{:04}-{:04}",
            (self.index / 10_000) % 10_000,
            self.index % 10_000
        )
    }

    /// The phone of the grown child who books for them, if one does.
    pub fn booker_phone(&self) -> String {
        format!("011{:08}", self.index % 100_000_000)
    }

    /// The name the person checks in with: their own, or as a family member booked for.
    pub fn own_name(&self) -> &'static str {
        if self.booker_rrn.is_some() {
            MEMBER_NAME
        } else {
            SELF_NAME
        }
    }

    /// The person's lines in the stand-in's subscriber file (`phone,name,rrn,carrier`): their
    /// own phone, and their booker's when a child books for them.
    pub fn subscriber_lines(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = writeln!(out, "{},{},{},skt", self.phone(), self.own_name(), self.rrn);
        if let Some(booker) = &self.booker_rrn {
            let _ = writeln!(out, "{},{BOOKER_NAME},{booker},kt", self.booker_phone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::rrn::Rrn;
    use std::collections::HashSet;

    #[test]
    fn rrns_are_well_formed_distinct_and_in_the_cohort() {
        let mut seen = HashSet::new();
        for n in (0..2_000_000u64).step_by(97) {
            for year in [1967i16, 1968, 1995, 2001] {
                let text = rrn(year, n);
                let parsed = Rrn::parse(&text).unwrap_or_else(|e| panic!("{text}: {e:?}"));
                assert_eq!(parsed.birth_date().year(), year, "{text}");
                assert!(seen.insert(text));
            }
        }
    }

    #[test]
    fn homes_follow_population() {
        let homes = Homes::korea();
        let total: f64 = homes.provinces.iter().map(|p| p.1).sum();
        assert!((total - 1.0).abs() < 1e-9);
        let mut rng = Rng::new(1);
        let n = 50_000;
        let mut counts = vec![0u32; homes.cumulative.len()];
        for _ in 0..n {
            counts[rng.weighted(&homes.cumulative)] += 1;
        }
        for (count, (name, share)) in counts.iter().zip(&homes.provinces) {
            let seen = f64::from(*count) / f64::from(n);
            assert!((seen - share).abs() < 0.01, "{name}: {seen} vs {share}");
        }
        // Homes lie in Korea.
        for _ in 0..1_000 {
            let p = homes.draw(&mut rng);
            assert!(
                (33.0..38.7).contains(&p.lat) && (124.5..131.0).contains(&p.lon),
                "{p:?}"
            );
        }
    }
}
