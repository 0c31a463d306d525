//! The types whose presentation is more than a list of fields: LOC
//! (RFC 1876), WKS (RFC 1035), APL (RFC 3123), SVCB/HTTPS (RFC 9460),
//! IPSECKEY (RFC 4025), HIP (RFC 8005), A6 (RFC 2874), AMTRELAY (RFC 8777).

use super::{decode_hex, name_from_wire, name_len, quote_string, unescape, Cursor};
use base64::Engine as _;
use std::net::{Ipv4Addr, Ipv6Addr};

type Result<T> = std::result::Result<T, String>;

// ---- LOC -------------------------------------------------------------

/// Parses `d [m [s]] N|S d [m [s]] E|W alt[m] [size[m] [hp[m] [vp[m]]]]`.
pub(super) fn parse_loc(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let tokens: Vec<String> = cursor
        .rest()
        .iter()
        .map(|t| t.as_str().into_owned())
        .collect();
    let mut at = 0;
    let mut angle = |hemispheres: [&str; 2], max_degrees: u32| -> Result<u32> {
        let degrees: u32 = tokens
            .get(at)
            .and_then(|t| t.parse().ok())
            .ok_or("bad LOC degrees")?;
        at += 1;
        let mut minutes = 0u32;
        let mut millis = 0u32;
        if let Some(m) = tokens.get(at).and_then(|t| t.parse::<u32>().ok()) {
            minutes = m;
            at += 1;
            if let Some(s) = tokens
                .get(at)
                .filter(|t| t.chars().next().is_some_and(|c| c.is_ascii_digit()))
            {
                millis = parse_fixed(s, 3).ok_or("bad LOC seconds")?;
                at += 1;
            }
        }
        let hemisphere = tokens
            .get(at)
            .ok_or("missing LOC hemisphere")?
            .to_ascii_uppercase();
        at += 1;
        if degrees > max_degrees || minutes > 59 || millis > 59_999 {
            return Err("LOC coordinate out of range".into());
        }
        let offset = degrees * 3_600_000 + minutes * 60_000 + millis;
        if hemisphere == hemispheres[0] {
            Ok((1u32 << 31) + offset)
        } else if hemisphere == hemispheres[1] {
            Ok((1u32 << 31) - offset)
        } else {
            Err(format!(
                "bad LOC hemisphere '{}'",
                crate::zone::excerpt(&*hemisphere)
            ))
        }
    };
    let latitude = angle(["N", "S"], 90)?;
    let longitude = angle(["E", "W"], 180)?;
    let meters = |text: &str| -> Option<i64> {
        let text = text.strip_suffix(['m', 'M']).unwrap_or(text);
        let negative = text.starts_with('-');
        let value = i64::from(parse_fixed(text.trim_start_matches('-'), 2)?);
        Some(if negative { -value } else { value })
    };
    let altitude = tokens
        .get(at)
        .and_then(|t| meters(t))
        .ok_or("bad LOC altitude")?;
    at += 1;
    let altitude = u32::try_from(altitude + 10_000_000).map_err(|_| "LOC altitude out of range")?;
    let mut precision = [0x12u8, 0x16, 0x13]; // 1m, 10000m, 10m
    for slot in &mut precision {
        let Some(text) = tokens.get(at) else { break };
        let centimeters = meters(text)
            .filter(|v| *v >= 0)
            .ok_or(format!("bad LOC size '{}'", crate::zone::excerpt(text)))?;
        *slot = encode_precision(centimeters as u64).ok_or(format!(
            "LOC size '{}' out of range",
            crate::zone::excerpt(text)
        ))?;
        at += 1;
    }
    if at != tokens.len() {
        return Err("too many LOC fields".into());
    }
    wire.push(0);
    wire.extend_from_slice(&precision);
    wire.extend_from_slice(&latitude.to_be_bytes());
    wire.extend_from_slice(&longitude.to_be_bytes());
    wire.extend_from_slice(&altitude.to_be_bytes());
    Ok(())
}

/// `12.345` with `places` decimals as an integer (12345).
fn parse_fixed(text: &str, places: u32) -> Option<u32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.len() > places as usize {
        return None;
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let whole: u32 = whole.parse().ok()?;
    let mut fraction_value: u32 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    for _ in fraction.len()..places as usize {
        fraction_value *= 10;
    }
    whole
        .checked_mul(10u32.pow(places))?
        .checked_add(fraction_value)
}

fn encode_precision(centimeters: u64) -> Option<u8> {
    let mut exponent = 0u8;
    let mut value = centimeters;
    // One significant digit, rounded down, as BIND encodes it.
    while value >= 10 {
        value /= 10;
        exponent += 1;
    }
    if exponent > 9 {
        return None;
    }
    Some((value as u8) << 4 | exponent)
}

fn decode_precision(byte: u8) -> u64 {
    u64::from(byte >> 4) * 10u64.pow(u32::from(byte & 0x0F).min(9))
}

fn format_meters(centimeters: u64) -> String {
    if centimeters % 100 == 0 {
        format!("{}m", centimeters / 100)
    } else {
        format!("{}.{:02}m", centimeters / 100, centimeters % 100)
    }
}

pub(super) fn format_loc(data: &[u8]) -> Result<String> {
    if data.len() != 16 || data[0] != 0 {
        return Err("bad LOC".into());
    }
    let word = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    let angle = |value: u32, hemispheres: [char; 2]| {
        let (offset, hemisphere) = if value >= 1 << 31 {
            (value - (1 << 31), hemispheres[0])
        } else {
            ((1 << 31) - value, hemispheres[1])
        };
        format!(
            "{} {} {}.{:03} {hemisphere}",
            offset / 3_600_000,
            offset % 3_600_000 / 60_000,
            offset % 60_000 / 1000,
            offset % 1000
        )
    };
    let altitude = i64::from(word(12)) - 10_000_000;
    let sign = if altitude < 0 { "-" } else { "" };
    Ok(format!(
        "{} {} {sign}{}.{:02}m {} {} {}",
        angle(word(4), ['N', 'S']),
        angle(word(8), ['E', 'W']),
        altitude.abs() / 100,
        altitude.abs() % 100,
        format_meters(decode_precision(data[1])),
        format_meters(decode_precision(data[2])),
        format_meters(decode_precision(data[3])),
    ))
}

// ---- WKS -------------------------------------------------------------

fn service_port(name: &str, protocol: u8) -> Option<u16> {
    if let Ok(port) = name.parse() {
        return Some(port);
    }
    let wanted = if protocol == 17 { "udp" } else { "tcp" };
    if let Ok(text) = std::fs::read_to_string("/etc/services") {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (Some(service), Some(port_proto)) = (words.next(), words.next()) else {
                continue;
            };
            let Some((port, proto)) = port_proto.split_once('/') else {
                continue;
            };
            if proto == wanted
                && (service.eq_ignore_ascii_case(name)
                    || words.any(|a| a.eq_ignore_ascii_case(name)))
            {
                return port.parse().ok();
            }
        }
    }
    match name.to_ascii_lowercase().as_str() {
        "domain" => Some(53),
        "smtp" => Some(25),
        "ftp" => Some(21),
        "telnet" => Some(23),
        "http" => Some(80),
        _ => None,
    }
}

pub(super) fn parse_wks(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let address = cursor.next("WKS address")?.as_str().into_owned();
    let address: Ipv4Addr = address
        .parse()
        .map_err(|_| format!("bad WKS address '{}'", crate::zone::excerpt(&*address)))?;
    let protocol = cursor.next("WKS protocol")?.as_str().to_ascii_lowercase();
    let protocol: u8 = match protocol.as_str() {
        "tcp" => 6,
        "udp" => 17,
        other => other
            .parse()
            .map_err(|_| format!("bad WKS protocol '{}'", crate::zone::excerpt(&*other)))?,
    };
    let mut bitmap = Vec::new();
    for token in cursor.rest() {
        let text = token.as_str();
        let port = service_port(&text, protocol).ok_or(format!(
            "unknown service '{}'",
            crate::zone::excerpt(&*text)
        ))? as usize;
        if bitmap.len() <= port / 8 {
            bitmap.resize(port / 8 + 1, 0);
        }
        bitmap[port / 8] |= 0x80 >> (port % 8);
    }
    wire.extend_from_slice(&address.octets());
    wire.push(protocol);
    wire.extend_from_slice(&bitmap);
    Ok(())
}

pub(super) fn format_wks(data: &[u8]) -> Result<String> {
    if data.len() < 5 {
        return Err("bad WKS".into());
    }
    let mut out = format!(
        "{} {}",
        Ipv4Addr::new(data[0], data[1], data[2], data[3]),
        data[4]
    );
    for (octet, &value) in data[5..].iter().enumerate() {
        for bit in 0..8 {
            if value & (0x80 >> bit) != 0 {
                out.push_str(&format!(" {}", octet * 8 + bit));
            }
        }
    }
    Ok(out)
}

// ---- APL -------------------------------------------------------------

pub(super) fn parse_apl(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    for token in cursor.rest() {
        let text = token.as_str();
        let bad = || format!("bad APL item '{}'", crate::zone::excerpt(&*text));
        let (negate, item) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, &*text),
        };
        let (family, rest) = item.split_once(':').ok_or_else(bad)?;
        let (address, prefix) = rest.split_once('/').ok_or_else(bad)?;
        let family: u16 = family.parse().map_err(|_| bad())?;
        let prefix: u8 = prefix.parse().map_err(|_| bad())?;
        let mut bytes = match family {
            1 if prefix <= 32 => address
                .parse::<Ipv4Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            2 if prefix <= 128 => address
                .parse::<Ipv6Addr>()
                .map_err(|_| bad())?
                .octets()
                .to_vec(),
            _ => return Err(bad()),
        };
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        wire.extend_from_slice(&family.to_be_bytes());
        wire.push(prefix);
        wire.push(bytes.len() as u8 | if negate { 0x80 } else { 0 });
        wire.extend_from_slice(&bytes);
    }
    Ok(())
}

pub(super) fn format_apl(data: &[u8]) -> Result<String> {
    let mut items = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let header = data.get(at..at + 4).ok_or("truncated APL")?;
        let family = u16::from_be_bytes([header[0], header[1]]);
        let prefix = header[2];
        let negate = header[3] & 0x80 != 0;
        let len = (header[3] & 0x7F) as usize;
        let part = data.get(at + 4..at + 4 + len).ok_or("truncated APL")?;
        let address = match family {
            1 if len <= 4 => {
                let mut octets = [0u8; 4];
                octets[..len].copy_from_slice(part);
                Ipv4Addr::from(octets).to_string()
            }
            2 if len <= 16 => {
                let mut octets = [0u8; 16];
                octets[..len].copy_from_slice(part);
                Ipv6Addr::from(octets).to_string()
            }
            _ => return Err("APL family".into()),
        };
        items.push(format!(
            "{}{family}:{address}/{prefix}",
            if negate { "!" } else { "" }
        ));
        at += 4 + len;
    }
    Ok(items.join(" "))
}

// ---- SVCB / HTTPS ----------------------------------------------------

const SVC_KEYS: [&str; 9] = [
    "mandatory",
    "alpn",
    "no-default-alpn",
    "port",
    "ipv4hint",
    "ech",
    "ipv6hint",
    "dohpath",
    "ohttp",
];

fn svc_key(name: &str) -> Option<u16> {
    if let Some(index) = SVC_KEYS.iter().position(|k| *k == name) {
        return Some(index as u16);
    }
    name.strip_prefix("key")?.parse().ok()
}

/// How many keys are written by name: RFC 9460's first seven, the ones
/// BIND 9.18 prints by name. Later ones (`dohpath`, `ohttp`, ...) are read
/// by name but written as `keyNNNNN` (RFC 9460 §2.1), which every reader
/// loads: BIND 9.18 refuses `ohttp`, ldns 1.8 refuses `ohttp`.
const SVC_KEYS_WRITTEN: usize = 7;

fn svc_key_name(key: u16) -> String {
    SVC_KEYS[..SVC_KEYS_WRITTEN]
        .get(key as usize)
        .map_or_else(|| format!("key{key}"), |k| k.to_string())
}

/// Splits a value-list on commas not escaped with a backslash.
fn value_list(value: &[u8]) -> Vec<Vec<u8>> {
    let mut items = vec![Vec::new()];
    let mut i = 0;
    while i < value.len() {
        match value[i] {
            b'\\' if i + 1 < value.len() => {
                if let Some(last) = items.last_mut() {
                    last.push(value[i + 1]);
                }
                i += 2;
            }
            b',' => {
                items.push(Vec::new());
                i += 1;
            }
            byte => {
                if let Some(last) = items.last_mut() {
                    last.push(byte);
                }
                i += 1;
            }
        }
    }
    items
}

pub(super) fn parse_svc_params(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let mut params: Vec<(u16, Vec<u8>)> = Vec::new();
    let tokens = cursor.rest();
    let mut i = 0;
    while i < tokens.len() {
        let token = &tokens[i];
        i += 1;
        let text = &token.text;
        let (key_text, value) = match text.iter().position(|&b| b == b'=') {
            Some(at) => {
                let raw_value = &text[at + 1..];
                // `key="value"` arrives as `key=` and a quoted token.
                let value = if raw_value.is_empty() {
                    match tokens.get(i) {
                        Some(next) if next.quoted => {
                            i += 1;
                            Some(unescape(&next.text)?)
                        }
                        _ => Some(Vec::new()),
                    }
                } else {
                    Some(unescape(raw_value)?)
                };
                (String::from_utf8_lossy(&text[..at]).into_owned(), value)
            }
            None => (String::from_utf8_lossy(text).into_owned(), None),
        };
        let key = svc_key(&key_text).ok_or(format!(
            "unknown SvcParam key '{}'",
            crate::zone::excerpt(&*key_text)
        ))?;
        if params.iter().any(|(k, _)| *k == key) {
            return Err(format!(
                "SvcParam '{}' appears twice",
                crate::zone::excerpt(&*key_text)
            ));
        }
        let value = value.unwrap_or_default();
        let encoded = match key {
            0 => {
                let mut out = Vec::new();
                let mut keys = Vec::new();
                for item in value_list(&value) {
                    let name = String::from_utf8_lossy(&item).into_owned();
                    keys.push(svc_key(&name).ok_or(format!(
                        "unknown key '{}' in mandatory",
                        crate::zone::excerpt(&*name)
                    ))?);
                }
                keys.sort_unstable();
                for k in keys {
                    out.extend_from_slice(&k.to_be_bytes());
                }
                out
            }
            1 => {
                let mut out = Vec::new();
                for item in value_list(&value) {
                    if item.is_empty() || item.len() > 255 {
                        return Err("bad alpn value".into());
                    }
                    out.push(item.len() as u8);
                    out.extend_from_slice(&item);
                }
                out
            }
            2 => {
                if !value.is_empty() {
                    return Err("no-default-alpn takes no value".into());
                }
                Vec::new()
            }
            3 => {
                let text = String::from_utf8_lossy(&value);
                text.parse::<u16>()
                    .map_err(|_| format!("bad port '{}'", crate::zone::excerpt(&*text)))?
                    .to_be_bytes()
                    .to_vec()
            }
            4 => {
                let mut out = Vec::new();
                for item in value_list(&value) {
                    let text = String::from_utf8_lossy(&item);
                    out.extend_from_slice(
                        &text
                            .parse::<Ipv4Addr>()
                            .map_err(|_| {
                                format!("bad ipv4hint '{}'", crate::zone::excerpt(&*text))
                            })?
                            .octets(),
                    );
                }
                out
            }
            5 => {
                let text = String::from_utf8_lossy(&value);
                base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|_| format!("bad ech '{}'", crate::zone::excerpt(&*text)))?
            }
            6 => {
                let mut out = Vec::new();
                for item in value_list(&value) {
                    let text = String::from_utf8_lossy(&item);
                    out.extend_from_slice(
                        &text
                            .parse::<Ipv6Addr>()
                            .map_err(|_| {
                                format!("bad ipv6hint '{}'", crate::zone::excerpt(&*text))
                            })?
                            .octets(),
                    );
                }
                out
            }
            _ => value,
        };
        params.push((key, encoded));
    }
    params.sort_by_key(|(k, _)| *k);
    for (key, value) in params {
        wire.extend_from_slice(&key.to_be_bytes());
        wire.extend_from_slice(&(value.len() as u16).to_be_bytes());
        wire.extend_from_slice(&value);
    }
    Ok(())
}

/// Escapes a value-list item for printing inside quotes: `,` and `\` get
/// a backslash that the quoting doubles (`"h1\\,h2"`).
fn list_item(item: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for &b in item {
        if b == b',' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out
}

pub(super) fn format_svc_params(data: &[u8]) -> Result<String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let header = data.get(at..at + 4).ok_or("truncated SvcParams")?;
        let key = u16::from_be_bytes([header[0], header[1]]);
        let len = u16::from_be_bytes([header[2], header[3]]) as usize;
        let value = data
            .get(at + 4..at + 4 + len)
            .ok_or("truncated SvcParams")?;
        at += 4 + len;
        let name = svc_key_name(key);
        let text = match key {
            0 => {
                let keys: Vec<String> = value
                    .chunks(2)
                    .map(|c| svc_key_name(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
                    .collect();
                format!("{name}={}", keys.join(","))
            }
            1 => {
                let mut items = Vec::new();
                let mut i = 0;
                while i < value.len() {
                    let n = value[i] as usize;
                    let item = value.get(i + 1..i + 1 + n).ok_or("truncated alpn")?;
                    items.push(list_item(item));
                    i += 1 + n;
                }
                format!("{name}={}", quote_string(&items.join(&b","[..])))
            }
            2 => name,
            3 if len == 2 => format!("{name}={}", u16::from_be_bytes([value[0], value[1]])),
            4 if len % 4 == 0 => {
                let list: Vec<String> = value
                    .chunks(4)
                    .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]).to_string())
                    .collect();
                format!("{name}={}", list.join(","))
            }
            5 => format!(
                "{name}=\"{}\"",
                base64::engine::general_purpose::STANDARD.encode(value)
            ),
            6 if len % 16 == 0 => {
                let list: Vec<String> = value
                    .chunks(16)
                    .map(|c| {
                        let mut octets = [0u8; 16];
                        octets.copy_from_slice(c);
                        Ipv6Addr::from(octets).to_string()
                    })
                    .collect();
                format!("{name}={}", list.join(","))
            }
            // A key without a value is written bare: `key8`, not `key8=""`.
            _ if value.is_empty() => name,
            _ => format!("{name}={}", quote_string(value)),
        };
        out.push(text);
    }
    Ok(out.join(" "))
}

// ---- IPSECKEY, AMTRELAY (gateways) -----------------------------------

fn parse_gateway(cursor: &mut Cursor<'_>, kind: u8, wire: &mut Vec<u8>) -> Result<()> {
    let token = cursor.next("gateway")?;
    let text = token.as_str();
    match kind {
        0 if text == "." => {}
        1 => wire.extend_from_slice(
            &text
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("bad gateway '{}'", crate::zone::excerpt(&*text)))?
                .octets(),
        ),
        2 => wire.extend_from_slice(
            &text
                .parse::<Ipv6Addr>()
                .map_err(|_| format!("bad gateway '{}'", crate::zone::excerpt(&*text)))?
                .octets(),
        ),
        3 => {
            let name = crate::name::Name::parse_bytes(&token.text, Some(cursor.origin))
                .map_err(|e| format!("bad gateway '{}': {e}", crate::zone::excerpt(&*text)))?;
            wire.extend_from_slice(name.wire());
        }
        _ => {
            return Err(format!(
                "bad gateway '{}' for gateway type {kind}",
                crate::zone::excerpt(&*text)
            ))
        }
    }
    Ok(())
}

fn format_gateway(kind: u8, data: &[u8]) -> Result<(String, usize)> {
    Ok(match kind {
        0 => (".".into(), 0),
        1 if data.len() >= 4 => (
            Ipv4Addr::new(data[0], data[1], data[2], data[3]).to_string(),
            4,
        ),
        2 if data.len() >= 16 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&data[..16]);
            (Ipv6Addr::from(octets).to_string(), 16)
        }
        3 => {
            let len = name_len(data)?;
            (name_from_wire(&data[..len])?.to_string(), len)
        }
        _ => return Err("bad gateway".into()),
    })
}

pub(super) fn parse_ipseckey(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let precedence: u8 = cursor.number("precedence")?;
    let kind: u8 = cursor.number("gateway type")?;
    let algorithm: u8 = cursor.number("algorithm")?;
    wire.extend_from_slice(&[precedence, kind, algorithm]);
    parse_gateway(cursor, kind, wire)?;
    let key = cursor.rest_text();
    if !key.is_empty() {
        wire.extend_from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(key.as_bytes())
                .map_err(|_| "bad base64 public key".to_string())?,
        );
    }
    Ok(())
}

pub(super) fn format_ipseckey(data: &[u8]) -> Result<String> {
    let [precedence, kind, algorithm, rest @ ..] = data else {
        return Err("bad IPSECKEY".into());
    };
    let (gateway, used) = format_gateway(*kind, rest)?;
    let key = &rest[used..];
    let mut out = format!("{precedence} {kind} {algorithm} {gateway}");
    if !key.is_empty() {
        out.push(' ');
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(key));
    }
    Ok(out)
}

pub(super) fn parse_amtrelay(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let precedence: u8 = cursor.number("precedence")?;
    let discovery: u8 = cursor.number("discovery bit")?;
    let kind: u8 = cursor.number("relay type")?;
    if discovery > 1 || kind > 127 {
        return Err("bad AMTRELAY discovery bit or type".into());
    }
    wire.extend_from_slice(&[precedence, discovery << 7 | kind]);
    parse_gateway(cursor, kind, wire)
}

pub(super) fn format_amtrelay(data: &[u8]) -> Result<String> {
    let [precedence, flags, rest @ ..] = data else {
        return Err("bad AMTRELAY".into());
    };
    let kind = flags & 0x7F;
    let (relay, used) = format_gateway(kind, rest)?;
    if used != rest.len() {
        return Err("trailing data".into());
    }
    Ok(format!("{precedence} {} {kind} {relay}", flags >> 7))
}

// ---- HIP ----------------------------------------------------------------

pub(super) fn parse_hip(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let algorithm: u8 = cursor.number("PK algorithm")?;
    let hit_text = cursor.next("HIT")?.as_str().into_owned();
    let hit =
        decode_hex(&hit_text).ok_or(format!("bad HIT '{}'", crate::zone::excerpt(&*hit_text)))?;
    let key_text = cursor.next("public key")?.as_str().into_owned();
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_text.as_bytes())
        .map_err(|_| "bad base64 public key".to_string())?;
    if hit.len() > 255 || key.len() > 65535 {
        return Err("HIT or public key too long".into());
    }
    // An empty one has no presentation form (RFC 8005 §5): it would print
    // as nothing and the next field would be read in its place.
    if hit.is_empty() || key.is_empty() {
        return Err("HIP needs a HIT and a public key".into());
    }
    wire.push(hit.len() as u8);
    wire.push(algorithm);
    wire.extend_from_slice(&(key.len() as u16).to_be_bytes());
    wire.extend_from_slice(&hit);
    wire.extend_from_slice(&key);
    while cursor.peek().is_some() {
        wire.extend_from_slice(cursor.name()?.wire());
    }
    Ok(())
}

pub(super) fn format_hip(data: &[u8]) -> Result<String> {
    let [hit_len, algorithm, k1, k2, rest @ ..] = data else {
        return Err("bad HIP".into());
    };
    let hit_len = *hit_len as usize;
    let key_len = u16::from_be_bytes([*k1, *k2]) as usize;
    let hit = rest.get(..hit_len).ok_or("truncated HIP")?;
    let key = rest
        .get(hit_len..hit_len + key_len)
        .ok_or("truncated HIP")?;
    if hit.is_empty() || key.is_empty() {
        // No presentation form: the caller writes it as `\#` instead.
        return Err("HIP without a HIT or public key".into());
    }
    let mut out = format!(
        "{algorithm} {} {}",
        data_encoding::HEXUPPER.encode(hit),
        base64::engine::general_purpose::STANDARD.encode(key)
    );
    let mut at = hit_len + key_len;
    while at < rest.len() {
        let len = name_len(&rest[at..])?;
        out.push(' ');
        out.push_str(&name_from_wire(&rest[at..at + len])?.to_string());
        at += len;
    }
    Ok(out)
}

// ---- A6 -----------------------------------------------------------------

pub(super) fn parse_a6(cursor: &mut Cursor<'_>, wire: &mut Vec<u8>) -> Result<()> {
    let prefix: u8 = cursor.number("prefix length")?;
    if prefix > 128 {
        return Err("A6 prefix length over 128".into());
    }
    wire.push(prefix);
    let suffix_len = (128 - usize::from(prefix)).div_ceil(8);
    if suffix_len > 0 {
        let text = cursor.next("address suffix")?.as_str().into_owned();
        let address: Ipv6Addr = text
            .parse()
            .map_err(|_| format!("bad A6 address '{}'", crate::zone::excerpt(&*text)))?;
        wire.extend_from_slice(&address.octets()[16 - suffix_len..]);
    }
    if prefix > 0 {
        wire.extend_from_slice(cursor.name()?.wire());
    }
    Ok(())
}

pub(super) fn format_a6(data: &[u8]) -> Result<String> {
    let prefix = *data.first().ok_or("bad A6")?;
    if prefix > 128 {
        return Err("bad A6".into());
    }
    let suffix_len = (128 - usize::from(prefix)).div_ceil(8);
    let suffix = data.get(1..1 + suffix_len).ok_or("truncated A6")?;
    let mut out = prefix.to_string();
    if suffix_len > 0 {
        let mut octets = [0u8; 16];
        octets[16 - suffix_len..].copy_from_slice(suffix);
        out.push_str(&format!(" {}", Ipv6Addr::from(octets)));
    }
    if prefix > 0 {
        out.push_str(&format!(" {}", name_from_wire(&data[1 + suffix_len..])?));
    }
    Ok(out)
}
