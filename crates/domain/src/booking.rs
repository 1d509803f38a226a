//! Bookings: a person's appointment for dose 1 and, for two-dose products, dose 2.

use crate::clinic::ClinicId;
use crate::product::Product;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

/// A person known to yeyak (assigned on their first identity check or first proxy booking).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonId(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BookingId(pub u64);

/// First bookable hour of a day; bands are one hour long.
pub const FIRST_HOUR: u8 = 8;
/// The hour the last band ends.
pub const END_HOUR: u8 = 20;
pub const BANDS_PER_DAY: usize = (END_HOUR - FIRST_HOUR) as usize;

/// One vaccination appointment: a clinic, a day, an hour band and a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Appointment {
    pub clinic: ClinicId,
    pub day: Date,
    /// The band's starting hour (9 = 09:00–10:00).
    pub hour: u8,
    pub product: Product,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DoseStatus {
    Booked,
    Given,
    Cancelled,
}

impl DoseStatus {
    pub fn code(self) -> &'static str {
        match self {
            DoseStatus::Booked => "booked",
            DoseStatus::Given => "given",
            DoseStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(code: &str) -> Option<DoseStatus> {
        [DoseStatus::Booked, DoseStatus::Given, DoseStatus::Cancelled]
            .into_iter()
            .find(|s| s.code() == code)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dose {
    pub appointment: Appointment,
    pub status: DoseStatus,
}

/// A booking: dose 1 and, for two-dose products, dose 2 at the same clinic with the same product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub person: PersonId,
    /// Who made it: the person themself, or a family member booking on their behalf.
    pub booked_by: PersonId,
    pub first: Dose,
    pub second: Option<Dose>,
}

impl Booking {
    /// A booking holds capacity while any of its doses is still to be given.
    pub fn is_active(&self) -> bool {
        self.doses().any(|d| d.status == DoseStatus::Booked)
    }

    pub fn doses(&self) -> impl Iterator<Item = &Dose> {
        std::iter::once(&self.first).chain(self.second.as_ref())
    }

    /// Doses that still hold a place at a clinic.
    pub fn booked_appointments(&self) -> impl Iterator<Item = Appointment> + '_ {
        self.doses()
            .filter(|d| d.status == DoseStatus::Booked)
            .map(|d| d.appointment)
    }
}

/// Why a booking request was refused. Each refusal changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BookingError {
    #[error("no such clinic")]
    NoSuchClinic,
    #[error("the clinic does not offer this product")]
    ProductNotOffered,
    #[error("the day is not bookable")]
    DayNotBookable,
    #[error("the clinic does not vaccinate in this hour")]
    HourNotOpen,
    #[error("the time band is full")]
    SlotFull,
    #[error("no second-dose slot within the allowed delay")]
    SecondDoseUnavailable,
    #[error("the person already has an active booking")]
    AlreadyBooked(BookingId),
    #[error("no such booking")]
    NoSuchBooking,
    #[error("the booking belongs to someone else")]
    NotYourBooking,
    #[error("the first dose was already given")]
    FirstDoseGiven,
    #[error("the booking is already cancelled")]
    AlreadyCancelled,
    #[error("the dose is booked at another clinic")]
    OtherClinic,
    #[error("the dose is not due today")]
    NotDueToday,
    #[error("the dose is not booked (already given or cancelled)")]
    DoseNotBooked,
    #[error("dose 2 cannot be given before dose 1")]
    FirstDoseNotGiven,
}

impl BookingError {
    pub fn code(self) -> &'static str {
        match self {
            BookingError::NoSuchClinic => "no_such_clinic",
            BookingError::ProductNotOffered => "product_not_offered",
            BookingError::DayNotBookable => "day_not_bookable",
            BookingError::HourNotOpen => "hour_not_open",
            BookingError::SlotFull => "slot_full",
            BookingError::SecondDoseUnavailable => "second_dose_unavailable",
            BookingError::AlreadyBooked(_) => "already_booked",
            BookingError::NoSuchBooking => "no_such_booking",
            BookingError::NotYourBooking => "not_your_booking",
            BookingError::FirstDoseGiven => "first_dose_given",
            BookingError::AlreadyCancelled => "already_cancelled",
            BookingError::OtherClinic => "other_clinic",
            BookingError::NotDueToday => "not_due_today",
            BookingError::DoseNotBooked => "dose_not_booked",
            BookingError::FirstDoseNotGiven => "first_dose_not_given",
        }
    }

    pub fn message_ko(self) -> &'static str {
        match self {
            BookingError::NoSuchClinic => "해당 의료기관을 찾을 수 없습니다.",
            BookingError::ProductNotOffered => "이 의료기관에서는 해당 백신을 접종하지 않습니다.",
            BookingError::DayNotBookable => {
                "예약할 수 없는 날짜입니다. 내일 이후 날짜를 선택해 주세요."
            }
            BookingError::HourNotOpen => "해당 시간에는 접종하지 않습니다.",
            BookingError::SlotFull => {
                "선택하신 시간대의 예약이 마감되었습니다. 다른 시간대를 선택해 주세요."
            }
            BookingError::SecondDoseUnavailable => {
                "2차 접종 가능한 날짜가 없어 예약할 수 없습니다. 다른 날짜나 의료기관을 선택해 주세요."
            }
            BookingError::AlreadyBooked(_) => "이미 예약이 있습니다. 예약 변경을 이용해 주세요.",
            BookingError::NoSuchBooking => "예약을 찾을 수 없습니다.",
            BookingError::NotYourBooking => "본인 또는 대리 예약한 예약만 변경할 수 있습니다.",
            BookingError::FirstDoseGiven => "1차 접종을 이미 받아 변경할 수 없습니다.",
            BookingError::AlreadyCancelled => "이미 취소된 예약입니다.",
            BookingError::OtherClinic => "다른 의료기관에 예약된 접종입니다.",
            BookingError::NotDueToday => "오늘 예약된 접종이 아닙니다.",
            BookingError::DoseNotBooked => "이미 접종했거나 취소된 예약입니다.",
            BookingError::FirstDoseNotGiven => {
                "1차 접종 기록이 없어 2차 접종을 기록할 수 없습니다."
            }
        }
    }

    pub fn message_en(self) -> &'static str {
        match self {
            BookingError::NoSuchClinic => "No such clinic.",
            BookingError::ProductNotOffered => "This clinic does not offer that vaccine.",
            BookingError::DayNotBookable => {
                "That day cannot be booked. Choose a day from tomorrow on."
            }
            BookingError::HourNotOpen => "The clinic does not vaccinate in that hour.",
            BookingError::SlotFull => "That time band is full. Please choose another one.",
            BookingError::SecondDoseUnavailable => {
                "No second-dose slot is available; choose another day or clinic."
            }
            BookingError::AlreadyBooked(_) => {
                "You already have a booking. Change it instead of booking again."
            }
            BookingError::NoSuchBooking => "No such booking.",
            BookingError::NotYourBooking => {
                "Only the person or the family member who booked can change this booking."
            }
            BookingError::FirstDoseGiven => {
                "The first dose was already given, so this booking cannot be changed."
            }
            BookingError::AlreadyCancelled => "This booking is already cancelled.",
            BookingError::OtherClinic => "This dose is booked at another clinic.",
            BookingError::NotDueToday => "This dose is not due today.",
            BookingError::DoseNotBooked => "This dose was already given or cancelled.",
            BookingError::FirstDoseNotGiven => {
                "Dose 2 cannot be recorded before dose 1 has been given."
            }
        }
    }
}
