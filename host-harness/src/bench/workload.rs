//! The session data benchmarks store: a JSON object of short string fields,
//! as text (what the plugins take) and as a tower-sessions data map (the same
//! data as a native record).

use std::collections::HashMap;

/// A JSON object of exactly `bytes` bytes (at least 16): fields `"kNN"` with
/// 40-character values, the last one padded to size.
pub fn session_data(bytes: usize) -> String {
    let bytes = bytes.max(16);
    let mut fields: Vec<String> = Vec::new();
    let mut len = 2; // {}
    loop {
        let i = fields.len();
        let field = format!(r#""k{i:02}":"{}""#, "v".repeat(40));
        let sep = usize::from(!fields.is_empty());
        if len + sep + field.len() + 12 > bytes {
            break;
        }
        len += sep + field.len();
        fields.push(field);
    }
    let i = fields.len();
    let sep = usize::from(!fields.is_empty());
    let overhead = format!(r#""k{i:02}":"""#).len();
    let pad = bytes.saturating_sub(len + sep + overhead);
    fields.push(format!(r#""k{i:02}":"{}""#, "p".repeat(pad)));
    format!("{{{}}}", fields.join(","))
}

/// The same data as tower-sessions keeps it.
pub fn data_map(json: &str) -> HashMap<String, serde_json::Value> {
    serde_json::from_str(json).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_exact_and_the_text_is_an_object() {
        for n in [16, 64, 1024, 3072, 4000] {
            let d = session_data(n);
            assert_eq!(d.len(), n, "{d}");
            assert!(!data_map(&d).is_empty());
        }
    }
}
