//! Resident registration numbers (주민등록번호, "RRN"): the only identity a booking is keyed on.
//!
//! An RRN is `YYMMDD-GNNNNNN`: the birth date, then a digit `G` that gives the birth century and
//! sex (and whether the holder is a registered foreigner), then six more digits. It is the most
//! sensitive datum yeyak touches, so [`Rrn`] is built only by parsing, never prints its digits
//! through `Debug`, has no `Display` or `Serialize`, and leaves the process only as a keyed hash
//! ([`RrnHash`]) or masked (`680229-2******`).
//!
//! The old check digit (the 13th) is deliberately not verified: numbers issued since October
//! 2020 end in a random digit, and rejecting them would lock real people out of booking.

use std::fmt;
use std::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use jiff::civil::Date;
use sha2::{Digest, Sha256};

/// Number of digits in an RRN, without the hyphen.
const DIGITS: usize = 13;
/// Number of digits before the hyphen (the `YYMMDD` birth date).
const BIRTH_DIGITS: usize = 6;

/// A syntactically and calendrically valid resident registration number.
///
/// Construct it with [`Rrn::parse`] (or [`Rrn::parse_at`] to also refuse future birth dates).
#[derive(Clone, PartialEq, Eq)]
pub struct Rrn {
    /// The 13 ASCII digits, without the hyphen.
    digits: [u8; DIGITS],
    /// The birth date the first seven digits encode, decoded once at parse time.
    birth_date: Date,
}

/// Sex as encoded in the RRN's seventh digit (odd = male, even = female).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    Male,
    Female,
}

/// Why a string is not a usable RRN. Carries no part of the input, so it can be logged and
/// returned to clients without leaking personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum RrnError {
    /// Wrong length, or a hyphen anywhere but after the sixth digit.
    #[error("an RRN is 13 digits, written YYMMDD-GNNNNNN or without the hyphen")]
    Format,
    /// A character that is not an ASCII digit (or the single hyphen).
    #[error("an RRN may contain only digits and one hyphen")]
    NonDigit,
    /// The first seven digits do not name a real calendar day.
    #[error("the RRN's first digits are not a real birth date")]
    BirthDate,
    /// The birth date lies after the day the number was checked.
    #[error("the RRN's birth date is in the future")]
    InTheFuture,
}

impl RrnError {
    /// Stable machine-readable code for APIs and translations; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            RrnError::Format => "rrn_format",
            RrnError::NonDigit => "rrn_non_digit",
            RrnError::BirthDate => "rrn_birth_date",
            RrnError::InTheFuture => "rrn_in_the_future",
        }
    }

    /// What went wrong, in Korean, for the person typing the number.
    pub fn message_ko(&self) -> &'static str {
        match self {
            RrnError::Format => {
                "주민등록번호는 13자리입니다. 앞 6자리-뒤 7자리(예: 000000-0000000) 형식으로 입력해 주세요."
            }
            RrnError::NonDigit => "주민등록번호에는 숫자와 하이픈(-) 하나만 쓸 수 있습니다.",
            RrnError::BirthDate => "주민등록번호 앞자리가 올바른 생년월일이 아닙니다.",
            RrnError::InTheFuture => "주민등록번호의 생년월일이 오늘 이후입니다.",
        }
    }

    /// What went wrong, in English, for the person typing the number.
    pub fn message_en(&self) -> &'static str {
        match self {
            RrnError::Format => {
                "A resident registration number has 13 digits: \
                 enter it as YYMMDD-GNNNNNN or without the hyphen."
            }
            RrnError::NonDigit => {
                "A resident registration number may contain only digits and one hyphen."
            }
            RrnError::BirthDate => {
                "The first digits of the resident registration number are not a real birth date."
            }
            RrnError::InTheFuture => {
                "The birth date in the resident registration number is in the future."
            }
        }
    }
}

impl Rrn {
    /// Parses `YYMMDD-GNNNNNN` or 13 bare digits, ignoring surrounding whitespace.
    ///
    /// Pure: it does not know today's date, so it accepts birth dates in the future; use
    /// [`Rrn::parse_at`] wherever a person is identifying themselves.
    pub fn parse(input: &str) -> Result<Rrn, RrnError> {
        let digits = digits_of(input.trim())?;
        let birth_date = birth_date_of(&digits)?;
        Ok(Rrn { digits, birth_date })
    }

    /// Parses like [`Rrn::parse`] and also refuses a birth date after `today` (the caller's
    /// Seoul date, passed in because the core never reads the clock). Born today is accepted.
    pub fn parse_at(input: &str, today: Date) -> Result<Rrn, RrnError> {
        let rrn = Rrn::parse(input)?;
        if rrn.birth_date > today {
            return Err(RrnError::InTheFuture);
        }
        Ok(rrn)
    }

    /// The birth date encoded in the first seven digits.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// Sex from the seventh digit: odd is male, even is female.
    pub fn sex(&self) -> Sex {
        if self.gender_digit() % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Whether the number was issued to a registered foreigner (seventh digit 5–8).
    pub fn is_foreigner(&self) -> bool {
        matches!(self.gender_digit(), 5..=8)
    }

    /// HMAC-SHA256 of the 13 ASCII digits (no hyphen) under `key`: the only form in which an RRN
    /// is stored or compared, so a leaked table cannot be reversed without the key.
    pub fn keyed_hash(&self, key: &[u8]) -> RrnHash {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&hmac_block_key(key));
        mac.update(&self.digits);
        RrnHash(mac.finalize().into_bytes().into())
    }

    /// The birth date and the seventh digit, the rest starred (`680229-2******`), which is what
    /// Korean services conventionally show back to the holder.
    pub fn masked(&self) -> String {
        let mut out = String::with_capacity(DIGITS + 1);
        for (i, &d) in self.digits.iter().enumerate() {
            if i == BIRTH_DIGITS {
                out.push('-');
            }
            out.push(if i <= BIRTH_DIGITS {
                char::from(d)
            } else {
                '*'
            });
        }
        out
    }

    /// The seventh digit (sex and century, 1–8), which carriers match with the name and birth
    /// date before they text a one-time code.
    pub fn sex_digit(&self) -> u8 {
        self.gender_digit()
    }

    /// The seventh digit `G` as a number 0–9.
    fn gender_digit(&self) -> u8 {
        self.digits[BIRTH_DIGITS] - b'0'
    }
}

/// Prints only stars, so an RRN that slips into a log line or a panic message reveals nothing.
impl fmt::Debug for Rrn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rrn(******-*******)")
    }
}

/// Extracts the 13 ASCII digits from `YYMMDD-GNNNNNN` or `YYMMDDGNNNNNN`.
fn digits_of(s: &str) -> Result<[u8; DIGITS], RrnError> {
    if s.chars().any(|c| !c.is_ascii_digit() && c != '-') {
        return Err(RrnError::NonDigit);
    }
    let bytes = s.as_bytes();
    let hyphen_well_placed = bytes.len() == DIGITS + 1 && bytes.get(BIRTH_DIGITS) == Some(&b'-');
    let hyphens = bytes.iter().filter(|&&b| b == b'-').count();
    let shape_ok = match hyphens {
        0 => bytes.len() == DIGITS,
        1 => hyphen_well_placed,
        _ => false,
    };
    if !shape_ok {
        return Err(RrnError::Format);
    }
    let mut digits = [0u8; DIGITS];
    for (slot, &b) in digits.iter_mut().zip(bytes.iter().filter(|&&b| b != b'-')) {
        *slot = b;
    }
    Ok(digits)
}

/// Decodes the birth date from `YYMMDD` and the century digit `G`.
fn birth_date_of(digits: &[u8; DIGITS]) -> Result<Date, RrnError> {
    let n = |i: usize| i16::from(digits[i] - b'0');
    let century = century_of(digits[BIRTH_DIGITS] - b'0');
    let year = century + n(0) * 10 + n(1);
    let month = n(2) * 10 + n(3);
    let day = n(4) * 10 + n(5);
    // month and day are at most 99, so the narrowing conversions cannot fail.
    let month = i8::try_from(month).map_err(|_| RrnError::BirthDate)?;
    let day = i8::try_from(day).map_err(|_| RrnError::BirthDate)?;
    Date::new(year, month, day).map_err(|_| RrnError::BirthDate)
}

/// The first year of the century the seventh digit points to. Every digit has a meaning:
/// 1/2 and 5/6 (foreigners) 1900s, 3/4 and 7/8 (foreigners) 2000s, 9/0 1800s.
fn century_of(g: u8) -> i16 {
    match g {
        1 | 2 | 5 | 6 => 1900,
        3 | 4 | 7 | 8 => 2000,
        _ => 1800,
    }
}

/// RFC 2104's block-sized key `K0`: keys longer than SHA-256's 64-byte block are hashed first,
/// then zero-padded. Building it here lets us use the infallible fixed-size constructor.
fn hmac_block_key(key: &[u8]) -> hmac::digest::Key<Hmac<Sha256>> {
    let mut block = hmac::digest::Key::<Hmac<Sha256>>::default();
    if key.len() > block.len() {
        let hashed = Sha256::digest(key);
        block
            .iter_mut()
            .zip(hashed.iter())
            .for_each(|(b, k)| *b = *k);
    } else {
        block.iter_mut().zip(key).for_each(|(b, k)| *b = *k);
    }
    block
}

/// HMAC-SHA256 of an RRN under the server's key: what the database stores and looks people up
/// by. Shown and serialized as 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RrnHash(pub [u8; 32]);

/// Why a string is not a hex-encoded [`RrnHash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("an RRN hash is 64 hexadecimal digits")]
pub struct RrnHashParseError;

impl fmt::Display for RrnHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for RrnHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RrnHash({self})")
    }
}

impl FromStr for RrnHash {
    type Err = RrnHashParseError;

    /// Accepts exactly 64 hex digits, either case.
    fn from_str(s: &str) -> Result<RrnHash, RrnHashParseError> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return Err(RrnHashParseError);
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or(RrnHashParseError)?;
            let lo = hex_value(pair[1]).ok_or(RrnHashParseError)?;
            *slot = hi << 4 | lo;
        }
        Ok(RrnHash(out))
    }
}

/// The value of one ASCII hex digit.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl serde::Serialize for RrnHash {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for RrnHash {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<RrnHash, D::Error> {
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = RrnHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 hexadecimal digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RrnHash, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(HexVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn parse(s: &str) -> Rrn {
        Rrn::parse(s).expect("test input is a valid RRN")
    }

    // --- shape --------------------------------------------------------------------------------

    #[test]
    fn accepts_hyphenated_and_bare_forms_alike() {
        assert_eq!(parse("680229-2123456"), parse("6802292123456"));
    }

    #[test]
    fn trims_surrounding_whitespace() {
        let plain = parse("680229-2123456");
        assert_eq!(parse("  680229-2123456\n"), plain);
        assert_eq!(parse("\t6802292123456 "), plain);
    }

    #[test]
    fn rejects_whitespace_inside() {
        assert_eq!(Rrn::parse("680229 -2123456"), Err(RrnError::NonDigit));
        assert_eq!(Rrn::parse("680229 2123456"), Err(RrnError::NonDigit));
    }

    #[test]
    fn rejects_wrong_lengths() {
        for s in [
            "",
            "   ",
            "680229",
            "680229-",
            "680229-212345",
            "680229-21234567",
            "68022921234",
            "680229212345",
            "68022921234567",
        ] {
            assert_eq!(Rrn::parse(s), Err(RrnError::Format), "{s:?}");
        }
    }

    #[test]
    fn rejects_misplaced_or_repeated_hyphens() {
        for s in [
            "68022-92123456",
            "6802292-123456",
            "-6802292123456",
            "6802292123456-",
            "680229--2123456",
            "680229-21234-56",
        ] {
            assert_eq!(Rrn::parse(s), Err(RrnError::Format), "{s:?}");
        }
    }

    #[test]
    fn rejects_non_digits() {
        for s in [
            "68022a-2123456",
            "680229-212345x",
            "680229_2123456",
            "680229-2１23456", // full-width digit
            "680229-2123456\u{0}",
            "+680229-212345",
            "６８０２２９-２１２３４５６",
        ] {
            assert_eq!(Rrn::parse(s), Err(RrnError::NonDigit), "{s:?}");
        }
    }

    // --- birth date ---------------------------------------------------------------------------

    #[test]
    fn leap_day_in_a_leap_year_is_valid() {
        assert_eq!(parse("680229-1000000").birth_date(), date(1968, 2, 29));
        assert_eq!(parse("000229-3000000").birth_date(), date(2000, 2, 29));
    }

    #[test]
    fn leap_day_in_a_common_year_is_invalid() {
        assert_eq!(Rrn::parse("670229-1000000"), Err(RrnError::BirthDate));
        // 1900 is not a leap year although 2000 is: the century digit decides.
        assert_eq!(Rrn::parse("000229-1000000"), Err(RrnError::BirthDate));
        assert_eq!(Rrn::parse("000229-9000000"), Err(RrnError::BirthDate));
    }

    #[test]
    fn impossible_months_and_days_are_invalid() {
        for s in [
            "680001-1000000",
            "681301-1000000",
            "689901-1000000",
            "680100-1000000",
            "680132-1000000",
            "680431-1000000",
            "680230-1000000",
            "689999-1000000",
        ] {
            assert_eq!(Rrn::parse(s), Err(RrnError::BirthDate), "{s:?}");
        }
    }

    #[test]
    fn month_ends_are_valid() {
        assert_eq!(parse("680131-1000000").birth_date(), date(1968, 1, 31));
        assert_eq!(parse("680430-1000000").birth_date(), date(1968, 4, 30));
        assert_eq!(parse("681231-1000000").birth_date(), date(1968, 12, 31));
        assert_eq!(parse("670228-1000000").birth_date(), date(1967, 2, 28));
    }

    #[test]
    fn every_century_digit_has_its_century_sex_and_status() {
        let cases = [
            ('1', 1968, Sex::Male, false),
            ('2', 1968, Sex::Female, false),
            ('3', 2068, Sex::Male, false),
            ('4', 2068, Sex::Female, false),
            ('5', 1968, Sex::Male, true),
            ('6', 1968, Sex::Female, true),
            ('7', 2068, Sex::Male, true),
            ('8', 2068, Sex::Female, true),
            ('9', 1868, Sex::Male, false),
            ('0', 1868, Sex::Female, false),
        ];
        for (g, year, sex, foreigner) in cases {
            let rrn = parse(&format!("680315-{g}000000"));
            assert_eq!(rrn.birth_date(), date(year, 3, 15), "G={g}");
            assert_eq!(rrn.sex(), sex, "G={g}");
            assert_eq!(rrn.is_foreigner(), foreigner, "G={g}");
        }
    }

    #[test]
    fn the_check_digit_is_not_enforced() {
        // Every last digit is accepted: post-2020 numbers end in a random digit.
        for last in '0'..='9' {
            assert!(Rrn::parse(&format!("680229-212345{last}")).is_ok());
        }
    }

    // --- future birth dates -------------------------------------------------------------------

    #[test]
    fn parse_at_refuses_a_birth_date_after_today() {
        let today = date(2021, 7, 19);
        assert_eq!(
            Rrn::parse_at("210720-3000000", today),
            Err(RrnError::InTheFuture)
        );
        assert_eq!(
            Rrn::parse_at("990101-3000000", today),
            Err(RrnError::InTheFuture)
        );
    }

    #[test]
    fn parse_at_accepts_born_today_and_before() {
        let today = date(2021, 7, 19);
        assert!(Rrn::parse_at("210719-4000000", today).is_ok());
        assert!(Rrn::parse_at("210718-4000000", today).is_ok());
        assert!(Rrn::parse_at("990101-1000000", today).is_ok());
    }

    #[test]
    fn parse_at_reports_format_errors_first() {
        let today = date(2021, 7, 19);
        assert_eq!(Rrn::parse_at("21072-3000000", today), Err(RrnError::Format));
        assert_eq!(
            Rrn::parse_at("670229-1000000", today),
            Err(RrnError::BirthDate)
        );
    }

    #[test]
    fn parse_itself_does_not_know_today() {
        assert_eq!(parse("990101-3000000").birth_date(), date(2099, 1, 1));
    }

    // --- personal data ------------------------------------------------------------------------

    #[test]
    fn debug_output_reveals_no_digit() {
        let rrn = parse("680229-2123456");
        let shown = format!("{rrn:?} {:?} {:#?}", Some(&rrn), vec![rrn.clone()]);
        assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
        assert!(shown.contains("Rrn(******-*******)"));
    }

    #[test]
    fn errors_reveal_no_digit() {
        for s in ["680229-212345", "68022a-2123456", "670229-1000000"] {
            let err = Rrn::parse(s).expect_err("invalid on purpose");
            let shown = format!("{err:?} {err} {} {}", err.message_en(), err.message_ko());
            assert!(
                !shown.contains("680229") && !shown.contains("670229"),
                "{shown}"
            );
            assert!(!shown.contains("212345"), "{shown}");
        }
    }

    #[test]
    fn masked_shows_birth_date_and_seventh_digit_only() {
        assert_eq!(parse("680229-2123456").masked(), "680229-2******");
        assert_eq!(parse("0102033987654").masked(), "010203-3******");
    }

    #[test]
    fn error_codes_are_distinct_and_messages_present() {
        let all = [
            RrnError::Format,
            RrnError::NonDigit,
            RrnError::BirthDate,
            RrnError::InTheFuture,
        ];
        let mut codes: Vec<_> = all.iter().map(RrnError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
        for e in all {
            assert!(e.code().starts_with("rrn_"));
            assert!(!e.message_en().is_empty() && !e.message_ko().is_empty());
            assert!(e.message_ko().chars().any(|c| ('가'..='힣').contains(&c)));
        }
    }

    // --- keyed hash ---------------------------------------------------------------------------

    /// Standard HMAC-SHA256 on the bare digits, checked against an independent RFC 2104
    /// construction from SHA-256 alone, including a key longer than one block.
    #[test]
    fn keyed_hash_is_hmac_sha256_of_the_bare_digits() {
        fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
            let mut k0 = [0u8; 64];
            if key.len() > 64 {
                k0[..32].copy_from_slice(&Sha256::digest(key));
            } else {
                k0[..key.len()].copy_from_slice(key);
            }
            let ipad: Vec<u8> = k0.iter().map(|b| b ^ 0x36).collect();
            let opad: Vec<u8> = k0.iter().map(|b| b ^ 0x5c).collect();
            let inner = Sha256::new()
                .chain_update(&ipad)
                .chain_update(msg)
                .finalize();
            Sha256::new()
                .chain_update(&opad)
                .chain_update(inner)
                .finalize()
                .into()
        }
        let rrn = parse("680229-2123456");
        for key in [&b""[..], b"k", &[7u8; 64], &[0xaa; 131]] {
            assert_eq!(rrn.keyed_hash(key).0, reference(key, b"6802292123456"));
        }
    }

    /// RFC 4231 test case 2, to pin the construction to the published vector.
    #[test]
    fn hmac_block_key_matches_rfc_4231() {
        let mut mac = <Hmac<Sha256> as KeyInit>::new(&hmac_block_key(b"Jefe"));
        mac.update(b"what do ya want for nothing?");
        let got = RrnHash(mac.finalize().into_bytes().into()).to_string();
        assert_eq!(
            got,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn keyed_hash_depends_on_key_and_number_but_not_on_spelling() {
        let a = parse("680229-2123456");
        assert_eq!(
            a.keyed_hash(b"k1"),
            parse(" 6802292123456 ").keyed_hash(b"k1")
        );
        assert_ne!(a.keyed_hash(b"k1"), a.keyed_hash(b"k2"));
        assert_ne!(
            a.keyed_hash(b"k1"),
            parse("680229-2123457").keyed_hash(b"k1")
        );
    }

    #[test]
    fn hash_hex_round_trips() {
        let h = parse("680229-2123456").keyed_hash(b"key");
        let hex = h.to_string();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(hex.parse::<RrnHash>(), Ok(h));
        assert_eq!(hex.to_uppercase().parse::<RrnHash>(), Ok(h));
        assert_eq!(format!("{h:?}"), format!("RrnHash({hex})"));
    }

    #[test]
    fn hash_hex_known_bytes() {
        let mut bytes = [0u8; 32];
        bytes[0] = 0x01;
        bytes[31] = 0xfe;
        let hex = RrnHash(bytes).to_string();
        assert!(hex.starts_with("01") && hex.ends_with("fe"));
        assert_eq!(hex[2..62], "0".repeat(60));
    }

    #[test]
    fn hash_from_str_rejects_bad_input() {
        let good = "ab".repeat(32);
        assert!(good.parse::<RrnHash>().is_ok());
        for bad in [
            String::new(),
            "ab".repeat(31),
            "ab".repeat(33),
            format!("{}g", &good[..63]),
            format!("{}é", &good[..62]),
        ] {
            assert_eq!(bad.parse::<RrnHash>(), Err(RrnHashParseError), "{bad:?}");
        }
    }

    #[test]
    fn hash_deserializes_from_its_hex_string() {
        use serde::Deserialize;
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};

        let h = parse("680229-2123456").keyed_hash(b"key");
        let hex = h.to_string();
        let de: StrDeserializer<'_, Error> = hex.as_str().into_deserializer();
        assert_eq!(RrnHash::deserialize(de), Ok(h));
        let de: StrDeserializer<'_, Error> = "nope".into_deserializer();
        assert!(RrnHash::deserialize(de).is_err());
    }

    // --- properties ---------------------------------------------------------------------------

    use proptest::prelude::*;

    /// The seventh digit for a century, sex and status, from the published table.
    fn g_digit(year: i16, sex: Sex, foreigner: bool) -> Option<char> {
        let male = sex == Sex::Male;
        Some(match (year / 100, foreigner, male) {
            (18, false, true) => '9',
            (18, false, false) => '0',
            (19, false, true) => '1',
            (19, false, false) => '2',
            (20, false, true) => '3',
            (20, false, false) => '4',
            (19, true, true) => '5',
            (19, true, false) => '6',
            (20, true, true) => '7',
            (20, true, false) => '8',
            _ => return None,
        })
    }

    proptest! {
        #[test]
        fn any_real_birth_date_round_trips(
            days in 0i64..109_572, // 1800-01-01 ..= 2099-12-31
            male: bool,
            foreigner: bool,
            tail in 0u32..1_000_000,
            hyphen: bool,
        ) {
            let born = date(1800, 1, 1)
                .checked_add(jiff::SignedDuration::from_hours(24 * days))
                .expect("in range");
            let sex = if male { Sex::Male } else { Sex::Female };
            let foreigner = foreigner && born.year() >= 1900;
            let g = g_digit(born.year(), sex, foreigner).expect("covered century");
            let yymmdd = format!("{:02}{:02}{:02}", born.year() % 100, born.month(), born.day());
            let sep = if hyphen { "-" } else { "" };
            let text = format!("{yymmdd}{sep}{g}{tail:06}");
            let rrn = Rrn::parse(&text).expect("generated RRNs are valid");
            prop_assert_eq!(rrn.birth_date(), born);
            prop_assert_eq!(rrn.sex(), sex);
            prop_assert_eq!(rrn.is_foreigner(), foreigner);
            prop_assert_eq!(rrn.masked(), format!("{yymmdd}-{g}******"));
            let shown = format!("{rrn:?}");
            prop_assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{}", shown);
            prop_assert_eq!(Rrn::parse_at(&text, born), Ok(rrn.clone()));
            if let Ok(day_before) = born.yesterday() {
                prop_assert_eq!(Rrn::parse_at(&text, day_before), Err(RrnError::InTheFuture));
            }
        }

        #[test]
        fn arbitrary_input_never_panics(s in "[0-9 -]{0,16}|.{0,16}") {
            if Rrn::parse(&s).is_ok() {
                let digits: String = s.trim().chars().filter(|c| *c != '-').collect();
                prop_assert_eq!(digits.len(), 13);
                prop_assert!(digits.chars().all(|c| c.is_ascii_digit()));
            }
        }
    }
}
