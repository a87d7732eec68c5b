//! Why a response body did not decode: where (the JSON path of the value, `data[3].task_id`),
//! what was expected, and what kind of value came.
//!
//! The generated code decodes with `serde_json` and keeps the raw body and serde's error, which
//! knows the line and column but not the path. The path is found here by reading the body up
//! to that position, so it costs nothing until a body fails, and needs no knowledge of the type.
//! What came is named by its kind only (`a string`): the value itself may be personal data,
//! and stays in the raw body, which the error keeps for whoever needs it.

/// A body that did not decode, in words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeFailure {
    /// Where: `data[3].task_id`, or `(the body)` for the whole of it.
    pub path: String,
    /// What the generated type wanted there (`i64`, `a boolean`, the field `id`).
    pub expected: String,
    /// The kind of value that came (`a string`), or what went wrong with the text.
    pub got: String,
    /// The body is not JSON at all (cut short, or something else): trying again may help.
    pub malformed: bool,
}

impl DecodeFailure {
    /// Reads `error` (from decoding `body`) into path, expectation and kind.
    pub fn new(body: &[u8], error: &serde_json::Error) -> Self {
        // serde stops at the first value that does not fit: a body that is not JSON at all
        // may fail on its shape before the broken text is reached. The text's error comes first.
        let broken_text = match error.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => None,
            _ => serde_json::from_slice::<serde::de::IgnoredAny>(body).err(),
        };
        let error = broken_text.as_ref().unwrap_or(error);
        let message = error.to_string();
        let suffix = format!(" at line {} column {}", error.line(), error.column());
        let message = message.strip_suffix(&suffix).unwrap_or(&message);
        let offset = offset_of(body, error.line(), error.column());
        let path = path_at(body, offset);
        let malformed = matches!(
            error.classify(),
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof
        );
        let (expected, got) = if malformed {
            ("JSON".to_string(), format!("malformed text ({message})"))
        } else {
            expectation(message)
        };
        // Keys and serde's words may quote what the body holds: bounded copies.
        let kept = |text: &str| crate::text::printable_bounded(text, 1024);
        Self {
            path: kept(&path),
            expected: kept(&expected),
            got: kept(&got),
            malformed,
        }
    }
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "at `{}` expected {}, got {}",
            self.path, self.expected, self.got
        )
    }
}

/// The byte offset of serde's (1-based line, column) position.
fn offset_of(body: &[u8], line: usize, column: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match body[start..].iter().position(|&b| b == b'\n') {
            Some(newline) => start += newline + 1,
            None => break,
        }
    }
    (start + column).min(body.len())
}

/// One open container while reading: an object (and the key last read) or an array (and the
/// index of the element being read).
enum Frame {
    Object {
        key: Option<String>,
        expect_key: bool,
    },
    Array {
        index: usize,
    },
}

/// The JSON path of the value being read at `offset` of `body`.
fn path_at(body: &[u8], offset: usize) -> String {
    let mut frames: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < offset && i < body.len() {
        match body[i] {
            b'{' => frames.push(Frame::Object {
                key: None,
                expect_key: true,
            }),
            b'[' => frames.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                frames.pop();
            }
            b':' => {
                if let Some(Frame::Object { expect_key, .. }) = frames.last_mut() {
                    *expect_key = false;
                }
            }
            b',' => match frames.last_mut() {
                Some(Frame::Object { expect_key, .. }) => *expect_key = true,
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            b'"' => {
                let end = string_end(body, i + 1);
                if let Some(Frame::Object {
                    key,
                    expect_key: true,
                }) = frames.last_mut()
                {
                    *key = Some(
                        String::from_utf8_lossy(&body[i + 1..end.min(body.len())]).into_owned(),
                    );
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    render(&frames)
}

/// The index of the quote that closes the string whose text starts at `from`.
fn string_end(body: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < body.len() {
        match body[i] {
            b'\\' => i += 2,
            b'"' => return i,
            _ => i += 1,
        }
    }
    body.len()
}

fn render(frames: &[Frame]) -> String {
    let mut path = String::new();
    for (depth, frame) in frames.iter().enumerate() {
        let last = depth + 1 == frames.len();
        match frame {
            // A container only just opened is itself the value being read.
            Frame::Object { key: None, .. } => {}
            Frame::Object {
                key: Some(_),
                expect_key: true,
            } if last => {}
            Frame::Object { key: Some(key), .. } => {
                let key: String = key.chars().take(64).collect();
                if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty() {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&key);
                } else {
                    path.push_str(&format!("[{key:?}]"));
                }
            }
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    if path.is_empty() {
        "(the body)".to_string()
    } else {
        path
    }
}

/// (expected, got) from serde's message, the value itself left out.
fn expectation(message: &str) -> (String, String) {
    for prefix in ["invalid type: ", "invalid value: ", "invalid length "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((unexpected, expected)) = rest.rsplit_once(", expected ")
        {
            return (expected.to_string(), kind(unexpected).to_string());
        }
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return (
            format!("the field {field}"),
            "an object without it".to_string(),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let expected = rest.split_once(", expected ").map_or(rest, |(_, e)| e);
        return (expected.to_string(), "another value".to_string());
    }
    // A type's own refusal (chrono's "trailing input" for a date where a date-time belongs).
    (
        format!("a value its type reads ({message})"),
        "one it refused".to_string(),
    )
}

/// `string "ada@example.com"` -> `a string`: the kind, never the value.
fn kind(unexpected: &str) -> &'static str {
    let word = unexpected.split([' ', '`']).next().unwrap_or("");
    match word {
        "string" => "a string",
        "integer" => "an integer",
        "floating" => "a number with a fraction",
        "boolean" => "a boolean",
        "map" => "an object",
        "sequence" => "an array",
        "null" | "unit" => "null",
        "character" => "a character",
        _ => "another kind of value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Task {
        id: i64,
        task_id: Option<i64>,
        done: Option<bool>,
        tags: Option<Vec<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct List {
        data: Vec<Task>,
    }

    fn failure(body: &str) -> DecodeFailure {
        let error = serde_json::from_str::<List>(body).unwrap_err();
        DecodeFailure::new(body.as_bytes(), &error)
    }

    #[test]
    fn a_wrong_type_is_named_by_path_expectation_and_kind() {
        let body = r#"{"data": [{"id": 1}, {"id": 2}, {"id": 3}, {"id": 4, "task_id": "ada@example.com"}]}"#;
        let f = failure(body);
        assert_eq!(f.path, "data[3].task_id");
        assert_eq!(f.expected, "i64");
        assert_eq!(f.got, "a string");
        assert!(!f.malformed);
        assert!(
            !f.to_string().contains("ada@example.com"),
            "the value stays out"
        );
    }

    #[test]
    fn paths_across_lines_nesting_escapes_and_containers() {
        let body = "{\n  \"data\": [\n    {\"id\": 1, \"note\": \"a \\\"quoted\\\" }],\" },\n    {\"id\": 2, \"done\": \"yes\"}\n  ]\n}";
        assert_eq!(failure(body).path, "data[1].done");
        let f = failure(r#"{"data": [{"id": 1, "tags": {"a": 1}}]}"#);
        assert_eq!(
            (f.path.as_str(), f.got.as_str()),
            ("data[0].tags", "an object")
        );
        let f = failure(r#"{"data": [{"id": 1, "tags": ["a", 2]}]}"#);
        assert_eq!(f.path, "data[0].tags[1]");
        let f = failure(r#"{"data": [{"id": 1}, {"task_id": 5}]}"#);
        assert_eq!(
            (f.path.as_str(), f.expected.as_str()),
            ("data[1]", "the field `id`")
        );
        let f = failure(r#"{"data": {"id": 1}}"#);
        assert_eq!((f.path.as_str(), f.got.as_str()), ("data", "an object"));
    }

    #[test]
    fn a_malformed_body_says_so() {
        let f = failure(r#"{"data": [{"id": 1}, {"id""#);
        assert!(f.malformed);
        assert_eq!(f.expected, "JSON");
        let f = failure("<html>oops</html>");
        assert!(f.malformed);
        assert_eq!(f.path, "(the body)");
        // The shape breaks first (an object where a list is wanted), the text after it.
        let f = failure(r#"{"data": {"id": 1,, <html>"#);
        assert!(f.malformed, "{f:?}");
    }

    #[test]
    fn hostile_keys_are_printable_and_short() {
        // A raw control character is not JSON: the body is malformed there.
        let f = failure("{\"data\": [{\"id\": 1, \"\u{1b}[2J\": 1}]}");
        assert!(f.malformed && !f.to_string().contains('\u{1b}'));
        let key = format!("\\u001b[2J{}", "k".repeat(500));
        let body = format!(r#"{{"data": [{{"id": 1, "{key}": 1, "done": 5}}]}}"#);
        assert_eq!(failure(&body).path, "data[0].done");
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Map(std::collections::BTreeMap<String, i64>);
        let body = format!(r#"{{"{key}": "x"}}"#);
        let error = serde_json::from_str::<Map>(&body).unwrap_err();
        let f = DecodeFailure::new(body.as_bytes(), &error);
        assert!(f.path.len() < 100 && f.path.contains("u001b"), "{}", f.path);
    }
}
