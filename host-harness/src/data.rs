//! Helpers for building session data, which is always the text of a JSON object.

/// The data of an empty session: `{}`.
pub fn empty_data_json() -> String {
    "{}".to_string()
}

/// A JSON object string from string pairs, e.g. `[("user", "alice")]` gives
/// `{"user":"alice"}`. Later duplicates of a key win.
pub fn encode_data_map<K, V, I>(map: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<String>,
{
    let object: serde_json::Map<String, serde_json::Value> = map
        .into_iter()
        .map(|(k, v)| (k.into(), serde_json::Value::String(v.into())))
        .collect();
    serde_json::Value::Object(object).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_pairs_with_escaping() {
        assert_eq!(empty_data_json(), "{}");
        let s = encode_data_map([("a", "1"), ("q\"", "x\ny")]);
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["a"], "1");
        assert_eq!(v["q\""], "x\ny");
    }
}
