//! A small JSON writer for `--json` output: flat objects of strings,
//! numbers, booleans and string lists are all the tools print, so this
//! beats a serialization framework.

/// One JSON object being built, printed on one line.
#[derive(Default)]
pub struct JsonObject {
    fields: Vec<String>,
}

impl JsonObject {
    /// An empty object.
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    /// Adds a string field (bytes that are not UTF-8 are replaced).
    pub fn string(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let text = String::from_utf8_lossy(value.as_ref());
        self.fields
            .push(format!("{}:{}", quote(name), quote(&text)));
        self
    }

    /// Adds a string field, or `null`.
    pub fn optional_string(self, name: &str, value: Option<impl AsRef<[u8]>>) -> Self {
        match value {
            Some(value) => self.string(name, value),
            None => self.raw(name, "null"),
        }
    }

    /// Adds a number field.
    pub fn number(self, name: &str, value: u64) -> Self {
        self.raw(name, &value.to_string())
    }

    /// Adds a number field, or `null`.
    pub fn optional_number(self, name: &str, value: Option<u64>) -> Self {
        match value {
            Some(value) => self.number(name, value),
            None => self.raw(name, "null"),
        }
    }

    /// Adds a boolean field, or `null` when unknown.
    pub fn boolean(self, name: &str, value: Option<bool>) -> Self {
        let text = match value {
            Some(true) => "true",
            Some(false) => "false",
            None => "null",
        };
        self.raw(name, text)
    }

    /// Adds a list of strings.
    pub fn strings<S: AsRef<str>>(self, name: &str, values: &[S]) -> Self {
        let items: Vec<String> = values.iter().map(|v| quote(v.as_ref())).collect();
        self.raw(name, &format!("[{}]", items.join(",")))
    }

    /// Adds a nested object.
    pub fn object(self, name: &str, value: JsonObject) -> Self {
        self.raw(name, &value.finish())
    }

    fn raw(mut self, name: &str, value: &str) -> Self {
        self.fields.push(format!("{}:{value}", quote(name)));
        self
    }

    /// The object's text.
    pub fn finish(self) -> String {
        format!("{{{}}}", self.fields.join(","))
    }
}

/// A JSON array of objects, one per line for readability.
pub fn array(objects: Vec<JsonObject>) -> String {
    let items: Vec<String> = objects.into_iter().map(JsonObject::finish).collect();
    if items.is_empty() {
        return "[]".into();
    }
    format!("[\n  {}\n]", items.join(",\n  "))
}

/// A JSON string literal.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_are_valid_json() {
        let object = JsonObject::new()
            .string("label", b"a \"quoted\"\n\x01label")
            .number("slot", 7)
            .boolean("sensitive", Some(true))
            .boolean("unknown", None)
            .strings("algorithms", &["ED25519", "RSASHA256"]);
        assert_eq!(
            object.finish(),
            r#"{"label":"a \"quoted\"\n\u0001label","slot":7,"sensitive":true,"unknown":null,"algorithms":["ED25519","RSASHA256"]}"#
        );
        assert_eq!(array(vec![]), "[]");
    }
}
