//! The session `tanto call` talks to in-process: GraphQL documents in,
//! their data or their first error out.

use std::sync::Arc;

/// A failed query, as `tanto call` reports it: a failed exec exits with
/// the exec's code, as `dagger call` does.
#[derive(Debug)]
pub struct Failure {
    pub message: String,
    pub exit_code: Option<i32>,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            exit_code: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone)]
pub struct Client {
    pub session: Arc<api::Session>,
}

impl Client {
    /// The `data` of `document`'s answer.
    pub async fn query(&self, document: &str) -> Result<serde_json::Value, String> {
        self.query_or_failure(document).await.map_err(|f| f.message)
    }

    pub async fn query_or_failure(&self, document: &str) -> Result<serde_json::Value, Failure> {
        let session = Arc::clone(&self.session);
        let document = document.to_owned();
        // On a worker thread, whose stack is sized for deep documents.
        let answer = tokio::spawn(async move { session.execute(&document).await })
            .await
            .map_err(|e| format!("the query failed: {e}"))?;
        let mut value = answer
            .into_value()
            .map_err(|e| format!("cannot read the answer: {e}"))?;
        if let Some(error) = value["errors"].as_array().and_then(|e| e.first()) {
            let extensions = &error["extensions"];
            let mut message = error["message"].as_str().unwrap_or("failed").to_owned();
            if extensions["_type"] == "EXEC_ERROR" {
                for stream in ["stdout", "stderr"] {
                    if let Some(text) = extensions[stream].as_str().filter(|t| !t.is_empty()) {
                        message.push_str(&format!("\n{stream}:\n{}", text.trim_end()));
                    }
                }
            }
            return Err(Failure {
                message,
                exit_code: extensions["exitCode"].as_i64().map(|c| c as i32),
            });
        }
        Ok(value["data"].take())
    }
}
