//! Descriptions become Rust doc comments in the generated client; rustdoc runs unlabelled code
//! fences as Rust doctests, so the JSON examples in SalesLoft's descriptions are labelled `text`.

use anyhow::Result;
use serde_json::Value;

pub fn label_code_fences(doc: &mut Value) -> Result<()> {
    visit(doc);
    Ok(())
}

fn visit(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if key == "description" && text.contains("```") => {
                        *text = label(text)
                    }
                    _ => visit(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(visit),
        _ => {}
    }
}

fn label(text: &str) -> String {
    let mut open = false;
    let mut out: Vec<String> = Vec::new();
    for line in text.split('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("```") {
            if !open && rest.trim().is_empty() {
                out.push(format!("{}```text", &line[..line.len() - trimmed.len()]));
                open = true;
                continue;
            }
            open = !open;
        }
        out.push(line.to_string());
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn opening_fences_are_labelled_and_closing_ones_kept() {
        let mut doc = json!({"properties": {"a": {"description": "Example:\n  ```\n  {\"x\": 1}\n  ```\nafter\n```json\n{}\n```"}}});
        label_code_fences(&mut doc).unwrap();
        assert_eq!(
            doc["properties"]["a"]["description"],
            "Example:\n  ```text\n  {\"x\": 1}\n  ```\nafter\n```json\n{}\n```"
        );
    }
}
