//! The two pages in askama: templates in `templates/`, escaped by default (`.html`).

use crate::{Frame, Province, STEPS, SearchInput, WaitInput, progress, range};
use askama::Template;

#[derive(Template)]
#[template(path = "wait.html")]
struct Wait<'a> {
    frame: &'a Frame,
    steps: &'a [&'a str],
    ahead: u64,
    number: u64,
    done: u64,
    percent: u64,
    position: u64,
    eta: &'a str,
    provinces: &'a [Province],
    province: Option<u8>,
    places_left: u64,
}

#[derive(Template)]
#[template(path = "search.html")]
struct Search<'a> {
    frame: &'a Frame,
    steps: &'a [&'a str],
    provinces: &'a [Province],
    province: Option<u8>,
    products: &'a [(&'a str, &'a str)],
    total: usize,
    first: usize,
    last: usize,
    clinics: &'a [crate::ClinicCard],
    carry: &'a str,
    next: Option<&'a str>,
}

pub fn wait(input: &WaitInput) -> String {
    let (done, percent) = progress(input);
    Wait {
        frame: &input.frame,
        steps: &STEPS,
        ahead: input.ahead,
        number: input.number.max(1),
        done,
        percent,
        position: input.position,
        eta: &input.eta,
        provinces: &input.provinces,
        province: input.province,
        places_left: input.places_left,
    }
    .render()
    .unwrap_or_default()
}

pub fn search(input: &SearchInput) -> String {
    let (first, last) = range(input);
    Search {
        frame: &input.frame,
        steps: &STEPS,
        provinces: &input.provinces,
        province: input.province,
        products: &input.products,
        total: input.total,
        first,
        last,
        clinics: &input.clinics,
        carry: &input.carry,
        next: input.next.as_deref(),
    }
    .render()
    .unwrap_or_default()
}
