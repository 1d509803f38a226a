//! Pieces of the answers several resources share, as typed views: what a handler's typed core
//! returns and its JSON adapter serialises, and what the pages read by field.
//!
//! Views whose JSON existed before them list their fields in alphabetical order: serde_json
//! keeps an object's keys sorted, so the bytes of the answer stay the same. (A view that
//! flattens another, such as `routes::queue::HeldTicket`, writes the flattened fields first.)

use crate::AppState;
use domain::booking::Appointment;
use domain::clinic::ClinicId;
use domain::product::Product;
use jiff::civil::Date;
use serde::{Serialize, Serializer};

/// A product as the API spells it (`astrazeneca`), not as its records do (`astra_zeneca`).
pub fn product_code<S: Serializer>(product: &Product, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(product.code())
}

/// A clinic as the answers name it: its id and (when known) its name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ClinicRef {
    pub id: u32,
    pub name: Option<String>,
}

impl ClinicRef {
    pub fn of(state: &AppState, id: ClinicId) -> ClinicRef {
        ClinicRef {
            id: id.0,
            name: state.world.clinics.get(id.index()).map(|c| c.name.clone()),
        }
    }

    /// The name, or nothing for a clinic no longer known.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }
}

/// An appointment as the answers show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AppointmentView {
    pub clinic: ClinicRef,
    /// A Seoul calendar day.
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    /// The band's first hour (10 = 10:00–11:00).
    pub hour: u8,
    /// `pfizer`, `moderna`, `astrazeneca` or `janssen`.
    #[serde(serialize_with = "product_code")]
    #[schema(value_type = String)]
    pub product: Product,
}

impl AppointmentView {
    pub fn of(state: &AppState, a: &Appointment) -> AppointmentView {
        AppointmentView {
            clinic: ClinicRef::of(state, a.clinic),
            date: a.day,
            hour: a.hour,
            product: a.product,
        }
    }
}

// `domain`'s types know serde but not the document: the schemas of those the answers carry
// as they are, spelled as serde writes them. Only for the document (`value_type`); the real
// answers are validated against them (`tests/openapi.rs`), so they cannot drift apart.

/// A clinic's kind (`domain::clinic::ClinicKind`): contracted GP or hospital, or a public
/// vaccination centre.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ClinicKind)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ClinicKindSchema {
    Consigned,
    Centre,
}

/// A point on the earth, in degrees (`domain::clinic::GeoPoint`, WGS84).
#[derive(utoipa::ToSchema)]
#[schema(as = GeoPoint)]
#[allow(dead_code)]
pub struct GeoPointSchema {
    lat: f64,
    lon: f64,
}

/// The views' JSON is the bytes of the objects it replaced: every object's keys in the order
/// serde_json keeps a `Value`'s (sorted), at every level, with every optional field present.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::bookings::{BookingView, DoseView, ProductView};
    use crate::routes::clinic::{DayAppointment, DayView, OfferClinic, OfferView};
    use crate::routes::clinic::{DoseGiven, GivenState};
    use crate::routes::clinics::{MunicipalityView, ProvinceView, RegionsView};
    use crate::routes::eligibility::{DecisionView, ViaView};
    use crate::routes::identity::{
        CheckStarted, FamilyConsent, FamilyMember, SignedIn, VerifiedPerson,
    };
    use crate::routes::leftovers::{NearMeView, SubscriptionView};
    use crate::routes::queue::{
        AdmittedState, IneligibleState, NotInThisOpening, PassIssued, TextAccepted, WillTextState,
    };
    use crate::routes::supply::MoveView;
    use domain::booking::DoseStatus;

    #[track_caller]
    fn keys_in_json_order(view: &impl Serialize) {
        let bytes = serde_json::to_string(view).unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&bytes).unwrap_or_default();
        assert_eq!(bytes, value.to_string());
    }

    fn appointment() -> AppointmentView {
        AppointmentView {
            clinic: ClinicRef {
                id: 3,
                name: Some("서울의원".into()),
            },
            date: jiff::civil::date(2021, 7, 26),
            hour: 10,
            product: Product::AstraZeneca,
        }
    }

    fn offer() -> OfferView {
        OfferView {
            clinic: OfferClinic {
                id: 3,
                lat: Some(37.5),
                lon: Some(127.0),
                name: Some("서울의원".into()),
            },
            date: jiff::civil::date(2021, 7, 26),
            distance_km: Some(3.0),
            doses: 5,
            id: 9,
            left: 4,
            open: true,
            product: Product::Pfizer,
            told: Some(12),
            until: Some(jiff::Timestamp::UNIX_EPOCH),
        }
    }

    #[test]
    fn booking_and_move_views_keep_the_json_key_order() {
        let booking = BookingView {
            active: true,
            booked_by_self: true,
            doses: vec![DoseView {
                clinic: appointment().clinic,
                date: jiff::civil::date(2021, 7, 26),
                dose: 1,
                hour: 10,
                status: DoseStatus::Booked,
            }],
            for_self: false,
            id: 7,
            moved: Some(vec![MoveView {
                dose: 1,
                from: appointment(),
                reason: "supply_cut",
                to: Some(appointment()),
            }]),
            product: ProductView {
                code: Product::AstraZeneca,
                name_en: "AstraZeneca",
                name_ko: "아스트라제네카",
            },
        };
        keys_in_json_order(&booking);
        // The API's spelling of the product, not its records'.
        assert!(
            serde_json::to_string(&booking)
                .unwrap_or_default()
                .contains("\"code\":\"astrazeneca\"")
        );
    }

    #[test]
    fn leftover_and_clinic_views_keep_the_json_key_order() {
        keys_in_json_order(&offer());
        keys_in_json_order(&NearMeView {
            offers: vec![offer()],
            subscription: Some(SubscriptionView {
                lat: 37.5,
                lon: 127.0,
                products: vec![Product::Moderna],
                radius_km: 3.0,
            }),
        });
        keys_in_json_order(&DayView {
            appointments: vec![DayAppointment {
                birth_date: Some(jiff::civil::date(1968, 2, 29)),
                booking_id: 7,
                dose: 2,
                hour: 9,
                name: Some("홍*동".into()),
                product: Product::Janssen,
                status: DoseStatus::Given,
            }],
            booked: 0,
            clinic: 3,
            date: jiff::civil::date(2021, 7, 26),
            given: 1,
        });
    }

    #[test]
    fn eligibility_and_identity_views_keep_the_json_key_order() {
        let at = Some(jiff::Timestamp::UNIX_EPOCH);
        keys_in_json_order(&DecisionView {
            closed_at: at,
            closes_at: at,
            code: "not_yet",
            eligible: false,
            message_en: "Not yet".into(),
            message_ko: "아직".into(),
            opens_at: at,
            opens_at_kst: Some("1970-01-01T09:00:00+09:00".into()),
            via: Some(ViaView::Cohort { cohort: 2 }),
        });
        keys_in_json_order(&CheckStarted {
            demo_code: Some("123456".into()),
            expires_at: jiff::Timestamp::UNIX_EPOCH,
            verification_id: "abc".into(),
        });
        keys_in_json_order(&SignedIn {
            expires_at: "2021-07-19T11:30:00Z".into(),
            pass: Some("pass".into()),
            person: VerifiedPerson {
                birth_date: "1967-03-15".into(),
                rrn: "670315-1******".into(),
            },
            session_token: "token".into(),
        });
        keys_in_json_order(&FamilyConsent {
            consent: "consent".into(),
            expires_at: "2021-07-19T11:30:00Z".into(),
            member: FamilyMember {
                name: "홍*동".into(),
            },
        });
    }

    #[test]
    fn waiting_room_and_region_views_keep_the_json_key_order() {
        keys_in_json_order(&PassIssued {
            expires_at: None,
            pass: "pass".into(),
            state: AdmittedState::Admitted,
        });
        keys_in_json_order(&TextAccepted {
            return_window_minutes: 10,
            state: WillTextState::WillText,
        });
        keys_in_json_order(&NotInThisOpening {
            eligibility: crate::routes::eligibility::DecisionView {
                closed_at: None,
                closes_at: None,
                code: "not_yet",
                eligible: false,
                message_en: "Not yet".into(),
                message_ko: "아직".into(),
                opens_at: Some(jiff::Timestamp::UNIX_EPOCH),
                opens_at_kst: Some("1970-01-01T09:00:00+09:00".into()),
                via: Some(ViaView::Cohort { cohort: 2 }),
            },
            queue: 2,
            session_token: "token".into(),
            state: IneligibleState::Ineligible,
        });
        keys_in_json_order(&DoseGiven {
            booking_id: 7,
            dose: 2,
            fully_vaccinated: true,
            status: GivenState::Given,
        });
        keys_in_json_order(&RegionsView {
            provinces: vec![ProvinceView {
                code: 11,
                municipalities: vec![MunicipalityView {
                    code: 11010,
                    name_en: "Jongno-gu",
                    name_ko: "종로구",
                }],
                name_en: "Seoul",
                name_ko: "서울특별시",
            }],
        });
        // The states are written as the strings they replaced.
        for (written, replaced) in [
            (serde_json::to_string(&AdmittedState::Admitted), "admitted"),
            (
                serde_json::to_string(&IneligibleState::Ineligible),
                "ineligible",
            ),
            (serde_json::to_string(&WillTextState::WillText), "will_text"),
            (serde_json::to_string(&GivenState::Given), "given"),
        ] {
            assert_eq!(written.unwrap_or_default(), format!("\"{replaced}\""));
        }
    }
}
