//! Resident registration numbers as typed by a person (identity check, family booking, priority
//! list lines) and their keyed hashes as read back from storage.
//!
//! Checks beyond "no panic": an accepted number is 13 digits (one hyphen after the sixth at
//! most), its birth date is the one its digits spell in the century its seventh digit names,
//! both written forms parse to the same number, the mask shows only the date and that digit,
//! and `parse_at` refuses it exactly on the days before its birth date. A refusal is never
//! "in the future" without a date. A hash parses only from 64 hex digits and prints back as them.
#![no_main]

use domain::rrn::{Rrn, RrnError, RrnHash, Sex};
use jiff::ToSpan;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    check_rrn(text);
    check_hash(text);
});

fn check_rrn(text: &str) {
    let rrn = match Rrn::parse(text) {
        Ok(rrn) => rrn,
        Err(e) => {
            assert_ne!(e, RrnError::InTheFuture, "parse does not know today");
            assert!(!e.code().is_empty() && !e.message_ko().is_empty());
            return;
        }
    };
    let trimmed = text.trim();
    let digits: Vec<u8> = trimmed.bytes().filter(|b| *b != b'-').collect();
    assert_eq!(digits.len(), 13, "{trimmed:?}");
    assert!(digits.iter().all(u8::is_ascii_digit));
    let hyphens = trimmed.len() - digits.len();
    assert!(hyphens == 0 || (hyphens == 1 && trimmed.as_bytes()[6] == b'-'));

    let number = |i: usize| i32::from(digits[i] - b'0');
    let century = match number(6) {
        1 | 2 | 5 | 6 => 1900,
        3 | 4 | 7 | 8 => 2000,
        _ => 1800,
    };
    let born = rrn.birth_date();
    assert_eq!(i32::from(born.year()), century + number(0) * 10 + number(1));
    assert_eq!(i32::from(born.month()), number(2) * 10 + number(3));
    assert_eq!(i32::from(born.day()), number(4) * 10 + number(5));
    let male = number(6) % 2 == 1;
    assert_eq!(rrn.sex(), if male { Sex::Male } else { Sex::Female });
    assert_eq!(rrn.is_foreigner(), (5..=8).contains(&number(6)));

    let bare = String::from_utf8(digits.clone()).expect("ASCII digits");
    let hyphenated = format!("{}-{}", &bare[..6], &bare[6..]);
    assert_eq!(Rrn::parse(&bare).as_ref(), Ok(&rrn));
    assert_eq!(Rrn::parse(&hyphenated).as_ref(), Ok(&rrn));
    assert_eq!(rrn.masked(), format!("{}******", &hyphenated[..8]));
    assert_eq!(
        format!("{rrn:?}"),
        "Rrn(******-*******)",
        "Debug never shows digits"
    );

    assert_eq!(
        Rrn::parse_at(text, born).as_ref(),
        Ok(&rrn),
        "born today is fine"
    );
    if let Ok(day_before) = born.checked_sub(1.day()) {
        assert_eq!(Rrn::parse_at(text, day_before), Err(RrnError::InTheFuture));
    }
    // The hash depends on the digits alone, not on how they were written.
    let key = b"fuzz key";
    assert_eq!(
        rrn.keyed_hash(key),
        Rrn::parse(&bare)
            .map(|r| r.keyed_hash(key))
            .expect("parsed above")
    );
}

fn check_hash(text: &str) {
    if let Ok(hash) = text.parse::<RrnHash>() {
        assert_eq!(hash.to_string(), text.to_ascii_lowercase());
        let json = serde_json::to_string(&hash).expect("a hash serializes");
        assert_eq!(serde_json::from_str::<RrnHash>(&json).ok(), Some(hash));
    } else {
        assert!(text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
