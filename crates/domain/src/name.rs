//! A person's name as registered, parsed once at the door: whatever holds a [`PersonName`] can
//! put it in a message, a page or a sealed record without checking it again.
//!
//! Refused: blank names, more than 50 characters, and any control, format or bidirectional
//! override character (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C and the rest of Unicode's
//! `Cf` class we know of). A name like `"\u{202E}gnp.exe"` would otherwise render reversed in a
//! text message or on the clinic's list, and a control character could forge a line in one.

use std::fmt;

/// Longest name accepted, in characters (Korean names are 2–5; foreign names run longer).
pub const NAME_MAX_CHARS: usize = 50;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("a name is 1–50 characters and not blank")]
    Length,
    #[error("a name may not contain control or direction-changing characters")]
    Forbidden,
}

impl PersonName {
    /// Trims surrounding whitespace and checks what is left.
    pub fn parse(input: &str) -> Result<PersonName, NameError> {
        let name = input.trim();
        let length = name.chars().count();
        if !(1..=NAME_MAX_CHARS).contains(&length) {
            return Err(NameError::Length);
        }
        if name.chars().any(is_forbidden) {
            return Err(NameError::Forbidden);
        }
        Ok(PersonName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// Control characters (Cc), line and paragraph separators, and the invisible format characters
/// (Cf) that change direction or hide text: the bidirectional embeddings, overrides and
/// isolates, the direction marks, zero-width characters and the byte-order mark.
fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                  // soft hyphen
            | '\u{061C}'                // Arabic letter mark
            | '\u{180E}'                // Mongolian vowel separator
            | '\u{200B}'..='\u{200F}'   // zero-width space/joiners, LRM, RLM
            | '\u{2028}'..='\u{202E}'   // line/paragraph separators, LRE RLE PDF LRO RLO
            | '\u{2060}'..='\u{206F}'   // word joiner, invisible operators, LRI RLI FSI PDI, …
            | '\u{FEFF}'                // byte-order mark
            | '\u{FFF9}'..='\u{FFFB}'   // interlinear annotation
        )
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Names are personal data: a name that slips into a log line shows only its length.
impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersonName({} chars)", self.0.chars().count())
    }
}

/// "홍길동" → "홍*동": enough for a person to recognise, not enough to identify.
pub fn masked(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    match chars.len() {
        0 | 1 => name.to_string(),
        2 => format!("{}*", chars[0]),
        n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked() {
        assert_eq!(masked("홍길동"), "홍*동");
        assert_eq!(masked("남궁길동"), "남**동");
        assert_eq!(masked("홍길"), "홍*");
    }

    #[test]
    fn ordinary_names_are_kept_trimmed() {
        for (input, kept) in [
            ("  홍길동 ", "홍길동"),
            ("남궁 민수", "남궁 민수"),
            ("Jean-Luc O'Neil", "Jean-Luc O'Neil"),
            ("José Müller", "José Müller"),
        ] {
            assert_eq!(PersonName::parse(input).unwrap().as_str(), kept);
        }
        assert!(PersonName::parse(&"가".repeat(NAME_MAX_CHARS)).is_ok());
    }

    #[test]
    fn blank_or_long_names_are_refused() {
        for bad in ["", "   ", "\t"] {
            assert_eq!(PersonName::parse(bad), Err(NameError::Length), "{bad:?}");
        }
        assert_eq!(
            PersonName::parse(&"가".repeat(NAME_MAX_CHARS + 1)),
            Err(NameError::Length)
        );
    }

    #[test]
    fn control_and_direction_characters_are_refused() {
        for bad in [
            "a\u{0}b",
            "홍\n길동",
            "홍\r길동",
            "\u{1b}[31m홍길동",
            "\u{202E}동길홍",
            "홍\u{202D}길동",
            "홍\u{2066}길동\u{2069}",
            "홍\u{200F}길동",
            "홍\u{200B}길동",
            "\u{FEFF}홍길동",
            "홍\u{2028}길동",
            "\u{7f}",
        ] {
            assert_eq!(PersonName::parse(bad), Err(NameError::Forbidden), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_name() {
        let name = PersonName::parse("홍길동").unwrap();
        assert_eq!(format!("{name:?}"), "PersonName(3 chars)");
    }
}
