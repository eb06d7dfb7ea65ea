//! `EnvFile` (`File.asEnvFile`): variables of a `.env` file, read as
//! Dagger reads them (`crate::dotenv` says how values expand). Lines are
//! kept as `NAME=value`, in order; setting a name again replaces its line.

use async_graphql::{Context, Object, Result, ID};

use super::files::{EnvVariableObj, FileObj};
use super::state;
use crate::dotenv::{self, Evaluator};
use crate::ids::Object as Value;

#[derive(Clone, Debug, Default)]
pub(crate) struct EnvFileData {
    pub environ: Vec<String>,
    /// Variables left out by `namespace`, still there for expansions.
    pub context: Vec<String>,
}

pub(crate) struct EnvFileObj(pub EnvFileData);

impl EnvFileData {
    /// A file's contents: blank lines and comments skipped, `export `
    /// tolerated.
    pub(crate) fn parse(contents: &str) -> EnvFileData {
        let mut file = EnvFileData::default();
        for line in contents.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let line = dotenv::strip_export(line);
            let (name, value) = line.split_once('=').unwrap_or((line, ""));
            file.set(name, value);
        }
        file
    }

    fn set(&mut self, name: &str, value: &str) {
        let line = format!("{name}={value}");
        match self
            .environ
            .iter_mut()
            .find(|l| l.split('=').next() == Some(name))
        {
            Some(existing) => *existing = line,
            None => self.environ.push(line),
        }
    }

    fn evaluator(
        &self,
        system: &'static dyn Fn(&str) -> Option<String>,
    ) -> Result<Evaluator<'static>> {
        let merged: Vec<String> = self.context.iter().chain(&self.environ).cloned().collect();
        Evaluator::new(&merged, system).map_err(async_graphql::Error::new)
    }

    /// Name and value of every variable, sorted by name.
    pub(crate) fn variables(&self, raw: bool) -> Result<Vec<(String, String)>> {
        let mut vars: Vec<(String, String)> = dotenv::raw(&self.environ).into_iter().collect();
        if !raw {
            let mut evaluator = self.evaluator(&host_env)?;
            for (name, value) in &mut vars {
                *value = evaluator
                    .lookup(name)
                    .map_err(async_graphql::Error::new)?
                    .unwrap_or_default();
            }
        }
        vars.sort();
        Ok(vars)
    }
}

/// Names a file does not set come from the session's environment, as
/// Dagger takes them from its client's.
fn host_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

#[Object(name = "EnvFile")]
impl EnvFileObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::EnvFile(self.0.clone())))
    }

    async fn as_file(&self, ctx: &Context<'_>) -> FileObj {
        let mut contents = self.0.environ.join("\n");
        if !contents.is_empty() {
            contents.push('\n');
        }
        FileObj(state(ctx).engine.file(".env", contents, 0o644))
    }

    async fn exists(&self, name: String) -> bool {
        self.0
            .environ
            .iter()
            .any(|line| dotenv::strip_export(line.trim()).split('=').next() == Some(name.as_str()))
    }

    /// The value (the last one set), expanded unless `raw`; empty if unset.
    async fn get(&self, name: String, raw: Option<bool>) -> Result<String> {
        let found = dotenv::raw(&self.0.environ).remove(&name);
        match (found, raw.unwrap_or(false)) {
            (None, _) => Ok(String::new()),
            (Some(value), true) => Ok(value),
            (Some(_), false) => Ok(self
                .0
                .evaluator(&host_env)?
                .lookup(&name)
                .map_err(async_graphql::Error::new)?
                .unwrap_or_default()),
        }
    }

    async fn variables(&self, raw: Option<bool>) -> Result<Vec<EnvVariableObj>> {
        Ok(self
            .0
            .variables(raw.unwrap_or(false))?
            .into_iter()
            .map(|(name, value)| EnvVariableObj { name, value })
            .collect())
    }

    async fn with_variable(&self, name: String, value: String) -> EnvFileObj {
        let mut file = self.0.clone();
        file.set(&name, &value);
        EnvFileObj(file)
    }

    async fn without_variable(&self, name: String) -> EnvFileObj {
        let mut file = self.0.clone();
        file.environ
            .retain(|line| line.split('=').next() != Some(name.as_str()));
        EnvFileObj(file)
    }

    /// The variables whose names start with `prefix` (as a lower-camel or
    /// snake-case name and `_`, any case), without it; the others stay
    /// for expansions only.
    async fn namespace(&self, prefix: String) -> Result<EnvFileObj> {
        let mut out = EnvFileData {
            environ: Vec::new(),
            context: self.0.context.clone(),
        };
        for (name, value) in self.0.variables(true)? {
            match cut_prefix(&name, &prefix) {
                Some(rest) => out.set(rest, &value),
                None => out.context.push(format!("{name}={value}")),
            }
        }
        Ok(EnvFileObj(out))
    }
}

fn cut_prefix<'n>(name: &'n str, prefix: &str) -> Option<&'n str> {
    let mut snake = crate::strcase::to_snake(prefix);
    if !snake.ends_with('_') {
        snake.push('_');
    }
    [
        format!("{}_", crate::strcase::to_lower_camel(prefix)),
        snake,
    ]
    .into_iter()
    .find_map(|p| {
        let head = name.get(..p.len())?;
        head.eq_ignore_ascii_case(&p).then(|| &name[p.len()..])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_as_daggers_namespace_does() {
        assert_eq!(cut_prefix("animal_name", "animal"), Some("name"));
        assert_eq!(cut_prefix("ANIMAL_name", "animal_"), Some("name"));
        assert_eq!(cut_prefix("myApp_name", "my-app"), Some("name"));
        assert_eq!(cut_prefix("MY_aPp_URL", "my-app"), Some("URL"));
        assert_eq!(cut_prefix("foo", "animal"), None);
    }

    #[test]
    fn files_parse_to_lines_and_later_lines_win() {
        let file = EnvFileData::parse("# c\nexport A=1\n\nB=\"x y\"\nA=2\n");
        assert_eq!(file.environ, ["A=2", "B=\"x y\""]);
        assert_eq!(
            file.variables(false).unwrap(),
            [("A".into(), "2".into()), ("B".into(), "x y".into())]
        );
    }
}
