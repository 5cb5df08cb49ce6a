//! UTC dates and times as text, for what outputs record: a report's creation time
//! (`YYYY-MM-DDTHH:MM:SSZ`), a model card's date (`YYYY-MM-DD`), a fine-tuned
//! version's id. One civil-date conversion serves them all.

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current time, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn utc_now() -> String {
    format_utc(now_secs())
}

/// Today's UTC date as `YYYY-MM-DD`.
pub fn today_utc() -> String {
    format_date(now_secs())
}

/// Formats seconds since the Unix epoch as an ISO 8601 UTC time.
pub fn format_utc(secs: u64) -> String {
    let rem = secs % 86_400;
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        format_date(secs),
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Formats the UTC day of `secs` (seconds since the Unix epoch) as `YYYY-MM-DD`.
pub fn format_date(secs: u64) -> String {
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Year, month and day of `days` since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn dates_are_the_day_of_the_time() {
        assert_eq!(format_date(1_709_251_199), "2024-02-29");
    }
}
