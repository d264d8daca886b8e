//! Which string encoding a component passes strings to and from the host
//! in. The canonical ABI lets a component choose UTF-8, UTF-16 or
//! latin1+UTF-16 for each lifted export and lowered import. A UTF-8 string
//! is read in place, so the host checks its length (the kv key and value
//! limits, the output limits) before copying anything; any other encoding
//! is first converted into a new host `String` (latin1 bytes above 0x7f
//! doubling in size), so a guest could make the host allocate twice its
//! own memory, per string, before a limit said no. The harness takes UTF-8
//! components only (every Rust, C and JavaScript toolchain for
//! `wasm32-wasip2` emits UTF-8 by default).

use wasmparser::{CanonicalFunction, CanonicalOption, Parser, Payload};

/// The first string encoding other than UTF-8 that a lift or lower of
/// `wasm` (a component, nested ones included) names, as the component text
/// format spells it. Bytes that do not parse answer `None`: compiling them
/// reports what is wrong.
pub(crate) fn non_utf8_encoding(wasm: &[u8]) -> Option<&'static str> {
    for payload in Parser::new(0).parse_all(wasm) {
        let section = match payload {
            Ok(Payload::ComponentCanonicalSection(section)) => section,
            Ok(_) => continue,
            Err(_) => return None,
        };
        for function in section {
            let options = match function {
                Ok(
                    CanonicalFunction::Lift { options, .. }
                    | CanonicalFunction::Lower { options, .. },
                ) => options,
                Ok(_) => continue,
                Err(_) => return None,
            };
            for option in options.iter() {
                match option {
                    CanonicalOption::UTF16 => return Some("utf16"),
                    CanonicalOption::CompactUTF16 => return Some("latin1+utf16"),
                    _ => {}
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A component lifting one function that takes a string, with `options`.
    fn lifting(options: &str) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(component
                 (core module $m
                   (memory (export "memory") 1)
                   (func (export "realloc") (param i32 i32 i32 i32) (result i32) i32.const 0)
                   (func (export "f") (param i32 i32)))
                 (core instance $i (instantiate $m))
                 (func (export "f") (param "s" string)
                   (canon lift (core func $i "f") (memory (core memory $i "memory"))
                     (realloc (core func $i "realloc")) {options})))"#
        ))
        .expect("the test component is valid text")
    }

    #[test]
    fn utf8_and_the_default_pass_other_encodings_are_named() {
        assert_eq!(non_utf8_encoding(&lifting("")), None);
        assert_eq!(non_utf8_encoding(&lifting("string-encoding=utf8")), None);
        assert_eq!(
            non_utf8_encoding(&lifting("string-encoding=utf16")),
            Some("utf16")
        );
        assert_eq!(
            non_utf8_encoding(&lifting("string-encoding=latin1+utf16")),
            Some("latin1+utf16")
        );
        assert_eq!(non_utf8_encoding(b"\0asm\x0d\0\x01\0garbage"), None);
    }

    /// The harness refuses a component that is not UTF-8 before compiling
    /// it, saying why; a UTF-8 one gets past this check (to be refused
    /// here as not a session plugin).
    #[test]
    fn the_harness_loads_utf8_components_only() {
        let harness = crate::Harness::new().expect("a harness");
        let refusal = |options: &str| match harness
            .load_bytes(&lifting(options), crate::LoadOptions::default())
        {
            Ok(_) => panic!("a component with no session-plugin export loaded"),
            Err(e) => e.to_string(),
        };
        let latin1 = refusal("string-encoding=latin1+utf16");
        assert!(
            latin1.contains("passes strings as latin1+utf16")
                && latin1.contains("UTF-8 strings only"),
            "{latin1}"
        );
        let utf8 = refusal("string-encoding=utf8");
        assert!(!utf8.contains("passes strings as"), "{utf8}");
    }
}
