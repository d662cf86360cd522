//! Which Slack token a notification uses: integrations by alias, and the rule for choosing one.

use std::collections::BTreeMap;
use std::future::Future;

use sluice_connector_api::Secret;

/// The alias used when none is named and more than one integration exists.
pub const DEFAULT_ALIAS: &str = "default";

/// A Slack workspace connection chosen for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub alias: String,
    pub token: Secret,
}

/// Why no token could be chosen. The texts are shown to people as incidents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("there is no Slack integration `{alias}` (connected: {known}); connect it or name another one")]
    Unknown { alias: String, known: String },
    #[error("no Slack integration is connected: connect one first")]
    NoneConnected,
    #[error(
        "several Slack integrations are connected ({known}) and none is called `default`: \
         name one with the task's `integration` input"
    )]
    Ambiguous { known: String },
    #[error("the Slack integration could not be loaded: {0}")]
    Unavailable(String),
}

/// Gives the connector a token for an alias. The server implements it over its stored, encrypted
/// integrations (refreshing rotated tokens as needed); tests and `SLACK_BOT_TOKEN` use
/// [`StaticTokens`].
pub trait TokenProvider: Send + Sync + 'static {
    /// The integration called `alias`; without an alias, the only one, else the one called
    /// [`DEFAULT_ALIAS`].
    fn integration(&self, alias: Option<&str>) -> impl Future<Output = Result<Integration, Error>> + Send;

    /// The connected integration whose token is `token`, if one is (Camunda 8 models name a
    /// token, not an integration). Default: none.
    fn integration_with_token(
        &self,
        token: &Secret,
    ) -> impl Future<Output = Result<Option<Integration>, Error>> + Send {
        let _ = token;
        async { Ok(None) }
    }
}

/// A fixed map from alias to token.
#[derive(Debug, Clone, Default)]
pub struct StaticTokens {
    tokens: BTreeMap<String, Secret>,
}

impl StaticTokens {
    pub fn new() -> Self {
        StaticTokens::default()
    }

    /// Adds (or replaces) the integration `alias`.
    pub fn with(mut self, alias: impl Into<String>, token: impl Into<Secret>) -> Self {
        self.insert(alias, token);
        self
    }

    pub fn insert(&mut self, alias: impl Into<String>, token: impl Into<Secret>) {
        self.tokens.insert(alias.into(), token.into());
    }

    /// Applies the choosing rule to this map.
    pub fn choose(&self, alias: Option<&str>) -> Result<Integration, Error> {
        let known = || self.tokens.keys().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ");
        let pick = |alias: &str, token: &Secret| Integration { alias: alias.to_string(), token: token.clone() };
        match alias.map(str::trim).filter(|a| !a.is_empty()) {
            Some(alias) => match self.tokens.get(alias) {
                Some(token) => Ok(pick(alias, token)),
                None if self.tokens.is_empty() => Err(Error::NoneConnected),
                None => Err(Error::Unknown { alias: alias.to_string(), known: known() }),
            },
            None => {
                let mut all = self.tokens.iter();
                match (all.next(), all.next()) {
                    (None, _) => Err(Error::NoneConnected),
                    (Some((alias, token)), None) => Ok(pick(alias, token)),
                    _ => match self.tokens.get(DEFAULT_ALIAS) {
                        Some(token) => Ok(pick(DEFAULT_ALIAS, token)),
                        None => Err(Error::Ambiguous { known: known() }),
                    },
                }
            }
        }
    }
}

impl<A: Into<String>, T: Into<Secret>> FromIterator<(A, T)> for StaticTokens {
    fn from_iter<I: IntoIterator<Item = (A, T)>>(iter: I) -> Self {
        let mut tokens = StaticTokens::new();
        for (alias, token) in iter {
            tokens.insert(alias, token);
        }
        tokens
    }
}

impl TokenProvider for StaticTokens {
    async fn integration(&self, alias: Option<&str>) -> Result<Integration, Error> {
        self.choose(alias)
    }

    async fn integration_with_token(&self, token: &Secret) -> Result<Option<Integration>, Error> {
        Ok(self
            .tokens
            .iter()
            .find(|(_, t)| *t == token)
            .map(|(alias, t)| Integration { alias: alias.clone(), token: t.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tokens: &[&str], alias: Option<&str>, expected: Result<&str, &str>) {
        let map: StaticTokens = tokens.iter().map(|a| (*a, format!("xoxb-{a}"))).collect();
        let got = map.choose(alias).map(|i| i.alias).map_err(|e| e.to_string());
        match (got, expected) {
            (Ok(a), Ok(e)) => assert_eq!(a, e),
            (Err(a), Err(e)) => assert!(a.contains(e), "{a:?} should mention {e:?}"),
            (got, expected) => panic!("{tokens:?} {alias:?}: got {got:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn choosing_rule() {
        check(&["sales"], None, Ok("sales"));
        check(&["sales", "default"], None, Ok("default"));
        check(&["sales", "ops"], None, Err("none is called `default`"));
        check(&["sales", "ops"], Some("ops"), Ok("ops"));
        check(&["sales", "ops"], Some("hr"), Err("no Slack integration `hr` (connected: `ops`, `sales`)"));
        check(&[], None, Err("no Slack integration is connected"));
        check(&["sales"], Some(" "), Ok("sales"));
    }
}
