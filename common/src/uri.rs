//! PKCS#11 URIs (RFC 7512): parsing, printing, and the compatibility rules
//! of BIND 9.16 and libp11.
//!
//! A URI names a module, a token and (optionally) an object:
//! `pkcs11:token=dnssec;object=ksk-example-com;type=private?pin-source=/etc/pin`.
//!
//! Parsing is lenient where real configurations are (as libp11 and BIND are):
//! query attributes (`pin-source`, `module-path`, …) are also accepted in the
//! path part after `;`, and characters RFC 7512 would have us percent-encode
//! (such as `/` in a path value) are taken literally. A path element without
//! `=` means `object=` (BIND 9.16). Printing is strict: every byte outside the
//! RFC's unreserved set is percent-encoded, so what we print parses back to
//! the same value.
//!
//! Percent escapes are decoded correctly: BIND 9.16 decoded an escape whose
//! second hex digit is A–F wrongly (`%2F` became 0x0F), so BIND users who
//! worked around that by avoiding such escapes are unaffected.

use crate::error::{Error, Result};
use crate::pin::Pin;
use std::collections::BTreeMap;
use std::fmt;

/// The path attributes of RFC 7512 §2.3, in the order we print them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathAttr {
    Token,
    Manufacturer,
    Serial,
    Model,
    LibraryManufacturer,
    LibraryDescription,
    LibraryVersion,
    SlotDescription,
    SlotManufacturer,
    SlotId,
    Object,
    Type,
    Id,
}

impl PathAttr {
    /// Every path attribute, in printing order.
    pub const ALL: [PathAttr; 13] = [
        PathAttr::Token,
        PathAttr::Manufacturer,
        PathAttr::Serial,
        PathAttr::Model,
        PathAttr::LibraryManufacturer,
        PathAttr::LibraryDescription,
        PathAttr::LibraryVersion,
        PathAttr::SlotDescription,
        PathAttr::SlotManufacturer,
        PathAttr::SlotId,
        PathAttr::Object,
        PathAttr::Type,
        PathAttr::Id,
    ];

    /// The attribute's name in a URI.
    pub fn name(self) -> &'static str {
        match self {
            PathAttr::Token => "token",
            PathAttr::Manufacturer => "manufacturer",
            PathAttr::Serial => "serial",
            PathAttr::Model => "model",
            PathAttr::LibraryManufacturer => "library-manufacturer",
            PathAttr::LibraryDescription => "library-description",
            PathAttr::LibraryVersion => "library-version",
            PathAttr::SlotDescription => "slot-description",
            PathAttr::SlotManufacturer => "slot-manufacturer",
            PathAttr::SlotId => "slot-id",
            PathAttr::Object => "object",
            PathAttr::Type => "type",
            PathAttr::Id => "id",
        }
    }

    fn from_name(name: &str) -> Option<PathAttr> {
        PathAttr::ALL.into_iter().find(|attr| attr.name() == name)
    }
}

/// The `type=` values of RFC 7512 (PKCS#11 object classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Public,
    Private,
    Cert,
    SecretKey,
    Data,
}

impl ObjectType {
    /// The value as written in a URI.
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Public => "public",
            ObjectType::Private => "private",
            ObjectType::Cert => "cert",
            ObjectType::SecretKey => "secret-key",
            ObjectType::Data => "data",
        }
    }

    fn from_name(name: &[u8]) -> Option<ObjectType> {
        [
            ObjectType::Public,
            ObjectType::Private,
            ObjectType::Cert,
            ObjectType::SecretKey,
            ObjectType::Data,
        ]
        .into_iter()
        .find(|t| t.name().as_bytes() == name)
    }
}

/// A parsed PKCS#11 URI.
///
/// Values are kept as decoded bytes: labels need not be UTF-8 and `id` is
/// binary. `pin-value` is held as a [`Pin`] and is never printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    path: BTreeMap<PathAttr, Vec<u8>>,
    /// Vendor-specific path attributes (`x-…`), kept to be printed back.
    vendor_path: Vec<(String, Vec<u8>)>,
    /// `pin-source`: a file name or a `file:` URI.
    pub pin_source: Option<String>,
    /// `pin-value`: the PIN itself. Never printed.
    pub pin_value: Option<Pin>,
    /// `module-name`: a module's name without directory or suffix.
    pub module_name: Option<String>,
    /// `module-path`: a module's file name.
    pub module_path: Option<String>,
    /// Vendor-specific query attributes (`x-…`), kept to be printed back.
    vendor_query: Vec<(String, Vec<u8>)>,
}

impl Pkcs11Uri {
    /// True if `text` is written as a PKCS#11 URI (starts with `pkcs11:`,
    /// the scheme compared case-insensitively as RFC 3986 asks).
    pub fn is_uri(text: &str) -> bool {
        text.get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("pkcs11:"))
    }

    /// Parses a URI. Errors name the attribute or escape that is wrong.
    pub fn parse(text: &str) -> Result<Pkcs11Uri> {
        if !Pkcs11Uri::is_uri(text) {
            return Err(uri_error(text, "it does not start with 'pkcs11:'"));
        }
        let rest = text.get(7..).unwrap_or_default();
        let (path_part, query_part) = match rest.find('?') {
            Some(at) => (&rest[..at], Some(&rest[at + 1..])),
            None => (rest, None),
        };
        let mut uri = Pkcs11Uri::default();
        for element in path_part.split(';').filter(|e| !e.is_empty()) {
            match element.split_once('=') {
                // BIND 9.16: a bare value means `object=`.
                None => uri.set_path_checked(text, "object", element)?,
                Some((name, value)) => uri.set_path_checked(text, name, value)?,
            }
        }
        if let Some(query) = query_part {
            for element in query.split('&').filter(|e| !e.is_empty()) {
                let Some((name, value)) = element.split_once('=') else {
                    return Err(uri_error(
                        text,
                        &format!("query attribute '{element}' has no '=value'"),
                    ));
                };
                uri.set_query_checked(text, name, value)?;
            }
        }
        Ok(uri)
    }

    /// Reads a key label the way BIND's dnssec tools do: a `pkcs11:` URI
    /// as it is; text without `:` gets `pkcs11:` put in front, so that a
    /// plain label names the object (`ksk` is `pkcs11:object=ksk`) and
    /// ISC's `token=bind9;object=ksk` form works too.
    pub fn from_bind_label(text: &str) -> Result<Pkcs11Uri> {
        if Pkcs11Uri::is_uri(text) {
            return Pkcs11Uri::parse(text);
        }
        if text.contains(':') {
            // As in every URI error: nothing after '?' and no pin-value is
            // quoted (found by fuzzing: this message showed the whole text).
            let before_query = text.split('?').next().unwrap_or_default();
            return Err(Error::usage(format!(
                "key label '{}' contains ':' but is not a pkcs11: URI",
                crate::zone::excerpt(redact_pin_value(before_query))
            )));
        }
        Pkcs11Uri::parse(&format!("pkcs11:{text}"))
    }

    fn set_path_checked(&mut self, uri: &str, name: &str, raw: &str) -> Result<()> {
        if is_query_name(name) {
            // libp11 and BIND accept `;pin-source=…` in the path: so do we.
            return self.set_query_checked(uri, name, raw);
        }
        let value = percent_decode(uri, name, raw)?;
        if let Some(vendor) = vendor_name(uri, name)? {
            if self.vendor_path.iter().any(|(n, _)| *n == vendor) {
                return Err(uri_error(uri, &format!("attribute '{name}' appears twice")));
            }
            self.vendor_path.push((vendor, value));
            return Ok(());
        }
        let Some(attr) = PathAttr::from_name(name) else {
            return Err(uri_error(uri, &format!("unknown attribute '{name}'")));
        };
        if self.path.contains_key(&attr) {
            return Err(uri_error(uri, &format!("attribute '{name}' appears twice")));
        }
        validate_path_value(uri, attr, &value)?;
        self.path.insert(attr, value);
        Ok(())
    }

    fn set_query_checked(&mut self, uri: &str, name: &str, raw: &str) -> Result<()> {
        let value = percent_decode(uri, name, raw)?;
        if let Some(vendor) = vendor_name(uri, name)? {
            // RFC 7512 §2.3: vendor query attributes may repeat.
            self.vendor_query.push((vendor, value));
            return Ok(());
        }
        let duplicate = || uri_error(uri, &format!("attribute '{name}' appears twice"));
        let text = || {
            String::from_utf8(value.clone())
                .map_err(|_| uri_error(uri, &format!("attribute '{name}' is not valid UTF-8")))
        };
        match name {
            "pin-source" if self.pin_source.is_some() => return Err(duplicate()),
            "pin-value" if self.pin_value.is_some() => return Err(duplicate()),
            "module-name" if self.module_name.is_some() => return Err(duplicate()),
            "module-path" if self.module_path.is_some() => return Err(duplicate()),
            "pin-source" => self.pin_source = Some(text()?),
            "pin-value" => self.pin_value = Some(Pin::new(value)),
            "module-name" => {
                let name = text()?;
                crate::pkcs11::check_module_name(&name).map_err(|problem| {
                    uri_error(uri, &format!("attribute 'module-name' {problem}"))
                })?;
                self.module_name = Some(name);
            }
            "module-path" => self.module_path = Some(text()?),
            _ => return Err(uri_error(uri, &format!("unknown attribute '{name}'"))),
        }
        if self.pin_source.is_some() && self.pin_value.is_some() {
            return Err(uri_error(
                uri,
                "'pin-source' and 'pin-value' cannot both be given",
            ));
        }
        Ok(())
    }

    /// The decoded value of a path attribute.
    pub fn get(&self, attr: PathAttr) -> Option<&[u8]> {
        self.path.get(&attr).map(Vec::as_slice)
    }

    /// Sets (or with `None` removes) a path attribute. Values of `slot-id`,
    /// `type` and `library-version` must be valid: use the typed setters.
    pub fn set(&mut self, attr: PathAttr, value: Option<Vec<u8>>) {
        match value {
            Some(value) => self.path.insert(attr, value),
            None => self.path.remove(&attr),
        };
    }

    /// `slot-id`, parsed.
    pub fn slot_id(&self) -> Option<u64> {
        self.get(PathAttr::SlotId)
            .and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())
    }

    /// Sets `slot-id`.
    pub fn set_slot_id(&mut self, slot: u64) {
        self.set(PathAttr::SlotId, Some(slot.to_string().into_bytes()));
    }

    /// `type`, parsed.
    pub fn object_type(&self) -> Option<ObjectType> {
        self.get(PathAttr::Type).and_then(ObjectType::from_name)
    }

    /// Sets `type`.
    pub fn set_object_type(&mut self, object_type: ObjectType) {
        self.set(PathAttr::Type, Some(object_type.name().as_bytes().to_vec()));
    }

    /// True if the URI has vendor-specific attributes, which we cannot honour.
    pub fn has_vendor_attributes(&self) -> bool {
        !self.vendor_path.is_empty() || !self.vendor_query.is_empty()
    }

    /// The URI with only what names the token and object: no PIN, no module.
    /// This is what goes into key files and listings.
    pub fn without_secrets(&self) -> Pkcs11Uri {
        Pkcs11Uri {
            path: self.path.clone(),
            vendor_path: self.vendor_path.clone(),
            ..Pkcs11Uri::default()
        }
    }
}

/// The query attributes that choose code or a secret: a URI read from a
/// file may not hold them (see [`KeyLabel`]).
const CONNECTION_ATTRIBUTES: [&str; 4] = ["module-path", "module-name", "pin-value", "pin-source"];

/// A URI read from a file, such as a key file's `Label:`: it names a token
/// and an object, never the module to load or the PIN.
///
/// Whoever can write a key directory must not be able to choose the code
/// that the signer `dlopen`s (as root, from cron), a PIN that locks the
/// token after a few runs, or a file that is read and sent to `C_Login`.
/// So the module and the PIN come only from the command line and the
/// environment; a URI on the command line keeps all of RFC 7512.
/// The only way to make a `KeyLabel` is [`KeyLabel::parse`], which
/// refuses those attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLabel(Pkcs11Uri);

impl KeyLabel {
    /// Reads a label as BIND does ([`Pkcs11Uri::from_bind_label`]) and
    /// refuses `module-path`, `module-name`, `pin-value` and `pin-source`.
    /// The error is a message for the caller to place at its file and line;
    /// it names the attribute, never its value.
    pub fn parse(text: &str) -> std::result::Result<KeyLabel, String> {
        // Looked for before parsing, so that the refusal, not a complaint
        // about the value (a module-name with '/'), is what the operator reads.
        let named = text
            .split([';', '?', '&'])
            .filter_map(|element| element.split('=').next())
            // The first element carries the scheme: `pkcs11:module-path`.
            .filter_map(|name| name.rsplit(':').next())
            .find(|name| CONNECTION_ATTRIBUTES.contains(name));
        if let Some(name) = named {
            return Err(refusal(name));
        }
        let uri = Pkcs11Uri::from_bind_label(text).map_err(|e| match e {
            Error::Usage(message) => message,
            other => other.to_string(),
        })?;
        // Parsing sets these only from their names, which were refused
        // above; checked again so that the guarantee does not rest on that.
        let set = [
            uri.module_path.is_some(),
            uri.module_name.is_some(),
            uri.pin_value.is_some(),
            uri.pin_source.is_some(),
        ];
        if let Some((name, _)) = CONNECTION_ATTRIBUTES.into_iter().zip(set).find(|(_, s)| *s) {
            return Err(refusal(name));
        }
        Ok(KeyLabel(uri))
    }

    /// The URI: path attributes only, so it never chooses a module or a PIN.
    pub fn uri(&self) -> &Pkcs11Uri {
        &self.0
    }
}

/// Why a key file's label may not hold attribute `name`, and what to do.
fn refusal(name: &str) -> String {
    let mut message = format!(
        "the key's label holds '{name}': a key file may name a key, not the PKCS#11 \
         module or the PIN; give the module with --module or PKCS11_MODULE and the PIN \
         with --pin-file or PKCS11_PIN"
    );
    if name == "pin-source" {
        // bind-tools.md §6.1: BIND 9.16's dnssec-keyfromlabel stored the
        // label as typed, pin-source and all.
        message.push_str(
            " (BIND 9.16's dnssec-keyfromlabel stored pin-source in Label: pass that \
             file with --pin-file and write the key files again without it, e.g. with \
             dnskey-from-label)",
        );
    }
    message
}

impl fmt::Display for Pkcs11Uri {
    /// Prints the URI with every value percent-encoded as RFC 7512 asks.
    /// `pin-value` is never printed (a PIN must not reach output or logs).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pkcs11:")?;
        let mut first = true;
        let path = self
            .path
            .iter()
            .map(|(attr, value)| (attr.name(), value.as_slice()))
            .chain(
                self.vendor_path
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_slice())),
            );
        for (name, value) in path {
            if !first {
                f.write_str(";")?;
            }
            first = false;
            write!(f, "{name}=")?;
            // RFC 7512 §2.3: the whole `id` SHOULD be percent-encoded.
            write_encoded(f, value, name == "id", PATH_ALSO_ALLOWED)?;
        }
        let query = [
            ("pin-source", self.pin_source.as_deref()),
            ("module-name", self.module_name.as_deref()),
            ("module-path", self.module_path.as_deref()),
        ];
        let query = query
            .into_iter()
            .filter_map(|(n, v)| Some((n, v?.as_bytes())))
            .chain(
                self.vendor_query
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_slice())),
            );
        let mut separator = "?";
        for (name, value) in query {
            write!(f, "{separator}{name}=")?;
            write_encoded(f, value, false, QUERY_ALSO_ALLOWED)?;
            separator = "&";
        }
        Ok(())
    }
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = Error;
    fn from_str(text: &str) -> Result<Pkcs11Uri> {
        Pkcs11Uri::parse(text)
    }
}

/// Characters RFC 7512 allows literally in a path value, beyond unreserved.
/// `:` `[` `]` `@` `!` `$` `'` `(` `)` `*` `+` `,` `=` `&`; we still encode
/// `=` and `&` to stay unambiguous for lenient parsers.
const PATH_ALSO_ALLOWED: &[u8] = b":[]@!$'()*+,";
/// Characters RFC 7512 allows literally in a query value, beyond unreserved.
const QUERY_ALSO_ALLOWED: &[u8] = b":[]@!$'()*+,/?|";

fn write_encoded(
    f: &mut fmt::Formatter<'_>,
    value: &[u8],
    encode_all: bool,
    also_allowed: &[u8],
) -> fmt::Result {
    for &byte in value {
        let unreserved = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
        if !encode_all && (unreserved || also_allowed.contains(&byte)) {
            write!(f, "{}", byte as char)?;
        } else {
            write!(f, "%{byte:02X}")?;
        }
    }
    Ok(())
}

fn is_query_name(name: &str) -> bool {
    matches!(
        name,
        "pin-source" | "pin-value" | "module-name" | "module-path"
    )
}

/// `x-…` names are vendor-specific (RFC 7512 §2.3); returns the name if so.
fn vendor_name(uri: &str, name: &str) -> Result<Option<String>> {
    if !name.starts_with("x-") {
        return Ok(None);
    }
    let valid = name.len() > 2
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(uri_error(uri, &format!("bad attribute name '{name}'")));
    }
    Ok(Some(name.to_string()))
}

fn validate_path_value(uri: &str, attr: PathAttr, value: &[u8]) -> Result<()> {
    let ok = match attr {
        PathAttr::SlotId => {
            !value.is_empty()
                && value.iter().all(u8::is_ascii_digit)
                && std::str::from_utf8(value)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some()
        }
        PathAttr::Type => ObjectType::from_name(value).is_some(),
        PathAttr::LibraryVersion => {
            let text = String::from_utf8_lossy(value);
            let mut parts = text.splitn(2, '.');
            let digits = |p: Option<&str>| {
                p.is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            };
            let major = parts.next();
            let minor = parts.next();
            digits(major) && (minor.is_none() || digits(minor))
        }
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let expected = match attr {
        PathAttr::SlotId => "a decimal slot number",
        PathAttr::Type => "one of public, private, cert, secret-key, data",
        _ => "MAJOR[.MINOR]",
    };
    Err(uri_error(
        uri,
        &format!(
            "attribute '{}' has value '{}': expected {expected}",
            attr.name(),
            String::from_utf8_lossy(value)
        ),
    ))
}

/// Decodes `%XX` escapes. An incomplete or non-hex escape is an error.
fn percent_decode(uri: &str, name: &str, raw: &str) -> Result<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = |b: Option<&u8>| b.and_then(|b| (*b as char).to_digit(16));
        match (hex(bytes.get(i + 1)), hex(bytes.get(i + 2))) {
            (Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            _ => {
                let end = (i + 3).min(bytes.len());
                let escape = String::from_utf8_lossy(&bytes[i..end]);
                return Err(uri_error(
                    uri,
                    &format!("bad percent escape '{escape}' in attribute '{name}'"),
                ));
            }
        }
    }
    Ok(out)
}

/// A URI error. The URI itself is shown only without its query part and
/// with any `pin-value` replaced, because both may hold a PIN; so is any
/// quoted excerpt in `problem` that comes from the query or from a
/// `pin-value` (a malformed URI may be a PIN pasted in the wrong place).
/// Attribute names of RFC 7512 are vocabulary, not input, and stay.
fn uri_error(uri: &str, problem: &str) -> Error {
    let shown = match uri.find(['?']) {
        Some(at) => &uri[..at],
        None => uri,
    };
    // A label read from a key file may hold any byte: the message is one
    // line, without control characters, and short.
    let shown = crate::zone::excerpt(redact_pin_value(shown));
    let problem = without_controls(&redact_excerpts(problem, &secret_parts(uri)));
    Error::usage(format!("bad PKCS#11 URI '{shown}': {problem}"))
}

/// `text` with control characters written `\DDD`, at most 200 bytes, so
/// that no input can forge a line of its own or reach a terminal.
fn without_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(200));
    for c in text.chars() {
        if out.len() >= 200 {
            out.push_str("...");
            break;
        }
        if c.is_control() {
            let mut buffer = [0; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                out.push_str(&format!("\\{byte:03}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The parts of a URI that may hold a secret: its query, and the value of
/// every `pin-value=` (a lenient URI may carry it in the path part).
fn secret_parts(uri: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    if let Some(at) = uri.find('?') {
        parts.push(&uri[at + 1..]);
    }
    let mut rest = uri;
    while let Some(at) = rest.find("pin-value=") {
        let value = &rest[at + "pin-value=".len()..];
        let len = value.find([';', '&', '?']).unwrap_or(value.len());
        parts.push(&value[..len]);
        rest = &value[len..];
    }
    parts.retain(|part| !part.is_empty());
    parts
}

/// Replaces each `'…'`-quoted excerpt of `problem` that overlaps a secret
/// part with `'…'`, keeping excerpts that are attribute names.
fn redact_excerpts(problem: &str, secrets: &[&str]) -> String {
    if secrets.is_empty() {
        return problem.to_string();
    }
    if secrets.iter().any(|s| s.contains('\'')) {
        // A quote in the secret part shifts the excerpt boundaries: show
        // no excerpt at all.
        return "malformed attribute (not shown: the query or a pin-value may hold a PIN)"
            .to_string();
    }
    let known = |excerpt: &str| {
        is_query_name(excerpt)
            || PathAttr::from_name(excerpt).is_some()
            || excerpt == "=value"
            || excerpt == "pkcs11:"
    };
    let mut out = String::with_capacity(problem.len());
    let mut pieces = problem.split('\'');
    if let Some(first) = pieces.next() {
        out.push_str(first);
    }
    // Odd pieces are inside quotes (the messages quote in pairs).
    for (index, piece) in pieces.enumerate() {
        out.push('\'');
        let quoted = index % 2 == 0;
        let secret = quoted
            && !piece.is_empty()
            && !known(piece)
            && secrets
                .iter()
                .any(|s| s.contains(piece) || piece.contains(s));
        out.push_str(if secret { "…" } else { piece });
    }
    out
}

/// Replaces the value of any `pin-value=` element (a lenient URI may carry
/// it in the path part) so that an error message never shows a PIN.
fn redact_pin_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("pin-value=") {
        let value_start = at + "pin-value=".len();
        out.push_str(&rest[..value_start]);
        out.push('…');
        let value_len = rest[value_start..]
            .find([';', '&', '?'])
            .unwrap_or(rest.len() - value_start);
        rest = &rest[value_start + value_len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_examples() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;\
             manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;\
             type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=\
             ?pin-source=file:/etc/token_pin",
        )
        .expect("RFC 7512 example");
        assert_eq!(
            uri.get(PathAttr::Token),
            Some(&b"The Software PKCS#11 Softtoken"[..])
        );
        assert_eq!(
            uri.get(PathAttr::Id),
            Some(&[0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91][..])
        );
        assert_eq!(uri.get(PathAttr::Serial), Some(&b""[..]));
        assert_eq!(uri.object_type(), Some(ObjectType::Cert));
        assert_eq!(uri.pin_source.as_deref(), Some("file:/etc/token_pin"));

        let uri = Pkcs11Uri::parse("pkcs11:slot-description=Sun%20Metaslot").expect("slot");
        assert_eq!(
            uri.get(PathAttr::SlotDescription),
            Some(&b"Sun Metaslot"[..])
        );
        let uri = Pkcs11Uri::parse(
            "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;library-description=Soft%20Token;library-version=1.23",
        )
        .expect("library");
        assert_eq!(uri.get(PathAttr::LibraryVersion), Some(&b"1.23"[..]));
        let uri = Pkcs11Uri::parse("pkcs11:?module-path=/mnt/libmypkcs11.so.1").expect("module");
        assert_eq!(uri.module_path.as_deref(), Some("/mnt/libmypkcs11.so.1"));
        assert!(Pkcs11Uri::parse("pkcs11:").is_ok());
        assert!(Pkcs11Uri::parse("pkcs11:slot-id=1;x-vendor=a?x-q=1&x-q=2").is_ok());
    }

    #[test]
    fn decodes_escapes_whose_second_digit_is_a_letter() {
        // BIND 9.16 decoded %2F as 0x0F and %AB as 0x0B.
        let uri = Pkcs11Uri::parse("pkcs11:id=%00%AB;object=a%2Fb%2fc").expect("uri");
        assert_eq!(uri.get(PathAttr::Id), Some(&[0x00, 0xAB][..]));
        assert_eq!(uri.get(PathAttr::Object), Some(&b"a/b/c"[..]));
    }

    #[test]
    fn accepts_bind_and_libp11_forms() {
        let uri = Pkcs11Uri::parse("pkcs11:sample-ksk").expect("bare value");
        assert_eq!(uri.get(PathAttr::Object), Some(&b"sample-ksk"[..]));
        let uri = Pkcs11Uri::parse("pkcs11:object=ksk-example-com;pin-source=/tmp/hsm/pin")
            .expect("query attribute in the path");
        assert_eq!(uri.pin_source.as_deref(), Some("/tmp/hsm/pin"));
        assert!(Pkcs11Uri::parse("PKCS11:object=x").is_ok());
    }

    #[test]
    fn text_that_is_not_ascii_is_no_scheme() {
        // Found by fuzzing: a multi-byte character across byte 7.
        let text = "=ck;id\u{8c}ce=/p";
        assert!(!Pkcs11Uri::is_uri(text));
        assert!(Pkcs11Uri::parse(text).is_err());
        assert!(Pkcs11Uri::from_bind_label("ééééé").is_ok());
    }

    #[test]
    fn bind_labels_become_uris() {
        let uri = Pkcs11Uri::from_bind_label("ksk-example-com").expect("plain");
        assert_eq!(uri.get(PathAttr::Object), Some(&b"ksk-example-com"[..]));
        let uri =
            Pkcs11Uri::from_bind_label("token=bind9;object=example.net-ksk").expect("isc form");
        assert_eq!(uri.get(PathAttr::Token), Some(&b"bind9"[..]));
        assert!(Pkcs11Uri::from_bind_label("file:x").is_err());
    }

    #[test]
    fn errors_name_the_attribute_or_escape() {
        let message = |s: &str| Pkcs11Uri::parse(s).expect_err(s).to_string();
        assert!(
            message("pkcs11:object=%G1").contains("bad percent escape '%G1' in attribute 'object'")
        );
        assert!(message("pkcs11:object=abc%4").contains("'%4'"));
        assert!(message("pkcs11:colour=red").contains("unknown attribute 'colour'"));
        assert!(message("pkcs11:object=a;object=b").contains("'object' appears twice"));
        assert!(message("pkcs11:slot-id=x1").contains("'slot-id' has value 'x1'"));
        assert!(message("pkcs11:type=key").contains("'type' has value 'key'"));
        assert!(message("pkcs11:library-version=1.").contains("library-version"));
        assert!(message("pkcs11:?pin-source=a&pin-value=b").contains("cannot both"));
        assert!(message("pkcs11:?pin-source").contains("no '=value'"));
        assert!(message("file:x").contains("does not start with 'pkcs11:'"));
    }

    #[test]
    fn errors_never_show_a_pin_value() {
        for text in [
            "pkcs11:object=%G1?pin-value=secret-1234",
            "pkcs11:pin-value=secret-1234;object=%G1",
            "pkcs11:pin-value=secret-1234;pin-value=secret-1234",
            "pkcs11:object=a?pin-value=secret-1234&pin-value=secret-1234",
        ] {
            let message = Pkcs11Uri::parse(text).expect_err(text).to_string();
            assert!(!message.contains("secret-1234"), "{message}");
        }
    }

    #[test]
    fn key_labels_name_keys_never_modules_or_pins() {
        let label = KeyLabel::parse("token=bind9;object=ksk").expect("isc form");
        assert_eq!(label.uri().get(PathAttr::Object), Some(&b"ksk"[..]));
        assert!(KeyLabel::parse("pkcs11:object=zsk;id=%01").is_ok());
        for (text, attribute) in [
            (
                "pkcs11:object=zsk?module-path=/tmp/x/evil.so",
                "'module-path'",
            ),
            (
                "pkcs11:object=zsk;module-path=/tmp/x/evil.so",
                "'module-path'",
            ),
            ("pkcs11:object=zsk?module-name=softhsm2", "'module-name'"),
            ("pkcs11:module-name=../../tmp/evil", "'module-name'"),
            ("module-path=/tmp/evil.so", "'module-path'"),
            ("pkcs11:object=zsk?pin-value=secret-1234", "'pin-value'"),
            ("object=zsk;pin-source=/etc/shadow", "'pin-source'"),
            (
                "PKCS11:object=zsk?pin-source=/p&module-path=/m.so",
                "'pin-source'",
            ),
        ] {
            let message = KeyLabel::parse(text).expect_err(text);
            assert!(message.contains(attribute), "{text}: {message}");
            assert!(message.contains("--pin-file"), "{message}");
            assert!(!message.contains("secret-1234"), "{message}");
            assert!(!message.contains("evil.so"), "{message}");
        }
        let message = KeyLabel::parse("pkcs11:object=k;pin-source=/tmp/hsm/pin").expect_err("pin");
        assert!(message.contains("BIND 9.16"), "{message}");
    }

    #[test]
    fn module_names_are_bare_names_on_the_command_line_too() {
        assert!(Pkcs11Uri::parse("pkcs11:?module-name=libsofthsm2").is_ok());
        for text in [
            "pkcs11:?module-name=/tmp/evil",
            "pkcs11:?module-name=../../tmp/evil",
            "pkcs11:?module-name=a%2Fb",
            "pkcs11:?module-name=%2E%2E",
            "pkcs11:?module-name=a%00b",
            "pkcs11:?module-name=",
            "pkcs11:object=k;module-name=x/y",
        ] {
            let error = Pkcs11Uri::parse(text).expect_err(text);
            assert_eq!(error.exit_code(), 2, "{text}");
            assert!(error.to_string().contains("'module-name'"), "{error}");
        }
    }

    #[test]
    fn bind_label_errors_never_show_the_query_or_a_pin_value() {
        for text in [
            "p1:token=t;object=k;id=%01?pin-sour\0\0\u{11}\0SECRET",
            "p1:object=k?pin-value=SECRET",
            "p1:object=k;pin-value=SECRET;id=%01",
        ] {
            let message = Pkcs11Uri::from_bind_label(text)
                .expect_err(text)
                .to_string();
            assert!(!message.contains("SECRET"), "{message}");
            assert!(!message.contains('\0'), "{message}");
            assert!(message.contains("not a pkcs11: URI"), "{message}");
        }
    }

    #[test]
    fn errors_never_show_the_query_or_a_pin_value_however_malformed() {
        for (text, kept) in [
            ("pkcs11:object=a?pin-value=1234&SECRETTAIL", "no '=value'"),
            (
                "pkcs11:object=a?pin-value=12%GSECRET",
                "attribute 'pin-value'",
            ),
            ("pkcs11:object=a?SECRET=1", "unknown attribute"),
            (
                "pkcs11:object=a?pin-value=1&x-SEC!RET=1",
                "bad attribute name",
            ),
            ("pkcs11:pin-value=12%GSECRET;object=a", "bad percent escape"),
            ("pkcs11:colour=red?pin-value=12'SECRET&'", "not shown"),
            (
                "pkcs11:object=a?pin-value=SECRET&pin-value=SECRET",
                "appears twice",
            ),
        ] {
            let message = Pkcs11Uri::parse(text).expect_err(text).to_string();
            assert!(!message.contains("SECRET"), "{message}");
            assert!(message.contains(kept), "{kept}: {message}");
        }
        // Path excerpts that are not secrets still show.
        let message = Pkcs11Uri::parse("pkcs11:colour=red?pin-value=1234")
            .expect_err("colour")
            .to_string();
        assert!(message.contains("unknown attribute 'colour'"), "{message}");
    }

    #[test]
    fn printing_encodes_and_omits_the_pin() {
        let uri = Pkcs11Uri::parse("pkcs11:token=my%20token;id=%01%02;object=k?pin-value=1234")
            .expect("uri");
        assert_eq!(
            uri.to_string(),
            "pkcs11:token=my%20token;object=k;id=%01%02"
        );
        let uri = Pkcs11Uri::parse("pkcs11:object=x?pin-source=/etc/pin&module-path=/usr/lib/a.so")
            .expect("uri");
        assert_eq!(
            uri.to_string(),
            "pkcs11:object=x?pin-source=/etc/pin&module-path=/usr/lib/a.so"
        );
    }

    /// A small deterministic generator (xorshift), so the property test
    /// needs no extra crate and fails the same way every time.
    struct Random(u64);
    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn bytes(&mut self) -> Vec<u8> {
            let len = (self.next() % 12) as usize;
            (0..len).map(|_| (self.next() % 256) as u8).collect()
        }
        fn text(&mut self) -> String {
            let len = (self.next() % 12) as usize + 1;
            (0..len)
                .map(|_| char::from(b" abz09/:;?&=%#-_.~@"[(self.next() % 19) as usize]))
                .collect()
        }
    }

    #[test]
    fn any_uri_we_print_parses_back_to_the_same_thing() {
        let mut random = Random(0x5eed_1234_abcd_0001);
        for _ in 0..5000 {
            let mut uri = Pkcs11Uri::default();
            for attr in PathAttr::ALL {
                if random.next() % 3 != 0 {
                    continue;
                }
                let value = match attr {
                    PathAttr::SlotId => (random.next() % 100_000).to_string().into_bytes(),
                    PathAttr::Type => b"private".to_vec(),
                    PathAttr::LibraryVersion => b"2.40".to_vec(),
                    _ => random.bytes(),
                };
                uri.set(attr, Some(value));
            }
            if random.next() % 4 == 0 {
                uri.vendor_path.push(("x-vendor".into(), random.bytes()));
            }
            if random.next() % 3 == 0 {
                uri.pin_source = Some(random.text());
            }
            if random.next() % 3 == 0 {
                uri.module_path = Some(random.text());
            }
            if random.next() % 3 == 0 {
                // A module-name is a bare name (no '/', no '..').
                let name = random.text().replace('/', "_").replace("..", "._");
                uri.module_name = Some(name);
            }
            if random.next() % 4 == 0 {
                uri.vendor_query.push(("x-q".into(), random.bytes()));
            }
            let printed = uri.to_string();
            let parsed = Pkcs11Uri::parse(&printed).expect(&printed);
            assert_eq!(parsed, uri, "{printed}");
            assert_eq!(parsed.to_string(), printed);
        }
    }
}
