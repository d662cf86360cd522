//! Secrets for connectors: set, listed and removed by admins, sealed with `SLUICE_SECRET_KEY`
//! (AES-256-GCM; the associated data `secret:<name>` names the secret, so a value copied into
//! another row does not open), and opened only for the connector call that names them
//! (`{{ secrets.NAME }}` in its inputs). A value is never written to the Request's data, its
//! history, an incident or a log.

use serde_json::{Map, Value};
use sluice_bpmn::ConnectorCall;
use sluice_connector_api::template::secret_names;
use sluice_connector_api::{Call, ConnectorError, Context, Invoked, Registry, Secret, Secrets};
use sluice_secrets::SecretKey;
use sluice_store::SecretInfo;

use crate::{Engine, Error};

/// The longest secret name: letters, digits, `_`, `-` and `.`, as Camunda's secret names.
pub const MAX_SECRET_NAME: usize = 128;
/// The largest secret value, in bytes.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

/// The associated data a secret's value is sealed with.
fn purpose(name: &str) -> String {
    format!("secret:{name}")
}

/// Why a secret name is refused, if it is.
pub fn check_secret_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_SECRET_NAME {
        return Err(format!("a secret's name has 1 to {MAX_SECRET_NAME} characters"));
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return Err("a secret's name holds only letters, digits, `_`, `-` and `.` (say SLACK_OAUTH_TOKEN)".into());
    }
    Ok(())
}

/// The secrets a connector task's inputs name, each once.
pub fn secrets_named(call: &ConnectorCall) -> Vec<String> {
    let mut names = Vec::new();
    for v in call.inputs.values() {
        for n in secret_names(v) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
    }
    names
}

/// Calls a connector task's connector: its FEEL inputs computed over `variables` (data escaped as
/// the connector escapes it), its templates rendered, with `secrets` for `{{ secrets.NAME }}`.
/// The one way both drivers (`sluice serve` and `sluice run`) call a connector task.
pub async fn invoke_task(
    registry: &Registry,
    call: &ConnectorCall,
    variables: &Map<String, Value>,
    secrets: &Secrets,
    cx: Context,
) -> Invoked {
    let escape = registry.escape_of(&call.connector);
    let computed = match call.computed_inputs(variables, escape) {
        Ok(computed) => computed,
        Err(message) => return Invoked { result: Err(ConnectorError::fatal(message)), warnings: Vec::new() },
    };
    let inputs = Call { raw_inputs: &call.inputs, variables, computed, secrets };
    registry.invoke_with(&call.connector, inputs, cx).await
}

/// Why a connector call's secrets could not be given.
pub(crate) enum SecretsProblem {
    /// The store failed: try again later.
    Store(Error),
    /// A person must act (a value that does not open with this key): an incident.
    Fatal(String),
}

impl Engine {
    /// Keeps the key that seals connector secrets; without it no secret can be set or used.
    #[must_use]
    pub fn with_secret_key(mut self, key: SecretKey) -> Self {
        self.secret_key = Some(std::sync::Arc::new(key));
        self
    }

    fn secret_key(&self) -> Result<&SecretKey, Error> {
        self.secret_key
            .as_deref()
            .ok_or_else(|| Error::Invalid("this server has no SLUICE_SECRET_KEY for secrets".into()))
    }

    /// Stores `value` as the secret `name`, sealed; true when the secret is new.
    pub async fn put_secret(&self, name: &str, value: &str) -> Result<bool, Error> {
        check_secret_name(name).map_err(Error::Invalid)?;
        if value.is_empty() || value.len() > MAX_SECRET_BYTES {
            return Err(Error::Invalid(format!("a secret's value has 1 to {MAX_SECRET_BYTES} bytes")));
        }
        let sealed =
            self.secret_key()?.seal(&purpose(name), value.as_bytes()).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::gate::enter()?;
        Ok(self.store.put_secret(name, &sealed).await?)
    }

    /// Every secret's name and dates (never a value).
    pub async fn secrets(&self) -> Result<Vec<SecretInfo>, Error> {
        Ok(self.store.secrets().await?)
    }

    /// Removes the secret `name`; false when there was none.
    pub async fn delete_secret(&self, name: &str) -> Result<bool, Error> {
        crate::gate::enter()?;
        Ok(self.store.delete_secret(name).await?)
    }

    /// The secrets `names` that are stored, opened. A name not stored is left out (the registry
    /// turns its use into an incident naming it).
    pub(crate) async fn open_secrets(&self, names: &[String]) -> Result<Secrets, SecretsProblem> {
        let mut out = Secrets::new();
        if names.is_empty() {
            return Ok(out);
        }
        let Some(key) = self.secret_key.as_deref() else { return Ok(out) };
        let sealed = self.store.sealed_secrets(names).await.map_err(|e| SecretsProblem::Store(e.into()))?;
        for (name, bytes) in sealed {
            let value = key.open_text(&purpose(&name), &bytes).map_err(|_| {
                SecretsProblem::Fatal(format!(
                    "the secret `{name}` cannot be decrypted with this server's SLUICE_SECRET_KEY: store it again \
                     (admin: `PUT /api/v1/secrets/{name}`), then retry"
                ))
            })?;
            out.insert(name, Secret::new(value));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["SLACK_OAUTH_TOKEN", "a", "api-key.v2"] {
            assert_eq!(check_secret_name(ok), Ok(()), "{ok}");
        }
        for bad in ["", "with space", "ü", "a/b", "{{x}}", &"x".repeat(129)] {
            assert!(check_secret_name(bad).is_err(), "{bad}");
        }
    }
}
