//! Same-day leftover doses (잔여백신): a clinic with doses left in opened vials offers them to
//! nearby people who asked to be told, first come first served, until a time it sets.
//!
//! The rules here are pure: whether an offer can still be claimed, and who among the people who
//! opted in hears of it. The writer applies them, so "never more claims than doses" holds under
//! any concurrency for the same reason booking never overbooks.

use crate::clinic::{ClinicId, GeoPoint, UnitVector};
use crate::product::Product;
use jiff::civil::Date;

/// The most doses one offer may hold (a few vials' worth; a larger number is a typing error).
pub const MAX_DOSES_PER_OFFER: u32 = 100;
/// The widest radius a person may ask to hear about.
pub const MAX_RADIUS_KM: f64 = 10.0;
/// People told per offered dose: enough that the doses are taken quickly, few enough that a
/// 5-dose offer does not text a whole city (in 2021 doses were "gone in 0.5 seconds").
pub const MESSAGES_PER_DOSE: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub u64);

/// Doses a clinic offers today, until `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offer {
    pub id: OfferId,
    pub clinic: ClinicId,
    pub product: Product,
    pub day: Date,
    pub doses: u32,
    pub claimed: u32,
    /// When unclaimed doses expire (milliseconds since the epoch, server clock).
    pub until_ms: i64,
}

impl Offer {
    pub fn left(&self) -> u32 {
        self.doses.saturating_sub(self.claimed)
    }

    /// Whether one more person may claim a dose now.
    pub fn check_claim(&self, now_ms: i64, today: Date) -> Result<(), ClaimError> {
        if self.day != today || now_ms >= self.until_ms {
            return Err(ClaimError::Expired);
        }
        if self.left() == 0 {
            return Err(ClaimError::AllClaimed);
        }
        Ok(())
    }
}

/// Why a clinic's offer was refused. Nothing was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OfferError {
    #[error("an offer holds 1 to {MAX_DOSES_PER_OFFER} doses")]
    Doses,
    #[error("the offer must end later today")]
    Until,
    #[error("the clinic does not offer this product")]
    Product,
}

impl OfferError {
    pub fn code(self) -> &'static str {
        match self {
            OfferError::Doses => "invalid_doses",
            OfferError::Until => "invalid_until",
            OfferError::Product => "product_not_offered",
        }
    }

    pub fn message_ko(self) -> &'static str {
        match self {
            OfferError::Doses => "잔여백신 수량은 1~100 사이여야 합니다.",
            OfferError::Until => "마감 시각은 지금 이후, 오늘 안이어야 합니다.",
            OfferError::Product => "이 의료기관에서 접종하지 않는 백신입니다.",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            OfferError::Doses => "An offer holds 1 to 100 doses.",
            OfferError::Until => "The offer must end later today.",
            OfferError::Product => "This clinic does not give that vaccine.",
        }
    }
}

/// Checks a clinic's offer: `until_ms` must be after now and on the same Seoul day
/// (`day_end_ms` is the next midnight in Seoul).
pub fn validate_offer(
    doses: u32,
    until_ms: i64,
    now_ms: i64,
    day_end_ms: i64,
    offered: bool,
) -> Result<(), OfferError> {
    if !(1..=MAX_DOSES_PER_OFFER).contains(&doses) {
        return Err(OfferError::Doses);
    }
    if until_ms <= now_ms || until_ms > day_end_ms {
        return Err(OfferError::Until);
    }
    if !offered {
        return Err(OfferError::Product);
    }
    Ok(())
}

/// Why a claim failed. Nothing was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    #[error("no such offer")]
    NoSuchOffer,
    #[error("the offer has expired")]
    Expired,
    #[error("every dose of the offer is taken")]
    AllClaimed,
}

impl ClaimError {
    pub fn code(self) -> &'static str {
        match self {
            ClaimError::NoSuchOffer => "no_such_offer",
            ClaimError::Expired => "offer_expired",
            ClaimError::AllClaimed => "all_claimed",
        }
    }

    pub fn message_ko(self) -> &'static str {
        match self {
            ClaimError::NoSuchOffer => "해당 잔여백신 정보를 찾을 수 없습니다.",
            ClaimError::Expired => "잔여백신 예약 시간이 지났습니다.",
            ClaimError::AllClaimed => "잔여백신이 모두 예약되었습니다.",
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            ClaimError::NoSuchOffer => "No such leftover-dose offer.",
            ClaimError::Expired => "This leftover-dose offer has expired.",
            ClaimError::AllClaimed => "Every leftover dose of this offer is taken.",
        }
    }
}

/// A person who asked to hear of leftover doses near a place.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    pub person: crate::booking::PersonId,
    pub at: GeoPoint,
    pub radius_km: f64,
    /// Products the person would take; empty means any.
    pub products: Vec<Product>,
}

impl Subscription {
    /// The distance to a clinic at `clinic_at` if this person wants its `product` there. The
    /// clinic's place comes as a unit vector so that a scan over many people ([`recipients`])
    /// turns it into one once.
    pub fn wants(&self, clinic_at: UnitVector, product: Product) -> Option<f64> {
        let distance = self.at.unit().distance_km(clinic_at);
        let product_ok = self.products.is_empty() || self.products.contains(&product);
        (product_ok && distance <= self.radius_km).then_some(distance)
    }
}

/// Who hears of an offer: the nearest people who want it, at most [`MESSAGES_PER_DOSE`] per
/// dose (ties broken by person id, so the choice is deterministic).
pub fn recipients(
    candidates: &[Subscription],
    clinic_at: GeoPoint,
    product: Product,
    doses: u32,
) -> Vec<crate::booking::PersonId> {
    let clinic_at = clinic_at.unit();
    let mut wanting: Vec<(f64, crate::booking::PersonId)> = candidates
        .iter()
        .filter_map(|s| s.wants(clinic_at, product).map(|d| (d, s.person)))
        .collect();
    wanting.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    wanting
        .into_iter()
        .take(MESSAGES_PER_DOSE * doses as usize)
        .map(|(_, person)| person)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::booking::PersonId;

    fn offer(doses: u32, claimed: u32) -> Offer {
        Offer {
            id: OfferId(1),
            clinic: ClinicId(0),
            product: Product::Pfizer,
            day: jiff::civil::date(2021, 7, 27),
            doses,
            claimed,
            until_ms: 1_000,
        }
    }

    #[test]
    fn claims_stop_at_the_last_dose_and_at_the_deadline() {
        let today = jiff::civil::date(2021, 7, 27);
        assert_eq!(offer(2, 1).check_claim(999, today), Ok(()));
        assert_eq!(
            offer(2, 2).check_claim(0, today),
            Err(ClaimError::AllClaimed)
        );
        assert_eq!(
            offer(2, 0).check_claim(1_000, today),
            Err(ClaimError::Expired)
        );
        let tomorrow = jiff::civil::date(2021, 7, 28);
        assert_eq!(
            offer(2, 0).check_claim(0, tomorrow),
            Err(ClaimError::Expired)
        );
    }

    #[test]
    fn offers_are_checked() {
        assert_eq!(validate_offer(0, 10, 0, 100, true), Err(OfferError::Doses));
        assert_eq!(
            validate_offer(101, 10, 0, 100, true),
            Err(OfferError::Doses)
        );
        assert_eq!(validate_offer(5, 0, 0, 100, true), Err(OfferError::Until));
        assert_eq!(validate_offer(5, 101, 0, 100, true), Err(OfferError::Until));
        assert_eq!(
            validate_offer(5, 100, 0, 100, false),
            Err(OfferError::Product)
        );
        assert_eq!(validate_offer(100, 100, 0, 100, true), Ok(()));
    }

    #[test]
    fn the_nearest_who_want_the_product_are_told_up_to_the_cap() {
        let clinic = GeoPoint {
            lat: 37.57,
            lon: 126.98,
        };
        let at = |km_north: f64| GeoPoint {
            lat: 37.57 + km_north / 111.2,
            lon: 126.98,
        };
        let mut people: Vec<Subscription> = (0..50)
            .map(|i| Subscription {
                person: PersonId(i),
                at: at(f64::from(i as u32) * 0.1 + 0.05),
                radius_km: 3.0,
                products: vec![],
            })
            .collect();
        // Far outside their radius, or wanting another product: never told.
        people.push(Subscription {
            person: PersonId(100),
            at: at(0.0),
            radius_km: 3.0,
            products: vec![Product::Moderna],
        });
        people.push(Subscription {
            person: PersonId(101),
            at: at(20.0),
            radius_km: 10.0,
            products: vec![],
        });
        let told = recipients(&people, clinic, Product::Pfizer, 1);
        assert_eq!(told.len(), MESSAGES_PER_DOSE);
        assert_eq!(told, (0..20).map(PersonId).collect::<Vec<_>>());
        let all = recipients(&people, clinic, Product::Pfizer, 10);
        // Only those within 3 km: 0.05 … 2.95 km.
        assert_eq!(all.len(), 30);
        assert!(!all.contains(&PersonId(100)) && !all.contains(&PersonId(101)));
    }
}
