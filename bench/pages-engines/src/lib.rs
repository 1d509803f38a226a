//! Two real yeyak pages — the waiting page (`/wait?province=…`, small) and the clinic search
//! results (`/search`, ten clinic cards, long) — each written three ways: with `format!` and
//! `escape()` as `crates/server/src/pages` wrote them before maud, with maud, and with askama.
//! The three take the same inputs and write the same HTML (the tests check it), so render time
//! and binary size compare like for like. See `bench/pages.md`.

pub mod askama_pages;
pub mod format_pages;
pub mod maud_pages;

/// The citizen's steps, shown on every page of the booking flow.
pub const STEPS: [&str; 6] = [
    "대기",
    "본인인증",
    "대상 확인",
    "의료기관 선택",
    "날짜·시간 선택",
    "예약 완료",
];

/// What the frame around every page needs.
pub struct Frame {
    pub title: String,
    /// The same address in the other language.
    pub switch_href: String,
    /// The step of the booking flow (1-based).
    pub step: u8,
    /// The page's own script, if it has one.
    pub script: Option<&'static str>,
}

pub struct Province {
    pub code: u8,
    pub name: String,
}

/// The waiting page of someone in the queue, with the places left where they chose.
pub struct WaitInput {
    pub frame: Frame,
    pub ahead: u64,
    pub position: u64,
    pub number: u64,
    pub eta: String,
    pub provinces: Vec<Province>,
    pub province: Option<u8>,
    pub places_left: u64,
}

pub struct ClinicCard {
    pub id: u32,
    pub name: String,
    pub place: String,
    pub distance_km: Option<f64>,
    pub products: Vec<&'static str>,
    pub when: String,
    pub choosable: bool,
}

/// The search page with a page of results.
pub struct SearchInput {
    pub frame: Frame,
    pub provinces: Vec<Province>,
    pub province: Option<u8>,
    pub products: Vec<(&'static str, &'static str)>,
    pub total: usize,
    pub offset: usize,
    pub clinics: Vec<ClinicCard>,
    pub carry: String,
    pub next: Option<String>,
}

const PROVINCES: [&str; 17] = [
    "서울특별시",
    "부산광역시",
    "대구광역시",
    "인천광역시",
    "광주광역시",
    "대전광역시",
    "울산광역시",
    "세종특별자치시",
    "경기도",
    "강원도",
    "충청북도",
    "충청남도",
    "전라북도",
    "전라남도",
    "경상북도",
    "경상남도",
    "제주특별자치도",
];

fn provinces() -> Vec<Province> {
    PROVINCES
        .iter()
        .zip(11u8..)
        .map(|(name, code)| Province {
            code,
            name: (*name).to_string(),
        })
        .collect()
}

/// The inputs every engine renders: a person 4,321st of 120,000 waiting in Busan; a search
/// page of ten clinics, one with markup in its name (escaped by all three).
pub fn wait_input() -> WaitInput {
    WaitInput {
        frame: Frame {
            title: "접속 대기".into(),
            switch_href: "/wait?province=21&lang=en".into(),
            step: 1,
            script: None,
        },
        ahead: 4_321,
        position: 4_322,
        number: 120_000,
        eta: "약 7분".into(),
        provinces: provinces(),
        province: Some(21),
        places_left: 18_250,
    }
}

pub fn search_input() -> SearchInput {
    let clinics = (0..10)
        .map(|i| ClinicCard {
            id: 100 + i,
            name: if i == 3 {
                "<script>alert(1)</script>\"의원'".into()
            } else {
                format!("해운대 {i}번 내과의원")
            },
            place: "부산광역시 해운대구".into(),
            distance_km: Some(0.4 * f64::from(i + 1)),
            products: vec!["화이자", "모더나"],
            when: format!(
                "가장 빠른 날: 2021년 7월 2{i}일 (목) · 7일간 남은 자리 {}",
                40 + i
            ),
            choosable: i != 9,
        })
        .collect();
    SearchInput {
        frame: Frame {
            title: "의료기관 찾기".into(),
            switch_href: "/search?province=21&municipality=21090&lang=en".into(),
            step: 4,
            script: Some("search.js"),
        },
        provinces: provinces(),
        province: Some(21),
        products: vec![
            ("pfizer", "화이자"),
            ("moderna", "모더나"),
            ("az", "아스트라제네카"),
            ("janssen", "얀센"),
        ],
        total: 37,
        offset: 0,
        clinics,
        carry: "&family=1".into(),
        next: Some("/search?province=21&municipality=21090&offset=10".into()),
    }
}

/// The progress bar's numbers: done out of number, in percent.
pub fn progress(input: &WaitInput) -> (u64, u64) {
    let number = input.number.max(1);
    let done = number.saturating_sub(input.position);
    (done, done * 100 / number)
}

/// "1–10": the range of clinics shown.
pub fn range(input: &SearchInput) -> (usize, usize) {
    (input.offset + 1, input.offset + input.clinics.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HTML with the whitespace between tags dropped: what the three engines must agree on.
    /// The engines write a character reference each their own way (`&lt;`, `&#60;`; maud
    /// leaves `'` as it is, its attributes being always in double quotes), and the `format!`
    /// version left a query's `&` unescaped in an address: one spelling here.
    fn squeezed(html: &str) -> String {
        let one_line: String = html.split('\n').map(str::trim).collect();
        [
            ("&#60;", "&lt;"),
            ("&#62;", "&gt;"),
            ("&#34;", "&quot;"),
            ("&#39;", "'"),
            ("&#38;", "&amp;"),
            // `format!` left the `&` of a query in an address as it was.
            ("&amp;", "&"),
        ]
        .iter()
        .fold(one_line, |html, (from, to)| html.replace(from, to))
    }

    #[test]
    fn the_three_engines_write_the_same_waiting_page() {
        let input = wait_input();
        let reference = squeezed(&format_pages::wait(&input));
        assert_eq!(squeezed(&maud_pages::wait(&input)), reference);
        assert_eq!(squeezed(&askama_pages::wait(&input)), reference);
        assert!(reference.contains("앞에 4321명이 있습니다"));
    }

    #[test]
    fn the_three_engines_write_the_same_search_page() {
        let input = search_input();
        let reference = squeezed(&format_pages::search(&input));
        assert_eq!(squeezed(&maud_pages::search(&input)), reference);
        assert_eq!(squeezed(&askama_pages::search(&input)), reference);
        assert!(reference.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;의원'"));
        assert!(!reference.contains("<script>alert"));
    }
}
