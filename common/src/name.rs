//! Domain names (RFC 1035 §3.1, §5.1; RFC 4034 §6.1 canonical form).
//!
//! A [`Name`] holds the uncompressed wire form, case preserved: the
//! presentation form is printed from it, the canonical form (lower case)
//! is derived when hashing or ordering. Names are always absolute.

use std::cmp::Ordering;
use std::fmt;

/// Longest name in wire form (RFC 1035 §3.1).
pub const MAX_NAME_LEN: usize = 255;
/// Longest label (RFC 1035 §3.1).
pub const MAX_LABEL_LEN: usize = 63;

/// An absolute domain name in wire form, case preserved. A boxed slice,
/// not a `Vec`: a zone holds a name per node, and the capacity word and
/// the slack a `Vec` keeps add up over millions of them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Name {
    wire: Box<[u8]>,
}

/// Why a name could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NameError {
    Empty,
    LabelTooLong,
    NameTooLong,
    EmptyLabel,
    BadEscape,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::Empty => "empty name",
            NameError::LabelTooLong => "label longer than 63 octets",
            NameError::NameTooLong => "name longer than 255 octets",
            NameError::EmptyLabel => "empty label",
            NameError::BadEscape => "bad escape",
        })
    }
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Name {
        Name {
            wire: Box::new([0]),
        }
    }

    /// Builds a name from wire-form bytes (trusted: produced by this module).
    fn from_wire_unchecked(wire: Vec<u8>) -> Name {
        Name {
            wire: wire.into_boxed_slice(),
        }
    }

    /// Reads an uncompressed wire-form name at the start of `data`;
    /// returns it and its length.
    pub fn from_wire(data: &[u8]) -> Result<(Name, usize), NameError> {
        let mut at = 0;
        loop {
            let len = *data.get(at).ok_or(NameError::NameTooLong)? as usize;
            if len > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
            at += 1 + len;
            if at > MAX_NAME_LEN || at > data.len() {
                return Err(NameError::NameTooLong);
            }
            if len == 0 {
                return Ok((Name::from_wire_unchecked(data[..at].to_vec()), at));
            }
        }
    }

    /// Parses a presentation-format name. A name without a final dot is
    /// relative and gets `origin` appended; `@` is the origin itself.
    pub fn parse(text: &str, origin: Option<&Name>) -> Result<Name, NameError> {
        Name::parse_bytes(text.as_bytes(), origin)
    }

    /// [`Name::parse`] on raw bytes (zone files need not be UTF-8).
    pub fn parse_bytes(text: &[u8], origin: Option<&Name>) -> Result<Name, NameError> {
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if text == b"@" {
            return origin.cloned().ok_or(NameError::Empty);
        }
        if text == b"." {
            return Ok(Name::root());
        }
        let mut wire = Vec::with_capacity(text.len() + 2);
        let mut label = Vec::with_capacity(MAX_LABEL_LEN);
        let mut absolute = false;
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            match c {
                b'.' => {
                    if label.is_empty() {
                        return Err(NameError::EmptyLabel);
                    }
                    push_label(&mut wire, &label)?;
                    label.clear();
                    if i + 1 == text.len() {
                        absolute = true;
                    }
                    i += 1;
                }
                b'\\' => {
                    let (byte, used) = parse_escape(&text[i + 1..])?;
                    label.push(byte);
                    i += 1 + used;
                }
                _ => {
                    label.push(c);
                    i += 1;
                }
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(NameError::LabelTooLong);
            }
        }
        if !label.is_empty() {
            push_label(&mut wire, &label)?;
        }
        if absolute {
            wire.push(0);
        } else {
            match origin {
                Some(origin) => wire.extend_from_slice(&origin.wire),
                // Without an origin a relative name is taken as absolute.
                None => wire.push(0),
            }
        }
        if wire.len() > MAX_NAME_LEN {
            return Err(NameError::NameTooLong);
        }
        Ok(Name::from_wire_unchecked(wire))
    }

    /// The wire form, case preserved.
    pub fn wire(&self) -> &[u8] {
        &self.wire
    }

    /// The canonical wire form: ASCII letters in lower case (RFC 4034 §6.2).
    pub fn canonical_wire(&self) -> Vec<u8> {
        self.wire.to_ascii_lowercase()
    }

    /// The labels, leftmost first, without the root.
    pub fn labels(&self) -> Labels<'_> {
        Labels {
            wire: &self.wire,
            at: 0,
        }
    }

    /// The number of labels, not counting the root (RRSIG's Labels field
    /// counts this, less a leading `*`).
    pub fn label_count(&self) -> usize {
        self.labels().count()
    }

    /// True for `.`.
    pub fn is_root(&self) -> bool {
        *self.wire == [0]
    }

    /// True if the first label is `*`.
    pub fn is_wildcard(&self) -> bool {
        self.wire.starts_with(&[1, b'*'])
    }

    /// The name less its first label (`None` for the root).
    pub fn parent(&self) -> Option<Name> {
        if self.is_root() {
            return None;
        }
        let skip = 1 + self.wire[0] as usize;
        Some(Name::from_wire_unchecked(self.wire[skip..].to_vec()))
    }

    /// True if `self` is `ancestor` or below it (case-insensitive).
    pub fn is_subdomain_of(&self, ancestor: &Name) -> bool {
        let mine: Vec<&[u8]> = self.labels().collect();
        let theirs: Vec<&[u8]> = ancestor.labels().collect();
        if theirs.len() > mine.len() {
            return false;
        }
        mine.iter()
            .rev()
            .zip(theirs.iter().rev())
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// Case-insensitive equality (DNS names compare without case).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.wire.eq_ignore_ascii_case(&other.wire)
    }

    /// Canonical DNSSEC order (RFC 4034 §6.1): labels compared from the
    /// root, each as lower-cased octets; a parent sorts before children.
    /// Allocation-free: it runs once per comparison when sorting a zone.
    pub fn canonical_cmp(&self, other: &Name) -> Ordering {
        let (mine, my_count) = label_offsets(&self.wire);
        let (theirs, their_count) = label_offsets(&other.wire);
        for i in 1..=my_count.min(their_count) {
            let a = label_at(&self.wire, mine[my_count - i]);
            let b = label_at(&other.wire, theirs[their_count - i]);
            let ordering = a
                .iter()
                .map(u8::to_ascii_lowercase)
                .cmp(b.iter().map(u8::to_ascii_lowercase));
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        my_count.cmp(&their_count)
    }

    /// The name with ASCII letters in lower case.
    pub fn to_lowercase(&self) -> Name {
        Name::from_wire_unchecked(self.canonical_wire())
    }

    /// The presentation form, absolute, with BIND's escapes.
    pub fn to_text(&self) -> String {
        self.to_string()
    }

    /// The name as BIND writes it in key file names (bind-tools.md §7.7):
    /// lower case, bytes other than `[a-z0-9_-]` as `%XX`, a final dot.
    pub fn key_file_text(&self) -> String {
        if self.is_root() {
            return ".".into();
        }
        let mut out = String::new();
        for label in self.labels() {
            for &byte in label {
                let byte = byte.to_ascii_lowercase();
                if byte.is_ascii_lowercase()
                    || byte.is_ascii_digit()
                    || byte == b'_'
                    || byte == b'-'
                {
                    out.push(byte as char);
                } else {
                    out.push_str(&format!("%{byte:02X}"));
                }
            }
            out.push('.');
        }
        out
    }
}

/// The start offsets of a wire name's labels (at most 127 of them).
fn label_offsets(wire: &[u8]) -> ([u8; 128], usize) {
    let mut offsets = [0u8; 128];
    let mut count = 0;
    let mut at = 0usize;
    while at < wire.len() && wire[at] != 0 && count < 128 {
        offsets[count] = at as u8;
        count += 1;
        at += 1 + wire[at] as usize;
    }
    (offsets, count)
}

fn label_at(wire: &[u8], offset: u8) -> &[u8] {
    let start = offset as usize;
    let len = wire[start] as usize;
    &wire[start + 1..start + 1 + len]
}

fn push_label(wire: &mut Vec<u8>, label: &[u8]) -> Result<(), NameError> {
    if label.len() > MAX_LABEL_LEN {
        return Err(NameError::LabelTooLong);
    }
    wire.push(label.len() as u8);
    wire.extend_from_slice(label);
    if wire.len() > MAX_NAME_LEN {
        return Err(NameError::NameTooLong);
    }
    Ok(())
}

/// Parses what follows a backslash: `\DDD` (decimal, 0..=255) or `\X`.
/// Returns the byte and how many input bytes were used.
pub fn parse_escape(rest: &[u8]) -> Result<(u8, usize), NameError> {
    match rest {
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            u8::try_from(value)
                .map(|v| (v, 3))
                .map_err(|_| NameError::BadEscape)
        }
        [a, ..] if a.is_ascii_digit() => Err(NameError::BadEscape),
        [x, ..] => Ok((*x, 1)),
        [] => Err(NameError::BadEscape),
    }
}

/// Iterator over the labels of a name.
pub struct Labels<'a> {
    wire: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = *self.wire.get(self.at)? as usize;
        if len == 0 {
            return None;
        }
        let label = &self.wire[self.at + 1..self.at + 1 + len];
        self.at += 1 + len;
        Some(label)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for label in self.labels() {
            for &byte in label {
                match byte {
                    b'.' | b';' | b'\\' | b'(' | b')' | b'"' | b'@' | b'$' => {
                        write!(f, "\\{}", byte as char)?
                    }
                    0x21..=0x7e => write!(f, "{}", byte as char)?,
                    _ => write!(f, "\\{byte:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl PartialOrd for Name {
    fn partial_cmp(&self, other: &Name) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name {
    /// Canonical order, then exact bytes (so that case variants of one
    /// name are distinct but adjacent).
    fn cmp(&self, other: &Name) -> Ordering {
        self.canonical_cmp(other)
            .then_with(|| self.wire.cmp(&other.wire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Name {
        Name::parse(text, None).expect(text)
    }

    #[test]
    fn parses_relative_absolute_and_escaped_names() {
        let origin = name("example.com.");
        assert_eq!(
            Name::parse("www", Some(&origin)).expect("rel").to_string(),
            "www.example.com."
        );
        assert_eq!(Name::parse("@", Some(&origin)).expect("@"), origin);
        assert_eq!(name("a\\.b.c.").label_count(), 2);
        assert_eq!(name("\\065.c.").to_string(), "A.c.");
        assert_eq!(name("a\\000b.").wire(), &[3, b'a', 0, b'b', 0]);
        assert_eq!(name("x\\ y.").to_string(), "x\\032y.");
        assert_eq!(name(".").to_string(), ".");
        assert_eq!(name("Example.COM.").to_string(), "Example.COM.");
    }

    #[test]
    fn rejects_bad_names() {
        assert_eq!(Name::parse("a..b.", None), Err(NameError::EmptyLabel));
        assert_eq!(
            Name::parse(&"a".repeat(64), None),
            Err(NameError::LabelTooLong)
        );
        let long = format!("{}.", vec!["a".repeat(63); 4].join("."));
        assert_eq!(Name::parse(&long, None), Err(NameError::NameTooLong));
        let fits = format!(
            "{}.",
            [
                "a".repeat(61),
                "a".repeat(63),
                "a".repeat(63),
                "a".repeat(63)
            ]
            .join(".")
        );
        assert_eq!(Name::parse(&fits, None).expect("255").wire().len(), 255);
        assert_eq!(Name::parse("a\\256.", None), Err(NameError::BadEscape));
        assert_eq!(Name::parse("a\\25", None), Err(NameError::BadEscape));
        assert_eq!(Name::parse("", None), Err(NameError::Empty));
    }

    #[test]
    fn canonical_order_follows_rfc4034() {
        // RFC 4034 §6.1 example, in order.
        let ordered = [
            "example.",
            "a.example.",
            "yljkjljk.a.example.",
            "Z.a.example.",
            "zABC.a.EXAMPLE.",
            "z.example.",
            "\\001.z.example.",
            "*.z.example.",
            "\\200.z.example.",
        ];
        for pair in ordered.windows(2) {
            assert_eq!(
                name(pair[0]).canonical_cmp(&name(pair[1])),
                Ordering::Less,
                "{pair:?}"
            );
        }
        assert_eq!(
            name("A.example.").canonical_cmp(&name("a.EXAMPLE.")),
            Ordering::Equal
        );
    }

    #[test]
    fn key_file_names_follow_bind() {
        assert_eq!(name("Example.COM.").key_file_text(), "example.com.");
        assert_eq!(name(".").key_file_text(), ".");
        assert_eq!(name("a*b.x_y.").key_file_text(), "a%2Ab.x_y.");
    }

    #[test]
    fn subdomains_and_parents() {
        assert!(name("a.B.example.").is_subdomain_of(&name("b.EXAMPLE.")));
        assert!(!name("ab.example.").is_subdomain_of(&name("b.example.")));
        assert_eq!(name("a.b.").parent(), Some(name("b.")));
        assert!(name("*.x.").is_wildcard());
    }
}
