//! Vaccine products and their dose schedules.

use serde::{Deserialize, Serialize};

/// A vaccine product offered in the 2021 Korean programme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Product {
    Pfizer,
    Moderna,
    AstraZeneca,
    Janssen,
}

impl Product {
    pub const ALL: [Product; 4] = [
        Product::Pfizer,
        Product::Moderna,
        Product::AstraZeneca,
        Product::Janssen,
    ];

    /// A dense index, for per-product arrays.
    pub fn index(self) -> usize {
        match self {
            Product::Pfizer => 0,
            Product::Moderna => 1,
            Product::AstraZeneca => 2,
            Product::Janssen => 3,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Product::Pfizer => "pfizer",
            Product::Moderna => "moderna",
            Product::AstraZeneca => "astrazeneca",
            Product::Janssen => "janssen",
        }
    }

    pub fn parse(code: &str) -> Option<Product> {
        Product::ALL.into_iter().find(|p| p.code() == code)
    }

    pub fn name_ko(self) -> &'static str {
        match self {
            Product::Pfizer => "화이자",
            Product::Moderna => "모더나",
            Product::AstraZeneca => "아스트라제네카",
            Product::Janssen => "얀센",
        }
    }

    pub fn name_en(self) -> &'static str {
        match self {
            Product::Pfizer => "Pfizer-BioNTech",
            Product::Moderna => "Moderna",
            Product::AstraZeneca => "AstraZeneca",
            Product::Janssen => "Janssen",
        }
    }

    /// The schedule in force when the 50s cohorts booked in July 2021. Operators can change the
    /// interval later (August 2021 moved mRNA second doses to six weeks).
    pub fn default_schedule(self) -> DoseSchedule {
        match self {
            Product::Pfizer => DoseSchedule::two_doses(21),
            Product::Moderna => DoseSchedule::two_doses(28),
            Product::AstraZeneca => DoseSchedule::two_doses(77),
            Product::Janssen => DoseSchedule::single(),
        }
    }
}

/// How many doses a product needs and how far apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoseSchedule {
    pub doses: u8,
    /// Days from dose 1 to dose 2; zero for single-dose products.
    pub interval_days: u16,
}

impl DoseSchedule {
    pub const fn two_doses(interval_days: u16) -> Self {
        DoseSchedule {
            doses: 2,
            interval_days,
        }
    }

    pub const fn single() -> Self {
        DoseSchedule {
            doses: 1,
            interval_days: 0,
        }
    }

    pub fn has_second_dose(self) -> bool {
        self.doses >= 2
    }
}

/// The schedules in force, one per product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedules([DoseSchedule; 4]);

impl Schedules {
    pub fn get(&self, product: Product) -> DoseSchedule {
        self.0[product.index()]
    }

    pub fn set(&mut self, product: Product, schedule: DoseSchedule) {
        self.0[product.index()] = schedule;
    }
}

/// The text form kept in settings: `pfizer:2:21 moderna:2:42 astrazeneca:2:77 janssen:1:0`
/// (product, doses, interval in days).
impl std::fmt::Display for Schedules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, product) in Product::ALL.into_iter().enumerate() {
            let s = self.get(product);
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{}:{}:{}", product.code(), s.doses, s.interval_days)?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Schedules {
    type Err = String;

    /// Products not named keep their default schedule.
    fn from_str(text: &str) -> Result<Self, String> {
        let mut schedules = Schedules::default();
        for item in text.split_whitespace() {
            let mut parts = item.split(':');
            let (Some(code), Some(doses), Some(days), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!("bad schedule {item:?}"));
            };
            let product =
                Product::parse(code).ok_or_else(|| format!("unknown product {code:?}"))?;
            let doses: u8 = doses
                .parse()
                .map_err(|_| format!("bad doses in {item:?}"))?;
            let interval_days: u16 = days
                .parse()
                .map_err(|_| format!("bad interval in {item:?}"))?;
            schedules.set(
                product,
                DoseSchedule {
                    doses,
                    interval_days,
                },
            );
        }
        Ok(schedules)
    }
}

impl Default for Schedules {
    fn default() -> Self {
        Schedules(Product::ALL.map(Product::default_schedule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for p in Product::ALL {
            assert_eq!(Product::parse(p.code()), Some(p));
            assert_eq!(Product::ALL[p.index()], p);
        }
        assert_eq!(Product::parse("sputnik"), None);
    }

    #[test]
    fn schedules_round_trip_through_their_text_form() {
        let mut schedules = Schedules::default();
        schedules.set(Product::Moderna, DoseSchedule::two_doses(42));
        let text = schedules.to_string();
        assert_eq!(
            text,
            "pfizer:2:21 moderna:2:42 astrazeneca:2:77 janssen:1:0"
        );
        assert_eq!(text.parse::<Schedules>(), Ok(schedules));
        assert!("moderna:2".parse::<Schedules>().is_err());
        assert!("sputnik:2:21".parse::<Schedules>().is_err());
    }

    #[test]
    fn janssen_is_single_dose() {
        assert!(!Schedules::default().get(Product::Janssen).has_second_dose());
        assert_eq!(Schedules::default().get(Product::Moderna).interval_days, 28);
    }
}
