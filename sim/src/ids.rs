//! Identifiers and clocks: snowflakes, random session ids and Discord-style timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// Discord's epoch (2015-01-01T00:00:00Z) in milliseconds since the Unix epoch.
pub const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `n_bytes` random bytes as lowercase hex (`2 * n_bytes` characters).
pub fn random_hex(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    if getrandom::fill(&mut buf).is_err() {
        // Fall back to something unique enough for a simulator.
        let seed = now_ms() ^ u64::from(std::process::id()).rotate_left(32);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed.rotate_left((i % 64) as u32) as u8) ^ (i as u8).wrapping_mul(31);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Generates strictly increasing snowflakes for the current time.
#[derive(Debug, Default)]
pub struct Snowflakes {
    last: u64,
}

impl Snowflakes {
    /// The next snowflake, as Discord sends it (a decimal string).
    pub fn next_id(&mut self) -> String {
        let ms = now_ms().saturating_sub(DISCORD_EPOCH_MS);
        // Worker id 1, process id 0, increment in the low 12 bits.
        let candidate = (ms << 22) | (1 << 17);
        self.last = candidate.max(self.last + 1);
        self.last.to_string()
    }
}

/// An ISO-8601 timestamp in the form Discord uses: `2024-05-01T12:34:56.789000+00:00`.
pub fn iso_timestamp(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}000+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 into a (year, month, day) civil date.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps_like_discord() {
        assert_eq!(iso_timestamp(0), "1970-01-01T00:00:00.000000+00:00");
        assert_eq!(
            iso_timestamp(1_714_566_896_789),
            "2024-05-01T12:34:56.789000+00:00"
        );
    }

    #[test]
    fn snowflakes_increase_and_hex_has_length() {
        let mut ids = Snowflakes::default();
        let a: u64 = ids.next_id().parse().unwrap();
        let b: u64 = ids.next_id().parse().unwrap();
        assert!(b > a);
        assert!((a >> 22) + DISCORD_EPOCH_MS <= now_ms());
        let hex = random_hex(16);
        assert_eq!(hex.len(), 32);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
