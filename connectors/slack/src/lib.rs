//! Slack for Sluice: the Slack Notification connector ([`SlackNotification`]) and a small client for
//! the Slack Web API methods Sluice uses ([`client::Client`]).
//!
//! The client reads Slack's answers as Slack means them (HTTP 200 with `ok: false` is a failure,
//! HTTP 429 asks to wait `Retry-After` seconds); the connector turns those answers into
//! [`ConnectorError`](sluice_connector_api::ConnectorError)s a person can act on, paces posts per
//! channel and makes retried steps post at most once where Slack lets it find out (see README.md).

pub mod camunda;
pub mod client;
pub mod connector;
pub mod message;
pub mod once;
mod pacing;
pub mod tokens;

pub use camunda::{CAMUNDA_SLACK_TYPE, CamundaSlack};
pub use client::Client;
pub use connector::{Config, Input, Output, SlackNotification};
pub use sluice_connector_api::Secret;
pub use tokens::{Integration, StaticTokens, TokenProvider};
