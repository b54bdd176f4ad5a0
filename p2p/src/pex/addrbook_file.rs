//! `addrbook.json` in Go's format (spec 1.10): load and save an [`AddrBook`].
//!
//! ```text
//! {"key": "<24 hex>", "addrs": [{"addr": {"id","ip","port"}, "src": {...},
//!   "buckets": [..], "attempts": N, "bucket_type": 1|2,
//!   "last_attempt": "<RFC3339Nano>", "last_success": "...", "last_ban_time": "..."}]}
//! ```
//!
//! Written like Go's `json.MarshalIndent(v, "", "\t")` (no trailing newline),
//! entries in node-ID order, times in UTC (`Z`), atomically with mode 0644. Banned
//! entries are not written (as Go). Any RFC 3339 offset is read (`+00:00`, `-07:00`).
//!
//! Time mapping: the book holds runtime [`Instant`]s; a [`WallClock`] says which
//! wall-clock time `Instant::ZERO` is. Go's zero time `0001-01-01T00:00:00Z` is
//! `None` ("never") both ways, so it round-trips exactly. A stored time earlier
//! than the runtime epoch (e.g. an attempt made before this process started)
//! cannot be an `Instant` and is clamped to `Instant::ZERO`: the entry looks as
//! if it had been attempted when the runtime started, which only delays the
//! 7-day "bad entry" rules by the age it already had; it is written back as the
//! epoch time, and from then on saves and loads are exact. Times beyond year
//! 9999 (Go cannot encode them) are written as `9999-12-31T23:59:59.999999999Z`.
//!
//! Loading never panics (Go panics on a corrupt file or a hostname in `ip`): JSON
//! syntax, key, address, time, bucket type and bucket index problems are
//! [`AddrBookFileError`]s naming the file and, for entries, the entry's index.
//! Unknown fields are ignored; missing times default to the zero time, missing
//! `attempts` to 0, as Go's decoder does.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::addrbook::{
    AddrBook, AddrBookLoadError, EntryProblem, NEW_BUCKET_COUNT, OLD_BUCKET_COUNT,
};
use super::known_address::{BucketType, KnownAddress};
use crate::key::{truncate, NodeId, NodeIdError};
use crate::netaddr::NetAddress;
use crate::time::Instant;

/// File mode of `addrbook.json` (Go writes 0644).
pub const ADDRBOOK_FILE_MODE: u32 = 0o644;

/// Go's zero `time.Time` in Unix seconds (0001-01-01T00:00:00Z).
const GO_ZERO_UNIX_SECS: i64 = -62_135_596_800;
/// 9999-12-31T23:59:59Z in Unix seconds (the last second Go's JSON can encode).
const MAX_UNIX_SECS: i64 = 253_402_300_799;
const NANOS: i128 = 1_000_000_000;
/// Text of Go's zero time.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Maps runtime instants to wall-clock time: `Instant::ZERO` is
/// `epoch_unix_nanos` nanoseconds after 1970-01-01T00:00:00Z.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct WallClock {
    /// Wall-clock time of the runtime's epoch, in Unix nanoseconds.
    pub epoch_unix_nanos: i128,
}

impl WallClock {
    /// Unix nanoseconds of `t`, or `None` for "never" (Go's zero time).
    pub fn unix_nanos(self, t: Option<Instant>) -> Option<i128> {
        t.map(|t| {
            let since = i128::try_from(t.since_epoch().as_nanos()).unwrap_or(i128::MAX);
            self.epoch_unix_nanos.saturating_add(since)
        })
    }

    /// The instant of a wall-clock time: `None` for exactly Go's zero time,
    /// `Instant::ZERO` for anything else before the epoch (clamped, see the module
    /// documentation).
    pub fn instant(self, unix_nanos: i128) -> Option<Instant> {
        if unix_nanos == i128::from(GO_ZERO_UNIX_SECS) * NANOS {
            return None;
        }
        let d = unix_nanos.saturating_sub(self.epoch_unix_nanos);
        if d <= 0 {
            return Some(Instant::ZERO);
        }
        let secs = u64::try_from(d / NANOS).unwrap_or(u64::MAX);
        let sub = u32::try_from(d % NANOS).unwrap_or(0);
        Some(Instant::from_epoch(Duration::new(secs, sub)))
    }

    /// Go's RFC3339Nano text of `t` (UTC; zero time for `None`).
    pub fn format(self, t: Option<Instant>) -> String {
        match self.unix_nanos(t) {
            None => GO_ZERO_TIME.to_owned(),
            Some(n) => format_rfc3339_nano(n),
        }
    }
}

/// Why `addrbook.json` could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum AddrBookFileError {
    /// Reading the file failed (other than "not found", which `load` reports as `Ok(None)`).
    #[error("cannot read address book {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing the file failed.
    #[error("cannot write address book {path}: {source}")]
    Write {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not JSON of the right shape (Go panics here).
    #[error("address book {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// serde_json's message, with line and column.
        reason: String,
    },
    /// The key is not 24 hex characters.
    #[error("address book {path}: key {key:?} is not 24 hex characters")]
    BadKey {
        /// The file.
        path: String,
        /// The key (truncated).
        key: String,
    },
    /// One entry of `addrs` is unusable.
    #[error("address book {path}: entry {index}: {problem}")]
    BadEntry {
        /// The file.
        path: String,
        /// 0-based position in `addrs`.
        index: usize,
        /// What is wrong.
        problem: FileEntryProblem,
    },
}

/// What is wrong with one stored entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileEntryProblem {
    /// `addr.id` or `src.id` is not a node ID.
    #[error("{field}.id {id:?}: {source}")]
    InvalidId {
        /// `"addr"` or `"src"`.
        field: &'static str,
        /// The text (truncated).
        id: String,
        /// Why.
        source: NodeIdError,
    },
    /// `ip` is not an IP literal (e.g. a hostname; Go panics on it).
    #[error("{field}.ip {ip:?} is not an IP address")]
    InvalidIp {
        /// `"addr"` or `"src"`.
        field: &'static str,
        /// The text (truncated).
        ip: String,
    },
    /// `port` above 65535.
    #[error("{field}.port {port} is not a port")]
    InvalidPort {
        /// `"addr"` or `"src"`.
        field: &'static str,
        /// The value.
        port: u64,
    },
    /// `bucket_type` other than 1 (new) or 2 (old).
    #[error("bucket_type {0} is neither 1 (new) nor 2 (old)")]
    BadBucketType(u64),
    /// A time that is not RFC 3339.
    #[error("{field} {text:?} is not an RFC 3339 time: {reason}")]
    BadTime {
        /// `"last_attempt"`, `"last_success"` or `"last_ban_time"`.
        field: &'static str,
        /// The text (truncated).
        text: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Bucket placement is inconsistent (index range, duplicates, counts).
    #[error("{0}")]
    Placement(EntryProblem),
}

#[derive(Serialize, Deserialize)]
struct BookJson {
    #[serde(default)]
    key: String,
    #[serde(default)]
    addrs: Option<Vec<EntryJson>>,
}

#[derive(Serialize, Deserialize)]
struct EntryJson {
    addr: AddrJson,
    src: AddrJson,
    #[serde(default)]
    buckets: Option<Vec<i64>>,
    #[serde(default)]
    attempts: i32,
    #[serde(default)]
    bucket_type: u64,
    #[serde(default)]
    last_attempt: Option<String>,
    #[serde(default)]
    last_success: Option<String>,
    #[serde(default)]
    last_ban_time: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AddrJson {
    id: String,
    ip: String,
    port: u64,
}

impl AddrJson {
    fn of(a: &NetAddress) -> Self {
        AddrJson {
            id: a.id().to_string(),
            ip: a.ip().to_string(),
            port: u64::from(a.port()),
        }
    }

    fn parse(&self, field: &'static str) -> Result<NetAddress, FileEntryProblem> {
        let id: NodeId = self
            .id
            .parse()
            .map_err(|source| FileEntryProblem::InvalidId {
                field,
                id: truncate(&self.id),
                source,
            })?;
        let ip = self.ip.parse().map_err(|_| FileEntryProblem::InvalidIp {
            field,
            ip: truncate(&self.ip),
        })?;
        let port = u16::try_from(self.port).map_err(|_| FileEntryProblem::InvalidPort {
            field,
            port: self.port,
        })?;
        Ok(NetAddress::new(id, ip, port))
    }
}

/// The file text for `book`: tab-indented like Go, entries in ID order, no
/// trailing newline.
pub fn to_json(book: &AddrBook, clock: WallClock) -> String {
    let addrs = book
        .entries()
        .map(|ka| EntryJson {
            addr: AddrJson::of(&ka.addr()),
            src: AddrJson::of(&ka.src()),
            buckets: Some(
                ka.buckets()
                    .iter()
                    .map(|&b| i64::try_from(b).unwrap_or(i64::MAX))
                    .collect(),
            ),
            attempts: ka.attempts(),
            bucket_type: u64::from(ka.bucket_type().as_u8()),
            last_attempt: Some(clock.format(ka.last_attempt())),
            last_success: Some(clock.format(ka.last_success())),
            last_ban_time: Some(clock.format(ka.last_ban_time())),
        })
        .collect();
    let file = BookJson {
        key: book.key().to_owned(),
        addrs: Some(addrs),
    };
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    // Serializing plain strings and integers into a Vec cannot fail.
    if file.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Parses file bytes. `origin` names the file in errors; `strict` is
/// `addr_book_strict` (not persisted, as in Go).
pub fn from_json(
    bytes: &[u8],
    origin: &str,
    clock: WallClock,
    strict: bool,
) -> Result<AddrBook, AddrBookFileError> {
    let path = || origin.to_owned();
    let file: BookJson = serde_json::from_slice(bytes).map_err(|e| AddrBookFileError::Corrupt {
        path: path(),
        reason: e.to_string(),
    })?;
    let raw = file.addrs.unwrap_or_default();
    let mut entries = Vec::with_capacity(raw.len());
    for (index, e) in raw.iter().enumerate() {
        let ka = entry(e, clock).map_err(|problem| AddrBookFileError::BadEntry {
            path: path(),
            index,
            problem,
        })?;
        entries.push(ka);
    }
    AddrBook::from_entries(&file.key, strict, entries).map_err(|e| match e {
        AddrBookLoadError::Key(_) => AddrBookFileError::BadKey {
            path: path(),
            key: truncate(&file.key),
        },
        AddrBookLoadError::Entry { index, problem } => AddrBookFileError::BadEntry {
            path: path(),
            index,
            problem: FileEntryProblem::Placement(problem),
        },
    })
}

fn entry(e: &EntryJson, clock: WallClock) -> Result<KnownAddress, FileEntryProblem> {
    let addr = e.addr.parse("addr")?;
    let src = e.src.parse("src")?;
    let kind = u8::try_from(e.bucket_type)
        .ok()
        .and_then(BucketType::from_u8)
        .ok_or(FileEntryProblem::BadBucketType(e.bucket_type))?;
    let count = match kind {
        BucketType::New => NEW_BUCKET_COUNT,
        BucketType::Old => OLD_BUCKET_COUNT,
    };
    let mut buckets = Vec::new();
    for &b in e.buckets.as_deref().unwrap_or_default() {
        match usize::try_from(b) {
            Ok(u) if u < count => buckets.push(u),
            _ => {
                return Err(FileEntryProblem::Placement(
                    EntryProblem::BucketOutOfRange { bucket: b, count },
                ))
            }
        }
    }
    let time = |field: &'static str, text: &Option<String>| -> Result<Option<Instant>, _> {
        let Some(text) = text else {
            return Ok(None);
        };
        parse_rfc3339(text)
            .map(|n| clock.instant(n))
            .map_err(|reason| FileEntryProblem::BadTime {
                field,
                text: truncate(text),
                reason,
            })
    };
    Ok(KnownAddress::from_parts(
        addr,
        src,
        buckets,
        e.attempts,
        kind,
        time("last_attempt", &e.last_attempt)?,
        time("last_success", &e.last_success)?,
        time("last_ban_time", &e.last_ban_time)?,
    ))
}

/// Writes `book` to `path` atomically (mode 0644).
pub fn save(book: &AddrBook, path: &Path, clock: WallClock) -> Result<(), AddrBookFileError> {
    let text = to_json(book, clock);
    crate::fsutil::write_atomic(path, text.as_bytes(), ADDRBOOK_FILE_MODE).map_err(|source| {
        AddrBookFileError::Write {
            path: path.display().to_string(),
            source,
        }
    })
}

/// Reads `path`: `Ok(None)` if it does not exist (Go starts empty then).
/// Temp files of writers killed mid-save are removed first.
pub fn load(
    path: &Path,
    clock: WallClock,
    strict: bool,
) -> Result<Option<AddrBook>, AddrBookFileError> {
    crate::fsutil::remove_stale_temps(path);
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(AddrBookFileError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    from_json(&bytes, &path.display().to_string(), clock, strict).map(Some)
}

// ----- RFC 3339 --------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Go's `RFC3339Nano` in UTC: fraction without trailing zeros, none if zero.
/// Clamped to years 0001..=9999.
pub fn format_rfc3339_nano(unix_nanos: i128) -> String {
    let lo = i128::from(GO_ZERO_UNIX_SECS) * NANOS;
    let hi = i128::from(MAX_UNIX_SECS) * NANOS + (NANOS - 1);
    let n = unix_nanos.clamp(lo, hi);
    let secs = i64::try_from(n.div_euclid(NANOS)).unwrap_or(0);
    let frac = n.rem_euclid(NANOS);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if frac != 0 {
        let digits = format!("{frac:09}");
        s.push('.');
        s.push_str(digits.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Parses an RFC 3339 time as Go's `time.Time` JSON decoder accepts it
/// (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, fraction digits past 9 truncated)
/// into Unix nanoseconds.
pub fn parse_rfc3339(s: &str) -> Result<i128, &'static str> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, &'static str> {
        let digits = b.get(from..from + len).ok_or("too short")?;
        digits.iter().try_fold(0i64, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + i64::from(c - b'0'))
            } else {
                Err("digit expected")
            }
        })
    };
    let lit = |at: usize, c: u8| -> Result<(), &'static str> {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err("separator expected")
        }
    };
    let year = num(0, 4)?;
    lit(4, b'-')?;
    let month = num(5, 2)?;
    lit(7, b'-')?;
    let day = num(8, 2)?;
    lit(10, b'T')?;
    let hour = num(11, 2)?;
    lit(13, b':')?;
    let min = num(14, 2)?;
    lit(16, b':')?;
    let sec = num(17, 2)?;
    if !(1..=12).contains(&month) {
        return Err("month out of range");
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err("day out of range");
    }
    if hour > 23 || min > 59 || sec > 59 {
        return Err("time of day out of range");
    }
    let mut i = 19;
    let mut frac: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
            if i - start < 9 {
                frac = frac * 10 + i128::from(c - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return Err("empty fraction");
        }
        for _ in n..9 {
            frac *= 10;
        }
    }
    let offset = match b.get(i) {
        Some(b'Z') => {
            i += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let oh = num(i + 1, 2)?;
            lit(i + 3, b':')?;
            let om = num(i + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err("zone offset out of range");
            }
            i += 6;
            let o = oh * 3600 + om * 60;
            if sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err("zone (Z or ±HH:MM) expected"),
    };
    if i != b.len() {
        return Err("trailing characters");
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    Ok(i128::from(secs) * NANOS + frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_values() {
        assert_eq!(format_rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            format_rfc3339_nano(i128::from(GO_ZERO_UNIX_SECS) * NANOS),
            GO_ZERO_TIME
        );
        assert_eq!(
            format_rfc3339_nano(1_700_000_000 * NANOS + 120_000_000),
            "2023-11-14T22:13:20.12Z"
        );
        assert_eq!(format_rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(
            format_rfc3339_nano(951_782_400 * NANOS + 1),
            "2000-02-29T00:00:00.000000001Z"
        );
        assert_eq!(
            format_rfc3339_nano(i128::MAX),
            "9999-12-31T23:59:59.999999999Z"
        );
        assert_eq!(format_rfc3339_nano(i128::MIN), GO_ZERO_TIME);

        assert_eq!(
            parse_rfc3339(GO_ZERO_TIME),
            Ok(i128::from(GO_ZERO_UNIX_SECS) * NANOS)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T15:13:20.12-07:00"),
            Ok(1_700_000_000 * NANOS + 120_000_000)
        );
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.1234567891234+00:00"),
            Ok(1_700_000_000 * NANOS + 123_456_789)
        );
        assert_eq!(
            parse_rfc3339("2000-02-29T00:00:00Z"),
            Ok(951_782_400 * NANOS)
        );
        for bad in [
            "",
            "2023-11-14",
            "2023-11-14T22:13:20",
            "2023-11-14 22:13:20Z",
            "2023-11-14t22:13:20Z",
            "2023-13-14T22:13:20Z",
            "2023-02-29T22:13:20Z",
            "2023-11-14T24:00:00Z",
            "2023-11-14T22:13:60Z",
            "2023-11-14T22:13:20.Z",
            "2023-11-14T22:13:20+0700",
            "2023-11-14T22:13:20+24:00",
            "2023-11-14T22:13:20Zx",
            "+023-11-14T22:13:20Z",
            "2023-11-14T22:13:20\u{e9}",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn calendar_round_trips_over_centuries() {
        for days in (-719_162..2_932_896).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m));
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn wall_clock_mapping_and_clamping() {
        let clock = WallClock {
            epoch_unix_nanos: 1_700_000_000 * NANOS,
        };
        let t = Instant::from_nanos(5 * 1_000_000_000 + 7);
        let n = clock.unix_nanos(Some(t)).unwrap();
        assert_eq!(n, 1_700_000_005 * NANOS + 7);
        assert_eq!(clock.instant(n), Some(t));
        assert_eq!(clock.format(Some(t)), "2023-11-14T22:13:25.000000007Z");
        assert_eq!(clock.format(None), GO_ZERO_TIME);
        assert_eq!(clock.instant(i128::from(GO_ZERO_UNIX_SECS) * NANOS), None);
        // Before the epoch: clamped to the epoch.
        assert_eq!(clock.instant(0), Some(Instant::ZERO));
        assert_eq!(clock.instant(clock.epoch_unix_nanos), Some(Instant::ZERO));
        // Extreme epochs saturate instead of overflowing.
        let far = WallClock {
            epoch_unix_nanos: i128::MAX,
        };
        let late = Some(Instant::from_epoch(Duration::MAX));
        assert_eq!(far.format(late), "9999-12-31T23:59:59.999999999Z");
        assert_eq!(far.instant(i128::MIN), Some(Instant::ZERO));
        let early = WallClock {
            epoch_unix_nanos: i128::MIN,
        };
        assert_eq!(early.format(Some(Instant::ZERO)), GO_ZERO_TIME);
        assert!(early.instant(0).is_some());
    }
}
