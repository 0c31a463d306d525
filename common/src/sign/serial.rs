//! The SOA serial: RFC 1982 serial-number arithmetic and BIND's `-N`
//! modes.

/// The serial-number arithmetic of RFC 1982: true if `new` is after `old`.
pub fn serial_gt(new: u32, old: u32) -> bool {
    new != old && new.wrapping_sub(old) < 0x8000_0000
}

/// How `-N` changes the SOA serial.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SerialMode {
    #[default]
    Keep,
    Increment,
    UnixTime,
    /// YYYYMMDDnn (UTC).
    Date,
}

/// The new SOA serial (RFC 1982 arithmetic). Like BIND, a value that would
/// not advance the serial falls back to an increment, with a warning.
pub fn new_serial(mode: SerialMode, old: u32, now: i64) -> u32 {
    let increment = || old.wrapping_add(1).max(1);
    let advance_or_increment = |candidate: u32| {
        if serial_gt(candidate, old) {
            candidate
        } else {
            crate::cli::warn("Serial number would not advance, using increment method instead");
            increment()
        }
    };
    match mode {
        SerialMode::Keep => old,
        SerialMode::Increment => increment(),
        SerialMode::UnixTime => advance_or_increment(now as u32),
        SerialMode::Date => {
            let date: u32 = crate::time::format_timestamp(now)[..8].parse().unwrap_or(0);
            advance_or_increment(date.saturating_mul(100))
        }
    }
}
