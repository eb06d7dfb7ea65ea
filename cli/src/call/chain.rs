//! The words after `tanto call`, read as `dagger call` reads them: each
//! bare word names a function of the type the previous one returned, and
//! the flags after it are its arguments: `--flag value`, `--flag=value`,
//! or a bare `--flag` for a boolean (which never takes the next word, as
//! in pflag). Which flags are booleans depends on the function, so the
//! words are read one function at a time, against its arguments.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    /// Kebab-case, without its dashes.
    pub name: String,
    pub value: String,
}

/// The words not read yet.
pub struct Words {
    words: std::collections::VecDeque<String>,
}

impl Words {
    pub fn new(words: Vec<String>) -> Words {
        Words {
            words: words.into(),
        }
    }

    /// The next function's name, if any words are left.
    pub fn function(&mut self) -> Option<String> {
        self.words.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The flags up to the next function; `is_bool` tells a boolean flag.
    pub fn flags(&mut self, is_bool: impl Fn(&str) -> bool) -> Result<Vec<Flag>, String> {
        let mut flags = Vec::new();
        while let Some(word) = self.words.front() {
            let Some(flag) = word.strip_prefix("--") else {
                break;
            };
            if flag.is_empty() {
                return Err("a bare `--` is neither a function nor a flag".to_owned());
            }
            let (name, value) = match flag.split_once('=') {
                Some((name, value)) => (normalize(name), Some(value.to_owned())),
                None => (normalize(flag), None),
            };
            self.words.pop_front();
            let value = match value {
                Some(value) => value,
                None if is_bool(&name) => "true".to_owned(),
                None => self
                    .words
                    .pop_front()
                    .ok_or_else(|| format!("flag --{name} needs a value"))?,
            };
            flags.push(Flag { name, value });
        }
        Ok(flags)
    }
}

/// `--dockerConfig` and `--DockerConfig` are `--docker-config`, as Dagger
/// normalizes flag names.
fn normalize(name: &str) -> String {
    api::strcase::to_kebab(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Words {
        Words::new(line.split_whitespace().map(str::to_owned).collect())
    }

    fn flag(name: &str, value: &str) -> Flag {
        Flag {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    #[test]
    fn functions_and_their_flags_are_read_as_dagger_call_reads_them() {
        let mut words =
            words("--greeting=Hi build --src . --verbose with-exec --args=ls,-la stdout");
        let is_bool = |name: &str| name == "verbose";
        assert_eq!(words.flags(is_bool).unwrap(), [flag("greeting", "Hi")]);
        assert_eq!(words.function().as_deref(), Some("build"));
        assert_eq!(
            words.flags(is_bool).unwrap(),
            [flag("src", "."), flag("verbose", "true")]
        );
        assert_eq!(words.function().as_deref(), Some("with-exec"));
        assert_eq!(words.flags(is_bool).unwrap(), [flag("args", "ls,-la")]);
        assert_eq!(words.function().as_deref(), Some("stdout"));
        assert!(words.flags(is_bool).unwrap().is_empty() && words.is_empty());
    }

    #[test]
    fn camel_case_flags_are_kebab_case_and_a_missing_value_is_said() {
        let mut w = words("--dockerConfig=x --DockerConfig y");
        assert_eq!(
            w.flags(|_| false).unwrap(),
            [flag("docker-config", "x"), flag("docker-config", "y")]
        );
        let error = words("--name").flags(|_| false).unwrap_err();
        assert!(error.contains("--name needs a value"), "{error}");
        assert_eq!(
            words("--on=false").flags(|_| true).unwrap(),
            [flag("on", "false")]
        );
    }
}
