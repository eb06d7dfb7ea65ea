//! Flag values turned into argument values, by the argument's type, as
//! `dagger call` turns them: scalars parsed, lists split on commas or
//! repeated, enums matched whatever their case, and objects made from what
//! the user names — a `Directory` or `File` from a host path, a `Secret`
//! from `env:NAME`, `file:PATH` or `cmd:COMMAND` (read here, by tanto, and
//! handed to the session as a secret: never in an argument or a log), a
//! `Container` from an image address, a `CacheVolume` from its key.

use std::path::{Path, PathBuf};

use super::chain::Flag;
use super::client::Client;
use super::types::{Arg, Kind, TypeRef, Types};

/// An argument's value: JSON, with objects as their ID strings and enums
/// as their member names.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    pub json: serde_json::Value,
    /// Enum members are bare words in GraphQL.
    pub is_enum: bool,
}

impl Value {
    /// The value as a GraphQL literal.
    pub fn literal(&self) -> String {
        literal(&self.json, self.is_enum)
    }
}

fn literal(json: &serde_json::Value, is_enum: bool) -> String {
    match json {
        serde_json::Value::String(s) if is_enum => s.clone(),
        serde_json::Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(|item| literal(item, is_enum))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        // An input object: its fields by bare name.
        serde_json::Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(name, value)| format!("{name}: {}", literal(value, false)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Where a module's `defaultPath` arguments are read from: its root
/// (`dagger.json`'s directory) and its context directory.
pub struct DefaultPaths {
    pub root: PathBuf,
    pub context: PathBuf,
}

impl DefaultPaths {
    fn resolve(&self, path: &str) -> PathBuf {
        match path.strip_prefix('/') {
            Some(in_context) => self.context.join(in_context),
            None => self.root.join(path),
        }
    }
}

/// The values of `flags` for `args`, in the arguments' order; an unknown
/// flag or a missing required one is an error that lists the valid ones.
pub async fn arguments(
    client: &Client,
    types: &Types,
    defaults: Option<&DefaultPaths>,
    function: &str,
    args: &[Arg],
    flags: &[Flag],
) -> Result<Vec<(String, Value)>, String> {
    for flag in flags {
        if !args.iter().any(|a| a.flag == flag.name) {
            let valid: Vec<String> = args.iter().map(|a| format!("--{}", a.flag)).collect();
            return Err(format!(
                "unknown flag --{} for {function}: {}",
                flag.name,
                if valid.is_empty() {
                    "it takes no flags".to_owned()
                } else {
                    format!("its flags are {}", valid.join(", "))
                }
            ));
        }
    }
    let mut values = Vec::new();
    for arg in args {
        let given: Vec<&str> = flags
            .iter()
            .filter(|f| f.name == arg.flag)
            .map(|f| f.value.as_str())
            .collect();
        if given.is_empty() {
            if let (Some(path), Some(defaults), Some(object)) =
                (&arg.default_path, defaults, arg.ty.object_name())
            {
                let path = defaults.resolve(path).to_string_lossy().into_owned();
                let id = object_excluding(client, object, &path, &arg.ignore)
                    .await
                    .map_err(|e| format!("--{} (its default path): {e}", arg.flag))?;
                values.push((
                    arg.name.clone(),
                    Value {
                        json: serde_json::Value::String(id),
                        is_enum: false,
                    },
                ));
                continue;
            }
            if arg.required() {
                return Err(format!(
                    "{function} needs --{} ({})",
                    arg.flag,
                    arg.ty.display()
                ));
            }
            continue;
        }
        let value = parse(client, types, &arg.ty, &given, &arg.ignore)
            .await
            .map_err(|e| format!("--{}: {e}", arg.flag))?;
        values.push((arg.name.clone(), value));
    }
    Ok(values)
}

async fn parse(
    client: &Client,
    types: &Types,
    ty: &TypeRef,
    given: &[&str],
    ignore: &[String],
) -> Result<Value, String> {
    if let Kind::List(of) = &ty.kind {
        let mut items = Vec::new();
        let mut is_enum = false;
        for word in given.iter().flat_map(|g| g.split(',')) {
            let item = Box::pin(parse(client, types, of, &[word], ignore)).await?;
            is_enum = item.is_enum;
            items.push(item.json);
        }
        return Ok(Value {
            json: serde_json::Value::Array(items),
            is_enum,
        });
    }
    let word = *given.last().expect("at least one value");
    let json = match &ty.kind {
        Kind::Scalar(name) => scalar(name, word)?,
        Kind::Enum(name) => {
            let members = types.enum_members(name).unwrap_or_default();
            let member = members
                .iter()
                .find(|m| m.eq_ignore_ascii_case(word))
                .ok_or_else(|| format!("{word:?} is not one of {}", members.join(", ")))?;
            return Ok(Value {
                json: serde_json::Value::String(member.clone()),
                is_enum: true,
            });
        }
        Kind::Object(name) => {
            serde_json::Value::String(object_excluding(client, name, word, ignore).await?)
        }
        Kind::Input(name) => input(name, word)?,
        Kind::List(_) => unreachable!("lists are split above"),
    };
    Ok(Value {
        json,
        is_enum: false,
    })
}

fn scalar(name: &str, word: &str) -> Result<serde_json::Value, String> {
    Ok(match name {
        "Int" => word
            .parse::<i64>()
            .map_err(|_| format!("{word:?} is not an integer"))?
            .into(),
        "Float" => serde_json::Number::from_f64(
            word.parse::<f64>()
                .map_err(|_| format!("{word:?} is not a number"))?,
        )
        .map(serde_json::Value::Number)
        .ok_or_else(|| format!("{word:?} is not a finite number"))?,
        "Boolean" => match word {
            "true" | "1" | "t" | "T" | "TRUE" | "True" => true.into(),
            "false" | "0" | "f" | "F" | "FALSE" | "False" => false.into(),
            _ => return Err(format!("{word:?} is not true or false")),
        },
        "JSON" => serde_json::Value::String(word.to_owned()),
        _ => serde_json::Value::String(word.to_owned()),
    })
}

/// An input object from its command-line form, as Dagger's CLI reads
/// it: a `PortForward` is `FRONTEND:BACKEND` or `BACKEND` (`--ports
/// 8080:80`).
fn input(name: &str, word: &str) -> Result<serde_json::Value, String> {
    match name {
        "PortForward" => {
            let port = |text: &str| {
                text.parse::<u16>()
                    .ok()
                    .filter(|port| *port > 0)
                    .ok_or_else(|| format!("{text:?} is not a port number (1 to 65535)"))
            };
            let (frontend, backend) = match word.split_once(':') {
                Some((frontend, backend)) => (port(frontend)?, port(backend)?),
                None => (port(word)?, port(word)?),
            };
            Ok(serde_json::json!({"frontend": frontend, "backend": backend}))
        }
        other => Err(format!(
            "tanto call cannot make a {other} from the command line yet"
        )),
    }
}

/// The ID of the object of type `name` that `word` names; `ignore`
/// leaves patterns out of a directory.
async fn object_excluding(
    client: &Client,
    name: &str,
    word: &str,
    ignore: &[String],
) -> Result<String, String> {
    let string = |s: &str| serde_json::to_string(s).expect("a string encodes");
    let (document, path): (String, &[&str]) = match name {
        "Directory" => (
            format!(
                "{{ host {{ directory(path: {}, exclude: {}) {{ id }} }} }}",
                string(&host_path(word)?),
                serde_json::to_string(ignore).expect("strings encode")
            ),
            &["host", "directory", "id"],
        ),
        "File" => (
            format!(
                "{{ host {{ file(path: {}) {{ id }} }} }}",
                string(&host_path(word)?)
            ),
            &["host", "file", "id"],
        ),
        "Container" => (
            format!(
                "{{ container {{ from(address: {}) {{ id }} }} }}",
                string(word)
            ),
            &["container", "from", "id"],
        ),
        "CacheVolume" => (
            format!("{{ cacheVolume(key: {}) {{ id }} }}", string(word)),
            &["cacheVolume", "id"],
        ),
        "Secret" => {
            let (label, plaintext) = secret(word)?;
            (
                format!(
                    "{{ setSecret(name: {}, plaintext: {}) {{ id }} }}",
                    string(&label),
                    string(&plaintext)
                ),
                &["setSecret", "id"],
            )
        }
        other => {
            return Err(format!(
                "tanto call cannot make a {other} from the command line yet"
            ))
        }
    };
    let answer = client.query(&document).await?;
    let mut value = &answer;
    for key in path {
        value = &value[key];
    }
    value
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} came of {word:?}"))
}

/// A host path as given (`file://` and `~` as Dagger reads them), made
/// absolute against the current directory; it must exist.
fn host_path(word: &str) -> Result<String, String> {
    let word = word.strip_prefix("file://").unwrap_or(word);
    let expanded = match word.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|home| Path::new(&home).join(rest))
            .ok_or("~ needs HOME to be set")?,
        None => Path::new(word).to_owned(),
    };
    let absolute = std::path::absolute(&expanded).map_err(|e| format!("{word}: {e}"))?;
    if !absolute.exists() {
        return Err(format!("{} does not exist", absolute.display()));
    }
    Ok(absolute.to_string_lossy().into_owned())
}

/// A secret's label and value from `env:NAME`, `file:PATH`, `cmd:COMMAND`
/// or a bare `NAME` (an environment variable), each also with `://`.
fn secret(word: &str) -> Result<(String, String), String> {
    let (scheme, rest) = match word.split_once(':') {
        Some((scheme, rest)) => (scheme, rest.strip_prefix("//").unwrap_or(rest)),
        None => ("env", word),
    };
    let value = match scheme {
        "env" => std::env::var(rest).map_err(|_| {
            format!("secret env:{rest}: the environment variable {rest} is not set")
        })?,
        "file" => {
            let path = host_path(rest).map_err(|e| format!("secret file:{rest}: {e}"))?;
            std::fs::read_to_string(&path)
                .map_err(|e| format!("secret file:{rest}: cannot read it: {e}"))?
        }
        "cmd" => {
            let out = std::process::Command::new("sh")
                .args(["-c", rest])
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("secret cmd:…: cannot run sh: {e}"))?;
            if !out.status.success() {
                // The command may carry the secret: never repeated.
                return Err(format!("secret cmd:…: the command failed ({})", out.status));
            }
            String::from_utf8(out.stdout)
                .map_err(|_| "secret cmd:…: the command's output is not UTF-8".to_owned())?
        }
        other => {
            return Err(format!(
                "secret {other}:…: tanto reads secrets from env:NAME, file:PATH or cmd:COMMAND"
            ))
        }
    };
    // The label names where it came from, never what it is.
    let label = match scheme {
        "cmd" => "cmd".to_owned(),
        _ => format!("{scheme}:{rest}"),
    };
    Ok((label, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_forwards_read_as_daggers_cli_reads_them() {
        let forward = input("PortForward", "8080:80").unwrap();
        assert_eq!(
            forward,
            serde_json::json!({"frontend": 8080, "backend": 80})
        );
        assert_eq!(literal(&forward, false), "{backend: 80, frontend: 8080}");
        assert_eq!(
            input("PortForward", "80").unwrap(),
            serde_json::json!({"frontend": 80, "backend": 80})
        );
        let bad = input("PortForward", "web:80").unwrap_err();
        assert!(bad.contains("\"web\" is not a port number"), "{bad}");
        assert!(input("BuildArg", "A=1")
            .unwrap_err()
            .contains("cannot make a BuildArg"));
    }

    #[test]
    fn scalars_parse_as_pflag_parses_them() {
        assert_eq!(scalar("Int", "42").unwrap(), 42);
        assert!(scalar("Int", "4.2").unwrap_err().contains("integer"));
        assert_eq!(scalar("Boolean", "false").unwrap(), false);
        assert_eq!(scalar("String", "a,b").unwrap(), "a,b");
    }

    #[test]
    fn literals_are_graphql() {
        let value = Value {
            json: serde_json::json!(["a\"b", "c"]),
            is_enum: false,
        };
        assert_eq!(value.literal(), r#"["a\"b", "c"]"#);
        let member = Value {
            json: serde_json::json!("ANY"),
            is_enum: true,
        };
        assert_eq!(member.literal(), "ANY");
    }

    #[test]
    fn secrets_come_from_the_environment_files_and_commands() {
        std::env::set_var("TANTO_TEST_SECRET_VALUE", "s3cret");
        assert_eq!(
            secret("env:TANTO_TEST_SECRET_VALUE").unwrap(),
            (
                "env:TANTO_TEST_SECRET_VALUE".to_owned(),
                "s3cret".to_owned()
            )
        );
        assert_eq!(secret("TANTO_TEST_SECRET_VALUE").unwrap().1, "s3cret");
        assert_eq!(
            secret("cmd:printf x").unwrap(),
            ("cmd".to_owned(), "x".to_owned())
        );
        let missing = secret("env://TANTO_TEST_UNSET_NAME").unwrap_err();
        assert!(
            missing.contains("TANTO_TEST_UNSET_NAME is not set"),
            "{missing}"
        );
        let failed = secret("cmd:echo hunter2; false").unwrap_err();
        assert!(!failed.contains("hunter2"), "{failed}");
        assert!(secret("vault:x").unwrap_err().contains("env:NAME"));
    }
}
