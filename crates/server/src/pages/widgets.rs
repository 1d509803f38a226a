//! Page widgets the desks share: product and region choices, the bookable days and hour
//! bands with the places left, a dose as text, the error box the scripts fill.

use super::layout::{Lang, band_text, date_text, escape, short_date_text};
use crate::routes::clinics::ClinicView;
use crate::state::AppState;
use domain::booking::{END_HOUR, FIRST_HOUR};
use domain::product::Product;
use domain::time::seoul_date;
use jiff::ToSpan;
use jiff::civil::Date;

/// Days offered on the booking page, from tomorrow.
const BOOK_DAYS: i64 = 14;

/// A product's name in the page's language.
pub(super) fn product_name(product: Product, lang: Lang) -> &'static str {
    lang.t(product.name_ko(), product.name_en())
}

pub(super) fn error_box() -> &'static str {
    "<div id=\"error\" class=\"error\" role=\"alert\" tabindex=\"-1\" hidden></div>"
}

pub(super) fn filled(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

pub(super) fn product_options(
    selected: Option<&str>,
    offered: &[Product],
    lang: Lang,
    any: bool,
) -> String {
    let mut html = String::new();
    if any {
        html.push_str(&format!(
            "<option value=\"\">{}</option>",
            lang.t("모든 백신", "Any vaccine")
        ));
    }
    for p in offered {
        let sel = if selected == Some(p.code()) {
            " selected"
        } else {
            ""
        };
        html.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            p.code(),
            lang.t(p.name_ko(), p.name_en())
        ));
    }
    html
}

/// The options of the province select and, for a chosen province, of its districts.
pub(super) fn region_options(
    state: &AppState,
    lang: Lang,
    province: Option<u8>,
    municipality: Option<u32>,
    no_district: &str,
) -> (String, String) {
    let regions = &state.world.regions;
    let mut provinces = format!("<option value=\"\">{}</option>", lang.t("선택", "Choose"));
    for p in regions.provinces() {
        let sel = if province == Some(p.code.0) {
            " selected"
        } else {
            ""
        };
        provinces.push_str(&format!(
            "<option value=\"{}\"{sel}>{}</option>",
            p.code.0,
            escape(lang.t(&p.name_ko, &p.name_en))
        ));
    }
    let mut municipalities = format!("<option value=\"\">{no_district}</option>");
    if let Some(code) = province {
        for m in regions.municipalities_of(domain::clinic::ProvinceCode(code)) {
            let sel = if municipality == Some(m.code.0) {
                " selected"
            } else {
                ""
            };
            let name = match lang {
                Lang::Ko => m.display_name_ko(),
                Lang::En => m.name_en.clone(),
            };
            municipalities.push_str(&format!(
                "<option value=\"{}\"{sel}>{}</option>",
                m.code.0,
                escape(&name)
            ));
        }
    }
    (provinces, municipalities)
}

/// A clinic of a search answer: its id, and its name and district as escaped HTML.
pub(super) fn clinic_identity(c: &ClinicView, lang: Lang) -> (u32, String, String) {
    let name = escape(c.name);
    let place = match lang {
        Lang::Ko => c.municipality_name_ko.as_deref(),
        Lang::En => c.municipality_name_en,
    };
    (c.id, name, escape(place.unwrap_or("")))
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

/// The days as links to `base&date=…` with the places left; a full day is not a link. `base`
/// is built from numbers and codes only, so it needs no escaping.
pub(super) fn day_links(days: &[(Date, u32)], date: Date, base: &str, lang: Lang) -> String {
    let mut links = String::new();
    for (day, left) in days {
        let current = if *day == date {
            " aria-current=\"date\""
        } else {
            ""
        };
        let left_text = match lang {
            Lang::Ko => format!("남은 자리 {left}"),
            Lang::En => format!("{left} left"),
        };
        if *left == 0 {
            links.push_str(&format!(
                "<li><span class=\"choice off\">{}<small>{}</small></span></li>",
                short_date_text(*day, lang),
                lang.t("마감", "full")
            ));
        } else {
            links.push_str(&format!(
                "<li><a class=\"choice\" href=\"{base}&date={day}\"{current}>{}<small>{left_text}</small></a></li>",
                short_date_text(*day, lang)
            ));
        }
    }
    links
}

/// The day's open hour bands as radio buttons named `hour`, each with the places left for the
/// product; a full band is disabled.
pub(super) fn band_choices(
    state: &AppState,
    clinic: &domain::clinic::Clinic,
    date: Date,
    product: Product,
    lang: Lang,
) -> String {
    let availability = state.writer.availability();
    let left_template = lang.t("남은 자리 {n}", "{n} left");
    let mut bands = String::new();
    for hour in FIRST_HOUR..END_HOUR {
        if !domain::ledger::is_open(&clinic.hours, date, hour) {
            continue;
        }
        let left = availability.bookable(clinic.id, date, hour, product);
        let left_text = if left == 0 {
            lang.t("마감", "full").to_string()
        } else {
            left_template.replace("{n}", &left.to_string())
        };
        let disabled = if left == 0 { " disabled" } else { "" };
        bands.push_str(&format!(
            "<label class=\"choice\"><input type=\"radio\" name=\"hour\" value=\"{hour}\" required{disabled}> {} <small>{left_text}</small></label>",
            band_text(hour)
        ));
    }
    if bands.is_empty() {
        bands = format!(
            "<p>{}</p>",
            lang.t("이 날은 접종하지 않습니다.", "No vaccinations on this day.")
        );
    }
    bands
}

/// Shown when the chosen band filled before the booking: the refusal's nearest free bands, as
/// buttons the page's script fills in (one tap books one).
pub(super) fn filled_section(lang: Lang, change: bool, search_href: &str) -> String {
    format!(
        "<section id=\"filled\" class=\"notice\" aria-labelledby=\"filled-h\" hidden><h2 id=\"filled-h\" tabindex=\"-1\">{filled_h}</h2>\
         <p>{filled_p}</p><ul id=\"offers\" class=\"offers\"></ul>\
         <p id=\"no-offers\" hidden>{no_offers} <a href=\"{search_href}\">{search_again}</a></p></section>",
        filled_h = lang.t(
            "방금 다른 분이 마지막 자리를 예약했습니다",
            "That time was just taken by someone else"
        ),
        filled_p = if change {
            lang.t(
                "아직 자리가 남은 가까운 시간대입니다. 누르면 바로 그 시간으로 변경됩니다.",
                "These nearby times still have places. Tap one to change to it.",
            )
        } else {
            lang.t(
                "아직 자리가 남은 가까운 시간대입니다. 누르면 바로 예약됩니다.",
                "These nearby times still have places. Tap one to book it.",
            )
        },
        no_offers = lang.t(
            "가까운 날짜와 의료기관에 남은 자리가 없습니다.",
            "No nearby day or clinic has a place left."
        ),
        search_again = lang.t("다른 의료기관 찾기", "Find another clinic"),
        search_href = escape(search_href),
    )
}

/// Texts the booking scripts show as places change, as `data-` attributes.
pub(super) fn places_texts(lang: Lang) -> String {
    format!(
        "data-left-text=\"{}\" data-full-text=\"{}\" data-chosen-filled=\"{}\"",
        lang.t("남은 자리 {n}", "{n} left"),
        lang.t("마감", "full"),
        lang.t(
            "고르신 {band} 시간대가 방금 마감되었습니다. 다른 시간대를 골라 주세요.",
            "The {band} band you chose has just filled. Please choose another."
        ),
    )
}

/// "2021년 7월 26일 (월) 10:00–11:00 · 서울의원", escaped: a dose or appointment as a person
/// reads it.
pub(super) fn when_where(day: Date, hour: u8, clinic: &str, lang: Lang) -> String {
    escape(&format!(
        "{} {} · {clinic}",
        date_text(day, lang),
        band_text(hour)
    ))
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
