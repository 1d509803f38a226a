//! Operators' delivery uploads (`POST /api/v1/admin/deliveries/import`, lines
//! `clinic,day,product,doses` with an optional header).
//!
//! Checks beyond "no panic": an accepted upload has one delivery per non-blank line (the header
//! aside), each with a real date and a known product, and writing the deliveries back out as CSV
//! parses to the same deliveries; a refused upload answers 400 in the API's error shape, naming
//! a line that exists when it blames one, and bytes that are not UTF-8 are refused that way too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use server::parsers::parse_csv;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    match parse_csv(data) {
        Ok(lines) => {
            let json: Vec<Value> = lines.iter().map(to_json).collect();
            assert!(std::str::from_utf8(data).is_ok(), "only UTF-8 is read");
            assert_eq!(json.len(), data_lines(&body), "one delivery per line");
            for line in &json {
                let day: jiff::civil::Date = line["day"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .expect("an accepted day is a date");
                assert_eq!(day.to_string().parse::<jiff::civil::Date>().ok(), Some(day));
                let product = line["product"].as_str().unwrap_or_default();
                assert!(
                    domain::product::Product::parse(product).is_some(),
                    "{product:?}"
                );
            }
            let written: String = json
                .iter()
                .map(|l| {
                    format!(
                        "{},{},{},{}\n",
                        l["clinic"],
                        l["day"].as_str().unwrap_or_default(),
                        l["product"].as_str().unwrap_or_default(),
                        l["doses"]
                    )
                })
                .collect();
            let again = parse_csv(format!("clinic,day,product,doses\n{written}").as_bytes())
                .unwrap_or_else(|e| panic!("written back, refused: {}", e.message_en));
            assert_eq!(again.iter().map(to_json).collect::<Vec<_>>(), json);
        }
        Err(e) => {
            assert_eq!(e.status.as_u16(), 400);
            assert!(
                [
                    "invalid_csv_line",
                    "empty_csv",
                    "too_many_deliveries",
                    "csv_not_utf8"
                ]
                .contains(&&*e.code),
                "{}",
                e.code
            );
            assert!(e.message_ko.chars().any(|c| ('가'..='힣').contains(&c)));
            assert!(!e.message_en.is_empty());
            if let Some(line) = e.detail.as_ref().and_then(|d| d["line"].as_u64()) {
                assert!(
                    line >= 1 && line as usize <= body.lines().count(),
                    "line {line}"
                );
            }
        }
    }
});

fn to_json(line: &server::parsers::DeliveryLine) -> Value {
    serde_json::to_value(line).expect("a delivery serializes")
}

/// Lines that hold a delivery: not blank, and not the header on the first line.
fn data_lines(body: &str) -> usize {
    body.lines()
        .enumerate()
        .filter(|(n, l)| {
            let l = l.trim();
            !l.is_empty() && (*n != 0 || !l.starts_with("clinic"))
        })
        .count()
}
