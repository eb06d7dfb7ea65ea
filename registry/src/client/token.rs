//! Which `Authorization` header a request carries: the credentials a run
//! was given, and the bearer-token dance of a 401's challenge (ask the realm
//! it names for a token of the repository's scope, keep it per repository).

use std::io::Read;

use serde::Deserialize;

use super::{registry_error_detail, Client, MAX_MANIFEST_BYTES};
use crate::auth::{Basic, Challenge};
use crate::retry::{self, MAX_ATTEMPTS};
use crate::{Error, Reference};

/// The user name credential helpers give with an identity token rather than
/// a password.
const IDENTITY_TOKEN_USER: &str = "<token>";

impl Client {
    pub(super) fn credentials_for(&self, registry: &str) -> Result<Option<Basic>, Error> {
        self.inner
            .credentials
            .lock()
            .unwrap()
            .for_registry(registry)
    }

    /// Uses `basic` for `registry` from now on (`None`: no credentials), in
    /// place of what the auth files say (Dagger's `withRegistryAuth`).
    pub fn set_credentials(&self, registry: &str, basic: Option<Basic>) {
        let mut credentials = self.inner.credentials.lock().unwrap();
        match basic {
            Some(basic) => credentials.insert(registry, basic),
            None => credentials.remove(registry),
        }
        // Tokens got with the old credentials are not to be used again.
        self.inner
            .authorizations
            .lock()
            .unwrap()
            .retain(|(host, _), _| host != registry);
    }

    pub(super) fn authorization(&self, reference: &Reference) -> Option<String> {
        let key = (
            reference.registry().to_owned(),
            reference.repository().to_owned(),
        );
        self.inner.authorizations.lock().unwrap().get(&key).cloned()
    }

    /// Answers a 401's challenge: basic credentials as they are, or a bearer
    /// token from the realm the registry names.
    /// `push` asks for a token that may push, when the challenge does not
    /// say which scope it wants.
    pub(super) fn authenticate(
        &self,
        reference: &Reference,
        response: &ureq::Response,
        push: bool,
    ) -> Result<(), Error> {
        let registry = reference.registry();
        let basic = self.credentials_for(registry)?;
        let basic = basic.as_ref();
        let challenge = response
            .header("WWW-Authenticate")
            .and_then(Challenge::parse);
        let authorization = match (challenge, basic) {
            (
                Some(Challenge::Bearer {
                    realm,
                    service,
                    scope,
                }),
                basic,
            ) => {
                let actions = if push { "pull,push" } else { "pull" };
                let scope = scope
                    .unwrap_or_else(|| format!("repository:{}:{actions}", reference.repository()));
                format!(
                    "Bearer {}",
                    self.fetch_token(reference, &realm, service.as_deref(), &scope, basic)?
                )
            }
            (_, Some(basic)) => basic.header(),
            (_, None) => {
                return Err(Error::CredentialsRequired {
                    registry: registry.to_owned(),
                    repository: reference.repository().to_owned(),
                })
            }
        };
        let key = (registry.to_owned(), reference.repository().to_owned());
        self.inner
            .authorizations
            .lock()
            .unwrap()
            .insert(key, authorization);
        Ok(())
    }

    /// Asks the token server at `realm` for a token of `scope`, with
    /// `basic` if there are credentials; retried like any request.
    fn fetch_token(
        &self,
        reference: &Reference,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        basic: Option<&Basic>,
    ) -> Result<String, Error> {
        let bad_token = |detail: String| Error::BadToken {
            realm: realm.to_owned(),
            detail,
        };
        let realm_host = realm
            .strip_prefix("http://")
            .map(|rest| rest.split('/').next().unwrap_or(rest));
        if let Some(host) = realm_host {
            if !self.may_use_http(host) {
                return Err(bad_token(
                    "the realm is plain http on a registry not marked insecure; refusing to send credentials"
                        .into(),
                ));
            }
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let answer = match basic.filter(|b| b.username == IDENTITY_TOKEN_USER) {
                // An identity token (what ACR's and other helpers hand out)
                // is exchanged by OAuth2's refresh-token grant, as docker does.
                Some(identity) => {
                    let mut form = vec![
                        ("grant_type", "refresh_token"),
                        ("client_id", "tanto"),
                        ("refresh_token", identity.password.as_str()),
                        ("scope", scope),
                    ];
                    if let Some(service) = service {
                        form.push(("service", service));
                    }
                    self.inner.agent.post(realm).send_form(&form)
                }
                None => {
                    let mut request = self.inner.agent.get(realm).query("scope", scope);
                    if let Some(service) = service {
                        request = request.query("service", service);
                    }
                    if let Some(basic) = basic {
                        request = request.set("Authorization", &basic.header());
                    }
                    request.call()
                }
            };
            match answer {
                Ok(response) => {
                    #[derive(Deserialize)]
                    struct TokenResponse {
                        token: Option<String>,
                        access_token: Option<String>,
                    }
                    let mut text = Vec::new();
                    response
                        .into_reader()
                        .take(MAX_MANIFEST_BYTES as u64)
                        .read_to_end(&mut text)
                        .map_err(|e| bad_token(format!("reading its answer failed ({e})")))?;
                    let body: TokenResponse = serde_json::from_slice(&text).map_err(|e| {
                        bad_token(format!("its answer is not the expected JSON ({e})"))
                    })?;
                    return body
                        .token
                        .or(body.access_token)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| {
                            bad_token(
                                "its answer has neither \"token\" nor \"access_token\"".into(),
                            )
                        });
                }
                Err(ureq::Error::Status(401 | 403, response)) => {
                    let detail = registry_error_detail(response);
                    return Err(match basic {
                        Some(_) => Error::Unauthorized {
                            registry: reference.registry().to_owned(),
                            repository: reference.repository().to_owned(),
                            detail: format!("token server refused{detail}"),
                        },
                        None => Error::CredentialsRequired {
                            registry: reference.registry().to_owned(),
                            repository: reference.repository().to_owned(),
                        },
                    });
                }
                Err(ureq::Error::Status(status, response))
                    if retry::is_retryable_status(status) && attempt < MAX_ATTEMPTS =>
                {
                    std::thread::sleep(retry::retry_after(
                        response.header("Retry-After"),
                        attempt - 1,
                    ));
                }
                Err(ureq::Error::Status(status, response)) => {
                    return Err(bad_token(format!(
                        "HTTP {status}{}",
                        registry_error_detail(response)
                    )))
                }
                Err(ureq::Error::Transport(transport)) if attempt >= MAX_ATTEMPTS => {
                    return Err(Error::Unreachable {
                        url: realm.to_owned(),
                        attempts: attempt,
                        source: Box::new(transport),
                    })
                }
                Err(ureq::Error::Transport(_)) => std::thread::sleep(retry::backoff(attempt - 1)),
            }
        }
    }
}
