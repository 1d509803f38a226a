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

/// Days from 1970-01-01 to `day`: how backends store days (compact, ordered, and the distance
/// between two days is a subtraction). Exact over jiff's whole range.
pub fn day_number(day: Date) -> i64 {
    // Howard Hinnant's days_from_civil.
    let (y, m, d) = (
        i64::from(day.year()),
        i64::from(day.month()),
        i64::from(day.day()),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of [`day_number`]; `None` outside jiff's range.
pub fn date_from_day_number(days: i64) -> Option<Date> {
    // Howard Hinnant's civil_from_days.
    let z = days.checked_add(719_468)?;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe.checked_add(era.checked_mul(400)?)? + i64::from(m <= 2);
    Date::new(i16::try_from(y).ok()?, m as i8, d as i8).ok()
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
