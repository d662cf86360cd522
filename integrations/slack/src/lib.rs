//! Slack as a feature of Sluice, in one place: the Slack app's settings and workspace
//! integrations (OAuth v2 installs or bot tokens, sealed at rest with `SLUICE_SECRET_KEY`,
//! rotating tokens refreshed), per-process notifications delivered to Slack channels, and
//! interactivity (signed Approve/Reject buttons, Slack's request signatures).
//!
//! - [`integrations`]: [`SlackIntegrations`], the one handle on integrations; it is also the
//!   token provider of the Slack Notification connector in `sluice serve`.
//! - [`notifier`]: [`SlackNotifier`], the Slack implementation of the engine's notification port
//!   ([`sluice_worker::Notifications`]): Block Kit messages, buttons, channel checks, the
//!   signature check of requests from Slack.
//! - [`interactions`]: a click on a button, read from Slack's interactivity request.
//! - [`reliance`]: what relies on an integration (notification settings, deployed Slack tasks),
//!   so deleting one or connecting a second one does not silently break them.
//!
//! The engine knows none of this: it plans notification jobs and hands each to the port. The
//! rows (integrations, OAuth states, the app's settings, notification settings) are kept by
//! `sluice-store`, which is the only crate that speaks SQL; only this crate uses them. The HTTP
//! routes stay in the binary (`modeler-api/src/api/slack_admin.rs`, `api/notifications.rs`).

pub mod integrations;
pub mod interactions;
pub mod manifest;
pub mod notifier;
pub mod reliance;

pub use integrations::{AppSettings, SlackIntegrations};
pub use notifier::SlackNotifier;
