//! Korean civil time. Every rule in yeyak is stated in Asia/Seoul, whatever the host's own zone.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ZonedDateTime};

/// The zone every booking rule is written in. Loaded from jiff's bundled database, never from the
/// host, so a server whose `TZ` is UTC or America/New_York decides exactly as one in Seoul.
pub fn seoul() -> TimeZone {
    // The bundled tz database always contains Asia/Seoul; failing here would be a build defect.
    TimeZone::get("Asia/Seoul").expect("jiff's bundled tzdb has Asia/Seoul")
}

/// The instant as seen on a wall clock in Seoul.
pub fn in_seoul(now: Timestamp) -> ZonedDateTime {
    now.to_zoned_datetime(seoul())
}

/// The calendar day in Seoul at `now` (not the UTC day: 23:30 UTC is already tomorrow in Seoul).
pub fn seoul_date(now: Timestamp) -> Date {
    in_seoul(now).date()
}

/// The instant at which a Seoul wall-clock time occurs. Korea has no daylight saving time, so every
/// wall-clock time maps to exactly one instant.
pub fn seoul_instant(wall: DateTime) -> Timestamp {
    wall.to_zoned_datetime(seoul())
        .expect("Asia/Seoul has no DST gaps since 1988")
        .timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn late_evening_utc_is_next_day_in_seoul() {
        let ts: Timestamp = "2021-07-19T15:30:00Z".parse().unwrap();
        assert_eq!(seoul_date(ts), date(2021, 7, 20));
    }

    #[test]
    fn seoul_instant_is_utc_plus_nine() {
        let ts = seoul_instant(date(2021, 7, 19).at(20, 0, 0, 0));
        assert_eq!(ts.to_string(), "2021-07-19T11:00:00Z");
    }
}
