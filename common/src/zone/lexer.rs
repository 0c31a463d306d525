//! The master-file tokenizer (RFC 1035 §5.1): comments, parentheses that
//! join physical lines, quoted strings, backslash escapes, and lines that
//! start with blanks (the previous owner). It streams: one logical line at
//! a time, with a bound on how long a line may grow.

use std::io::BufRead;

/// The longest physical line we accept; a longer one is hostile or broken.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One token. Escapes are kept as written (`\.` stays two bytes) and are
/// interpreted by whoever knows what the token is (a name, a string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub text: Vec<u8>,
    /// True if the token was a quoted string (the quotes are removed).
    pub quoted: bool,
}

impl Token {
    /// The token as UTF-8 text, lossily (for messages and ASCII fields).
    pub fn as_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.text)
    }
}

/// A logical line: the tokens of one entry, possibly spread over several
/// physical lines by parentheses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogicalLine {
    /// The physical line the entry starts on (1-based).
    pub line: usize,
    /// True if the line starts with a blank: the owner is the previous one.
    pub blank_owner: bool,
    pub tokens: Vec<Token>,
}

/// A syntax error at a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub message: String,
}

/// Splits master-file text into logical lines.
pub struct Lexer<R> {
    input: R,
    line: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> Lexer<R> {
    /// A lexer over `input`, counting lines from 1.
    pub fn new(input: R) -> Lexer<R> {
        Lexer {
            input,
            line: 0,
            buffer: Vec::with_capacity(256),
        }
    }

    /// Reads one physical line into the buffer (without the newline).
    /// Returns false at the end of input.
    fn read_physical(&mut self) -> Result<bool, LexError> {
        self.buffer.clear();
        loop {
            let available = match self.input.fill_buf() {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(LexError {
                        line: self.line + 1,
                        message: format!("read error: {e}"),
                    })
                }
            };
            if available.is_empty() {
                if self.buffer.is_empty() {
                    return Ok(false);
                }
                break;
            }
            let (take, done) = match available.iter().position(|&b| b == b'\n') {
                Some(at) => (at + 1, true),
                None => (available.len(), false),
            };
            if self.buffer.len() + take > MAX_LINE_BYTES {
                return Err(LexError {
                    line: self.line + 1,
                    message: format!("line longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            self.buffer.extend_from_slice(&available[..take]);
            self.input.consume(take);
            if done {
                break;
            }
        }
        self.line += 1;
        while matches!(self.buffer.last(), Some(b'\n') | Some(b'\r')) {
            self.buffer.pop();
        }
        Ok(true)
    }

    /// The next logical line with at least one token, or `None` at the end.
    pub fn next_line(&mut self) -> Result<Option<LogicalLine>, LexError> {
        loop {
            if !self.read_physical()? {
                return Ok(None);
            }
            let start = self.line;
            let blank_owner = matches!(self.buffer.first(), Some(b' ') | Some(b'\t'));
            // An RRSIG line has 13 tokens: room for them without moving.
            let mut tokens = Vec::with_capacity(16);
            let mut depth = 0usize;
            loop {
                self.scan(&mut tokens, &mut depth, start)?;
                if depth == 0 {
                    break;
                }
                if !self.read_physical()? {
                    return Err(LexError {
                        line: start,
                        message: "unbalanced parentheses: '(' is never closed".into(),
                    });
                }
            }
            if !tokens.is_empty() {
                return Ok(Some(LogicalLine {
                    line: start,
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    /// Tokenizes the buffer (one physical line) onto `tokens`.
    fn scan(
        &self,
        tokens: &mut Vec<Token>,
        depth: &mut usize,
        start: usize,
    ) -> Result<(), LexError> {
        let bytes = &self.buffer;
        let error = |message: &str| LexError {
            line: self.line,
            message: message.to_string(),
        };
        let _ = start;
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b' ' | b'\t' | b'\r' => i += 1,
                b';' => break,
                b'(' => {
                    *depth += 1;
                    i += 1;
                }
                b')' => {
                    if *depth == 0 {
                        return Err(error("unbalanced parentheses: ')' without '('"));
                    }
                    *depth -= 1;
                    i += 1;
                }
                b'"' => {
                    // Escapes stay as written, so a token is the octets
                    // between its delimiters: copied once, at their size
                    // (pushing octet by octet reallocated a base64 token
                    // five times, a tenth of reading a signed zone).
                    i += 1;
                    let start = i;
                    loop {
                        match bytes.get(i) {
                            None => return Err(error("unterminated quoted string")),
                            Some(b'"') => break,
                            Some(b'\\') => {
                                if i + 1 >= bytes.len() {
                                    return Err(error("unterminated quoted string"));
                                }
                                i += 2;
                            }
                            Some(_) => i += 1,
                        }
                    }
                    tokens.push(Token {
                        text: bytes[start..i].to_vec(),
                        quoted: true,
                    });
                    i += 1;
                }
                _ => {
                    let start = i;
                    while i < bytes.len() {
                        match bytes[i] {
                            b' ' | b'\t' | b'\r' | b';' | b'(' | b')' | b'"' => break,
                            b'\\' => {
                                if i + 1 >= bytes.len() {
                                    return Err(error("backslash at the end of a line"));
                                }
                                i += 2;
                            }
                            _ => i += 1,
                        }
                    }
                    tokens.push(Token {
                        text: bytes[start..i].to_vec(),
                        quoted: false,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Result<Vec<LogicalLine>, LexError> {
        let mut lexer = Lexer::new(text.as_bytes());
        let mut out = Vec::new();
        while let Some(line) = lexer.next_line()? {
            out.push(line);
        }
        Ok(out)
    }

    fn texts(line: &LogicalLine) -> Vec<String> {
        line.tokens
            .iter()
            .map(|t| t.as_str().into_owned())
            .collect()
    }

    #[test]
    fn comments_parentheses_quotes_and_blank_owners() {
        let parsed = lines(
            "; comment\n\n@ IN SOA ns hostmaster (\n  1 ; serial\n  2 3 4 5 )\n\tA 1.2.3.4\nt TXT \"a b\\\" ;c\" x\\;y\n",
        )
        .expect("lex");
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].line, 3);
        assert_eq!(
            texts(&parsed[0]),
            [
                "@",
                "IN",
                "SOA",
                "ns",
                "hostmaster",
                "1",
                "2",
                "3",
                "4",
                "5"
            ]
        );
        assert!(parsed[1].blank_owner);
        assert_eq!(parsed[1].line, 6);
        assert_eq!(texts(&parsed[2]), ["t", "TXT", "a b\\\" ;c", "x\\;y"]);
        assert!(parsed[2].tokens[2].quoted);
    }

    #[test]
    fn syntax_errors_name_the_line() {
        assert_eq!(lines("a A 1\nb ( A\n").expect_err("open").line, 2);
        assert_eq!(
            lines("a A 1 )\n").expect_err("close").message,
            "unbalanced parentheses: ')' without '('"
        );
        assert_eq!(
            lines("a TXT \"abc\n").expect_err("quote").message,
            "unterminated quoted string"
        );
        assert_eq!(lines("a TXT abc\\").expect_err("escape").line, 1);
    }

    #[test]
    fn overlong_lines_are_refused() {
        let long = "a".repeat(MAX_LINE_BYTES + 1);
        assert!(lines(&long)
            .expect_err("long")
            .message
            .contains("line longer"));
    }
}
