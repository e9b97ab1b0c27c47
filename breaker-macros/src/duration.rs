//! The duration strings of `timeout = "..."`, `window = "..."`, `slow_call = "..."` and the
//! other duration keys.
//!
//! The grammar, exactly: one or more parts separated by one space, each part an unsigned
//! integer immediately followed by a unit, `ns`, `us`, `ms`, `s`, `m` (minutes), `h` or `d`
//! (days of 24 hours). The parts add up: `"1m 30s"` is 90 seconds, `"1h 1h"` two hours.
//! Nothing else is accepted: no fractions (`"1.5s"`: write `"1s 500ms"`), no spaces around
//! the string or between a number and its unit, no spelled-out units (`"2 seconds"`,
//! `"2sec"`), no weeks, months or years. Every rejection says what to write instead.

use std::time::Duration;

/// A unit of the grammar: its symbol and its length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// Spelled-out or other spellings of the units, and what to write instead.
const SPELLINGS: &[(&[&str], &str)] = &[
    (
        &["nsec", "nsecs", "nanos", "nanosecond", "nanoseconds"],
        "ns",
    ),
    (
        &[
            "µs",
            "usec",
            "usecs",
            "micros",
            "microsecond",
            "microseconds",
        ],
        "us",
    ),
    (
        &["msec", "msecs", "millis", "millisecond", "milliseconds"],
        "ms",
    ),
    (&["sec", "secs", "second", "seconds"], "s"),
    (&["min", "mins", "minute", "minutes"], "m"),
    (&["hr", "hrs", "hour", "hours"], "h"),
    (&["day", "days"], "d"),
];

const WHAT: &str = "a duration is one or more parts like \"250ms\", \"2s\" or \"1m 30s\": \
                    an integer followed by one of the units ns, us, ms, s, m, h, d, \
                    parts separated by one space";

/// Parses `text` by the grammar above. The error says what is wrong and what to write.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    if text.is_empty() {
        return Err(format!("the duration is empty; {WHAT}"));
    }
    if text.trim() != text {
        return Err(format!(
            "remove the spaces around the duration: write \"{}\"",
            text.trim()
        ));
    }
    let mut total: u128 = 0;
    let mut parts = text.split(' ').peekable();
    while let Some(part) = parts.next() {
        if part.is_empty() {
            return Err(format!(
                "separate the parts of a duration with one space: write \"{}\"",
                text.split_whitespace().collect::<Vec<_>>().join(" ")
            ));
        }
        let nanos = match self::part(part) {
            Ok(nanos) => nanos,
            // "2 s", "2 seconds": a number alone, then its unit as the next part.
            Err(_) if is_number(part) && parts.peek().is_some_and(|next| is_unit_word(next)) => {
                let unit = parts.next().unwrap_or_default();
                let unit = spelled(unit).unwrap_or(unit);
                return Err(format!(
                    "write the number and its unit without a space: \"{part}{unit}\""
                ));
            }
            Err(e) => return Err(e),
        };
        total = total.saturating_add(nanos);
    }
    let secs = u64::try_from(total / 1_000_000_000)
        .map_err(|_| format!("the duration {text:?} is too long to be a `std::time::Duration`"))?;
    // Less than a second's worth of nanoseconds always fits in `u32`.
    let nanos = u32::try_from(total % 1_000_000_000).unwrap_or(0);
    Ok(Duration::new(secs, nanos))
}

/// One part, `<integer><unit>`, in nanoseconds.
fn part(part: &str) -> Result<u128, String> {
    let digits_end = part
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(part.len());
    let (number, unit) = part.split_at(digits_end);
    if number.is_empty() {
        return Err(format!("{part:?} does not start with a number; {WHAT}"));
    }
    if let Some(rest) = unit.strip_prefix('.') {
        return Err(fraction(number, rest));
    }
    if unit.is_empty() {
        return Err(format!(
            "{number:?} has no unit: write \"{number}s\" for seconds, \"{number}ms\" for \
             milliseconds; {WHAT}"
        ));
    }
    let Some(length) = unit_length(unit) else {
        return Err(unknown_unit(number, unit));
    };
    let number: u128 = number
        .parse()
        .map_err(|_| format!("{number} is too large for a duration"))?;
    Ok(number.saturating_mul(length))
}

fn unit_length(unit: &str) -> Option<u128> {
    UNITS
        .iter()
        .find(|(symbol, _)| *symbol == unit)
        .map(|(_, length)| *length)
}

fn spelled(word: &str) -> Option<&'static str> {
    SPELLINGS
        .iter()
        .find(|(words, _)| words.contains(&word))
        .map(|(_, unit)| *unit)
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.')
}

fn is_unit_word(text: &str) -> bool {
    unit_length(text).is_some() || spelled(text).is_some()
}

fn unknown_unit(number: &str, unit: &str) -> String {
    if let Some(symbol) = spelled(unit) {
        return format!("write \"{number}{symbol}\": the unit is `{symbol}`, not `{unit}`");
    }
    match unit {
        "w" | "week" | "weeks" => {
            let days = number.parse::<u128>().map_or_else(
                |_| String::from("N"),
                |weeks| weeks.saturating_mul(7).to_string(),
            );
            format!("weeks are not a unit here: write \"{days}d\"")
        }
        "y" | "year" | "years" | "M" | "month" | "months" => String::from(
            "months and years are not units here (their length varies): write the duration \
             in days, like \"30d\"; the units are ns, us, ms, s, m, h, d",
        ),
        _ => format!("unknown unit `{unit}` in \"{number}{unit}\"; {WHAT}"),
    }
}

/// The message for `<whole>.<rest>`: fractions are not accepted; the same duration in
/// whole parts, when it has one.
fn fraction(whole: &str, rest: &str) -> String {
    let digits_end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (decimals, unit) = rest.split_at(digits_end);
    let exact = unit_length(unit).and_then(|length| {
        let scale = 10_u128.checked_pow(u32::try_from(decimals.len()).ok()?)?;
        let mantissa: u128 = format!("{whole}{decimals}").parse().ok()?;
        let nanos = mantissa.checked_mul(length)?;
        (nanos % scale == 0).then(|| nanos / scale)
    });
    match exact {
        Some(nanos) if nanos > 0 => format!(
            "a duration has no fractions: write \"{}\" for \"{whole}.{rest}\"",
            canonical(nanos)
        ),
        _ => format!(
            "a duration has no fractions: write \"{whole}.{rest}\" in a smaller unit; {WHAT}"
        ),
    }
}

/// `nanos` written in the grammar, largest units first: `90_000_000_000` is "1m 30s".
pub(crate) fn canonical(mut nanos: u128) -> String {
    let mut parts = Vec::new();
    for (symbol, length) in UNITS {
        let n = nanos / length;
        if n > 0 {
            parts.push(format!("{n}{symbol}"));
            nanos %= length;
        }
    }
    if parts.is_empty() {
        return String::from("0s");
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse(text).unwrap_or_else(|e| panic!("{text:?} was rejected: {e}"))
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(d) => panic!("{text:?} was accepted as {d:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_unit_is_accepted() {
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("7us"), Duration::from_micros(7));
        assert_eq!(ok("250ms"), Duration::from_millis(250));
        assert_eq!(ok("2s"), Duration::from_secs(2));
        assert_eq!(ok("3m"), Duration::from_secs(180));
        assert_eq!(ok("1h"), Duration::from_secs(3_600));
        assert_eq!(ok("1d"), Duration::from_secs(86_400));
    }

    #[test]
    fn parts_add_up() {
        assert_eq!(ok("1m 30s"), Duration::from_secs(90));
        assert_eq!(
            ok("1d 2h 3m 4s 5ms 6us 7ns"),
            Duration::new(93_784, 5_006_007)
        );
        assert_eq!(ok("1h 1h"), Duration::from_secs(7_200));
        assert_eq!(ok("0s"), Duration::ZERO);
    }

    #[test]
    fn fractions_are_rejected_with_the_whole_parts_to_write() {
        assert_eq!(
            err("1.5s"),
            "a duration has no fractions: write \"1s 500ms\" for \"1.5s\""
        );
        assert!(err("0.25m").contains("write \"15s\""), "{}", err("0.25m"));
        assert!(err("1.5ns").contains("in a smaller unit"));
    }

    #[test]
    fn spaces_are_rejected() {
        assert_eq!(
            err(" 2s"),
            "remove the spaces around the duration: write \"2s\""
        );
        assert_eq!(
            err("2s "),
            "remove the spaces around the duration: write \"2s\""
        );
        assert_eq!(
            err("2 s"),
            "write the number and its unit without a space: \"2s\""
        );
        assert_eq!(
            err("2 seconds"),
            "write the number and its unit without a space: \"2s\""
        );
        assert_eq!(
            err("1m  30s"),
            "separate the parts of a duration with one space: write \"1m 30s\""
        );
    }

    #[test]
    fn spelled_out_and_long_units_are_rejected() {
        assert_eq!(err("2sec"), "write \"2s\": the unit is `s`, not `sec`");
        assert_eq!(
            err("5minutes"),
            "write \"5m\": the unit is `m`, not `minutes`"
        );
        assert_eq!(err("2w"), "weeks are not a unit here: write \"14d\"");
        assert!(err("100y").starts_with("months and years are not units here"));
        assert!(err("2x").starts_with("unknown unit `x` in \"2x\""));
    }

    #[test]
    fn other_mistakes() {
        assert!(err("").starts_with("the duration is empty"));
        assert!(err("s").starts_with("\"s\" does not start with a number"));
        assert!(err("-2s").starts_with("\"-2s\" does not start with a number"));
        assert!(err("2").starts_with("\"2\" has no unit: write \"2s\""));
        assert!(err("99999999999999999999999d").contains("too long"));
        assert!(err("999999999999999999999999999999999999999999s").contains("too large"));
    }

    #[test]
    fn canonical_form_reads_back() {
        for nanos in [
            1,
            999,
            1_000,
            1_500_000_000,
            90_000_000_000,
            93_784_005_006_007,
        ] {
            let text = canonical(nanos);
            assert_eq!(ok(&text).as_nanos(), nanos, "{text}");
        }
        assert_eq!(canonical(3_600_000_000_000), "1h");
    }
}
