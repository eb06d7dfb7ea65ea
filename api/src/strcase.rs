//! Names converted exactly as Dagger converts them (Go's
//! `github.com/iancoleman/strcase` v0.3.0): a module `my-mod` has the main
//! object `MyMod`, its function `container_echo` is `containerEcho` in
//! GraphQL and `container-echo` on `tanto call`'s command line. Other case
//! libraries differ on digits and acronyms (`build_v2_image` is
//! `build-v-2-image` here), and a name converted differently is a function
//! the user cannot call, so the rules are reproduced byte for byte; the
//! tests hold vectors printed by the Go library itself.

/// `my-mod` → `MyMod`.
pub fn to_camel(s: &str) -> String {
    camel(s, true)
}

/// `container_echo` → `containerEcho`.
pub fn to_lower_camel(s: &str) -> String {
    camel(s, false)
}

/// `containerEcho` → `container-echo`.
pub fn to_kebab(s: &str) -> String {
    delimited(s, b'-')
}

/// `my-app` → `my_app` (`EnvFile.namespace`).
pub fn to_snake(s: &str) -> String {
    delimited(s, b'_')
}

fn camel(s: &str, upper_first: bool) -> String {
    let s = s.trim().as_bytes();
    let mut out = Vec::with_capacity(s.len());
    let mut cap_next = upper_first;
    let mut prev_is_cap = false;
    for (i, &byte) in s.iter().enumerate() {
        let mut v = byte;
        let is_cap = v.is_ascii_uppercase();
        let is_low = v.is_ascii_lowercase();
        if cap_next {
            v = v.to_ascii_uppercase();
        } else if i == 0 || (prev_is_cap && is_cap) {
            // A run of capitals is one word: `ID` → `Id`.
            v = v.to_ascii_lowercase();
        }
        prev_is_cap = is_cap;
        if is_cap || is_low {
            out.push(v);
            cap_next = false;
        } else if v.is_ascii_digit() {
            out.push(v);
            cap_next = true;
        } else {
            cap_next = matches!(v, b'_' | b' ' | b'-' | b'.');
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn delimited(s: &str, delimiter: u8) -> String {
    let s = s.trim().as_bytes();
    let mut out = Vec::with_capacity(s.len() + 2);
    for (i, &byte) in s.iter().enumerate() {
        let is_cap = byte.is_ascii_uppercase();
        let is_low = byte.is_ascii_lowercase();
        let v = byte.to_ascii_lowercase();
        if let Some(&next) = s.get(i + 1) {
            let is_num = v.is_ascii_digit();
            let (next_cap, next_low, next_num) = (
                next.is_ascii_uppercase(),
                next.is_ascii_lowercase(),
                next.is_ascii_digit(),
            );
            // A new word where the kind of character changes; an acronym
            // is one word (`JSONData` → `json-data`).
            if (is_cap && (next_low || next_num))
                || (is_low && (next_cap || next_num))
                || (is_num && (next_cap || next_low))
            {
                if is_cap && next_low && i > 0 && s[i - 1].is_ascii_uppercase() {
                    out.push(delimiter);
                }
                out.push(v);
                if is_low || is_num || next_num {
                    out.push(delimiter);
                }
                continue;
            }
        }
        if matches!(v, b' ' | b'_' | b'-' | b'.') {
            out.push(delimiter);
        } else {
            out.push(v);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (input, ToCamel, ToLowerCamel, ToKebab) as strcase v0.3.0 prints them.
    const VECTORS: &[(&str, &str, &str, &str)] = &[
        ("my-mod", "MyMod", "myMod", "my-mod"),
        ("tiny", "Tiny", "tiny", "tiny"),
        (
            "container_echo",
            "ContainerEcho",
            "containerEcho",
            "container-echo",
        ),
        (
            "containerEcho",
            "ContainerEcho",
            "containerEcho",
            "container-echo",
        ),
        ("HTTPServer", "Httpserver", "httpserver", "http-server"),
        ("my_mod2", "MyMod2", "myMod2", "my-mod-2"),
        ("mod2go", "Mod2Go", "mod2Go", "mod-2-go"),
        ("JSONData", "Jsondata", "jsondata", "json-data"),
        (
            "with_greeting",
            "WithGreeting",
            "withGreeting",
            "with-greeting",
        ),
        ("hello-world", "HelloWorld", "helloWorld", "hello-world"),
        ("ID", "Id", "id", "id"),
        ("v1beta", "V1Beta", "v1Beta", "v-1-beta"),
        ("foo.bar", "FooBar", "fooBar", "foo-bar"),
        ("a  b", "AB", "aB", "a--b"),
        ("GoodBYE", "GoodBye", "goodBye", "good-bye"),
        ("x", "X", "x", "x"),
        (
            "build_v2_image",
            "BuildV2Image",
            "buildV2Image",
            "build-v-2-image",
        ),
        ("userID", "UserId", "userId", "user-id"),
        (
            "SCREAMING_CASE",
            "ScreamingCase",
            "screamingCase",
            "screaming-case",
        ),
        (
            "DockerConfig",
            "DockerConfig",
            "dockerConfig",
            "docker-config",
        ),
        (
            "getHTTPResponse",
            "GetHttpresponse",
            "getHttpresponse",
            "get-http-response",
        ),
        ("abc123def", "Abc123Def", "abc123Def", "abc-123-def"),
        ("123abc", "123Abc", "123Abc", "123-abc"),
    ];

    #[test]
    fn names_convert_as_dagger_converts_them() {
        for &(input, camel, lower_camel, kebab) in VECTORS {
            assert_eq!(to_camel(input), camel, "ToCamel({input:?})");
            assert_eq!(
                to_lower_camel(input),
                lower_camel,
                "ToLowerCamel({input:?})"
            );
            assert_eq!(to_kebab(input), kebab, "ToKebab({input:?})");
        }
    }
}
