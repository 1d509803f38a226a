//! Page widgets the desks share: product and region choices, the bookable days and hour
//! bands with the places left, a dose as text, the error box the scripts fill.

use super::layout::{Lang, band_text, date_text, in_lang, short_date_text};
use crate::routes::clinics::ClinicView;
use crate::state::AppState;
use crate::text::shared::{places_left, widgets};
use domain::booking::{END_HOUR, FIRST_HOUR};
use domain::product::Product;
use domain::time::seoul_date;
use jiff::ToSpan;
use jiff::civil::Date;
use maud::{Markup, html};

/// Days offered on the booking page, from tomorrow.
const BOOK_DAYS: i64 = 14;

/// A product's name in the page's language.
pub(super) fn product_name(product: Product, lang: Lang) -> &'static str {
    in_lang(lang, product.name_ko(), product.name_en())
}

/// The box a page's script shows an error in.
pub(super) fn error_box() -> Markup {
    html! { div id="error" class="error" role="alert" tabindex="-1" hidden {} }
}

pub(super) fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(super) fn product_options(
    selected: Option<&str>,
    offered: &[Product],
    lang: Lang,
    any: bool,
) -> Markup {
    html! {
        @if any { option value="" { (widgets::ANY_VACCINE.get(lang)) } }
        @for p in offered {
            option value=(p.code()) selected[selected == Some(p.code())] { (product_name(*p, lang)) }
        }
    }
}

/// The options of the province select and, for a chosen province, of its districts.
pub(super) fn region_options(
    state: &AppState,
    lang: Lang,
    province: Option<u8>,
    municipality: Option<u32>,
    no_district: &str,
) -> (Markup, Markup) {
    let regions = &state.world.regions;
    let provinces = html! {
        option value="" { (widgets::CHOOSE.get(lang)) }
        @for p in regions.provinces() {
            option value=(p.code.0) selected[province == Some(p.code.0)] {
                (in_lang(lang, &p.name_ko, &p.name_en))
            }
        }
    };
    let districts = province
        .map(|code| regions.municipalities_of(domain::clinic::ProvinceCode(code)))
        .unwrap_or_default();
    let municipalities = html! {
        option value="" { (no_district) }
        @for m in districts {
            option value=(m.code.0) selected[municipality == Some(m.code.0)] {
                @match lang {
                    Lang::Ko => (m.display_name_ko()),
                    Lang::En => (m.name_en),
                }
            }
        }
    };
    (provinces, municipalities)
}

/// A clinic of a search answer: its id, name and district (as text: the page escapes them).
pub(super) fn clinic_identity<'a>(c: &'a ClinicView, lang: Lang) -> (u32, &'a str, &'a str) {
    let place = match lang {
        Lang::Ko => c.municipality_name_ko.as_deref(),
        Lang::En => c.municipality_name_en,
    };
    (c.id, c.name, place.unwrap_or(""))
}

/// The days offered for booking (tomorrow and the [`BOOK_DAYS`]` - 1` after it) with the places
/// left for the product each day, and the day shown: the asked one if offered, else the first
/// with places, else tomorrow.
pub(super) fn bookable_days(
    state: &AppState,
    clinic: &domain::clinic::Clinic,
    product: Product,
    asked: Option<&str>,
) -> Option<(Vec<(Date, u32)>, Date)> {
    let availability = state.writer.availability();
    let tomorrow = seoul_date(state.clock.now()).tomorrow().ok()?;
    let days: Vec<(Date, u32)> = (0..BOOK_DAYS)
        .filter_map(|d| tomorrow.checked_add(d.days()).ok())
        .map(|day| (day, availability.bookable_day(clinic.id, day, product)))
        .collect();
    let date = asked
        .and_then(|d| d.parse::<Date>().ok())
        .filter(|d| days.iter().any(|(day, _)| day == d))
        .or_else(|| days.iter().find(|(_, left)| *left > 0).map(|(d, _)| *d))
        .unwrap_or(tomorrow);
    Some((days, date))
}

/// The days as links to `base&date=…` with the places left; a full day is not a link.
pub(super) fn day_links(days: &[(Date, u32)], date: Date, base: &str, lang: Lang) -> Markup {
    html! {
        @for (day, left) in days {
            li {
                @if *left == 0 {
                    span class="choice off" { (short_date_text(*day, lang)) small { (widgets::FULL.get(lang)) } }
                } @else {
                    a class="choice" href={ (base) "&date=" (day) } aria-current=[(*day == date).then_some("date")] {
                        (short_date_text(*day, lang)) small { (places_left(lang, left)) }
                    }
                }
            }
        }
    }
}

/// The day's open hour bands as radio buttons named `hour`, each with the places left for the
/// product; a full band is disabled.
pub(super) fn band_choices(
    state: &AppState,
    clinic: &domain::clinic::Clinic,
    date: Date,
    product: Product,
    lang: Lang,
) -> Markup {
    let availability = state.writer.availability();
    let bands: Vec<(u8, u32)> = (FIRST_HOUR..END_HOUR)
        .filter(|hour| domain::ledger::is_open(&clinic.hours, date, *hour))
        .map(|hour| (hour, availability.bookable(clinic.id, date, hour, product)))
        .collect();
    html! {
        @for (hour, left) in &bands {
            label class="choice" {
                input type="radio" name="hour" value=(hour) required disabled[*left == 0];
                " " (band_text(*hour)) " "
                small {
                    @if *left == 0 { (widgets::FULL.get(lang)) } @else { (places_left(lang, left)) }
                }
            }
        }
        @if bands.is_empty() { p { (widgets::NO_VACCINATIONS.get(lang)) } }
    }
}

/// Shown when the chosen band filled before the booking: the refusal's nearest free bands, as
/// buttons the page's script fills in (one tap books one).
pub(super) fn filled_section(lang: Lang, change: bool, search_href: &str) -> Markup {
    let explain = if change {
        widgets::FILLED_CHANGE
    } else {
        widgets::FILLED_BOOK
    };
    html! {
        section id="filled" class="notice" aria-labelledby="filled-h" hidden {
            h2 id="filled-h" tabindex="-1" { (widgets::FILLED_HEADING.get(lang)) }
            p { (explain.get(lang)) }
            ul id="offers" class="offers" {}
            p id="no-offers" hidden {
                (widgets::NO_OFFERS.get(lang)) " "
                a href=(search_href) { (widgets::SEARCH_AGAIN.get(lang)) }
            }
        }
    }
}

/// Texts the booking scripts show as places change, for the booking form's `data-` attributes.
pub(super) struct PlacesTexts {
    /// `data-left-text`: "{n} left".
    pub left: &'static str,
    /// `data-full-text`.
    pub full: &'static str,
    /// `data-chosen-filled`: "the {band} band you chose has just filled".
    pub chosen_filled: &'static str,
}

pub(super) fn places_texts(lang: Lang) -> PlacesTexts {
    PlacesTexts {
        left: widgets::LEFT_TEMPLATE.get(lang),
        full: widgets::FULL.get(lang),
        chosen_filled: widgets::CHOSEN_FILLED.get(lang),
    }
}

impl PlacesTexts {
    /// The three as attributes, for the pages still written with `format!`.
    pub(super) fn attributes(&self) -> String {
        format!(
            "data-left-text=\"{}\" data-full-text=\"{}\" data-chosen-filled=\"{}\"",
            self.left, self.full, self.chosen_filled
        )
    }
}

/// "2021년 7월 26일 (월) 10:00–11:00 · 서울의원": a dose or appointment as a person reads it.
pub(super) fn when_where(day: Date, hour: u8, clinic: &str, lang: Lang) -> String {
    format!("{} {} · {clinic}", date_text(day, lang), band_text(hour))
}

/// The middle of a district's clinics: where "near" is measured from for someone who chose a
/// district rather than sharing their location.
pub(super) fn district_centre(state: &AppState, code: u32) -> Option<(f64, f64)> {
    let ids = state
        .world
        .index
        .in_municipality(domain::clinic::MunicipalityCode(code));
    let points: Vec<_> = ids
        .iter()
        .filter_map(|id| state.world.clinics.get(id.index()))
        .map(|c| c.location)
        .collect();
    let n = points.len() as f64;
    (n > 0.0).then(|| {
        (
            points.iter().map(|p| p.lat).sum::<f64>() / n,
            points.iter().map(|p| p.lon).sum::<f64>() / n,
        )
    })
}
