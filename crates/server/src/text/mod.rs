//! The message catalogue: every text a person reads — pages, error answers, notification texts
//! and the strings the page scripts show — in Korean and English, in one place.
//!
//! A text is a [`Text`] constant (both languages side by side, so a translator sees the pair) or,
//! where it carries values, a function of them that returns a [`Text`]-like pair. Areas own a
//! file each, so the catalogue reads like the service: what the citizen sees, what the desks see,
//! what the errors say, what the notifications say, and what the scripts show.
//!
//! Korean is the default and comes first everywhere: the service is for people in Korea, and an
//! English text is a courtesy for the minority who ask for it (`?lang=en` or `Accept-Language`).

pub mod citizen;
pub mod desks;
pub mod errors;
pub mod notices;
pub mod scripts;
pub mod shared;

/// The page language: Korean unless the person asked for English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }

    /// The Korean or the English text, written side by side where they are used. Being replaced by
    /// catalogue entries ([`Text`]); do not add new uses.
    pub fn t<'a>(self, ko: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Ko => ko,
            Lang::En => en,
        }
    }

    pub fn is_english(self) -> bool {
        self == Lang::En
    }
}

/// One text in both languages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub ko: &'static str,
    pub en: &'static str,
}

impl Text {
    /// The text in the person's language.
    pub const fn get(self, lang: Lang) -> &'static str {
        match lang {
            Lang::Ko => self.ko,
            Lang::En => self.en,
        }
    }
}

/// Shorthand for a catalogue entry: `text!("예약", "Booking")`.
#[allow(unused_macros)] // used once the areas have entries
macro_rules! text {
    ($ko:expr, $en:expr $(,)?) => {
        $crate::text::Text { ko: $ko, en: $en }
    };
}
pub(crate) use text;

/// Declares catalogue entries as [`Text`] constants and lists them in `ALL` (name and text), so
/// the catalogue's tests can check every entry:
/// `entries! { TITLE = ("접속 대기", "Waiting room"); }`.
macro_rules! entries {
    ($($(#[$meta:meta])* $name:ident = ($ko:expr, $en:expr $(,)?);)*) => {
        $($(#[$meta])* pub const $name: $crate::text::Text = $crate::text::text!($ko, $en);)*
        /// Every entry of this group, by name.
        #[allow(dead_code)]
        pub const ALL: &[(&str, $crate::text::Text)] = &[$((stringify!($name), $name)),*];
    };
}
pub(crate) use entries;

/// A text with values in it, in the person's language: the catalogue's functions return it.
pub fn either(lang: Lang, ko: impl FnOnce() -> String, en: impl FnOnce() -> String) -> String {
    match lang {
        Lang::Ko => ko(),
        Lang::En => en(),
    }
}

/// What every area's tests check of its groups of entries (`entries!`'s `ALL`).
#[cfg(test)]
pub(crate) mod checks {
    use super::Text;
    use std::collections::HashMap;

    /// Named groups of entries: `("clinic", clinic::ALL)`.
    pub type Groups = [(&'static str, &'static [(&'static str, Text)])];

    pub fn has_hangul(text: &str) -> bool {
        text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
    }

    /// Korean in Hangul, and English with none.
    pub fn every_entry_has_korean_in_hangul_and_english(groups: &Groups) {
        for (group, entries) in groups {
            for (name, text) in *entries {
                assert!(has_hangul(text.ko), "{group}::{name}: {:?}", text.ko);
                assert!(!text.en.trim().is_empty(), "{group}::{name} has no English");
                assert!(!has_hangul(text.en), "{group}::{name}: {:?}", text.en);
            }
        }
    }

    /// No pair written twice: a text shown in two places is one entry.
    pub fn no_text_is_in_the_catalogue_twice(groups: &Groups) {
        let mut seen: HashMap<(&str, &str), String> = HashMap::new();
        for (group, entries) in groups {
            for (name, text) in *entries {
                let here = format!("{group}::{name}");
                if let Some(first) = seen.insert((text.ko, text.en), here.clone()) {
                    panic!("{first} and {here} are the same text: {text:?}");
                }
            }
        }
    }
}
