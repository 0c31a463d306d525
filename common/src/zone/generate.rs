//! BIND's `$GENERATE range lhs [ttl] [class] type rhs`: one record per
//! value of the range, with `$` and `${offset,width,base}` in the owner and
//! the RDATA replaced by the value (BIND's arithmetic: unsigned 32 bits).

/// A `start-stop[/step]` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub stop: u32,
    pub step: u32,
}

impl Range {
    /// Parses `start-stop[/step]`.
    pub fn parse(text: &str) -> Result<Range, String> {
        let bad = || format!("bad $GENERATE range '{}'", crate::zone::excerpt(&*text));
        let (span, step) = match text.split_once('/') {
            Some((span, step)) => (span, step.parse::<u32>().map_err(|_| bad())?),
            None => (text, 1),
        };
        let (start, stop) = span.split_once('-').ok_or_else(bad)?;
        let (start, stop) = (
            start.parse::<u32>().map_err(|_| bad())?,
            stop.parse::<u32>().map_err(|_| bad())?,
        );
        if step == 0 || start > stop {
            return Err(bad());
        }
        Ok(Range { start, stop, step })
    }
}

/// Replaces `$` and `${offset[,width[,base]]}` in `template` by `value`.
/// `\$` stays an escaped (literal) dollar sign.
pub fn substitute(template: &[u8], value: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(template.len() + 8);
    let mut i = 0;
    while i < template.len() {
        match template[i] {
            b'\\' if i + 1 < template.len() => {
                out.extend_from_slice(&template[i..i + 2]);
                i += 2;
            }
            b'$' if template.get(i + 1) == Some(&b'{') => {
                let end = template[i..]
                    .iter()
                    .position(|&b| b == b'}')
                    .ok_or("unterminated ${ in $GENERATE")?
                    + i;
                let spec = String::from_utf8_lossy(&template[i + 2..end]).into_owned();
                out.extend_from_slice(modified(&spec, value)?.as_bytes());
                i = end + 1;
            }
            b'$' => {
                out.extend_from_slice(value.to_string().as_bytes());
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn modified(spec: &str, value: u32) -> Result<String, String> {
    let bad = || format!("bad $GENERATE modifier '${{{spec}}}'");
    let mut parts = spec.split(',');
    let offset: i64 = parts
        .next()
        .filter(|p| !p.is_empty())
        .map_or(Ok(0), |p| p.trim().parse().map_err(|_| bad()))?;
    let width: usize = parts
        .next()
        .map_or(Ok(0), |p| p.trim().parse().map_err(|_| bad()))?;
    let base = parts.next().map(str::trim).unwrap_or("d");
    if parts.next().is_some() || width > 255 {
        return Err(bad());
    }
    // BIND's arithmetic is unsigned 32 bits: the sum wraps by design, but
    // an offset past 64 bits is refused, not wrapped.
    let value = i64::from(value)
        .checked_add(offset)
        .ok_or_else(bad)?
        .rem_euclid(1 << 32) as u32;
    Ok(match base {
        "d" => format!("{value:0width$}"),
        "o" => format!("{value:0width$o}"),
        "x" => format!("{value:0width$x}"),
        "X" => format!("{value:0width$X}"),
        "n" | "N" => {
            let hex = if base == "n" {
                format!("{value:0width$x}")
            } else {
                format!("{value:0width$X}")
            };
            hex.chars()
                .rev()
                .map(|c| c.to_string())
                .collect::<Vec<_>>()
                .join(".")
        }
        _ => return Err(bad()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(template: &str, value: u32) -> String {
        String::from_utf8(substitute(template.as_bytes(), value).expect(template)).expect("utf8")
    }

    #[test]
    fn bind_modifiers() {
        // bind9 checkzone good-generate-modifier, as named-checkzone -D expands it.
        assert_eq!(text("host$", 7), "host7");
        assert_eq!(text("1.2.3.${1,0,d}", 0), "1.2.3.1");
        assert_eq!(text("1.2.3.${1}", 10), "1.2.3.11");
        assert_eq!(text("${0,3,n}", 1024), "0.0.4");
        assert_eq!(text("2001:db8::${0,4,x}", 1026), "2001:db8::0402");
        assert_eq!(text("${-2000,0,n}", 1024), "0.3.c.f.f.f.f.f");
        assert_eq!(text("${0,4,X}", 255), "00FF");
        assert_eq!(text("${0,3,o}", 8), "010");
        assert_eq!(text("a\\$b$", 1), "a\\$b1");
        assert!(substitute(b"${1,2,q}", 1).is_err());
        assert!(substitute(b"${1", 1).is_err());
        assert!(substitute(b"${9223372036854775807}", 1).is_err());
        assert_eq!(text("${-2}", 1), "4294967295");
    }

    #[test]
    fn ranges() {
        assert_eq!(
            Range::parse("1-10/2"),
            Ok(Range {
                start: 1,
                stop: 10,
                step: 2
            })
        );
        assert_eq!(
            Range::parse("0-7"),
            Ok(Range {
                start: 0,
                stop: 7,
                step: 1
            })
        );
        assert!(Range::parse("7-0").is_err());
        assert!(Range::parse("1-2/0").is_err());
        assert!(Range::parse("x").is_err());
    }
}
